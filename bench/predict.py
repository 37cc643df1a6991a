"""Speed and quality of `mer predict` beside VibeNet on the same 4Q clips (2 CPU cores).

    python bench/predict.py --limit 120                 # ../shared/data/4Q (or $MER_DATA/4Q)
    python bench/predict.py --model models/cnn_static --vibenet-venv ~/.cache/mer-vibenet

Ours: model load time (including a warm-up prediction), latency of one 30-s clip after load (decode included, median of
repeats), throughput on the folder. VibeNet (PyPI `vibenet`, GPL: never a dependency of `mer`) runs in its own virtual
environment (created with `pip install vibenet` unless --no-install) through a subprocess, on the same clips, timed the same
way. Quadrant macro-F1 for both: valence and arousal (VibeNet: energy) thresholds fitted on the training folds of an
artist-grouped 5-fold split, applied to the held-out fold. Writes a JSON report (default reports/bench_predict.json) that
nbs/results/bench_predict.ipynb draws.
"""
from __future__ import annotations
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VIBENET_WORKER = r'''
import json, sys, time
t0 = time.perf_counter()
import vibenet
m = vibenet.load_model()
m.predict(__import__("numpy").zeros(16000 * 2, dtype="float32"), sr=16000)   # warm-up
load = time.perf_counter() - t0
paths = json.loads(open(sys.argv[1]).read()); rows = []
lat = []
for i in range(int(sys.argv[3])):
    t = time.perf_counter(); m.predict(paths[0]); lat.append(time.perf_counter() - t)
t_all = time.perf_counter()
for p in paths:
    t = time.perf_counter()
    try:
        r = m.predict(p)[0].to_dict(); rows.append({"file": p, "valence": r["valence"], "energy": r["energy"], "seconds": time.perf_counter() - t})
    except Exception as e: rows.append({"file": p, "error": repr(e)})
json.dump({"load_s": load, "latency_s": lat, "total_s": time.perf_counter() - t_all, "rows": rows}, open(sys.argv[2], "w"))
'''

def vibenet_python(venv: Path, install: bool) -> tuple[Path | None, str]:
    py = venv/"bin"/"python"
    ok = lambda: py.exists() and subprocess.run([str(py), "-c", "import vibenet"], capture_output=True).returncode == 0
    if ok(): return py, ""
    if not install: return None, f"no vibenet in {venv} (run without --no-install to create it)"
    try:
        if not py.exists(): subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        r = subprocess.run([str(py), "-m", "pip", "install", "-q", "vibenet"], capture_output=True, text=True)
        if r.returncode != 0: return None, f"pip install vibenet failed: {r.stderr.strip()[-500:]}"
    except Exception as e: return None, f"could not create {venv}: {e}"
    return (py, "") if ok() else (None, "vibenet installed but does not import")

def run_vibenet(py: Path, paths: list[str], repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        w, lst, out = Path(d)/"worker.py", Path(d)/"paths.json", Path(d)/"out.json"
        w.write_text(VIBENET_WORKER); lst.write_text(json.dumps(paths))
        env = {**os.environ, "OMP_NUM_THREADS": "2"}
        t0 = time.perf_counter()
        r = subprocess.run([str(py), str(w), str(lst), str(out), str(repeats)], capture_output=True, text=True, env=env)
        if r.returncode != 0: raise RuntimeError(f"vibenet worker failed: {r.stderr.strip()[-800:]}")
        res = json.loads(out.read_text()); res["wall_s"] = time.perf_counter() - t0
        return res

def _shown(p: Path) -> str:
    "A path as the report shows it: relative to the project when inside it (a committed report carries no local path)."
    p = Path(p).resolve()
    try: return str(p.relative_to(ROOT))
    except ValueError: return p.name

def model_facts(mdir: Path) -> dict:
    "What the timed model is and what it was trained on (its config.json and metrics.json), for the report."
    cfg, m = {}, {}
    for name, into in (("config.json", cfg), ("metrics.json", m)):
        try: into.update(json.loads((Path(mdir)/name).read_text()))
        except (OSError, ValueError): pass
    feats = cfg.get("features")
    return {"name": Path(mdir).name, "model": cfg.get("model"), "task": cfg.get("task"), "dataset": cfg.get("dataset"),
            "features": "+".join(feats) if isinstance(feats, list) else feats, "n_songs": m.get("n_songs")}

QUADRANTS = ["Q1", "Q2", "Q3", "Q4"]

def fitted_f1(v: np.ndarray, a: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int = 5, seed: int = 0) -> tuple[float, np.ndarray]:
    "Quadrant macro-F1 with the valence/arousal thresholds fitted on training folds (artist-grouped), pooled over held-out folds."
    from sklearn.model_selection import GroupKFold
    from sklearn.metrics import f1_score, balanced_accuracy_score
    from mer.labels import quadrant_to_va_signs, quadrant
    vs = np.array([quadrant_to_va_signs(q)[0] for q in y]); as_ = np.array([quadrant_to_va_signs(q)[1] for q in y])
    pred = np.empty(len(y), dtype=object)
    def best_t(x, s):
        cand = np.unique(np.quantile(x, np.linspace(0.05, 0.95, 37)))
        return cand[int(np.argmax([balanced_accuracy_score(s > 0, x > t) for t in cand]))]
    for tr, te in GroupKFold(n_splits=min(folds, len(np.unique(groups)))).split(v, y, groups):
        tv, ta = best_t(v[tr], vs[tr]), best_t(a[tr], as_[tr])
        pred[te] = quadrant(v[te] - tv, a[te] - ta)
    return float(f1_score(y, pred.astype(str), average="macro", labels=QUADRANTS)), pred

def ours_f1(res: list[dict], y: np.ndarray, groups: np.ndarray, seed: int = 0) -> tuple[float, float, str]:
    """`mer predict` results -> (macro-F1 with thresholds fitted in-fold, macro-F1 at fixed 0 thresholds, how). A valence/arousal
    model is scored through its thresholds; a quadrant model (`--model fourq_fusion4_linear`) by the quadrants it predicts,
    both figures the same. A failed clip counts as wrong (VA 0, no quadrant)."""
    from sklearn.metrics import f1_score
    from mer.labels import quadrant
    ok = [r.get("status") == "ok" for r in res]
    if all(r.get("valence") is not None and r.get("arousal") is not None for r, o in zip(res, ok) if o):
        v = np.array([r["valence"] if o else 0.0 for r, o in zip(res, ok)], float)
        a = np.array([r["arousal"] if o else 0.0 for r, o in zip(res, ok)], float)
        f1, _ = fitted_f1(v, a, y, groups, seed=seed)
        return f1, float(f1_score(y, quadrant(v, a), average="macro", labels=QUADRANTS)), "valence/arousal thresholds"
    q = np.array([str(r.get("quadrant") or "") if o else "" for r, o in zip(res, ok)])
    if not np.isin(q, QUADRANTS).any():
        raise SystemExit("the model predicts neither valence/arousal nor quadrants Q1-Q4: this benchmark scores quadrants; "
                         "pass --model with a VA or quadrant model")
    f1 = float(f1_score(y, q, average="macro", labels=QUADRANTS))
    return f1, f1, "the model's own quadrants"

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="model folder or name under models/ (default: as `mer predict`)")
    ap.add_argument("--limit", type=int, default=120, help="number of 4Q clips (balanced over quadrants)")
    ap.add_argument("--repeats", type=int, default=5, help="latency repeats on one 30-s clip")
    ap.add_argument("--vibenet-venv", default=str(Path.home()/".cache"/"mer-vibenet"))
    ap.add_argument("--no-install", action="store_true"); ap.add_argument("--no-vibenet", action="store_true")
    ap.add_argument("--out", default="reports/bench_predict.json"); ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from mer.config import require_data, resolve, write_json
    from mer.data.fourq import load_fourq
    from mer.predict import Predictor, ModelNotFound, resolve_model, predict_file, predict_files, make_demo_model
    import threadpoolctl
    fq = load_fourq(require_data("4Q", what="4Q dataset"))
    n_per = max(1, a.limit // 4)
    sub = pd.concat([g.sample(min(n_per, len(g)), random_state=a.seed) for _, g in fq.groupby("quadrant")], ignore_index=True)
    paths = [str(p) for p in sub.path]
    note = ""
    try: mdir = resolve_model(a.model)
    except ModelNotFound as e:
        mdir = resolve("reports/bench_predict_demo_model")
        note = f"{e} -- using a tiny demo model trained on SYNTHETIC songs: its F1 means nothing, its timings are a lower bound"
        print("NOTE:", note, file=sys.stderr)
        if not (mdir/"config.json").exists(): make_demo_model(mdir)
    facts = model_facts(mdir)
    if facts["dataset"] == "fourq":
        note = (f"{mdir.name} was trained on the 4Q dataset these clips come from: its F1 here is (largely) in-sample, "
                "not a test figure (the benchmark's cross-validated one is); its timings stand")
        print("NOTE:", note, file=sys.stderr)
    t0 = time.perf_counter(); P = Predictor(mdir); load_s = time.perf_counter() - t0
    lat = []
    for _ in range(a.repeats):
        t = time.perf_counter(); predict_file(paths[0], P); lat.append(time.perf_counter() - t)
    t = time.perf_counter(); res = predict_files(paths, P); total = time.perf_counter() - t
    ok = [r["status"] == "ok" for r in res]
    y, groups = sub.quadrant.astype(str).to_numpy(), sub.artist.fillna(sub.song_id).astype(str).to_numpy()
    f1, f1_zero, how = ours_f1(res, y, groups, seed=a.seed)
    from sklearn.metrics import f1_score
    from mer.labels import quadrant
    rows = [dict(system=f"mer: {P.name} ({P.config.get('model')} on {P.repr})", load_s=load_s, latency_s=float(np.median(lat)),
                 s_per_clip=total / len(paths), clips=len(paths), failed=int(len(ok) - sum(ok)), macro_f1_fitted=f1,
                 macro_f1_zero=f1_zero, scored_by=how)]
    vib_note = ""
    if not a.no_vibenet:
        py, why = vibenet_python(Path(a.vibenet_venv).expanduser(), not a.no_install)
        if py is None: vib_note = f"VibeNet not run: {why}"
        else:
            try:
                vr = run_vibenet(py, paths, a.repeats)
                by = {r["file"]: r for r in vr["rows"]}
                good = np.array(["error" not in by[p] for p in paths])
                vv = np.array([by[p].get("valence", 0.5) for p in paths]); ve = np.array([by[p].get("energy", 0.5) for p in paths])
                vf1, _ = fitted_f1(vv, ve, y, groups, seed=a.seed)
                rows.append(dict(system="VibeNet (vibenet, EfficientNet ONNX; energy as arousal)", load_s=vr["load_s"],
                                 latency_s=float(np.median(vr["latency_s"])), s_per_clip=vr["total_s"] / len(paths), clips=len(paths),
                                 failed=int((~good).sum()), macro_f1_fitted=vf1,
                                 macro_f1_zero=float(f1_score(y, quadrant(vv - 0.5, ve - 0.5), average="macro", labels=QUADRANTS)),
                                 scored_by="valence/energy thresholds"))
            except Exception as e: vib_note = f"VibeNet failed: {e}"
    if vib_note: print(vib_note, file=sys.stderr)
    df = pd.DataFrame(rows)
    print(f"\n4Q subset: {len(paths)} clips ({n_per} per quadrant), threads: {threadpoolctl.threadpool_info()[0].get('num_threads') if threadpoolctl.threadpool_info() else '?'}, "
          f"CPU cores: {os.cpu_count()}")
    print(df.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print("latency_s: one 30-s clip after load, decode included (median); s_per_clip: folder throughput; macro_f1_fitted: thresholds "
          "fitted on training folds (artist-grouped 5-fold); macro_f1_zero: fixed thresholds (0 for ours, 0.5 for VibeNet)")
    write_json(resolve(a.out), {"rows": rows, "n_clips": len(paths), "cpu_count": os.cpu_count(), "note": note, "vibenet_note": vib_note,
                                "model_dir": _shown(mdir), "model": facts, "target_s_per_clip": 0.2})
    print(f"wrote {a.out}", file=sys.stderr)
    return 0

if __name__ == "__main__": sys.exit(main())
