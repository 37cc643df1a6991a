"""Tests for the Spotify-feature deck models (mer.models.deck) and the embedding heads (mer.models.embedding).

Tiny random data only; no shared data needed. Run: python -m pytest -q tests/test_models_classical.py
"""
import os
import time

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from mer.models import deck, embedding  # noqa: E402,F401  (registers the models)
from mer.models.registry import MODELS, build, compile_model, head  # noqa: E402


def toy_table(n=60, d=5, seed=0, p=(0.5, 0.3, 0.2)):
    r = np.random.default_rng(seed)
    y = r.choice(len(p), size=n, p=list(p))
    X = r.normal(size=(n, d)) + y[:, None] * 0.8
    return X, np.array([f"Q{c + 1}" for c in y])


def toy_sequences(n=12, T=10, D=16, seed=0):
    r = np.random.default_rng(seed)
    X = r.normal(size=(n, T, D)).astype("float32")
    X[:4, 6:] = 0  # four songs zero-padded after 6 patches
    return X


# ---------------------------------------------------------------- registry
def test_registry_entries():
    want = {"deck_mlp": ("spotify-deck", "keras", "table"), "deck_svm": ("spotify-deck", "sklearn", "table"),
            "deck_tree": ("spotify-deck", "sklearn", "table"), "deck_forest": ("spotify-deck", "sklearn", "table"),
            "deck_stack": ("spotify-deck", "sklearn", "table"), "deck_conv_fc": ("spotify-deck", "keras", "spectrogram"),
            "deck_conv_bilstm": ("spotify-deck", "keras", "spectrogram"),
            "embedding_mlp": ("embedding", "keras", "embedding"), "embedding_linear": ("embedding", "sklearn", "embedding"),
            "attn_multitask": ("mer", "keras", "embedding")}
    for name, (family, kind, inp) in want.items():
        info = MODELS[name]
        assert (info.family, info.kind, info.input) == (family, kind, inp), name
        assert info.source


# ---------------------------------------------------------------- deck: sklearn
@pytest.mark.parametrize("name", ["deck_svm", "deck_tree", "deck_forest", "deck_stack"])
def test_deck_sklearn_classes_and_va(name):
    X, y = toy_table()
    kw = {} if name in ("deck_svm", "deck_tree") else {"n_estimators": 15}
    if name == "deck_stack": kw["grid"] = {"model__final_estimator__C": [1.0]}
    est = build(name, head("classes", 3), cv=3, k_neighbors=3, **kw)
    assert list(est.estimator.named_steps) == ["scale", "smote", "model"]
    est.fit(X, y)
    assert est.predict(X).shape == (60,)
    assert set(est.predict(X)) <= set(y)
    va = np.tanh(X[:, :2])
    if name == "deck_stack": kw["grid"] = {"model__estimator__final_estimator__alpha": [1.0]}
    reg = build(name, head("static"), cv=3, **kw)
    assert "smote" not in reg.estimator.named_steps  # never oversample regression targets
    assert reg.fit(X, va).predict(X).shape == (60, 2)


def test_grid_search_is_fast_and_grid_override():
    X, y = toy_table()
    t0 = time.perf_counter()
    est = build("deck_svm", head("classes", 3), cv=3, k_neighbors=3, grid={"model__C": [0.5, 5.0]}).fit(X, y)
    assert time.perf_counter() - t0 < 5.0
    assert len(est.cv_results_["params"]) == 2
    assert est.best_params_["model__C"] in (0.5, 5.0)
    with pytest.raises(ValueError, match="model__"):
        build("deck_svm", head("classes", 3), grid={"C": [1.0]})


def test_smote_inside_folds_only():
    """The pipeline oversamples the training rows while fitting and never resamples rows it predicts."""
    from sklearn.model_selection import train_test_split
    from sklearn.tree import DecisionTreeClassifier
    X, y = toy_table(n=80)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    pipe = deck.deck_pipeline(DecisionTreeClassifier(random_state=0), head("classes", 3), k_neighbors=3).fit(Xtr, ytr)
    n_seen = pipe.named_steps["model"].tree_.n_node_samples[0]
    assert n_seen == 3 * np.unique(ytr, return_counts=True)[1].max() > len(Xtr)
    direct = pipe.named_steps["model"].predict(pipe.named_steps["scale"].transform(Xte))
    np.testing.assert_array_equal(pipe.predict(Xte), direct)  # no SMOTE at predict time
    # inside GridSearchCV each validation fold is scored on its real rows only: fold sizes add up to n
    est = build("deck_tree", head("classes", 3), cv=3, k_neighbors=3).fit(X, y)
    sizes = [len(va) for _, va in est.cv.split(X, y)]
    assert sum(sizes) == len(X)


def test_leaky_order_inflates_scores_on_noise():
    r = np.random.default_rng(0)
    X = r.normal(size=(150, 6))
    y = r.choice(["Q1", "Q2", "Q3"], size=150, p=[0.6, 0.25, 0.15])
    kw = dict(cv=3, grid={"model__max_depth": [None]}, n_estimators=40)
    leaky = np.mean([deck.holdout_score("deck_forest", X, y, seed_faithful=True, seed=s, **kw)["macro_f1"] for s in range(2)])
    fair = np.mean([deck.holdout_score("deck_forest", X, y, seed_faithful=False, seed=s, **kw)["macro_f1"] for s in range(2)])
    assert fair < 0.5  # chance level on noise
    assert leaky > fair + 0.15
    Xtr, Xte, ytr, yte = deck.oversample_then_split(X, y, seed=0)
    assert len(Xtr) + len(Xte) > len(X)  # synthetic rows on both sides of the split
    assert "smote" not in build("deck_forest", head("classes", 3), seed_faithful=True).estimator.named_steps


def test_groups_reach_the_splitter():
    X, y = toy_table()
    groups = np.repeat(np.arange(12), 5)
    est = build("deck_tree", head("classes", 3), cv="group3", k_neighbors=3)
    est.fit(X, y, groups=groups)
    for tr, va in est.cv.split(X, y, groups):
        assert not set(groups[tr]) & set(groups[va])
    with pytest.raises(ValueError, match="groups"):  # GroupKFold without groups fails loudly
        build("deck_tree", head("classes", 3), cv="group3", k_neighbors=3).fit(X, y)


def test_fit_sklearn_passes_groups():
    from mer.train import _accepts_groups, fit_sklearn
    est = build("deck_tree", head("classes", 3), cv="group3", k_neighbors=3)
    assert _accepts_groups(est)
    X, y = toy_table()
    cfg = {"seed": 0, "model": "deck_tree", "hparams": {"cv": "group3", "k_neighbors": 3}}
    f = fit_sklearn(cfg, head("classes", 3), {"X": X, "Y": y}, groups=np.repeat(np.arange(12), 5))
    assert f.model.n_splits_ == 3


# ---------------------------------------------------------------- deck: keras
def test_deck_keras_shapes_and_fit():
    X = np.random.default_rng(0).normal(size=(16, 9)).astype("float32")
    m = compile_model(build("deck_mlp", head("static"), (9,)), head("static"))
    m.fit(X, X[:, :2], epochs=1, verbose=0)
    assert m.predict(X, verbose=0).shape == (16, 2)
    assert m.get_layer("hidden").units == 8
    for name in ("deck_conv_fc", "deck_conv_bilstm"):
        assert tuple(build(name, head("classes", 4), deck.DECK_MEL_SHAPE).output.shape) == (None, 4)
        small = (32, 16, 1)
        mm = compile_model(build(name, head("classes", 3), small, conv_filters=(4, 8)), head("classes", 3))
        Xs = np.random.default_rng(1).normal(size=(6, *small)).astype("float32")
        mm.fit(Xs, np.eye(3, dtype="float32")[[0, 1, 2, 0, 1, 2]], epochs=1, verbose=0)
        assert mm.predict(Xs, verbose=0).shape == (6, 3)
        assert len(build(name, head("dynamic"), small, conv_filters=(4, 8)).output.shape) == 3


# ---------------------------------------------------------------- embedding heads
def test_embedding_mlp_vector_sequence_dynamic():
    assert tuple(build("embedding_mlp", head("classes", 4), (200,)).output.shape) == (None, 4)
    assert tuple(build("embedding_mlp", head("dynamic"), (None, 200)).output.shape) == (None, None, 2)
    X = toy_sequences()
    m = compile_model(build("embedding_mlp", head("static"), (None, 16), dropout=0.0), head("static"))
    m.fit(X, np.zeros((12, 2), "float32"), epochs=1, verbose=0)
    p = m.predict(X, verbose=0)
    np.testing.assert_allclose(m.predict(X[:4, :6], verbose=0), p[:4], atol=1e-5)  # padding ignored
    with pytest.raises(ValueError, match="T, D"):
        build("embedding_mlp", head("dynamic"), (200,))


def test_embedding_linear():
    X = toy_sequences(n=60, T=6, D=8)
    assert embedding.pool_embeddings(X).shape == (60, 16)
    np.testing.assert_allclose(embedding.pool_embeddings(X[:4, :6]), embedding.pool_embeddings(X[:4]), atol=1e-6)
    y = np.where(X[:, :, 0].mean(1) > 0, "Q1", "Q3")
    est = build("embedding_linear", head("classes", 2), cv=3).fit(X, y)
    assert est.predict_proba(X).shape == (60, 2)
    assert (est.predict(X) == y).mean() > 0.8
    plain = build("embedding_linear", head("static"), alpha=1.0)
    assert plain.fit(X.mean(1), np.zeros((60, 2)) + X[:, 0, :2]).predict(X.mean(1)).shape == (60, 2)
    with pytest.raises(ValueError, match="embeddings must be"):
        embedding.pool_embeddings(np.zeros(5))


# ---------------------------------------------------------------- attn_multitask
def test_attn_multitask_classes_with_aux_va(tmp_path):
    import keras
    X = toy_sequences()
    r = np.random.default_rng(2)
    yq = r.integers(0, 4, 12)
    va = r.uniform(-1, 1, (12, 2))
    va[:3] = np.nan
    Y = embedding.multitask_targets(yq, va, n_classes=4)
    assert Y.shape == (12, 6)
    m = compile_model(build("attn_multitask", head("classes", 4), (None, 16), d_model=16, aux_weight=0.5), head("classes", 4))
    hist = m.fit(X, Y, validation_data=(X, Y), epochs=2, verbose=0).history
    assert {"loss", "main_loss", "aux_loss", "val_loss"} <= set(hist)
    assert np.all(np.isfinite(hist["loss"])) and hist["aux_loss"][0] > 0
    # total = main + aux_weight * aux
    np.testing.assert_allclose(hist["val_loss"][-1], hist["val_main_loss"][-1] + 0.5 * hist["val_aux_loss"][-1], rtol=1e-4)
    p = m.predict(X, verbose=0)
    assert p.shape == (12, 4)
    np.testing.assert_allclose(m.predict(X[:4, :6], verbose=0), p[:4], atol=1e-5)
    w = embedding.attention_weights(m, X)
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-4)
    assert np.abs(w[:4, 6:]).max() < 1e-6
    m.save(tmp_path / "m.keras")
    m2 = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(m2.predict(X, verbose=0), p, atol=1e-6)
    assert m2.aux_weight == 0.5


def test_attn_multitask_static_and_single_output():
    X = toy_sequences()
    va = np.random.default_rng(3).uniform(-1, 1, (12, 2)).astype("float32")
    m = compile_model(build("attn_multitask", head("static"), (None, 16), d_model=16), head("static"))
    h = m.fit(X, va, epochs=1, verbose=0).history
    assert h["aux_loss"][0] > 0  # quadrant cross-entropy from the VA signs
    assert m.predict(X, verbose=0).shape == (12, 2)
    m0 = build("attn_multitask", head("classes", 4), (16,), aux_weight=0)
    assert tuple(m0.output.shape) == (None, 4)
    assert tuple(build("attn_multitask", head("dynamic"), (None, 16)).output.shape) == (None, None, 2)
    with pytest.raises(ValueError, match="n_classes"):
        embedding.multitask_targets([0, 1], np.zeros((2, 2)))


def test_run_experiment_with_attn_multitask_and_linear():
    """The models plug into mer.train.run_experiment unchanged (holdout on pooled / sequence inputs)."""
    from mer.train import TRAIN_DEFAULTS, Task, run_experiment
    r = np.random.default_rng(4)
    n = 40
    X = toy_sequences(n=n, T=6, D=8, seed=4)
    classes = ["Q1", "Q2", "Q3", "Q4"]
    y = np.array(classes, dtype=object)[r.integers(0, 4, n)]
    task = Task(ids=np.array([str(i) for i in range(n)]), kind="classes", Y=y, X=X, folds=np.arange(n) % 5, classes=classes)
    for name, hp in (("attn_multitask", {"d_model": 8}), ("embedding_linear", {"cv": 3})):
        cfg = {**TRAIN_DEFAULTS, "model": name, "seed": 0, "epochs": 2, "batch_size": 8, "n_boot": 5, "hparams": hp}
        res = run_experiment(cfg, task)
        assert 0.0 <= res["metrics"]["macro_f1"] <= 1.0, name
        assert np.isfinite(res["predictions"][res["tested"]]).all(), name
