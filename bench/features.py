#!/usr/bin/env python
"""Feature-extraction speed benchmark (a script, not a test).

On the 4Q clips (`$MER_DATA/4Q/audio`, 720 mp3; `--limit N` for fewer) it times, in one run:

1. the decode floor: ffmpeg decoding every file to float32 PCM read into numpy (one subprocess per file), sequential and
   with `--jobs` files at a time; and soundfile (libsndfile/mpg123, the decoder `mer` uses in-process), sequential;
2. a naive seed-style loop: `librosa.load` then a log-mel per file, sequential, saving each array (what the seeds do);
3. `mer.features.store.extract` with `--jobs` workers for the default log-mel (`mer.features.spectral.logmel`), into a fresh
   temporary store (process start-up, warm-up, checks and atomic writes included);
4. all three seed log-mel front-ends (the default 64-mel, Delbouys/Quan & Dong's 40-mel, the deck's 5-s 128-mel image): the
   seeds' way, one script per front-end, each loading every file again (`librosa.load` with its own offset/duration), against
   `mer` computing all three from one decode per file (`--no-all` skips these two rows). The seed 44.1 kHz STFT is left out
   of this pair: both sides pay the same STFT, and its store is 2-8 GB.

It prints one table (wall seconds, CPU seconds of the process tree, files/s, ratios, peak memory of the process tree,
load average: on a shared machine, wall times depend on what else runs; CPU times much less) and writes the figures as JSON
(`--out`, default `reports/bench_features.json`). librosa is warmed up once before any timing, so no row pays numba's
first-call compile time.

    python bench/features.py --limit 200
    python bench/features.py --out reports/bench_features.json
"""
from __future__ import annotations
import argparse, json, os, platform, resource, shutil, subprocess, sys, tempfile, threading, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mer.config import require_data, resolve, write_json  # noqa: E402
from mer.features import spectral  # noqa: E402
from mer.features.store import extract  # noqa: E402


class PeakRSS:
    "Sample the resident memory of this process and all its children every `dt` s; `peak` in bytes."
    def __init__(self, dt: float = 0.02):
        self.dt, self.peak, self._stop = dt, 0, threading.Event()
    def _rss(self) -> int:
        p = psutil.Process(); total = p.memory_info().rss
        for c in p.children(recursive=True):
            try: total += c.memory_info().rss
            except psutil.Error: pass
        return total
    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss()); self._stop.wait(self.dt)
    def __enter__(self):
        self.peak = self._rss(); self._t = threading.Thread(target=self._run, daemon=True); self._t.start(); return self
    def __exit__(self, *a):
        self._stop.set(); self._t.join(); self.peak = max(self.peak, self._rss())


def ffmpeg_decode(path: str) -> int:
    "Decode with ffmpeg to float32 PCM (native rate and channels) read into numpy; returns the sample count."
    out = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "f32le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(out, np.float32).size

def soundfile_decode(path: str) -> int:
    import soundfile as sf
    return sf.read(path, dtype="float32")[0].size

def naive_logmel(path: str, out_dir: Path, cfg: dict) -> None:
    "The seeds' loop body: librosa.load, mel spectrogram, log, np.save."
    import librosa
    y, sr = librosa.load(path, sr=cfg["sr"], mono=True)
    S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=cfg["n_fft"], hop_length=cfg["hop"], n_mels=cfg["n_mels"])
    np.save(out_dir/f"{Path(path).stem}.npy", np.log(S + 1e-6).T)


def naive_delbouys(path: str, out_dir: Path) -> None:
    "Delbouys et al. / Quan & Dong's loop body: librosa.load at 22.05 kHz, 40-mel power, log10(1 + 10 x)."
    import librosa
    y, sr = librosa.load(path, sr=22050, mono=True)
    S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=1024, hop_length=512, n_mels=40)
    np.save(out_dir/f"{Path(path).stem}_delbouys.npy", np.log10(1 + 10 * S).T)

def naive_deck(path: str, out_dir: Path) -> None:
    "The deck's loop body: librosa.load of 5 s from 10 s, 128-mel power in dB re max."
    import librosa
    y, sr = librosa.load(path, sr=22050, mono=True, offset=10.0, duration=5.0)
    S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=2048, hop_length=512, n_mels=128)
    np.save(out_dir/f"{Path(path).stem}_deck.npy", librosa.power_to_db(S, ref=np.max, top_db=80.0))

def cpu_seconds() -> float:
    "User + system CPU time of this process and its reaped children (ffmpeg subprocesses, pool workers)."
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def timed(name: str, fn, n: int, rows: list) -> float:
    with PeakRSS() as m:
        c0, t0 = cpu_seconds(), time.perf_counter(); fn(); dt, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    rows.append({"method": name, "seconds": dt, "cpu_seconds": cpu, "files_per_s": n / dt, "peak_rss_mb": m.peak / 2**20,
                 "load_avg_1min": os.getloadavg()[0]})
    print(f"  {name:<44s} {dt:8.2f} s wall {cpu:8.2f} s CPU", flush=True)
    return dt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None, help="folder of audio files (default: $MER_DATA/4Q/audio)")
    ap.add_argument("--limit", type=int, default=None, help="use the first N files (sorted by name)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="reports/bench_features.json")
    ap.add_argument("--skip-ffmpeg", action="store_true", help="skip the ffmpeg rows (if ffmpeg is not installed)")
    ap.add_argument("--no-all", action="store_true", help="skip the all-seed-front-ends rows (decode once vs once per front-end)")
    a = ap.parse_args(argv)

    src = Path(a.data) if a.data else require_data("4Q", "audio", what="4Q clips for the feature benchmark")
    files = sorted(str(p) for p in src.iterdir() if p.suffix.lower() in (".mp3", ".wav", ".flac", ".ogg"))[: a.limit]
    if not files: raise SystemExit(f"no audio files in {src}")
    n = len(files)
    cfg = {"sr": 22050, "n_fft": 1024, "hop": 512, "n_mels": 64}
    ffmpeg = shutil.which("ffmpeg") is not None and not a.skip_ffmpeg
    print(f"{n} files from {src}; jobs={a.jobs}; {psutil.cpu_count()} CPUs; representation logmel {cfg}", flush=True)

    # warm up librosa (numba) once, so that no row pays the first-call compile time
    spectral.logmel(np.random.default_rng(0).standard_normal(22050).astype(np.float32))
    naive_tmp = Path(tempfile.mkdtemp(prefix="bench_naive_")); naive_logmel(files[0], naive_tmp, cfg)

    rows: list[dict] = []
    if ffmpeg:
        timed("ffmpeg decode, sequential", lambda: [ffmpeg_decode(f) for f in files], n, rows)
        timed(f"ffmpeg decode, {a.jobs} parallel", lambda: list(ThreadPoolExecutor(a.jobs).map(ffmpeg_decode, files)), n, rows)
    timed("soundfile decode, sequential", lambda: [soundfile_decode(f) for f in files], n, rows)
    timed("naive loop: librosa.load + logmel, sequential", lambda: [naive_logmel(f, naive_tmp, cfg) for f in files], n, rows)
    shutil.rmtree(naive_tmp, ignore_errors=True)
    idx = pd.DataFrame({"song_id": [Path(f).stem for f in files], "path": files})
    with tempfile.TemporaryDirectory(prefix="bench_mer_") as d:
        rep_holder = {}
        timed(f"mer extract logmel, jobs={a.jobs}",
              lambda: rep_holder.setdefault("r", extract(idx, {"logmel": {}}, d, jobs=a.jobs, progress=False)), n, rows)
        rep = rep_holder["r"]
        n_ok = int((rep.status == "ok").sum())
        store_mb = sum(p.stat().st_size for p in Path(d, "logmel").glob("*.npy")) / 2**20
    if n_ok != n: print(f"warning: {n - n_ok} files failed:\n{rep[rep.status != 'ok'].to_string()}", file=sys.stderr)
    ALL_NAIVE, ALL_MER = "naive loops: 3 seed front-ends, 3 loads per file", f"mer extract 3 seed front-ends, jobs={a.jobs}"
    if not a.no_all:
        naive_tmp = Path(tempfile.mkdtemp(prefix="bench_naive_all_"))
        naive_delbouys(files[0], naive_tmp); naive_deck(files[0], naive_tmp)          # warm-up, untimed
        timed(ALL_NAIVE, lambda: [(naive_logmel(f, naive_tmp, cfg), naive_delbouys(f, naive_tmp), naive_deck(f, naive_tmp))
                                  for f in files], n, rows)
        shutil.rmtree(naive_tmp, ignore_errors=True)
        with tempfile.TemporaryDirectory(prefix="bench_mer_all_") as d:
            three = {"logmel": {}, "logmel_delbouys": {}, "mel_short": {}}
            rep_all = {}
            timed(ALL_MER, lambda: rep_all.setdefault("r", extract(idx, three, d, jobs=a.jobs, progress=False)), n, rows)
            if int((rep_all["r"].status == "ok").sum()) != n: print("warning: some files failed in the all-front-ends run", file=sys.stderr)

    t = {r["method"]: r["seconds"] for r in rows}
    mer_t = t[f"mer extract logmel, jobs={a.jobs}"]
    # the floor: the faster ffmpeg row (on a loaded machine, running 2 ffmpeg processes at a time can be the slower one)
    floor_name = (min(["ffmpeg decode, sequential", f"ffmpeg decode, {a.jobs} parallel"], key=t.get) if ffmpeg
                  else "soundfile decode, sequential")
    cpu = {r["method"]: r["cpu_seconds"] for r in rows}
    ratios = {
        "mer_vs_decode_floor": mer_t / t[floor_name],
        "mer_vs_decode_floor_cpu": cpu[f"mer extract logmel, jobs={a.jobs}"] / cpu[floor_name],
        "mer_vs_ffmpeg_sequential": mer_t / t["ffmpeg decode, sequential"] if ffmpeg else None,
        "mer_vs_soundfile_decode_sequential": mer_t / t["soundfile decode, sequential"],
        "naive_vs_mer_speedup": t["naive loop: librosa.load + logmel, sequential"] / mer_t,
        "naive_vs_mer_cpu": next(r["cpu_seconds"] for r in rows if r["method"].startswith("naive")) /
                            next(r["cpu_seconds"] for r in rows if r["method"].startswith("mer")),
        "naive_vs_soundfile_decode": t["naive loop: librosa.load + logmel, sequential"] / t["soundfile decode, sequential"],
        # Amdahl bound: even if features cost nothing and `jobs` workers scaled perfectly, mer still decodes every file, so
        # its wall time is at least (decode CPU time) / jobs (decode = soundfile, the decoder mer uses in-process) and
        # naive / mer <= naive wall * jobs / decode CPU. (The naive loop's own wall time counts: its FFTs already run on
        # every core through multithreaded BLAS/FFT, see naive_cores.)
        "naive_vs_mer_speedup_bound": t["naive loop: librosa.load + logmel, sequential"] * a.jobs / cpu["soundfile decode, sequential"],
        "naive_cores": cpu["naive loop: librosa.load + logmel, sequential"] / t["naive loop: librosa.load + logmel, sequential"],
    }
    if not a.no_all:   # decode once for every front-end vs the seeds' one load per front-end
        ratios["naive_vs_mer_speedup_all_frontends"] = t[ALL_NAIVE] / t[ALL_MER]
        ratios["naive_vs_mer_cpu_all_frontends"] = cpu[ALL_NAIVE] / cpu[ALL_MER]
        ratios["mer_all_frontends_vs_decode_floor"] = t[ALL_MER] / t[floor_name]
    targets = {"mer_vs_decode_floor_max": 1.5, "naive_vs_mer_speedup_min": 5.0}
    met = {"decode_floor": ratios["mer_vs_decode_floor"] <= 1.5, "naive_speedup": ratios["naive_vs_mer_speedup"] >= 5.0}
    df = pd.DataFrame(rows)
    df["x_decode_floor"] = df.seconds / t[floor_name]
    df["ms_per_file"] = 1000 * df.seconds / n
    df["cpu_ms_per_file"] = 1000 * df.cpu_seconds / n
    print()
    print(df[["method", "seconds", "ms_per_file", "cpu_ms_per_file", "x_decode_floor", "peak_rss_mb", "load_avg_1min"]].to_string(
        index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"\ndecode floor = '{floor_name}'. mer / floor = {ratios['mer_vs_decode_floor']:.2f} wall, "
          f"{ratios['mer_vs_decode_floor_cpu']:.2f} CPU (target <= 1.5: {'met' if met['decode_floor'] else 'NOT met'}). "
          f"naive / mer = {ratios['naive_vs_mer_speedup']:.2f}x wall, {ratios['naive_vs_mer_cpu']:.2f}x CPU "
          f"(target >= 5: {'met' if met['naive_speedup'] else 'NOT met'}; upper bound for any extractor that decodes every file, "
          f"with {a.jobs} workers: {ratios['naive_vs_mer_speedup_bound']:.2f}x; the naive loop itself keeps "
          f"{ratios['naive_cores']:.1f} cores busy). {n_ok}/{n} files ok; store {store_mb:.1f} MB.")
    if not a.no_all:
        print(f"all 3 seed front-ends: naive (3 loads per file) / mer (1 decode per file) = "
              f"{ratios['naive_vs_mer_speedup_all_frontends']:.2f}x wall, {ratios['naive_vs_mer_cpu_all_frontends']:.2f}x CPU; "
              f"mer / decode floor = {ratios['mer_all_frontends_vs_decode_floor']:.2f}")
    res = {"benchmark": "features", "n_files": n, "data": os.path.relpath(src, resolve(".")), "jobs": a.jobs, "representation": "logmel", "config": cfg,
           "decode_floor": floor_name, "rows": rows, "ratios": ratios, "targets": targets, "targets_met": met,
           "n_ok": n_ok, "store_mb": store_mb,
           "machine": {"cpus": psutil.cpu_count(), "cpus_physical": psutil.cpu_count(logical=False), "platform": platform.platform(),
                       "python": platform.python_version(), "load_avg_1min_at_end": os.getloadavg()[0]},
           "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out = resolve(a.out); write_json(out, res)
    print(f"wrote {out}")
    return res


if __name__ == "__main__":
    main()
