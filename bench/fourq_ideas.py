"""Ideas for the 4Q target tried beside `fourq_fusion4_linear` (DEVELOPING.md, "Tried for the targets and not kept").

    python bench/fourq_ideas.py                      # all ideas, ~25 min on 2 CPU cores
    python bench/fourq_ideas.py --ideas late,av      # some of them

Reads the four tagger stores of `fourq_fusion4_linear` (features/fourq/{musicnn,musicnn_mtt,vgg_msd,vgg_mtt}, written by
`make repro-real`) and uses its outer folds (data/splits/fourq.csv), artist-grouped inner folds and C grid, so the
`base` row reproduces the headline. Ideas: `av` (valence and arousal as two binary logistic regressions, alone and combined
with the 4-class one), `patch` (every 3-s patch a training example, log-probabilities averaged per clip), `late` (one
logistic regression per tagger, probabilities averaged), `lda` (shrinkage linear discriminant analysis, Ledoit-Wolf, on
the same standardised and clipped vectors: no strength to search), `power` (signed square roots of the pooled vectors
before the headline's estimator). Prints pooled out-of-fold macro-F1 per idea; writes a JSON report.
Exploration only: nothing here is a DVC stage or a params entry.
"""
from __future__ import annotations
import argparse, json, sys, time
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
STORES = ["musicnn", "musicnn_mtt", "vgg_msd", "vgg_mtt"]
AROUSAL_HIGH, VALENCE_HIGH = {"Q1", "Q2"}, {"Q1", "Q4"}
IDEAS = ("av", "patch", "late", "lda", "power")

def linear_search(X, y, groups, grid: list[float], seed: int = 0):
    """The headline's estimator (registry `embedding_linear`: scale -> clip to +-5 SD -> logistic regression), C by
    artist-grouped inner CV as the pipeline sets it (`mer.train.fit_sklearn`), fitted on `X`, `y`."""
    from mer.models.registry import build, head
    n_groups = len(np.unique(groups))
    est = build("embedding_linear", head("classes", len(np.unique(y))), grid={"model__C": list(grid)},
                cv=f"group{min(5, n_groups)}", seed=seed)
    return est.fit(X, y, groups=groups)

def lda_fit(X, y):
    """The headline's pipeline (registry `embedding_linear`: scale -> clip to +-5 SD) with shrinkage LDA in place of the
    logistic regression (`solver='lsqr', shrinkage='auto'`: Ledoit-Wolf; no strength to search), fitted on `X`, `y`."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from mer.models.registry import build, head
    pipe = build("embedding_linear", head("classes", len(np.unique(y))), C=1.0)     # C given: the pipeline, no search
    return pipe.set_params(model=LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")).fit(X, y)

def signed_sqrt(X: np.ndarray) -> np.ndarray: return np.sign(X) * np.sqrt(np.abs(X))

def _log(p: np.ndarray) -> np.ndarray: return np.log(p + 1e-9)

def av_probs(p_arousal: np.ndarray, p_valence: np.ndarray, classes) -> np.ndarray:
    "Quadrant probabilities from P(arousal high) and P(valence high), taken as independent."
    return np.stack([(p_arousal if c in AROUSAL_HIGH else 1 - p_arousal) * (p_valence if c in VALENCE_HIGH else 1 - p_valence)
                     for c in classes], 1)

def clip_logprob(lp: np.ndarray, present: np.ndarray) -> np.ndarray:
    "`(clips, patches, classes)` log-probabilities -> their mean over each clip's present patches."
    m = present[..., None].astype(float)
    return (lp * m).sum(1) / np.maximum(m.sum(1), 1)

def run(X: dict, patches: np.ndarray | None, Y, groups, folds, grid, ideas) -> dict:
    "Pooled out-of-fold predictions of every idea; `X` maps store -> pooled song vectors (concatenated for `base`)."
    from sklearn.metrics import f1_score
    keys = list(X)
    Xall = np.concatenate([X[k] for k in keys], 1)
    Xs = signed_sqrt(Xall) if "power" in ideas else None
    out: dict[str, np.ndarray] = {}
    def put(name, te, pred): out.setdefault(name, np.empty(len(Y), object))[te] = pred
    for f in np.unique(folds):
        te, tr = folds == f, folds != f; t0 = time.time()
        base = linear_search(Xall[tr], Y[tr], groups[tr], grid); cl = np.array(base.classes_)
        p4 = base.predict_proba(Xall[te]); put("base", te, cl[p4.argmax(1)])
        if "av" in ideas:
            ya = np.array([y in AROUSAL_HIGH for y in Y[tr]]).astype(int); yv = np.array([y in VALENCE_HIGH for y in Y[tr]]).astype(int)
            pa = linear_search(Xall[tr], ya, groups[tr], grid).predict_proba(Xall[te])[:, 1]
            pv = linear_search(Xall[tr], yv, groups[tr], grid).predict_proba(Xall[te])[:, 1]
            pq = av_probs(pa, pv, cl)
            put("av_only", te, cl[pq.argmax(1)]); put("av_plus_4class", te, cl[(p4 + pq).argmax(1)])
            put("av_times_4class", te, cl[(_log(p4) + _log(pq)).argmax(1)])
        if "patch" in ideas and patches is not None:
            n, T, D = patches.shape
            Xp, present = patches[tr].reshape(-1, D), np.any(patches[tr] != 0, 2).reshape(-1)
            gs = linear_search(Xp[present], np.repeat(Y[tr], T)[present], np.repeat(groups[tr], T)[present], grid)
            lp = _log(gs.predict_proba(patches[te].reshape(-1, D))).reshape(te.sum(), T, -1)
            put("patch", te, np.array(gs.classes_)[clip_logprob(lp, np.any(patches[te] != 0, 2)).argmax(1)])
        if "late" in ideas:
            probs = []
            for k in keys:
                gs = linear_search(X[k][tr], Y[tr], groups[tr], grid); p = gs.predict_proba(X[k][te]); probs.append(p)
                put(f"alone_{k}", te, cl[p.argmax(1)])
            put("late_mean_prob", te, cl[np.mean(probs, 0).argmax(1)])
            put("late_mean_logprob", te, cl[np.mean(_log(np.array(probs)), 0).argmax(1)])
        if "lda" in ideas:
            m = lda_fit(Xall[tr], Y[tr]); put("lda", te, m.predict(Xall[te]))
            put("lda_plus_base", te, cl[(p4 + m.predict_proba(Xall[te])[:, [list(m.classes_).index(c) for c in cl]]).argmax(1)])
        if Xs is not None:
            put("power", te, linear_search(Xs[tr], Y[tr], groups[tr], grid).predict(Xs[te]))
        print(f"fold {f}: {time.time() - t0:.0f} s", flush=True)
    return {k: float(f1_score(Y, v.astype(str), average="macro")) for k, v in out.items()}

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ideas", default=",".join(IDEAS)); ap.add_argument("--out", default="reports/fourq_ideas.json")
    a = ap.parse_args(argv)
    ideas = {s.strip() for s in a.ideas.split(",") if s.strip()}
    if ideas - set(IDEAS): raise SystemExit(f"unknown ideas {sorted(ideas - set(IDEAS))}: use {', '.join(IDEAS)}")
    from mer.config import load_params, resolve, write_json
    from mer.pipeline import entry_task, _store
    P = load_params(); entry = P["real"]["models"]["fourq_fusion4_linear"]
    if entry.get("features") != STORES: raise SystemExit(f"fourq_fusion4_linear reads {entry.get('features')}, this script {STORES}")
    X, task = {}, None
    for s in STORES:                     # one task per store: its pooled vectors, the same songs and folds
        P["real"]["models"]["fourq_fusion4_linear"]["features"] = [s]
        cfg, t = entry_task("fourq_fusion4_linear", P, "real.models")
        if task is not None and not (t.ids == task.ids).all(): raise SystemExit(f"store {s} covers other songs")
        X[s], task = t.X, t
    patches = None
    if "patch" in ideas:
        raw = [[np.asarray(_store("fourq", s).get(i), np.float32) for i in task.ids] for s in STORES]
        T = max(len(x) for r in raw for x in r)
        pad = lambda x: np.concatenate([x, np.zeros((T - len(x), x.shape[1]), np.float32)])
        patches = np.concatenate([np.stack([pad(x) for x in r]) for r in raw], axis=2)   # zero rows: no patch there
    res = run(X, patches, task.Y, task.inner_groups, task.folds, cfg["hparams"]["grid"]["model__C"], ideas)
    for k, v in res.items(): print(f"{k:>22}: macro-F1 {v:.4f}")
    write_json(resolve(a.out), {"macro_f1": res, "n_clips": int(len(task.Y)), "stores": STORES})
    return 0

if __name__ == "__main__": sys.exit(main())
