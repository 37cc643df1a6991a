"""mer.features.musicnn: the Keras 3 rebuild agrees with the author's TF1 graph, and bad input fails clearly."""
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import pytest
import soundfile as sf

from mer.config import data_skip_reason, require_data
import mer.features.musicnn as mm

CLIP = ("DEAM", "MEMD_audio", "2.mp3")


@pytest.fixture(scope="module")
def emb():
    return mm.MusicnnEmbedder("MSD_musicnn")


def _signal(seconds=7.0, sr=mm.SR):
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(1)
    return (0.3 * np.sin(2 * np.pi * 330 * t) * (np.sin(2 * np.pi * 1.5 * t) > 0) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def test_keras_matches_graph_on_real_clip(emb):
    reason = data_skip_reason(*CLIP)
    if reason is not None: pytest.skip(reason)
    path = require_data(*CLIP)
    r = emb.embed_file(path)
    patches = mm.make_patches(mm.musicnn_logmel(*mm.load_audio_16k(path)))[0]
    ref = mm.graph_reference(patches, "MSD_musicnn")
    assert r["embeddings"].shape == (len(patches), 200) == ref["penultimate"].shape
    np.testing.assert_allclose(r["tags"], ref["tags"], atol=1e-4)
    np.testing.assert_allclose(r["embeddings"], ref["penultimate"], atol=1e-3)
    print("max |diff|: tags %.1e, penultimate %.1e" % (np.abs(r["tags"] - ref["tags"]).max(),
                                                        np.abs(r["embeddings"] - ref["penultimate"]).max()))


def test_keras_matches_graph_on_synthetic_signal(emb):
    patches = mm.make_patches(mm.musicnn_logmel(_signal()))[0]
    e, t = emb.embed_patches(patches)
    ref = mm.graph_reference(patches, "MSD_musicnn")
    np.testing.assert_allclose(t, ref["tags"], atol=1e-4)
    np.testing.assert_allclose(e, ref["penultimate"], atol=1e-3)


def test_shapes_times_and_dynamic(emb):
    r = emb.embed_audio(_signal(20.0), mm.SR, patch_hop_frames=31)
    n = (1 + 20 * mm.SR // mm.HOP - 187) // 31 + 1
    assert r["embeddings"].shape == (n, 200) and r["tags"].shape == (n, 50) and r["pooled"].shape == (400,)
    np.testing.assert_allclose(r["times"], (np.arange(n) * 31 + 93) * mm.HOP / mm.SR)
    d = mm.dynamic_embedding(r["times"], r["embeddings"], dur=r["duration"])
    assert d.shape == (len(np.arange(15.0, r["times"][-1] + 1.496 - 1e-9, 0.5)), 200) and np.isfinite(d).all()


@pytest.mark.parametrize("make, match", [
    (lambda e: e.embed_audio(np.zeros(0, np.float32), mm.SR), "empty"),
    (lambda e: e.embed_audio(np.array([0.0, np.nan] * 8000, np.float32), mm.SR, what="nan.wav"), "nan.wav"),
    (lambda e: e.embed_audio(_signal(1.0), 0), "sample rate"),
    (lambda e: e.embed_audio(np.zeros((2, 3, 4)), mm.SR, what="cube.wav"), "cube.wav"),
    (lambda e: e.embed_patches(np.zeros((2, 100, 96))), "187"),
    (lambda e: mm.MusicnnEmbedder("MSD_musicnn_big"), "unknown musicnn model"),
    (lambda e: mm.MusicnnEmbedder("MTT_vgg", layer="dense"), "not available"),
    (lambda e: mm.make_patches(np.zeros((50, 96), np.float32), pad_short="error"), "shorter"),
    (lambda e: mm.MusicnnEmbedder(patch_hop_frames=0), "patch_hop_frames"),
    (lambda e: mm.MusicnnEmbedder(pad_short="zeros"), "pad_short"),
    (lambda e: mm.song_embedding(np.zeros((0, 200))), "non-empty"),
    (lambda e: mm.dynamic_embedding(np.arange(3.0), np.zeros((4, 200))), "times"),
])
def test_bad_input_raises_clearly(emb, make, match):
    with pytest.raises(ValueError, match=match): make(emb)


def test_bad_files_name_the_file(emb, tmp_path):
    bad = tmp_path / "broken.mp3"; bad.write_bytes(b"this is not audio")
    with pytest.raises(Exception, match="broken.mp3"): emb.embed_file(bad)
    with pytest.raises(Exception, match="missing.wav"): emb.embed_file(tmp_path / "missing.wav")
    ok = tmp_path / "ok.wav"; sf.write(ok, _signal(4.0), mm.SR)
    table, fails = mm.embed_files([ok, bad], emb, verbose=False)
    assert list(table.song_id) == ["ok"] and list(fails) == ["broken"] and "broken.mp3" in fails["broken"]


def test_short_audio_is_repeat_padded(emb):
    r = emb.embed_audio(_signal(1.0), mm.SR)
    assert r["embeddings"].shape == (1, 200) and np.isfinite(r["embeddings"]).all()


def test_missing_wheel_says_how_to_install(monkeypatch):
    monkeypatch.setattr(mm, "_candidates", lambda: iter([]))
    with pytest.raises(ImportError, match=r"pip install --no-deps musicnn==0\.1\.0"): mm.MusicnnEmbedder()
