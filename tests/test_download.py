"""mer.data.download against a real local HTTP server (ThreadingHTTPServer on 127.0.0.1, port 0, with Range support)
serving tiny zips that mimic the official DEAM archives' nesting. Nothing leaves the machine."""
import hashlib, io, json, random, threading, zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import pytest

from mer.data.download import (DEAM_ARCHIVES, MANIFEST, DownloadError, download_deam, download_main, fetch, next_steps)

pytestmark = pytest.mark.timeout(60)

STATIC = "annotations averaged per song/song_level/static_annotations_averaged_songs_1_2000.csv"
DYN = "annotations averaged per song/dynamic (per second annotations)/arousal.csv"


def _zip(files: dict) -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items(): z.writestr(name, data)
    return b.getvalue()


def official_like() -> dict:
    "Archive name -> bytes, nested as copies of the official archives are seen in the wild."
    # 20 kB of incompressible bytes per 'song', so a resumed download has something to skip
    return {
        "DEAM_audio.zip": _zip({f"DEAM_audio/MEMD_audio/{i}.mp3": random.Random(i).randbytes(20000) for i in (2, 3, 1000)}
                               | {"__MACOSX/DEAM_audio/MEMD_audio/._2.mp3": b"junk"}),
        "DEAM_Annotations.zip": _zip({f"DEAM_Annotations/annotations/{STATIC}": "song_id, valence_mean, arousal_mean\r\n2, 5.1, 4.2\r\n",
                                      f"DEAM_Annotations/annotations/{DYN}": "song_id,sample_15000ms\n2,0.1\n",
                                      "DEAM_Annotations/annotations/annotations per each rater/song_level/x.csv": "a\n"}),
        "features.zip": _zip({f"features/{i}.csv": "frameTime;F0final_sma_amean\n0.0;1.0\n" for i in (2, 3, 1000)}),
        "metadata.zip": _zip({f"metadata/metadata_{y}.csv": "song_id,Artist,Title\n2,A,T\n" for y in (2013, 2014, 2015)}),
    }


class Server:
    "A bounded local file server: Range requests, optional 404s, a cut-off mode, and a log of requests."
    def __init__(self, files):
        self.files, self.log, self.cut, self.ignore_range = dict(files), [], {}, False
        srv = self
        class H(BaseHTTPRequestHandler):
            def log_message(self, *a): pass
            def do_GET(self):
                folder, _, name = self.path.rpartition("/")
                srv.log.append((name, self.headers.get("Range")))
                data = srv.files.get(name) if folder == "/databases/DEAM" else None
                if data is None: self.send_error(404, "Not Found"); return
                start = 0
                rng = self.headers.get("Range")
                if rng and not srv.ignore_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416); self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0"); self.end_headers(); return
                    self.send_response(206); self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else: self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body))); self.end_headers()
                if name in srv.cut:                 # promise everything, send a part, hang up
                    self.wfile.write(body[: srv.cut[name]]); self.wfile.flush(); self.close_connection = True; return
                self.wfile.write(body)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base(self): return f"http://127.0.0.1:{self.httpd.server_address[1]}/databases/DEAM"
    def __enter__(self): self.thread.start(); return self
    def __exit__(self, *a):
        self.httpd.shutdown(); self.httpd.server_close(); self.thread.join(5)


@pytest.fixture
def server():
    with Server(official_like()) as s: yield s


def _tree(d: Path) -> dict:
    return {str(p.relative_to(d)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None)
            for p in sorted(d.rglob("*"))} if d.exists() else {}


def _leftovers(parent: Path, keep=("DEAM",)) -> list:
    "Anything beside dest but dest itself (staging folders, archives, .part files)."
    return sorted(str(p.relative_to(parent)) for p in parent.rglob("*")
                  if not any(p.relative_to(parent).parts[0] == k for k in keep))


def test_full_download_layout(server, tmp_path, capsys):
    dest = tmp_path / "data" / "DEAM"
    out = download_main(dest, base_url=server.base, progress=False)
    assert out == dest
    assert sorted(p.name for p in dest.iterdir()) == ["MEMD_audio", "annotations", MANIFEST, "features", "metadata"]
    assert sorted(p.name for p in (dest / "MEMD_audio").iterdir()) == ["1000.mp3", "2.mp3", "3.mp3"]   # junk dropped
    assert (dest / "annotations" / STATIC).read_bytes().startswith(b"song_id, valence_mean")
    assert (dest / "annotations" / DYN).is_file()
    assert sorted(p.name for p in (dest / "features").iterdir()) == ["1000.csv", "2.csv", "3.csv"]
    assert sorted(p.name for p in (dest / "metadata").iterdir()) == [f"metadata_{y}.csv" for y in (2013, 2014, 2015)]
    man = json.loads((dest / MANIFEST).read_text())
    for part, arch in DEAM_ARCHIVES.items():
        r = man["parts"][part]
        assert r["sha256"] == hashlib.sha256(server.files[arch]).hexdigest() and r["bytes"] == len(server.files[arch])
        assert r["url"] == f"{server.base}/{arch}" and r["verified"] is False
    assert _leftovers(dest.parent) == []                 # no staging, archives or .part files
    printed = capsys.readouterr().out
    assert "dvc add" in printed and "data.dataset=deam" in printed
    # the official DEAM loaders read it unchanged (when that module exists)
    deam = pytest.importorskip("mer.data.deam")
    assert "2" in set(deam.load_metadata(dest).song_id.astype(str))
    # a second run skips the parts that are there and downloads nothing
    n = len(server.log)
    download_deam(dest, base_url=server.base, progress=False)
    assert len(server.log) == n


def test_parts_added_to_existing_dest(server, tmp_path):
    dest = tmp_path / "DEAM"
    download_deam(dest, parts=("metadata",), base_url=server.base, progress=False)
    assert sorted(p.name for p in dest.iterdir()) == [MANIFEST, "metadata"]
    meta = _tree(dest / "metadata")
    download_deam(dest, parts=("metadata", "features"), base_url=server.base, progress=False)
    assert sorted(p.name for p in dest.iterdir()) == [MANIFEST, "features", "metadata"]
    assert _tree(dest / "metadata") == meta
    assert set(json.loads((dest / MANIFEST).read_text())["parts"]) == {"metadata", "features"}


def test_resume_from_part_file(server, tmp_path):
    dest = tmp_path / "DEAM"
    data = server.files["DEAM_audio.zip"]; half = len(data) // 2
    cache = tmp_path / ".DEAM.downloads"; cache.mkdir()
    (cache / "DEAM_audio.zip.part").write_bytes(data[:half])
    download_deam(dest, parts=("audio",), base_url=server.base, progress=False)
    assert ("DEAM_audio.zip", f"bytes={half}-") in server.log         # only the missing bytes were asked for
    assert json.loads((dest / MANIFEST).read_text())["parts"]["audio"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert len(list((dest / "MEMD_audio").iterdir())) == 3 and _leftovers(tmp_path) == []


def test_server_ignoring_range_restarts(server, tmp_path):
    data = server.files["features.zip"]
    p = tmp_path / "features.zip"; (tmp_path / "features.zip.part").write_bytes(b"garbage-that-is-not-the-start")
    server.ignore_range = True
    fetch(f"{server.base}/features.zip", p, progress=False)
    assert p.read_bytes() == data and not (tmp_path / "features.zip.part").exists()


def test_interrupted_then_resumed(server, tmp_path):
    dest = tmp_path / "DEAM"
    data = server.files["DEAM_audio.zip"]
    server.cut["DEAM_audio.zip"] = len(data) // 3
    with pytest.raises(DownloadError, match="resume"):
        download_deam(dest, parts=("metadata", "audio"), base_url=server.base, progress=False)
    assert not dest.exists()                                            # all or nothing: not even metadata
    part = tmp_path / ".DEAM.downloads" / "DEAM_audio.zip.part"
    have = part.stat().st_size if part.exists() else 0
    assert 0 < have < len(data)
    server.cut.clear()
    download_deam(dest, parts=("metadata", "audio"), base_url=server.base, progress=False)
    assert ("DEAM_audio.zip", f"bytes={have}-") in server.log
    assert sorted(p.name for p in dest.iterdir()) == sorted([MANIFEST, "MEMD_audio", "metadata"])
    assert json.loads((dest / MANIFEST).read_text())["parts"]["audio"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_checksum_mismatch(server, tmp_path):
    dest = tmp_path / "DEAM"
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        download_deam(dest, parts=("metadata",), base_url=server.base, progress=False, checksums={"metadata": "sha256:" + "0" * 64})
    assert not dest.exists() and _leftovers(tmp_path, keep=()) == []          # bad archive deleted, nothing else left
    # right sums (by archive name, md5 or sha256, or an earlier manifest) pass and are marked verified
    sums = {"metadata.zip": hashlib.md5(server.files["metadata.zip"]).hexdigest(),
            "features": "sha256:" + hashlib.sha256(server.files["features.zip"]).hexdigest()}
    download_deam(dest, parts=("metadata", "features"), base_url=server.base, progress=False, checksums=sums)
    man = json.loads((dest / MANIFEST).read_text())
    assert man["parts"]["metadata"]["verified"] and man["parts"]["features"]["verified"]
    dest2 = tmp_path / "again" / "DEAM"
    download_deam(dest2, parts=("metadata", "features"), base_url=server.base, progress=False, checksums=dest / MANIFEST)
    assert json.loads((dest2 / MANIFEST).read_text())["parts"]["features"]["verified"]


def test_truncated_archive_leaves_dest_untouched(server, tmp_path):
    dest = tmp_path / "DEAM"
    download_deam(dest, parts=("metadata",), base_url=server.base, progress=False)
    before = _tree(dest)
    server.files["features.zip"] = server.files["features.zip"][:-40]          # the server itself has a truncated archive
    with pytest.raises(DownloadError, match="truncated or corrupt"):
        download_deam(dest, parts=("audio", "features"), base_url=server.base, progress=False)
    assert _tree(dest) == before                                                 # audio (fine) was not moved in either
    assert not (tmp_path / ".DEAM.downloads" / "features.zip").exists()          # the bad archive is gone: a re-run refetches
    assert not [p for p in tmp_path.iterdir() if ".unpack-" in p.name]          # no staging left


def test_archive_without_deam_content(server, tmp_path):
    server.files["metadata.zip"] = _zip({"readme.txt": "moved, see website"})
    with pytest.raises(DownloadError, match="no DEAM metadata folder"):
        download_deam(tmp_path / "DEAM", parts=("metadata",), base_url=server.base, progress=False)
    assert not (tmp_path / "DEAM").exists()


def test_flat_archives(server, tmp_path):
    "Archives without wrapper folders (files at the zip root) land in the same layout."
    server.files["DEAM_audio.zip"] = _zip({"5.mp3": b"x" * 100})
    server.files["DEAM_Annotations.zip"] = _zip({STATIC: "song_id, valence_mean\r\n5, 5\r\n"})
    dest = download_deam(tmp_path / "DEAM", parts=("audio", "annotations"), base_url=server.base, progress=False)
    assert (dest / "MEMD_audio" / "5.mp3").is_file() and (dest / "annotations" / STATIC).is_file()


def test_404(server, tmp_path):
    dest = tmp_path / "DEAM"
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_deam(dest, parts=("metadata",), base_url=server.base + "/missing", progress=False)
    assert not dest.exists()
    with pytest.raises(DownloadError, match="cannot connect"):
        download_deam(dest, parts=("metadata",), base_url="http://127.0.0.1:9/x", progress=False, timeout=5)


def test_next_steps_mentions_dvc(tmp_path):
    s = next_steps(tmp_path / "DEAM")
    assert "dvc" in s and "data.dataset=deam" in s


def test_next_steps_overrides_pass_the_pipeline_check(tmp_path):
    # the printed `dvc exp run -S ...` overrides must satisfy mer.pipeline.active_dataset (data.root == DEAM's folder) for a
    # download anywhere, not only into the default data/DEAM
    import re
    from mer.data.deam import make_fixture
    from mer.pipeline import active_dataset
    make_fixture(tmp_path / "elsewhere" / "DEAM")
    s = next_steps(tmp_path / "elsewhere" / "DEAM")
    sets = dict(re.findall(r"-S (data\.\w+)=(\S+)", s))
    assert set(sets) == {"data.dataset", "data.root", "data.deam_root"}, s
    P = {"data": {k.split(".", 1)[1]: v for k, v in sets.items()}}
    assert active_dataset(P).name == "deam"


def test_html_page_instead_of_zip(server, tmp_path):
    "A registration/error page saved instead of the archive is named as such; nothing is unpacked."
    server.files["metadata.zip"] = b"<!DOCTYPE html><html><body>Please fill in the form</body></html>"
    with pytest.raises(DownloadError, match="HTML page"):
        download_deam(tmp_path / "DEAM", parts=("metadata",), base_url=server.base, progress=False)
    assert not (tmp_path / "DEAM").exists() and _leftovers(tmp_path, keep=()) == []


def test_local_zips_via_file_url(tmp_path):
    "Zips downloaded by hand go through the same checks and unpacking with a file:// base_url."
    zips = tmp_path / "zips"; zips.mkdir()
    for name, data in official_like().items(): (zips / name).write_bytes(data)
    dest = download_deam(tmp_path / "DEAM", parts=("features", "metadata"), base_url=zips.as_uri(), progress=False)
    assert sorted(p.name for p in (dest / "features").iterdir()) == ["1000.csv", "2.csv", "3.csv"]
    assert sorted(p.name for p in zips.iterdir()) == sorted(official_like())      # the user's zips are left alone
