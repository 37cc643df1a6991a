"""`mer serve`: the real uvicorn server on loopback, hit with httpx: health, docs, predictions, limits, bad uploads,
concurrency, and no temporary file left behind."""
import os, socket, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import numpy as np
import pytest
import soundfile as sf
import httpx

from mer.predict import Predictor
from mer.serve import create_app, ServerThread
from test_predict import demo_model_dir, tone, adts_liar, SR, ROOT

@pytest.fixture(scope="module")
def model_dir(tmp_path_factory): return demo_model_dir(tmp_path_factory)

@pytest.fixture(scope="module")
def spool(tmp_path_factory): return tmp_path_factory.mktemp("spool")

@pytest.fixture(scope="module")
def server(model_dir, spool):
    app = create_app(predictors=[Predictor(model_dir)], tmp_dir=spool, max_upload_mb=1.0, max_duration_s=30.0, max_concurrency=2,
                     max_queue=4, queue_timeout_s=60)
    with ServerThread(app) as srv: yield srv

@pytest.fixture(scope="module")
def wav_bytes(tmp_path_factory):
    p = tmp_path_factory.mktemp("clips")/"c.wav"; sf.write(p, tone(6), SR); return p.read_bytes()

def post(srv, name, data, **kw):
    return httpx.post(srv.url + "/predict", files={"file": (name, data)}, timeout=120, **kw)

def test_health_and_docs(server):
    assert server.host == "127.0.0.1"
    h = httpx.get(server.url + "/health").json()
    assert h["status"] == "ok" and h["models"][0]["name"] == "demo_cnn" and h["limits"]["max_upload_mb"] == 1.0
    spec = httpx.get(server.url + "/openapi.json").json()
    assert "/predict" in spec["paths"] and "/health" in spec["paths"]
    assert httpx.get(server.url + "/docs").status_code == 200

def test_predict_ok(server, wav_bytes, spool):
    r = post(server, "../../../etc/passwd", wav_bytes)           # the client's name never reaches the filesystem
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["status"] == "ok" and j["quadrant"] in ("Q1", "Q2", "Q3", "Q4") and -1 <= j["valence"] <= 1
    assert abs(j["arousal_9"] - (5 + 4 * j["arousal"])) < 1e-9 and len(j["curve"]["time_s"]) == len(j["curve"]["valence"]) > 0
    assert j["filename"] == "passwd" and "file" not in j
    assert list(spool.iterdir()) == []

def test_unicode_name(server, wav_bytes):
    assert post(server, "ünïcödé 音楽 with spaces.wav", wav_bytes).status_code == 200

@pytest.mark.parametrize("name,data,code,msg", [
    ("empty.mp3", b"", 422, "empty"),
    ("text.mp3", b"this is not audio\n" * 40, 422, "not a readable audio file"),
    ("fake.wav", b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(64), 422, ""),
])
def test_bad_uploads(server, spool, name, data, code, msg):
    r = post(server, name, data)
    assert r.status_code == code, r.text
    d = r.json()["detail"]
    assert msg in d and str(spool) not in d and "/tmp" not in d        # no server paths in messages
    assert list(spool.iterdir()) == []

def test_corrupt_mp3(server, spool, tmp_path):
    from mer.audio import which_ffmpeg
    if not which_ffmpeg(): pytest.skip("ffmpeg not installed")
    sf.write(tmp_path/"a.wav", tone(4), SR)
    subprocess.run([which_ffmpeg(), "-v", "error", "-i", str(tmp_path/"a.wav"), str(tmp_path/"a.mp3")], check=True)
    b = bytearray((tmp_path/"a.mp3").read_bytes()); b[len(b) // 3:] = np.random.default_rng(0).integers(0, 256, len(b) - len(b) // 3, dtype=np.uint8).tobytes()
    r = post(server, "corrupt.mp3", bytes(b))
    assert r.status_code in (200, 422), r.text
    if r.status_code == 200: assert np.isfinite(r.json()["valence"])
    assert list(spool.iterdir()) == []

def test_too_long(server, spool):
    import io
    buf = io.BytesIO(); sf.write(buf, tone(40, sr=4000, amp=0.1), 4000, format="FLAC")   # 40 s > max_duration_s = 30, under 1 MB
    r = post(server, "long.flac", buf.getvalue())
    assert r.status_code == 413 and "longer than" in r.json()["detail"]
    assert list(spool.iterdir()) == []

def test_header_understating_its_length(server, spool, tmp_path):
    "ADTS AAC whose header 'says' ~9 s and holds 65 s: refused as too long (413) on what decodes, not on the header's word."
    from mer.audio import which_ffmpeg
    if not which_ffmpeg(): pytest.skip("ffmpeg not installed")
    r = post(server, "liar.aac", adts_liar(tmp_path).read_bytes())
    assert r.status_code == 413 and "longer than max_duration_s=30 s" in r.json()["detail"], r.text
    assert list(spool.iterdir()) == []

def test_absurd_samples_are_a_client_error(server, spool, tmp_path):
    "A float WAV with a 1e30 sample: 422 naming the problem (it was a 500 when librosa's error reached the server), counted as failed."
    y = tone(4); y[100] = 1e30; sf.write(tmp_path/"absurd.wav", y, SR, subtype="FLOAT")
    failed = httpx.get(server.url + "/health").json()["failed"]
    r = post(server, "absurd.wav", (tmp_path/"absurd.wav").read_bytes())
    assert r.status_code == 422 and "far beyond full scale" in r.json()["detail"], r.text
    assert httpx.get(server.url + "/health").json()["failed"] == failed + 1

def test_no_queue(model_dir, wav_bytes, spool):
    "`max_queue=0`: nothing waits, but a request that finds a free worker is served (it used to be refused always)."
    app = create_app(predictors=[Predictor(model_dir, warmup=False)], tmp_dir=spool, max_queue=0, max_concurrency=1)
    with ServerThread(app) as srv: assert post(srv, "c.wav", wav_bytes).status_code == 200
    with pytest.raises(ValueError, match="max_queue must be a whole number >= 0"): create_app(predictors=[object()], max_queue=-1)

def test_oversized_upload(server, spool):
    r = post(server, "big.wav", b"\0" * (3 << 20))                  # Content-Length over the limit: refused before reading
    assert r.status_code == 413 and "too large" in r.json()["detail"]
    boundary = b"xYz"
    def chunked():                                                     # no Content-Length: counted as it arrives
        yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\nContent-Type: audio/wav\r\n\r\n'
        for _ in range(40): yield b"\0" * 65536
        yield b"\r\n--" + boundary + b"--\r\n"
    try:
        r = httpx.post(server.url + "/predict", content=chunked(), headers={"Content-Type": "multipart/form-data; boundary=xYz"}, timeout=60)
        assert r.status_code == 413
    except (httpx.RemoteProtocolError, httpx.WriteError): pass          # the server may close before the client finishes sending
    assert httpx.get(server.url + "/health").status_code == 200
    assert list(spool.iterdir()) == []

def test_concurrent_uploads(server, wav_bytes, spool):
    with ThreadPoolExecutor(8) as ex:
        codes = list(ex.map(lambda i: post(server, f"c{i}.wav", wav_bytes).status_code, range(8)))
    assert set(codes) <= {200, 503} and codes.count(200) >= 2, codes
    h = httpx.get(server.url + "/health").json()
    assert h["active"] == 0 and h["waiting"] == 0
    assert list(spool.iterdir()) == []

def test_mer_serve_cli(model_dir, wav_bytes, tmp_path):
    "The `mer serve` command: a separate process on 127.0.0.1, stopped with SIGINT."
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    spool = tmp_path/"spool"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    p = subprocess.Popen([sys.executable, "-m", "mer.cli", "serve", "--model", str(model_dir), "--port", str(port), "--tmp-dir", str(spool),
                          "--log-level", "warning"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        t0 = time.time()
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200: break
            except httpx.TransportError: pass
            assert p.poll() is None, p.stdout.read()[-3000:]
            assert time.time() - t0 < 120, "mer serve did not start within 120 s"
            time.sleep(0.3)
        r = httpx.post(url + "/predict", files={"file": ("c.wav", wav_bytes)}, timeout=120)
        assert r.status_code == 200 and r.json()["quadrant"] in ("Q1", "Q2", "Q3", "Q4")
    finally:
        import signal
        p.send_signal(signal.SIGINT)
        try: p.wait(30)
        except subprocess.TimeoutExpired: p.kill(); p.wait()
    assert list(spool.iterdir()) == []
