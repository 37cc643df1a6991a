"""Front-ends against independent references, dynamic windows, descriptors on known signals, and the feature store on odd inputs."""
from __future__ import annotations
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.signal
import soundfile as sf
import librosa

from mer.config import data_skip_reason, require_data
from mer.features import spectral as sp
from mer.features.descriptors import descriptors, estimate_key
from mer.features.store import (REPRESENTATIONS, FeatureStore, Representation, extract, register_representation,
                                resolve_repr)

SR = 22050
RNG = np.random.default_rng(42)


def noise(n, ch=None, scale=0.1, seed=0):
    r = np.random.default_rng(seed)
    return (scale * r.standard_normal(n if ch is None else (ch, n))).astype(np.float32)


# ---------------------------------------------------------------- independent references
def ref_stft_mag(x, n_fft, hop):
    "Centred (zero-padded) periodic-Hann STFT magnitude in float64 NumPy: (frames, bins)."
    xp = np.pad(np.asarray(x, np.float64), n_fft // 2)
    n = 1 + (len(xp) - n_fft) // hop
    idx = np.arange(n_fft)[None] + hop * np.arange(n)[:, None]
    return np.abs(np.fft.rfft(xp[idx] * scipy.signal.get_window("hann", n_fft), axis=1))


def ref_mel_power(x, sr, n_fft, hop, n_mels):
    return ref_stft_mag(x, n_fft, hop) ** 2 @ librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels).T


def real_clips():
    out = []
    if data_skip_reason("4Q", "audio") is None: out.append(sorted(require_data("4Q", "audio").glob("*.mp3"))[0])
    if data_skip_reason("DEAM", "MEMD_audio") is None: out.append(require_data("DEAM", "MEMD_audio")/"2.mp3")
    return out


# ---------------------------------------------------------------- front-ends
@pytest.mark.parametrize("n_fft,hop", [(512, 256), (1024, 512), (2048, 512), (1024, 441)])
@pytest.mark.parametrize("channels", [1, 2])
def test_logmel_matches_reference(n_fft, hop, channels):
    x = noise(2 * SR, None if channels == 1 else channels)
    got = sp.logmel(x, SR, n_fft=n_fft, hop=hop, n_mels=48)
    chans = [x] if channels == 1 else list(x)
    for c, xc in enumerate(chans):
        ref = np.log(ref_mel_power(xc, SR, n_fft, hop, 48) + 1e-6)
        g = got if channels == 1 else got[..., c]
        assert g.shape == ref.shape == (1 + len(xc) // hop, 48)
        np.testing.assert_allclose(g, ref, atol=2e-3)
    assert got.dtype == np.float32


@pytest.mark.parametrize("n_fft,hop", [(1024, 512), (512, 128)])
def test_logmel_delbouys_matches_reference(n_fft, hop):
    x = noise(SR, seed=3)
    ref = np.log10(1 + 10 * ref_mel_power(x, SR, n_fft, hop, 40))
    np.testing.assert_allclose(sp.logmel_delbouys(x, SR, n_fft=n_fft, hop=hop), ref, rtol=1e-4, atol=1e-4)


def test_mel_short_matches_reference():
    "Spotify-deck mel: 5 s from 10 s, 128 mels, dB re the max, floored 80 dB down; stereo is averaged first."
    y = noise(16 * SR, 2, seed=4)
    seg = y.mean(0)[10 * SR:15 * SR]
    ref = 10 * np.log10(np.maximum(ref_mel_power(seg, SR, 2048, 512, 128), 1e-10)).T
    ref = np.maximum(ref - ref.max(), -80.0)
    got = sp.mel_short(y, SR)
    assert got.shape == ref.shape == (128, 216)
    np.testing.assert_allclose(got, ref, atol=2e-3)
    short = sp.mel_short(noise(3 * SR, seed=5), SR)                       # shorter than 15 s: from 0 s, zero-padded
    assert short.shape == (128, 216) and short[:, -1].max() == -80.0


def test_paper_shapes():
    y30 = noise(30 * SR)
    assert sp.logmel_delbouys(y30).shape == (1292, 40)
    assert sp.mel_short(y30).shape == (128, 216)
    assert sp.logmel(y30).shape == (1292, 64)
    assert sp.stft_seed(noise(44100 * 2, 2), 44100).shape == (1 + (88200 - 255) // 128, 129, 2)


@pytest.fixture(scope="module")
def tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return pytest.importorskip("tensorflow")


@pytest.mark.parametrize("frame_length,frame_step", [(255, 128), (256, 128), (400, 160), (1023, 512)])
@pytest.mark.parametrize("channels", [1, 2])
def test_stft_seed_matches_tf_signal(tf, frame_length, frame_step, channels):
    x = noise(20000, None if channels == 1 else channels, scale=1.0, seed=frame_length)
    got = sp.stft_seed(x, 44100, frame_length=frame_length, frame_step=frame_step)
    ref = tf.abs(tf.signal.stft(x, frame_length=frame_length, frame_step=frame_step)).numpy()   # (..., frames, bins)
    ref = ref if channels == 1 else np.moveaxis(ref, 0, -1)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * ref.max())


def test_stft_seed_log_option():
    x = noise(5000)
    np.testing.assert_allclose(sp.stft_seed(x, log=True), np.log(sp.stft_seed(x) + 1e-6), rtol=1e-5)


@pytest.mark.parametrize("clip", real_clips() or [pytest.param(None, marks=pytest.mark.skip(reason=str(data_skip_reason("4Q", "audio"))))])
def test_front_ends_on_real_clips(clip):
    y, sr = sf.read(clip, dtype="float32", always_2d=True)
    y = librosa.resample(y.mean(1), orig_sr=sr, target_sr=SR) if sr != SR else y.mean(1)
    x = y[: 10 * SR]
    np.testing.assert_allclose(sp.logmel(x), np.log(ref_mel_power(x, SR, 1024, 512, 64) + 1e-6), atol=2e-3)
    np.testing.assert_allclose(sp.logmel_delbouys(x), np.log10(1 + 10 * ref_mel_power(x, SR, 1024, 512, 40)), rtol=1e-4, atol=1e-4)
    assert sp.mel_short(y).shape == (128, 216)


def test_bad_audio_is_refused():
    with pytest.raises(ValueError, match="NaN"): sp.logmel(np.array([0, np.inf, 0], np.float32))
    with pytest.raises(ValueError, match="shape"): sp.logmel(np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match="too short"): sp.stft_seed(np.zeros(10))


# ---------------------------------------------------------------- dynamic windows
def test_dynamic_window_covers_exact_samples():
    sr = 1000
    y = np.zeros(20 * sr, np.float32)
    marks = [14 * sr, 14 * sr + 1, 15 * sr, 15 * sr + 1]
    for k in marks: y[k] = k
    w = sp.dynamic_windows(y[:, None], sr, times=[15.0], win_s=1.0)[0, :, 0]
    assert len(w) == sr
    assert sorted(w[w > 0].astype(int)) == [14 * sr + 1, 15 * sr]          # (t - win, t]: both edges exact
    c = sp.dynamic_windows(y[:, None], sr, times=[15.0], win_s=1.0, align="center")[0, :, 0]
    assert sorted(c[c > 0].astype(int)) == [15 * sr, 15 * sr + 1]          # [t - win/2, t + win/2)


def test_dynamic_windows_on_logmel_click():
    fr = sp.frame_rate(SR, 512)
    times = sp.annotation_times(19.9)
    assert times[0] == 15.0 and np.allclose(np.diff(times), 0.5) and len(times) == 10
    for t in times[:3]:
        e = int(np.floor(t * fr + 1e-9))
        y = np.zeros(20 * SR, np.float32); y[e * 512] = 1.0                   # a click on the centre of frame e
        L = sp.logmel(y)
        W = sp.dynamic_windows(L, fr, times=times, win_s=2.0)
        assert W.shape == (len(times), round(2 * fr), 64)
        i = list(times).index(t)
        assert W[i].max(1).argmax() == W.shape[1] - 1                          # in the last frame of its window
        if i > 0: assert W[i - 1].max() <= np.log(1e-6) + 1e-4                   # absent from the previous window


def test_dynamic_windows_padding_and_channels():
    S = np.arange(30, dtype=np.float32).reshape(10, 3)[..., None].repeat(2, -1)   # (T, F, C)
    W = sp.dynamic_windows(S, 2.0, times=[0.0, 5.0], win_s=2.0, pad_value=-7)
    assert W.shape == (2, 4, 3, 2)
    assert (W[0, :3] == -7).all() and (W[0, 3] == S[0]).all()
    assert (W[1, -1] == -7).all()                                                  # frame 10 is past the end


# ---------------------------------------------------------------- descriptors
def click_track(bpm, dur=10.0, sr=SR):
    y = np.zeros(int(dur * sr), np.float32)
    click = (np.exp(-np.arange(256) / 20.0) * np.random.default_rng(0).standard_normal(256)).astype(np.float32)
    for s in np.arange(0, dur - 0.1, 60.0 / bpm): y[int(s * sr):int(s * sr) + 256] += 0.5 * click
    return y


def chord(midi, dur=4.0, sr=SR):
    t = np.arange(int(dur * sr)) / sr
    y = sum(a * np.sin(2 * np.pi * h * librosa.midi_to_hz(m) * t) for m in midi for h, a in ((1, 1.0), (2, 0.4), (3, 0.2)))
    return (0.1 * y).astype(np.float32)


@pytest.mark.parametrize("bpm", [90, 128])
def test_descriptor_tempo(bpm):
    d = descriptors(click_track(bpm))
    assert abs(d["tempo"] - bpm) / bpm < 0.04, d["tempo"]
    assert d["rhythm_strength"] > 0.5


@pytest.mark.parametrize("root,mode", [(0, 1), (7, 1), (2, 0), (9, 0), (5, 1)])
def test_descriptor_key_mode(root, mode):
    third = 4 if mode == 1 else 3
    d = descriptors(chord([48 + root, 48 + root + third, 48 + root + 7]))
    assert (d["key"], d["mode"]) == (float(root), float(mode))
    assert 0.5 < d["key_confidence"] <= 1.0


def test_descriptor_loudness_and_harmonicity():
    n = noise(4 * SR, scale=1.0, seed=9)
    a, b = descriptors(0.3 * n), descriptors(0.03 * n)
    assert abs((a["loudness"] - b["loudness"]) - 20.0) < 0.01
    assert abs(a["loudness"] - 20 * np.log10(0.3 * n.std())) < 0.01
    c = descriptors(chord([60, 64, 67]))
    assert c["harmonic_ratio"] > a["harmonic_ratio"] + 0.2 and c["acousticness"] > a["acousticness"]
    assert set(a) == set(c) and all(np.isfinite(v) for v in a.values())


def test_descriptor_speechiness_and_energy():
    "Speechiness = share of envelope modulation at syllable rates (3-8 Hz); energy (mean RMS) is linear in amplitude."
    t = np.arange(6 * SR) / SR
    n = noise(6 * SR, scale=1.0, seed=3)
    d = {f: descriptors((0.2 * n * (0.5 + 0.5 * np.sin(2 * np.pi * f * t)) ** 2).astype(np.float32)) for f in (0.7, 4.5, 12.0)}
    assert d[4.5]["speechiness"] > 0.5 > max(d[0.7]["speechiness"], d[12.0]["speechiness"])
    y = (0.2 * n * (0.5 + 0.5 * np.sin(2 * np.pi * 4.5 * t)) ** 2).astype(np.float32)
    assert abs(descriptors(2 * y)["energy"] / d[4.5]["energy"] - 2.0) < 1e-3


def test_estimate_key_rejects_bad_chroma():
    with pytest.raises(ValueError): estimate_key(np.ones(13))


# ---------------------------------------------------------------- feature store and extract
@pytest.fixture(scope="module")
def odd_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("audio")
    spec = {"mono22": (22050, 1, 3.0), "stereo44": (44100, 2, 3.0), "sr8k": (8000, 1, 3.0), "six48": (48000, 6, 2.0),
            "half_s": (22050, 1, 0.5), "ten_min": (22050, 1, 600.0)}
    rows = []
    for sid, (sr, ch, dur) in spec.items():
        p = d/f"{sid}.wav"
        sf.write(p, noise(int(sr * dur), ch, seed=len(rows)).T.reshape(-1, ch) if ch > 1 else noise(int(sr * dur), seed=1), sr,
                 subtype="PCM_16")
        rows.append((sid, str(p)))
    sf.write(d/"stereo.mp3", noise(3 * 44100, 2, seed=5).T, 44100, format="MP3")
    rows.append(("stereo_mp3", str(d/"stereo.mp3")))
    (d/"text.mp3").write_text("this is not audio")
    (d/"empty.wav").write_bytes(b"")
    sf.write(d/"tiny.wav", noise(20), 22050)
    rows += [("text", str(d/"text.mp3")), ("empty", str(d/"empty.wav")), ("missing", str(d/"nope.wav")), ("tiny", str(d/"tiny.wav"))]
    return pd.DataFrame(rows, columns=["song_id", "path"])


GOOD = ["mono22", "stereo44", "sr8k", "six48", "half_s", "ten_min", "stereo_mp3"]


def test_extract_odd_inputs(odd_files, tmp_path):
    reprs = {"logmel": {}, "mel_short": {}, "seed": {"repr": "stft_seed"}}
    idx = odd_files[odd_files.song_id != "ten_min"]
    r = extract(idx, reprs, tmp_path, jobs=2, progress=False).set_index("song_id")
    good = [g for g in GOOD if g != "ten_min"]
    assert (r.status[good] == "ok").all(), r.error[good].to_dict()
    for bad, msg in [("text", "text.mp3"), ("empty", "empty.wav"), ("missing", "nope.wav")]:
        assert r.status[bad] == "error" and msg in r.error[bad], r.error[bad]
    assert r.status["tiny"] == "error" and "seed" in r.error["tiny"] and "too short" in r.error["tiny"]
    L, S, M = (FeatureStore(tmp_path/n) for n in ("logmel", "seed", "mel_short"))
    assert "tiny" in L and "tiny" not in S                                    # the reprs that worked were kept
    assert L.get("sr8k").shape == L.get("mono22").shape == (1 + 3 * 22050 // 512, 64)
    assert L.get("half_s").shape == (1 + 11025 // 512, 64)
    assert S.get("six48").shape == (1 + (2 * 44100 - 255) // 128, 129, 2)
    assert S.get("mono22").shape[-1] == 2 and np.allclose(S.get("mono22")[..., 0], S.get("mono22")[..., 1])
    assert M.get("half_s").shape == (128, 216)
    assert S.meta["representation"] == "seed" and S.meta["config"]["repr"] == "stft_seed" and S.meta["sr"] == 44100
    for st in (L, S, M): assert not [p for p in st.root.iterdir() if p.name.startswith(".")]   # no temp files left


def test_extract_ten_minute_file(odd_files, tmp_path):
    idx = odd_files[odd_files.song_id == "ten_min"]
    r = extract(idx, {"logmel": {}, "mel_short": {}}, tmp_path, jobs=1, progress=False)
    assert r.status.tolist() == ["ok"], r.error.tolist()
    assert FeatureStore(tmp_path/"logmel").get("ten_min").shape == (1 + 600 * 22050 // 512, 64)
    r = extract(idx, {"logmel2": {"repr": "logmel"}}, tmp_path, jobs=1, progress=False, max_duration_s=300)
    assert r.status.tolist() == ["error"] and "max_duration_s" in r.error[0]


def test_extract_is_idempotent_and_guards_config(odd_files, tmp_path):
    idx = odd_files[odd_files.song_id.isin(["mono22", "sr8k"])]
    r1 = extract(idx, {"logmel": {"n_mels": 32}, "descriptors": {}}, tmp_path, jobs=1, progress=False)
    assert (r1.status == "ok").all()
    m1 = {p.name: p.stat().st_mtime_ns for p in (tmp_path/"logmel").iterdir()}
    r2 = extract(idx, {"logmel": {"n_mels": 32}, "descriptors": {}}, tmp_path, jobs=2, progress=False)
    assert (r2.status == "skipped").all()
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path/"logmel").iterdir()} == m1          # nothing rewritten
    T = FeatureStore(tmp_path/"descriptors").get_table()
    assert sorted(T.song_id) == ["mono22", "sr8k"] and "tempo" in T.columns and T.notna().all().all()
    with pytest.raises(ValueError, match="overwrite=True"):
        extract(idx, {"logmel": {"n_mels": 64}}, tmp_path, progress=False)
    r3 = extract(idx.iloc[:1], {"logmel": {"n_mels": 64}}, tmp_path, progress=False, overwrite=True)
    assert r3.status.tolist() == ["ok"] and FeatureStore(tmp_path/"logmel").ids() == ["mono22"]
    # a new song appends to the table; the old rows stay
    r4 = extract(odd_files[odd_files.song_id.isin(["mono22", "sr8k", "stereo44"])], {"descriptors": {}}, tmp_path, progress=False)
    assert r4.set_index("song_id").status.to_dict() == {"mono22": "skipped", "sr8k": "skipped", "stereo44": "ok"}
    assert sorted(FeatureStore(tmp_path/"descriptors").get_table().song_id) == ["mono22", "sr8k", "stereo44"]


def _nan_repr(y, sr=22050, **kw): return np.full((3, 4), np.nan, np.float32)
def _empty_repr(y, sr=22050, **kw): return np.zeros((0, 4), np.float32)


def test_nan_or_empty_output_is_never_written(odd_files, tmp_path):
    register_representation(Representation("_test_nan", _nan_repr, {}, 22050, 1))
    register_representation(Representation("_test_empty", _empty_repr, {}, 22050, 1))
    try:
        idx = odd_files[odd_files.song_id == "mono22"]
        r = extract(idx, {"_test_nan": {}, "_test_empty": {}, "logmel": {}}, tmp_path, jobs=2, progress=False)
        assert r.status.tolist() == ["error"] and "NaN" in r.error[0] and "empty" in r.error[0]
        assert FeatureStore(tmp_path/"_test_nan").ids() == [] and FeatureStore(tmp_path/"_test_empty").ids() == []
        assert FeatureStore(tmp_path/"logmel").ids() == ["mono22"]
    finally:
        REPRESENTATIONS.pop("_test_nan"); REPRESENTATIONS.pop("_test_empty")


def test_bad_index_and_settings(tmp_path):
    with pytest.raises(ValueError, match="song_id and path"): extract(pd.DataFrame({"id": ["a"]}), {"logmel": {}}, tmp_path)
    with pytest.raises(ValueError, match="duplicate"):
        extract(pd.DataFrame({"song_id": ["a", "a"], "path": ["x", "y"]}), {"logmel": {}}, tmp_path)
    with pytest.raises(ValueError, match="invalid song_id"):
        extract(pd.DataFrame({"song_id": ["../a"], "path": ["x"]}), {"logmel": {}}, tmp_path)
    with pytest.raises(ValueError, match="unknown settings"): resolve_repr("logmel", {"nmels": 3})
    with pytest.raises(KeyError, match="unknown representation"): resolve_repr("mfcc_42")


# ---------------------------------------------------------------- openSMILE (DEAM's official features) as a representation
from mer.config import DataNotFound  # noqa: E402
from mer.features.opensmile import extract_opensmile, opensmile_source  # noqa: E402

OS_COLS = ["F0final_sma_amean", "pcm_RMSenergy_sma_amean", "F0final_sma_stddev", "pcm_RMSenergy_sma_stddev"]


def fake_deam_frames(root, frames):
    "A tiny DEAM root with official-format per-frame files: features/<id>.csv, ';'-separated, frameTime first, 2 Hz."
    f = Path(root)/"features"; f.mkdir(parents=True)
    for i, (sid, n) in enumerate(frames.items()):
        df = pd.DataFrame(np.random.default_rng(i).random((n, len(OS_COLS))), columns=OS_COLS)
        df.insert(0, "frameTime", np.arange(n) * 0.5)
        df.to_csv(f/f"{sid}.csv", sep=";", index=False)
    return Path(root)


def test_opensmile_from_fake_frames(tmp_path):
    root = fake_deam_frames(tmp_path/"DEAM", {"10": 40, "11": 61})
    (root/"features"/"12.csv").write_text("frameTime;" + ";".join(OS_COLS) + "\n0.0;1;2;3;4\n1.0;2;3;4;5\n")   # not 2 Hz
    out = tmp_path/"store"
    r = extract_opensmile(pd.DataFrame({"song_id": ["10", "11", "12", "99"]}), out, root=root, means_csv=tmp_path/"none.csv")
    st = r.set_index("song_id")
    assert st.status.to_dict() == {"10": "ok", "11": "ok", "12": "error", "99": "error"}
    assert "0.5 s apart" in st.error["12"] and "99.csv" in st.error["99"]
    S = FeatureStore(out)
    assert S.ids() == ["10", "11"] and S.get("11").shape == (61, 4) and S.get("11").dtype == np.float32
    assert S.meta["frame_rate"] == 2.0 and S.meta["first_time_s"] == 0.0 and S.meta["columns"] == OS_COLS
    assert S.meta["config"] == {"repr": "opensmile", "mode": "frames"}
    T = S.get_table().set_index("song_id")
    assert list(T.columns) == ["F0final_sma_amean", "pcm_RMSenergy_sma_amean"]          # song mean of every *_amean column
    raw = pd.read_csv(root/"features"/"11.csv", sep=";")
    np.testing.assert_allclose(T.loc["11"].to_numpy(), raw[T.columns].mean().to_numpy(), rtol=1e-6)
    # frame k is at k / 2 s: the annotation at 15.0 s is frame 30, and 2 Hz windows line up with the annotations
    W = sp.dynamic_windows(S.get("10"), S.meta["frame_rate"], times=[15.0, 15.5], win_s=1.0)
    np.testing.assert_array_equal(W[0], S.get("10")[29:31]); np.testing.assert_array_equal(W[1], S.get("10")[30:32])
    # re-runs skip; another mode is refused without overwrite
    assert (extract_opensmile(["10", "11"], out, root=root).status == "skipped").all()
    means = tmp_path/"means.csv"; T.reset_index().to_csv(means, index=False)
    with pytest.raises(ValueError, match="overwrite=True"): extract_opensmile(["10"], out, root=root, means_csv=means, mode="means")
    r = extract_opensmile(["10"], out, root=root, means_csv=means, mode="means", overwrite=True)
    assert r.status.tolist() == ["ok"] and FeatureStore(out).ids() == [] and FeatureStore(out).table_ids() == ["10"]


def test_opensmile_missing_sources_fail_clearly(tmp_path):
    with pytest.raises(DataNotFound, match="features.zip"): opensmile_source(tmp_path, tmp_path/"none.csv")
    with pytest.raises(DataNotFound, match="features.zip"): opensmile_source(tmp_path, mode="frames")
    with pytest.raises(ValueError, match="duplicate"): extract_opensmile(["1", 1], tmp_path/"s", root=fake_deam_frames(tmp_path/"D", {"1": 3}))


def test_opensmile_shared_means():
    reason = data_skip_reason("DEAM-derived", "opensmile_song_means.csv")
    if reason: pytest.skip(reason)
    from mer.data.deam import load_opensmile_means
    import tempfile
    ids = ["2", "3", "4", "5", "7", "8", "10", "12", "13", "17"]       # the 10 DEAM songs with audio in the shared data
    with tempfile.TemporaryDirectory() as d:
        r = extract_opensmile(ids + ["MT0000004637"], d)                 # a 4Q id: not a DEAM song
        assert r.status.tolist() == ["ok"] * 10 + ["error"] and "not in" in r.error.iloc[-1]
        T = FeatureStore(d).get_table().set_index("song_id").loc[ids]
        M = load_opensmile_means().set_index("song_id").loc[ids]
        assert list(T.columns) == list(M.columns) and len(T.columns) > 100
        np.testing.assert_allclose(T.to_numpy(), M.to_numpy(), rtol=1e-12)
        assert FeatureStore(d).meta["config"]["mode"] == "means"
