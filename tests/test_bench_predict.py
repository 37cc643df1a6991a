"""bench/predict.py's scoring and report helpers (the timed run itself is `make bench-predict`: it needs trained models and
VibeNet's own venv, and its committed run is checked by tests/test_docs.py)."""
import importlib.util, json
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bench_predict", ROOT/"bench"/"predict.py")
bp = importlib.util.module_from_spec(spec); spec.loader.exec_module(bp)

def _clips(n_artists=40, seed=0):
    rng = np.random.default_rng(seed)
    y = np.array(["Q1", "Q2", "Q3", "Q4"] * n_artists)
    signs = {"Q1": (1, 1), "Q2": (-1, 1), "Q3": (-1, -1), "Q4": (1, -1)}
    v = np.array([signs[q][0] for q in y]) * rng.uniform(0.1, 0.5, len(y))
    a = np.array([signs[q][1] for q in y]) * rng.uniform(0.1, 0.5, len(y))
    return v, a, y, np.repeat(np.arange(n_artists), 4).astype(str)

def test_fitted_thresholds_recover_a_shifted_scale():
    "A predictor whose outputs are right up to an offset (VibeNet's [0, 1] scale) scores 1.0 once thresholds are fitted in-fold."
    v, a, y, g = _clips()
    f1, pred = bp.fitted_f1(v, a, y, g)
    assert f1 == 1.0 and list(pred) == list(y)
    f1s, _ = bp.fitted_f1(v + 0.6, a + 0.6, y, g)          # every output positive: fixed 0 thresholds would say Q1 throughout
    assert f1s == 1.0
    f1r, _ = bp.fitted_f1(np.random.default_rng(1).normal(size=len(y)), np.random.default_rng(2).normal(size=len(y)), y, g)
    assert f1r < 0.5                                        # noise stays near chance (0.25)

def test_report_names_the_model_without_a_local_path(tmp_path):
    m = tmp_path/"some_model"; m.mkdir()
    (m/"config.json").write_text(json.dumps({"model": "embedding_linear", "task": "dynamic", "dataset": "deam-shared",
                                             "features": ["musicnn", "vgg_msd"]}))
    (m/"metrics.json").write_text(json.dumps({"n_songs": 10}))
    assert bp.model_facts(m) == {"name": "some_model", "model": "embedding_linear", "task": "dynamic", "dataset": "deam-shared",
                                 "features": "musicnn+vgg_msd", "n_songs": 10}
    (m/"metrics.json").write_text("{broken")                # a report is still written, without the missing facts
    assert bp.model_facts(m)["n_songs"] is None and bp.model_facts(tmp_path/"gone")["model"] is None
    assert bp._shown(ROOT/"models"/"x") == "models/x" and bp._shown(m) == "some_model"

def test_ours_scores_a_va_model_by_thresholds_and_a_quadrant_model_by_its_quadrants():
    "`mer predict --model fourq_fusion4_linear` gives quadrants and no valence/arousal: scored by them, not a crash on None."
    v, a, y, g = _clips()
    va = [dict(status="ok", valence=float(x), arousal=float(z), quadrant=None) for x, z in zip(v + 0.6, a + 0.6)]
    f1, f1_zero, how = bp.ours_f1(va, y, g)
    assert (f1, how) == (1.0, "valence/arousal thresholds") and f1_zero < 0.5       # every output positive: fixed 0 says Q1
    q = [dict(status="ok", valence=None, arousal=None, quadrant=str(c)) for c in y]
    q[0] = dict(status="error", error="corrupt")                                     # a failed clip counts as wrong
    f1q, f1q_zero, howq = bp.ours_f1(q, y, g)
    assert howq == "the model's own quadrants" and f1q == f1q_zero and 0.99 < f1q < 1.0
    import pytest
    with pytest.raises(SystemExit, match="neither valence/arousal nor quadrants"):
        bp.ours_f1([dict(status="ok", valence=None, arousal=None, quadrant=None)] * len(y), y, g)
