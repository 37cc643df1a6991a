"""Write README.md from nbs/index.ipynb without Quarto (nbdev_readme needs it).

Markdown cells are copied; code cells become ```python blocks (cells marked `#| hide` are dropped); a results section is
filled from metrics/benchmark_real.json (both pipelines) or else metrics/benchmark.json, whichever the pipeline has produced. `--check` exits 1 if README.md is out of date.
"""
from __future__ import annotations
import argparse, json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = "<!-- results -->"
METRIC_NAMES = {"macro_f1": "macro-F1", "valence_r2": "R² valence", "arousal_r2": "R² arousal"}

def _table(b: dict) -> list[str]:
    lines = ["| task | best model | metric | value [95% CI] |", "|---|---|---|---|"]
    for row in b.get("best", []):
        lines.append(f"| {row['task']} | `{row['model']}` | {row['metric']} | {row['value']} |")
    return lines

def results_md() -> str:
    "Best model per task from the real-data benchmark (metrics/benchmark_real.json) if present, else the synthetic default's."
    real, synth = ROOT / "metrics" / "benchmark_real.json", ROOT / "metrics" / "benchmark.json"
    p = real if real.exists() else synth
    if not p.exists(): return "_Run `make repro` to produce the benchmark; its best results appear here._\n"
    b = json.loads(p.read_text())
    head = ("Produced by `make repro-real` (profile " if p == real else "Produced by `make repro` (SYNTHETIC default, profile ")
    lines = [head + f"`{b.get('profile', '?')}`; {b.get('n_models', '?')} models; full tables on the docs' Benchmark pages, which a clone that has not run it builds from the committed metrics, figures aside):", ""]
    lines += _table(b) + targets_md(b)
    note = b.get("note", "")
    return "\n".join(lines) + ("\n\n" + note if note else "") + "\n" + times_md(b) + curves_md(b) + data_md(b) + gpu_md()

def targets_md(b: dict) -> list[str]:
    "The project's targets against our best comparable model, as the benchmark stage checked them (`mer.benchmark.target_table`)."
    t = b.get("targets") or []
    if not t: return []
    lines = ["", "Against the targets (best comparable model per metric, picked from *rows* models scored on the same test songs, so "
             "an optimistic estimate of any one of them; *met* compares point estimates):", "",
             "| dataset, task | metric | target | ours: model, value [95% CI] | rows | gap | met | target within our CI | target from |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in t:
        lines.append(f"| {r['dataset']}, {r['task']} | {METRIC_NAMES.get(r['metric'], r['metric'])} | {r['target']} | `{r['model']}` {r['value']} | "
                     f"{r.get('candidates', '')} | {r['gap']:+.3f} | {'yes' if r['met'] else 'no'} | {'yes' if r['within_ci'] else 'no'} | {r['source']} |")
    return lines

def times_md(b: dict) -> str:
    "The stage notebooks' minutes per pipeline as the benchmark stage measured them (papermill durations), if recorded."
    t = b.get("stage_minutes") or {}
    if not t: return ""
    what = {"dvc.lock": "synthetic default", "real/dvc.lock": "real data (4Q, DEAM)"}
    by = b.get("stage_minutes_by_dataset") or {}
    parts = [f"{what.get(lock, lock)} (`{lock}`) {m['total']} min ({', '.join(f'{g} {v}' for g, v in m.items() if g != 'total')}"
             + (f"; by dataset: {', '.join(f'{d} {v}' for d, v in by[lock].items())}" if by.get(lock) else "") + ")" for lock, m in t.items()]
    return (f"\n{str(b.get('profile', '?')).capitalize()}-profile time from scratch on the machine that ran them (" + str(b.get("cpus", "?")) + " CPUs; the stage notebooks' papermill "
            "durations, last run of each stage, DVC's hashing not counted): " + "; ".join(parts) + ".\n")

def curves_md(b: dict) -> str:
    "The learning curves' trends the benchmark stage computed (`mer.benchmark.curve_trend`), if any."
    t = b.get("curves") or []
    if not t: return ""
    by: dict[str, list] = {}
    for r in t: by.setdefault(r["model"], []).append(r)
    parts = []
    for model, rs in by.items():
        p = (f"`{model}` " + " / ".join(f"{METRIC_NAMES.get(r['metric'], r['metric'])} {r['per_doubling']:+.3f}" for r in rs)
             + f" per doubling (up to {rs[0]['n_max']:.0f} songs)")
        for r in rs:
            if "gain_to_at" in r:
                p += (f"; at that rate {r['at']:.0f} training songs ({r['anchor']}) would add {r['gain_to_at']:+.3f}"
                      + (" (an extrapolation)" if r["extrapolated"] else ""))
        parts.append(p)
    return ("\nTraining-set size (learning curves, stage `curve@<name>`: the whole protocol on fractions of each training part; "
            "a least-squares line on log2 of the training songs): " + "; ".join(parts) + ".\n")

def data_md(b: dict) -> str:
    "The real datasets' fingerprints the benchmark stage read (real/fingerprints/), if recorded."
    d = b.get("data") or {}
    if not d: return ""
    parts = [f"{ds} {v['files']} files, {v['bytes'] / 1e6:.1f} MB, MD5 `{v['md5']}`" for ds, v in sorted(d.items())]
    return ("\nComputed from (the real pipeline's data fingerprints, `real/fingerprints/<dataset>.json`: equal MD5s mean the same "
            "bytes): " + "; ".join(parts) + ".\n")

def gpu_md() -> str:
    "Full-profile runs on a GPU machine (`python bench/gpu_full.py`, results committed in metrics/gpu/), if any."
    files = sorted((ROOT / "metrics" / "gpu").glob("*.json"))
    if not files: return ""
    lines = ["", "Full profile (`train.profile: full`, whole 30-s inputs, up to 200 epochs) on a GPU machine, run with",
             "`python bench/gpu_full.py <name>` (entries under `real.gpu_models`; not DVC stages, results in `metrics/gpu/`):", "",
             "| model | dataset, protocol | macro-F1 [95% CI] | input frames | epochs run (all folds) | backend, device | wall |",
             "|---|---|---|---|---|---|---|"]
    old = False
    for f in files:
        r = json.loads(f.read_text())
        mark = "" if r.get("ci_unit") == "artist" else "\\*"     # runs from before the CIs resampled artists
        old |= bool(mark)
        ci = f"{r['macro_f1']:.3f} [{r['macro_f1_lo']:.3f}, {r['macro_f1_hi']:.3f}]{mark}" if "macro_f1" in r else "-"
        lines.append(f"| `{f.stem}` ({r.get('model')}) | {r.get('dataset')}, {r.get('n_folds')}-fold CV | {ci} | "
                     f"{r.get('crop_frames')} | {r.get('epochs_run_total')} | {r.get('backend')}, {r.get('device')} | "
                     f"{r.get('wall_seconds', 0) / 60:.1f} min |")
    if old: lines += ["", "\\* CI resampling songs: run before the bootstrap resampled artists (a rerun on a GPU gives the artist CI; "
                      "the CPU tables above resample artists)."]
    return "\n".join(lines) + "\n"

def render() -> str:
    nb = json.loads((ROOT / "nbs" / "index.ipynb").read_text())
    out = ["<!-- generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file -->\n"]
    for c in nb["cells"]:
        s = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        if c["cell_type"] == "markdown": out.append(s.replace(MARK, results_md()).rstrip() + "\n")
        elif c["cell_type"] == "code":
            if any(l.strip().startswith("#| hide") or l.strip().startswith("#|hide") for l in s.splitlines()): continue
            code = "\n".join(l for l in s.splitlines() if not l.startswith("#|")).strip()
            if code: out.append(f"```python\n{code}\n```\n")
    return "\n".join(out)

def main(argv=None):
    ap = argparse.ArgumentParser(); ap.add_argument("--check", action="store_true"); a = ap.parse_args(argv)
    text = render(); readme = ROOT / "README.md"
    if a.check:
        if not readme.exists() or readme.read_text() != text:
            print("README.md is out of date: run `python tools/make_readme.py`", file=sys.stderr); return 1
        return 0
    tmp = readme.with_suffix(".md.tmp"); tmp.write_text(text); tmp.replace(readme)
    print("README.md written"); return 0

if __name__ == "__main__":
    sys.exit(main())
