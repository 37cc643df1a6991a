"""mer.audio on bad and unusual input: each case gives a clear `AudioError` naming the file, or a correct result;
sources are never modified and no temporary files are left behind."""
import hashlib, os, shutil, time
from pathlib import Path
import numpy as np
import pytest
import soundfile as sf

from mer.audio import AudioError, convert, load_audio, probe, which_ffmpeg
from mer.config import data_skip_reason, require_data

SR = 22050


def _tone(sec, sr=SR, ch=1, f=440.0, amp=0.5):
    t = np.arange(int(round(sec * sr))) / sr
    y = np.stack([amp * np.sin(2 * np.pi * f * (k + 1) * t) for k in range(ch)], 1).astype(np.float32)
    return y[:, 0] if ch == 1 else y


def _mp3(path, sec=4.0, sr=SR):
    sf.write(path, _tone(sec, sr), sr)
    return path


# builders: tmp folder -> the path to test. Expectations: ("error", words in the message) or a check on (y, sr).
def corrupt_mp3(d):
    head = _mp3(d / "good.mp3").read_bytes()[:417]
    rng = np.random.default_rng(0)
    p = d / "corrupt.mp3"; p.write_bytes(head + rng.integers(0, 256, 30000, dtype=np.uint8).tobytes())
    (d / "good.mp3").unlink()
    return p

def truncated_mp3(d):
    b = _mp3(d / "full.mp3").read_bytes(); (d / "full.mp3").unlink()
    p = d / "truncated.mp3"; p.write_bytes(b[: len(b) // 3])
    return p

def empty(d):
    p = d / "empty.mp3"; p.touch(); return p

def text_as_mp3(d):
    p = d / "lyrics.mp3"; p.write_text("la la la\n" * 100); return p

def short_clip(d):
    p = d / "short.wav"; sf.write(p, _tone(0.3), SR); return p

def ten_minutes(d):
    p = d / "ten_minutes.wav"; sr = 8000
    sf.write(p, (0.1 * np.sin(np.arange(600 * sr) * 0.05)).astype(np.float32), sr, subtype="PCM_16"); return p

def rate_8k(d):
    p = d / "phone.wav"; sf.write(p, _tone(1.0, 8000, f=300.0), 8000); return p

def six_channels(d):
    p = d / "surround.wav"; sf.write(p, _tone(0.5, ch=6, f=100.0), SR); return p

def silence(d):
    p = d / "silence.flac"; sf.write(p, np.zeros(SR, np.float32), SR); return p

def clipping_noise(d):
    p = d / "noise.wav"
    x = np.clip(np.random.default_rng(1).normal(0, 2.0, SR), -1, 1).astype(np.float32)
    sf.write(p, x, SR, subtype="PCM_16"); return p

def unicode_spaces(d):
    sub = d / "my music – ñandú"; sub.mkdir()
    p = sub / "Björk é 音楽 (live).mp3"; _mp3(p, 1.0); return p

def nan_samples(d):
    x = _tone(0.5); x[10:20] = np.nan
    p = d / "nan.wav"; sf.write(p, x, SR, subtype="FLOAT"); return p

def a_directory(d):
    p = d / "album.mp3"; p.mkdir(); return p

def missing(d):
    return d / "does_not_exist.mp3"


def _len_close(n, sec, sr, tol=0.06):
    assert abs(n - sec * sr) <= tol * sr, (n, sec * sr)

CASES = {
    "corrupt_mp3": (corrupt_mp3, ("error", ["corrupt.mp3"])),
    "truncated_mp3": (truncated_mp3, ("error", ["truncated.mp3", "truncated"])),
    "empty": (empty, ("error", ["empty.mp3", "empty"])),
    "text_as_mp3": (text_as_mp3, ("error", ["lyrics.mp3", "not a readable audio file"])),
    "short_clip": (short_clip, lambda y, sr: _len_close(len(y), 0.3, sr, 0.001)),
    "ten_minutes": (ten_minutes, lambda y, sr: (_len_close(len(y), 600, sr, 0.001), sr == 8000)),
    "rate_8k": (rate_8k, lambda y, sr: _len_close(len(y), 1.0, sr, 0.001)),
    "six_channels": (six_channels, lambda y, sr: _len_close(len(y), 0.5, sr, 0.001)),
    "silence": (silence, lambda y, sr: (_len_close(len(y), 1.0, sr, 0.001), np.all(y == 0)) and None),
    "clipping_noise": (clipping_noise, lambda y, sr: None),
    "unicode_spaces": (unicode_spaces, lambda y, sr: _len_close(len(y), 1.0, sr, 0.1)),
    "nan_samples": (nan_samples, ("error", ["nan.wav", "non-finite"])),
    "a_directory": (a_directory, ("error", ["album.mp3", "directory"])),
    "missing": (missing, ("error", ["does_not_exist.mp3", "not found"])),
}


def _snapshot(d: Path) -> dict:
    "Every file under `d` with its sha256 (directories as None)."
    return {str(p.relative_to(d)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None)
            for p in sorted(d.rglob("*"))}


@pytest.fixture
def box(tmp_path):
    src = tmp_path / "src"; src.mkdir()
    out = tmp_path / "out"; out.mkdir()
    return src, out


@pytest.mark.parametrize("name", list(CASES))
def test_load_audio(name, box):
    src, _ = box
    build, expect = CASES[name]
    path = build(src)
    before = _snapshot(src)
    if isinstance(expect, tuple):
        with pytest.raises(AudioError) as e:
            load_audio(path, sr=SR)
        msg = str(e.value)
        for w in expect[1]: assert w in msg, msg
    else:
        y, sr = load_audio(path, sr=SR if name != "ten_minutes" else None)
        assert y.ndim == 1 and y.dtype == np.float32 and np.all(np.isfinite(y))
        assert sr == (8000 if name == "ten_minutes" else SR)
        assert np.abs(y).max() <= 1.0 + 1e-6
        expect(y, sr)
    assert _snapshot(src) == before          # source untouched, nothing added


@pytest.mark.parametrize("name", list(CASES))
def test_convert(name, box):
    "convert: the same verdicts; on failure nothing (no WAV, no temp file) is left in the output folder."
    src, out = box
    build, expect = CASES[name]
    path = build(src)
    before = _snapshot(src)
    dst = out / "x.wav"
    if isinstance(expect, tuple):
        with pytest.raises(AudioError) as e:
            convert(path, dst, sr=16000, channels=1)
        assert expect[1][0] in str(e.value), str(e.value)
        assert list(out.iterdir()) == []
    else:
        convert(path, dst, sr=16000, channels=1)
        i = probe(dst)
        assert (i.sr, i.channels) == (16000, 1) and i.frames > 0
        assert [p.name for p in out.iterdir()] == ["x.wav"]
    assert _snapshot(src) == before


def test_max_duration_rejected_fast(tmp_path):
    p = ten_minutes(tmp_path)
    t = time.perf_counter()
    with pytest.raises(AudioError, match=r"ten_minutes\.wav: 600\.0 s is longer than max_duration_s=300"):
        load_audio(p, max_duration_s=300)
    assert time.perf_counter() - t < 1.0     # the header decides; nothing is decoded


def test_channels(tmp_path):
    p = six_channels(tmp_path)
    y, sr = load_audio(p, mono=False)
    assert y.shape == (6, SR // 2) and sr == SR
    m, _ = load_audio(p)
    np.testing.assert_allclose(m, y.mean(0), atol=1e-7)


def test_8k_is_resampled(tmp_path):
    p = rate_8k(tmp_path)
    y, sr = load_audio(p, sr=SR)
    f = np.fft.rfftfreq(len(y), 1 / sr)[np.abs(np.fft.rfft(y)).argmax()]
    assert sr == SR and abs(f - 300.0) < 2.0


@pytest.mark.skipif(which_ffmpeg() is None, reason="ffmpeg not installed (apt-get install ffmpeg)")
def test_unicode_via_ffmpeg(tmp_path):
    "The ffmpeg path (AAC in .m4a) with spaces, unicode and a colon in the name."
    import subprocess
    wav = short_clip(tmp_path)
    p = tmp_path / "a: Sigur Rós – Hoppípolla.m4a"
    subprocess.run([which_ffmpeg(), "-nostdin", "-v", "error", "-i", str(wav), "-c:a", "aac", str(p)], check=True)
    assert probe(p).backend == "ffmpeg"
    y, sr = load_audio(p, sr=16000)
    assert sr == 16000 and abs(len(y) - 0.3 * 16000) < 0.1 * 16000


DEAM_CLIP = ("DEAM", "MEMD_audio", "2.mp3")

@pytest.mark.skipif(data_skip_reason(*DEAM_CLIP) is not None, reason=str(data_skip_reason(*DEAM_CLIP)))
def test_real_deam_clip(tmp_path):
    p = require_data(*DEAM_CLIP)
    h = hashlib.sha256(p.read_bytes()).hexdigest()
    i = probe(p)
    assert i.sr == 44100 and abs(i.duration_s - 45.0) < 0.5
    y, sr = load_audio(p, sr=22050)
    assert sr == 22050 and abs(len(y) / sr - 45.0) < 0.5 and 0.01 < np.abs(y).mean() < 1
    seg, _ = load_audio(p, sr=22050, offset=15.0, duration=10.0)
    assert len(seg) == 220500
    dst = convert(p, tmp_path / "2.wav", sr=44100, channels=2)            # the DEAM seed's recipe
    i = probe(dst); assert (i.sr, i.channels, i.format) == (44100, 2, "WAV")
    assert sf.info(str(dst)).subtype == "PCM_16"
    cut = tmp_path / "2_cut.mp3"; cut.write_bytes(p.read_bytes()[: p.stat().st_size // 2])   # truncated copy of a real clip
    with pytest.raises(AudioError, match="truncated"):
        load_audio(cut)
    assert hashlib.sha256(p.read_bytes()).hexdigest() == h


def test_without_ffmpeg(tmp_path, monkeypatch):
    "No ffmpeg installed: soundfile formats still load and convert (soundfile fallback); others fail with a how-to."
    import mer.audio as A
    monkeypatch.setattr(A, "which_ffmpeg", lambda tool="ffmpeg": None)
    mp3 = _mp3(tmp_path / "song.mp3", 1.0)
    y, sr = load_audio(mp3, sr=16000)
    assert sr == 16000 and abs(len(y) - 16000) < 1600
    dst = convert(mp3, tmp_path / "out" / "song.wav", sr=22050, channels=2)
    i = probe(dst); assert (i.sr, i.channels) == (22050, 2)
    assert sorted(p.name for p in dst.parent.iterdir()) == ["song.wav"]
    with pytest.raises(AudioError, match=r"lyrics\.mp3.*install ffmpeg"):
        load_audio(text_as_mp3(tmp_path))
    with pytest.raises(AudioError, match="ffmpeg is not installed"):
        convert(mp3, tmp_path / "x.wav", backend="ffmpeg")
