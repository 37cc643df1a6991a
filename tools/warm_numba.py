"""Compile librosa's cached numba functions once, in one process, before anything runs in parallel.

librosa decorates several functions with `numba.guvectorize(..., cache=True)` and explicit signatures, so they compile
when `librosa` is imported and are cached beside the source (`site-packages/librosa/**/__pycache__/*.nbc`). When two
processes import librosa for the first time at once (nbdev_test's workers, a process pool extracting features), numba's
gufunc cache can be written half by one and half by the other, and every later call of `librosa.util.peak_pick`
segfaults (numba issue 10128, open in numba 0.68). This script imports librosa in a child process, calls the cached
gufuncs, and if the child dies (a corrupt cache), removes librosa's numba cache files and tries once more.

Run by `make setup` (and so by `make test` and `make repro`).
"""
import pathlib, subprocess, sys

CHECK = """
import numpy as np, librosa
x = np.abs(np.sin(np.linspace(0, 40, 2000))).astype(np.float32)
librosa.util.peak_pick(x, pre_max=3, post_max=3, pre_avg=3, post_avg=5, delta=0.1, wait=10)
librosa.util.localmax(x); librosa.util.localmin(x)
librosa.beat.beat_track(onset_envelope=x, sr=22050)
librosa.yin(np.sin(np.linspace(0, 2000, 22050)).astype(np.float32), fmin=80, fmax=800, sr=22050)
librosa.zero_crossings(x - 0.5)
print("numba cache ok")
"""


def _check() -> int:
    return subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True).returncode


def main() -> int:
    rc = _check()
    if rc == 0: return 0
    import importlib.util
    root = pathlib.Path(importlib.util.find_spec("librosa").origin).parent
    stale = [p for p in root.rglob("__pycache__/*") if p.suffix in (".nbc", ".nbi")]
    print(f"librosa's numba cache is unusable (check exited {rc}); removing {len(stale)} cache files under {root}",
          file=sys.stderr)
    for p in stale: p.unlink(missing_ok=True)
    rc = _check()
    if rc != 0: print(f"librosa still fails after rebuilding its numba cache (exit {rc})", file=sys.stderr)
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
