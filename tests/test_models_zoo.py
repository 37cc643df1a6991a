"""Tests for the model zoo (mer.models.zoo): every registered model, every head it supports, on tiny random input.

Nguyen's DEAM family is shape-tested in tests/test_models_deam_cnn.py; this file covers every other Keras model
(and any model registered later), the sklearn models' heads, the Delbouys seed-faithful flag and the zoo tables.
Run: python -m pytest -q tests/test_models_zoo.py
"""
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from mer.models import zoo  # noqa: E402  (registers every family)
from mer.models.registry import MODELS, build, head  # noqa: E402

HEADS = {"static": head("static"), "classes": head("classes", 3), "dynamic": head("dynamic")}
SPEC, TEXT_LEN, TEXT_KW = (64, 16, 1), 20, dict(vocab_size=50, embed_dim=8)
# model -> (input shape for static/classes, input shape for dynamic, tiny hyperparameters)
TINY = {
    "delbouys_audio": (SPEC, SPEC, {}), "quan_dong_model1": (SPEC, SPEC, {}), "quan_dong_model2": (SPEC, SPEC, {}),
    "delbouys_lyrics": ((TEXT_LEN,), None, TEXT_KW), "delbouys_bimodal": ((SPEC, TEXT_LEN), None, TEXT_KW),
    "deck_mlp": ((9,), None, {}),
    "deck_conv_fc": (SPEC, SPEC, dict(conv_filters=(4, 8))), "deck_conv_bilstm": (SPEC, SPEC, dict(conv_filters=(4, 8), lstm_units=4)),
    "embedding_mlp": ((16,), (5, 16), dict(units=8)), "attn_multitask": ((5, 16), (5, 16), dict(d_model=8, gru_units=4)),
}
KERAS = sorted(n for n, i in MODELS.items() if i.kind == "keras" and i.family not in ("nguyen-deam", "test"))
SKLEARN = sorted(n for n, i in MODELS.items() if i.kind == "sklearn" and i.family != "test")


def rand_input(shape, n=2, seed=0):
    r = np.random.default_rng(seed)
    if isinstance(shape[0], tuple):  # (audio shape, text length)
        return [rand_input(shape[0], n, seed), rand_input((shape[1],), n, seed)]
    if len(shape) == 1 and shape == (TEXT_LEN,):
        return r.integers(0, TEXT_KW["vocab_size"], (n, *shape)).astype("int32")
    return r.normal(size=(n, *shape)).astype("float32")


def test_every_issue_model_listed_with_source():
    tbl = zoo.list_models()
    want = {"dense_baseline", "simple_cnn", "simple_crnn", "crnn_2", "crnn_3", "crnn_cbam", "crnn_cbam_max", "crnn_cbam_ds",
            "resnet_dynamic", "delbouys_audio", "quan_dong_model1", "quan_dong_model2", "delbouys_lyrics",
            "delbouys_bimodal", "deck_mlp", "deck_svm", "deck_tree", "deck_forest", "deck_stack", "deck_conv_fc",
            "deck_conv_bilstm", "embedding_mlp", "embedding_linear", "attn_multitask"}
    assert want <= set(tbl.name)
    assert tbl.source.str.len().gt(0).all()
    assert set(zoo.SEED_BUGS) <= set(tbl.name)


def test_tiny_config_for_every_keras_model():
    """A newly registered Keras model must get a tiny configuration here (and so a shape test)."""
    assert set(KERAS) == set(TINY), set(KERAS) ^ set(TINY)


@pytest.mark.parametrize("name", KERAS)
def test_keras_shapes_every_head(name):
    shape, dyn_shape, hp = TINY[name]
    for task in MODELS[name].tasks:
        s = dyn_shape if task == "dynamic" else shape
        x = rand_input(s)
        y = np.asarray(build(name, HEADS[task], s, **hp).predict(x, verbose=0))  # predict: main output only
        if task == "dynamic":
            assert y.ndim == 3 and y.shape[0] == 2 and y.shape[2] == 2 and y.shape[1] >= 1, (task, y.shape)
        else:
            assert y.shape == {"static": (2, 2), "classes": (2, 3)}[task], (task, y.shape)
        assert np.isfinite(y).all()
        if task == "classes":
            np.testing.assert_allclose(y.sum(-1), 1.0, atol=1e-5)
    for task in set(HEADS) - set(MODELS[name].tasks):
        with pytest.raises(ValueError, match="does not support"):
            build(name, HEADS[task], shape, **hp)


@pytest.mark.parametrize("name", SKLEARN)
def test_sklearn_every_head(name):
    r = np.random.default_rng(0)
    X = r.normal(size=(36, 4, 6)) if MODELS[name].input == "embedding" else r.normal(size=(36, 6))
    y = np.array(["Q1", "Q2", "Q3"] * 12)
    kw = dict(cv=3)
    if name.startswith("deck"): kw.update(k_neighbors=3, grid={})
    if name in ("deck_forest", "deck_stack"): kw["n_estimators"] = 5
    if name == "deck_stack": kw.update(cv=2, stack_cv=2)
    for task in MODELS[name].tasks:
        est = build(name, HEADS[task], **kw)
        Y = y if task == "classes" else np.tanh(r.normal(size=(36, 2)))  # dynamic: one row per 2 Hz frame
        assert est.fit(X, Y).predict(X).shape == ((36,) if task == "classes" else (36, 2))


@pytest.mark.parametrize("name", ["delbouys_audio", "delbouys_lyrics", "delbouys_bimodal"])
def test_delbouys_seed_faithful_drops_hidden_nonlinearity(name):
    shape, _, hp = TINY[name]
    fixed = build(name, HEADS["static"], shape, **hp).get_layer("dense").get_config()["activation"]
    faithful = build(name, HEADS["static"], shape, seed_faithful=True, **hp).get_layer("dense").get_config()["activation"]
    assert (fixed, faithful) == ("relu", "linear")


def test_input_shapes_and_cost_rows():
    assert zoo.input_shape("crnn_cbam") == zoo.NGUYEN_STFT
    assert zoo.input_shape("crnn_cbam", "quick") == zoo.QUICK_MEL
    assert zoo.input_shape("deck_mlp", "quick", n_table=50) == (50,)
    assert zoo.input_shape("attn_multitask") == (zoo.N_PATCHES, zoo.N_EMBED)
    with pytest.raises(ValueError, match="sklearn"):
        zoo.input_shape("deck_svm")
    with pytest.raises(ValueError, match="profile"):
        zoo.input_shape("deck_mlp", "huge")
    t = zoo.zoo_cost("quick", names=["deck_mlp", "embedding_mlp"], n_table=50)
    assert t.error.eq("").all()
    # deck_mlp: BatchNorm (4 x 50) + Dense 50 -> 8 + Dense 8 -> 2
    assert int(t.set_index("name").params["deck_mlp"]) == 4 * 50 + 50 * 8 + 8 + 8 * 2 + 2
    assert int(t.set_index("name").flops["deck_mlp"]) == (2 * 50 * 8 + 8) + (2 * 8 * 2 + 2)
