"""`mer predict` and the bad-input suite: every awkward file gives a clear error or a correct result, never a crash."""
import json, math, os, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
import soundfile as sf

from mer.audio import AudioError, which_ffmpeg
from mer.predict import (Predictor, ModelNotFound, curve_times, default_model, make_demo_model, predict_file, predict_files,
                         resolve_model)
from mer.cli import main, EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_PARTIAL

ROOT = Path(__file__).resolve().parents[1]
SR = 22050

def demo_model_dir(factory) -> Path:
    "One tiny trained model per test session (shared by test_predict and test_serve)."
    d = factory.getbasetemp()/"mer_demo_model"/"demo_cnn"
    if not (d/"config.json").is_file(): make_demo_model(d, work=d.parent/"work")     # work/DEAM: the songs it was trained on
    return d

@pytest.fixture(scope="module")
def model_dir(tmp_path_factory): return demo_model_dir(tmp_path_factory)

@pytest.fixture(scope="module")
def predictor(model_dir): return Predictor(model_dir)

def tone(seconds, sr=SR, channels=1, amp=0.3, f=330.0):
    t = np.arange(int(round(seconds * sr))) / sr
    y = amp * np.sin(2 * np.pi * f * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
    return np.repeat(y[:, None], channels, 1).astype(np.float32)

def ffmpeg_mp3(wav: Path, mp3: Path) -> Path:
    subprocess.run([which_ffmpeg(), "-nostdin", "-v", "error", "-y", "-i", str(wav), "-c:a", "libmp3lame", "-b:a", "64k", str(mp3)], check=True)
    return mp3

def adts_liar(d: Path, silence_s: int = 60) -> Path:
    "ADTS AAC whose ffprobe length is an estimate from its first frames: 5 s of dense noise, then `silence_s` of sparse silence."
    parts = []
    for src, t, br in [("anoisesrc=r=16000:a=0.5", 5, "256k"), ("anullsrc=r=16000:cl=mono", silence_s, "8k")]:
        parts.append(d/f"part{len(parts)}.aac")
        subprocess.run([which_ffmpeg(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", src, "-t", str(t), "-ac", "1", "-c:a", "aac",
                        "-b:a", br, "-f", "adts", str(parts[-1])], check=True)
    out = d/"liar.aac"; out.write_bytes(b"".join(p.read_bytes() for p in parts))
    for p in parts: p.unlink()
    return out

@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    "name -> (path, expected: 'ok' | 'error' | 'either')."
    d = tmp_path_factory.mktemp("bad inputs ünï 音")
    cases = {}
    good = d/"good.wav"; sf.write(good, tone(8), SR); cases["good"] = (good, "ok")
    if which_ffmpeg():
        mp3 = ffmpeg_mp3(good, d/"good.mp3"); cases["mp3"] = (mp3, "ok")
        b = bytearray(mp3.read_bytes()); rng = np.random.default_rng(0)
        mid = len(b) // 3; b[mid:] = rng.integers(0, 256, len(b) - mid, dtype=np.uint8).tobytes()
        (d/"corrupt.mp3").write_bytes(bytes(b)); cases["corrupt_mp3"] = (d/"corrupt.mp3", "either")
        (d/"truncated.mp3").write_bytes(mp3.read_bytes()[:600]); cases["truncated_mp3"] = (d/"truncated.mp3", "either")
    (d/"empty.mp3").write_bytes(b""); cases["empty"] = (d/"empty.mp3", "error")
    (d/"text.mp3").write_text("this is not audio\n" * 50); cases["text_as_mp3"] = (d/"text.mp3", "error")
    sf.write(d/"short.wav", tone(0.3), SR); cases["clip_0.3s"] = (d/"short.wav", "ok")
    sf.write(d/"blip.wav", tone(0.01), SR); cases["near_empty"] = (d/"blip.wav", "error")     # 10 ms: nothing to hear
    sf.write(d/"long.flac", tone(600, sr=8000, amp=0.2), 8000); cases["ten_minutes"] = (d/"long.flac", "ok")
    sf.write(d/"8k.wav", tone(6, sr=8000), 8000); cases["8kHz"] = (d/"8k.wav", "ok")
    sf.write(d/"six.wav", tone(6, channels=6), SR); cases["6_channels"] = (d/"six.wav", "ok")
    sf.write(d/"silence.wav", np.zeros(6 * SR, np.float32), SR); cases["silence"] = (d/"silence.wav", "ok")
    absurd = tone(6); absurd[100] = 1e30                      # a corrupt float WAV: finite, but its spectrum overflows float32
    sf.write(d/"absurd.wav", absurd, SR, subtype="FLOAT"); cases["absurd_float"] = (d/"absurd.wav", "error")
    noise = np.clip(np.random.default_rng(1).normal(0, 2.0, 6 * SR), -1, 1).astype(np.float32)
    sf.write(d/"clipping.wav", noise, SR); cases["clipping_noise"] = (d/"clipping.wav", "ok")
    u = d/"a folder with spaces"/"ünïcödé – 音楽 (live).wav"; u.parent.mkdir(); sf.write(u, tone(5), SR); cases["unicode_spaces"] = (u, "ok")
    return cases

def check_ok(r, path):
    assert r["status"] == "ok", r
    for k in ("valence", "arousal"):
        assert -1 <= r[k] <= 1 and math.isclose(r[f"{k}_9"], 5 + 4 * r[k])
    assert r["quadrant"] in ("Q1", "Q2", "Q3", "Q4")
    c = r["curve"]
    assert c["time_s"] == list(curve_times(r["duration_s"])) or len(c["time_s"]) == len(curve_times(r["duration_s"]))
    assert len(c["valence"]) == len(c["arousal"]) == len(c["time_s"]) and np.all(np.abs(c["valence"]) <= 1)

BAD_CASES = ["good", "mp3", "corrupt_mp3", "truncated_mp3", "empty", "text_as_mp3", "clip_0.3s", "near_empty", "ten_minutes", "8kHz",
             "6_channels", "silence", "absurd_float", "clipping_noise", "unicode_spaces"]

@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input(case, bad_inputs, predictor):
    if case not in bad_inputs: pytest.skip("ffmpeg not installed: no mp3 cases")
    path, expect = bad_inputs[case]
    [r] = predict_files([path], predictor)
    if r["status"] == "ok": check_ok(r, path)
    else:
        assert expect != "ok", f"{case}: {r['error']}"
        assert str(path) in r["error"] or path.name in r["error"], r["error"]      # the message names the file
    if expect == "error": assert r["status"] == "error"
    if case == "ten_minutes": assert len(r["curve"]["time_s"]) == len(curve_times(600.0)) and r["curve"]["time_s"][0] == 15.0
    if case == "clip_0.3s": assert r["curve"]["time_s"] == [0.3]
    if case == "empty": assert "empty" in r["error"]
    if case == "near_empty": assert "at least 0.1 s" in r["error"]
    if case == "absurd_float": assert "far beyond full scale" in r["error"]

def test_max_duration(bad_inputs, predictor, tmp_path, capsys):
    with pytest.raises(AudioError, match="longer than"): predict_file(bad_inputs["ten_minutes"][0], predictor, max_duration_s=60)
    if not which_ffmpeg(): return
    liar = adts_liar(tmp_path)                                   # its header "says" ~9 s: the limit holds on what decodes
    with pytest.raises(AudioError, match="longer than max_duration_s=30 s"): predict_file(liar, predictor, max_duration_s=30)
    assert main(["predict", str(liar), "--model", str(predictor.dir), "--max-duration", "30", "--quiet"]) == EXIT_FAIL
    assert "longer than max_duration_s=30 s" in capsys.readouterr().err

def test_no_train_serve_skew(model_dir):
    """`mer predict` on a held-out song's audio gives the prediction its training run recorded for it (`predictions.csv`):
    decoding, resampling, the log-mel, the crops and their mean are computed as in training, not merely alike."""
    from mer.data.deam import load_deam
    import pandas as pd
    audio = load_deam(model_dir.parent/"work"/"DEAM").audio
    paths = dict(zip(audio.song_id.astype(str), audio.path))
    pr = pd.read_csv(model_dir/"predictions.csv", dtype={"song_id": str})
    tested = pr[pr.tested.astype(bool)]
    assert len(tested) >= 2 and tested.valence_pred.abs().max() < 1          # unclipped, so comparable with mer predict's output
    res = predict_files([paths[s] for s in tested.song_id], Predictor(model_dir))
    assert [r["status"] for r in res] == ["ok"] * len(tested), res
    got = np.array([[r["valence"], r["arousal"]] for r in res])
    np.testing.assert_allclose(got, tested[["valence_pred", "arousal_pred"]].to_numpy(), rtol=1e-4, atol=1e-7)

def test_model_resolution(model_dir, tmp_path):
    assert resolve_model(model_dir) == model_dir
    assert resolve_model("demo_cnn", model_dir.parent) == model_dir
    assert default_model(model_dir.parent, tmp_path/"no_benchmark.json") == model_dir
    with pytest.raises(ModelNotFound, match="make repro"): default_model(tmp_path/"models")
    with pytest.raises(ModelNotFound, match="demo_cnn"): resolve_model("nope", model_dir.parent)


def test_model_folder_outside_a_project(model_dir, tmp_path, monkeypatch):
    # `mer predict --model /abs/folder` from a folder outside any mer project (no MER_ROOT): the path alone suffices
    monkeypatch.delenv("MER_ROOT", raising=False); monkeypatch.chdir(tmp_path)
    assert resolve_model(str(model_dir.resolve())) == model_dir.resolve()
    with pytest.raises(FileNotFoundError, match="project root"): resolve_model("demo_cnn")    # a bare name needs one

def test_cli_predict(model_dir, bad_inputs, tmp_path, capsys):
    folder = tmp_path/"in"; folder.mkdir()
    for k in ("good", "text_as_mp3", "unicode_spaces"):
        p = bad_inputs[k][0]; (folder/p.name).write_bytes(p.read_bytes())
    (folder/"README.txt").write_text("not picked up: not an audio extension")
    out = tmp_path/"out"
    rc = main(["predict", str(folder), "--model", str(model_dir), "--json", str(out/"r.json"), "--csv", str(out/"r.csv"),
               "--plot", str(out/"plots"), "--no-progress"])
    assert rc == EXIT_PARTIAL
    cap = capsys.readouterr()
    assert "FAILED" in cap.err and "text.mp3" in cap.err and "good.wav" in cap.out
    res = json.loads((out/"r.json").read_text())
    assert sorted(r["status"] for r in res) == ["error", "ok", "ok"]
    import pandas as pd
    assert len(pd.read_csv(out/"r.csv")) == 3 and len(pd.read_csv(out/"r_curve.csv")) > 0
    pngs = sorted(p.name for p in (out/"plots").iterdir())
    assert len(pngs) == 2 and all((out/"plots"/p).read_bytes()[:4] == b"\x89PNG" for p in pngs)
    assert main(["predict", str(bad_inputs["good"][0]), "--model", str(model_dir), "--quiet"]) == EXIT_OK
    assert main(["predict", str(bad_inputs["empty"][0]), "--model", str(model_dir), "--quiet"]) == EXIT_FAIL
    assert main(["predict", str(tmp_path/"nothing-here"), "--model", str(model_dir), "--quiet"]) == EXIT_FAIL  # missing file: per-file failure
    empty = tmp_path/"empty_dir"; empty.mkdir()
    assert main(["predict", str(empty), "--model", str(model_dir)]) == EXIT_USAGE
    assert main(["predict", str(bad_inputs["good"][0]), "--models-dir", str(tmp_path/"no_models")]) == EXIT_USAGE
    assert "make repro" in capsys.readouterr().err

def test_cli_subprocess(tmp_path):
    "`python -m mer.cli` runs as a script; usage errors exit 2 before any model is loaded (per-file exit codes: test_cli_predict)."
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    r = subprocess.run([sys.executable, "-m", "mer.cli", "predict"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert r.returncode == EXIT_USAGE and "inputs" in r.stderr
    r = subprocess.run([sys.executable, "-m", "mer.cli", "predict", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert r.returncode == EXIT_USAGE and "no audio files" in r.stderr
