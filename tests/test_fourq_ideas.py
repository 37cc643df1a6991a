"""bench/fourq_ideas.py on a small made-up problem (the real run needs the 4Q tagger stores: `make repro-real`)."""
import importlib.util
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("fourq_ideas", ROOT/"bench"/"fourq_ideas.py")
fi = importlib.util.module_from_spec(spec); spec.loader.exec_module(fi)

def test_av_probabilities_follow_the_quadrant_signs():
    p = fi.av_probs(np.array([0.9]), np.array([0.2]), ["Q1", "Q2", "Q3", "Q4"])[0]   # energetic and negative: Q2
    np.testing.assert_allclose(p, [0.9 * 0.2, 0.9 * 0.8, 0.1 * 0.8, 0.1 * 0.2]); assert p.argmax() == 1

def test_clip_mean_ignores_missing_patches():
    lp = np.log(np.array([[[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]]]))
    np.testing.assert_allclose(fi.clip_logprob(lp, np.array([[True, False, False]]))[0], lp[0, 0])

def test_every_idea_scores_a_separable_problem():
    rng = np.random.default_rng(0)
    q = np.array(["Q1", "Q2", "Q3", "Q4"] * 30); groups = np.repeat(np.arange(60), 2).astype(str)
    centre = {"Q1": (1, 1), "Q2": (-1, 1), "Q3": (-1, -1), "Q4": (1, -1)}
    va = np.array([centre[c] for c in q], float)
    X = {"a": np.c_[va, rng.normal(size=(120, 3))] + 0.3 * rng.normal(size=(120, 5)), "b": rng.normal(size=(120, 4))}
    patches = np.repeat(X["a"][:, None, :], 3, 1) + 0.1 * rng.normal(size=(120, 3, 5)); patches[:5, 2] = 0   # short clips
    folds = np.arange(120) // 2 % 3
    res = fi.run(X, patches, q, groups, folds, [0.1, 1.0], {"av", "patch", "late", "lda", "power"})
    assert set(res) == {"base", "av_only", "av_plus_4class", "av_times_4class", "patch", "alone_a", "alone_b",
                        "late_mean_prob", "late_mean_logprob", "lda", "lda_plus_base", "power"}
    assert min(res[k] for k in res if k != "alone_b") > 0.9 and res["alone_b"] < 0.5   # the noise store alone is near chance

def test_signed_sqrt_keeps_sign_and_order():
    np.testing.assert_allclose(fi.signed_sqrt(np.array([-4.0, 0.0, 0.25, 9.0])), [-2.0, 0.0, 0.5, 3.0])
