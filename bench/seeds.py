"""Seed spread: how far a model's metrics move when only `train.seed` changes.

    python bench/seeds.py cnn_static attn_static [--seeds 0 1 2 3 4] [--out reports/bench_seeds.json]
    python bench/seeds.py deam_os_mlp fourq_attn --append      # entries of real.models need the shared data

The 95% CIs of the benchmark tables resample the test songs' artists: they say how much a figure would move with other
test songs, not with another training run. A network's initial weights, its crops and shuffles, SMOTE and the forests'
randomness all come from `train.seed`, so two runs of one entry that differ only in the seed differ by training noise.
This script trains each named entry (of `models` or `real.models`, found by name) once per seed through
`mer.pipeline.train_from_params`, the function the DVC train stages call, on the same folds and cached features, into a
temporary folder (the DVC outputs are not touched), and writes every run's headline metrics and a per-metric summary
(mean, SD, range) beside the entry's metrics file in this checkout and that file's 95% CI. Seed 0 is the pipeline's
(`train.seed: 0`), so its run also shows whether this machine reproduces the committed figure. For label schemes fitted
with k-means the seed also moves the class boundaries. Needs the entry's features (`dvc repro` of their stages first).
`--append` merges into an existing output file (one entry's runs replaced). `make bench-seeds` runs the committed set.
"""
from __future__ import annotations
import argparse, copy, json, os, platform, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HEADLINE = {"classes": ["macro_f1", "accuracy"],
            "static": ["valence_r2", "arousal_r2", "valence_rmse", "arousal_rmse"],
            "dynamic": ["valence_rmse_song_avg", "arousal_rmse_song_avg", "valence_r2", "arousal_r2"]}


def _machine() -> dict:
    try: fields = [l.split(":", 1) for l in Path("/proc/cpuinfo").read_text().splitlines() if ":" in l]   # read once
    except OSError: fields = []
    first = lambda key: next((v.strip() for k, v in fields if k.strip() == key), None)     # the first CPU's value
    flags = " " + (first("flags") or "")
    model = first("model name") or platform.processor() or platform.machine()
    return {"cpu": model, "cpu_count": os.cpu_count(), "avx512f": " avx512f" in flags, "avx2": " avx2" in flags,
            "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"), "python": platform.python_version()}


def _versions() -> dict:
    import importlib.metadata as md
    out = {}
    for p in ("numpy", "scikit-learn", "tensorflow", "keras"):
        try: out[p] = md.version(p)
        except md.PackageNotFoundError: pass
    return out


def summarise(runs: list[dict], keys: list[str], committed: dict) -> list[dict]:
    "Per metric: mean, SD (ddof 1), range over the seeds, and the committed figure with its 95% CI."
    import numpy as np
    rows = []
    for k in keys:
        v = np.array([r[k] for r in runs if isinstance(r.get(k), (int, float))], float)
        v = v[np.isfinite(v)]
        if not len(v): continue
        c, lo, hi = committed.get(k), committed.get(f"{k}_lo"), committed.get(f"{k}_hi")
        rows.append({"metric": k, "n_seeds": int(len(v)), "mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else None,
                     "min": float(v.min()), "max": float(v.max()), "committed": c, "committed_lo": lo, "committed_hi": hi,
                     "ci_half_width": (hi - lo) / 2 if lo is not None and hi is not None else None})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="+", help="entries of `models` or `real.models` in params.yaml")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--out", default="reports/bench_seeds.json")
    ap.add_argument("--append", action="store_true", help="merge into --out if it exists")
    a = ap.parse_args(argv)
    if len(set(a.seeds)) < 2: raise SystemExit("give at least two different seeds")
    from mer.config import load_params, resolve, write_json
    from mer.pipeline import train_from_params
    from mer.pipeline import METRICS_DIRS
    P = load_params()
    real = (P.get("real") or {}).get("models") or {}
    for n in a.names:
        if n not in (P.get("models") or {}) and n not in real:
            raise SystemExit(f"no entry {n!r} under `models` or `real.models` in params.yaml")
    out = resolve(a.out)
    doc = json.loads(out.read_text()) if a.append and out.is_file() else {}
    doc.update(machine=_machine(), versions=_versions())
    entries = {e["name"]: e for e in doc.get("entries", [])}
    for name in a.names:
        section = "models" if name in (P.get("models") or {}) else "real.models"
        mfile = resolve(METRICS_DIRS[section])/f"{name}.json"
        committed = json.loads(mfile.read_text()) if mfile.is_file() else {}
        runs = []
        for s in a.seeds:
            P2 = copy.deepcopy(P); P2.setdefault("train", {})["seed"] = int(s)
            t0 = time.time()
            with tempfile.TemporaryDirectory(prefix="mer_seeds_") as tmp:
                m = train_from_params(name, P2, section=section, dvclive=False, models_dir=tmp, metrics_dir=tmp)
            keys = HEADLINE.get(m.get("task"), [])
            run = {"seed": int(s), "wall_seconds": round(time.time() - t0, 1),
                   **{k: m[k] for k in keys + ["epochs_run_total", "train_seconds"] if isinstance(m.get(k), (int, float))}}
            runs.append(run)
            print(f"{name} seed {s}: " + ", ".join(f"{k} {run[k]:.4f}" for k in keys if k in run) + f" ({run['wall_seconds']:.0f} s)", flush=True)
        summary = summarise(runs, keys, committed)
        entries[name] = {"name": name, "section": section, "task": m.get("task"), "dataset": m.get("dataset"), "model": m.get("model"),
                         "committed_file": str(mfile.relative_to(resolve("."))), "runs": runs, "summary": summary}
        for r in summary:
            print(f"  {r['metric']:<20} mean {r['mean']:.4f}  sd {r['sd'] if r['sd'] is not None else float('nan'):.4f}  "
                  f"range [{r['min']:.4f}, {r['max']:.4f}]  committed {r['committed'] if r['committed'] is not None else float('nan'):.4f}"
                  + (f"  CI half-width {r['ci_half_width']:.4f}" if r["ci_half_width"] is not None else ""), flush=True)
    doc["entries"] = sorted(entries.values(), key=lambda e: (e["section"], e["name"]))
    write_json(out, doc)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
