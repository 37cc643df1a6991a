"""Tests for Nguyen's DEAM CNN/CRNN family (mer.models.deam_cnn) and model cost (mer.models.cost).

Tiny random inputs only; no shared data needed. Run: python -m pytest -q tests/test_models_deam_cnn.py
(`-m "not slow"` skips the small overfit checks).
"""
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from keras import layers  # noqa: E402

from mer.models import deam_cnn as dc  # noqa: E402  (registers the models)
from mer.models.cost import count_flops, count_params, cost_table, flops_breakdown, profile_flops, registered_models  # noqa: E402
from mer.models.registry import MODELS, build, compile_model, head  # noqa: E402

SMALL = (32, 16, 1)
HEADS = {"static": head("static"), "classes": head("classes", 4), "dynamic": head("dynamic")}
EXPECT = {"static": (3, 2), "classes": (3, 4), "dynamic": (3, 4, 2)}
X = np.random.default_rng(0).normal(size=(3, *SMALL)).astype("float32")


def hp(name, **kw):
    extra = {"frames_per_step": 8} if "dynamic" in MODELS[name].tasks else {}
    return {**dc.quick_hparams(name), **extra, **kw}


def test_family_registered():
    assert set(dc.DEAM_CNN_MODELS) == {"dense_baseline", "simple_cnn", "simple_crnn", "crnn_2", "crnn_3", "crnn_cbam",
                                       "crnn_cbam_max", "crnn_cbam_ds", "resnet_dynamic"}
    for n in dc.DEAM_CNN_MODELS:
        info = MODELS[n]
        assert info.family == "nguyen-deam" and info.input == "spectrogram" and info.source
    assert MODELS["simple_cnn"].tasks == ("static", "classes")
    assert "dynamic" in MODELS["crnn_3"].tasks and "dynamic" in MODELS["resnet_dynamic"].tasks


@pytest.mark.parametrize("name", dc.DEAM_CNN_MODELS)
def test_shapes_every_head(name):
    for task in MODELS[name].tasks:
        y = np.asarray(build(name, HEADS[task], SMALL, **hp(name))(X, training=False))
        assert y.shape == EXPECT[task], (name, task, y.shape)
        assert np.isfinite(y).all()
        if task == "classes":
            np.testing.assert_allclose(y.sum(-1), 1, atol=1e-5)
    keras.backend.clear_session()


@pytest.mark.parametrize("name", dc.DEAM_CNN_MODELS)
def test_seed_faithful_relu_output(name):
    m = build(name, HEADS["static"], SMALL, seed_faithful=True, **hp(name))
    assert m.get_layer("out").activation.__name__ == "relu"
    assert build(name, HEADS["static"], SMALL, **hp(name)).get_layer("out").activation.__name__ == "linear"
    keras.backend.clear_session()


def test_bad_input_shape_and_valid_conv_message():
    with pytest.raises(ValueError, match="time, frequency, channels"):
        build("simple_cnn", HEADS["static"], (32, 16))
    with pytest.raises(ValueError, match="padding='same'"):
        build("simple_crnn", HEADS["static"], (64, 32, 1), resize_time=None)
    with pytest.raises(ValueError, match="does not support"):
        build("dense_baseline", HEADS["dynamic"], SMALL)


def test_seed_faithful_resize_swaps_axes():
    fixed = build("dense_baseline", HEADS["static"], (40, 16, 2), resize_time=32, units=(8,))
    seed = build("dense_baseline", HEADS["static"], (40, 16, 2), seed_faithful=True, resize_time=32, units=(8,))
    assert fixed.get_layer("resize").output.shape[1:] == (32, 16, 2)   # time -> 32 frames, 16 bins kept
    assert seed.get_layer("resize").output.shape[1:] == (16, 32, 2)    # the seed's swap


def test_seed_faithful_spatial_attention_unbounded():
    xi = keras.Input((12, 6, 16))
    xr = np.random.default_rng(1).normal(size=(4, 12, 6, 16)).astype("float32") * 5
    maps = {}
    for sig in (True, False):
        m = keras.Model(xi, dc.cbam_block(xi, ratio=4, spatial_sigmoid=sig, name=f"c{int(sig)}"))
        maps[sig] = np.asarray(keras.Model(m.input, m.get_layer(f"c{int(sig)}_sa_map").output)(xr))
    assert maps[True].min() >= 0 and maps[True].max() <= 1
    assert maps[False].min() < 0
    # the whole-model flag reaches every CBAM block
    m = build("crnn_cbam", HEADS["static"], SMALL, seed_faithful=True, **hp("crnn_cbam"))
    assert all(ly.activation.__name__ == "linear" for ly in m.layers if ly.name.endswith("_sa_map"))
    m = build("crnn_cbam", HEADS["static"], SMALL, **hp("crnn_cbam"))
    assert all(ly.activation.__name__ == "sigmoid" for ly in m.layers if ly.name.endswith("_sa_map"))


def test_seed_sizes_match_reference_reshapes():
    assert build("simple_crnn", HEADS["static"], (15502, 129, 2)).get_layer("to_sequence").output.shape[1:] == (59, 512)
    assert build("crnn_2", HEADS["static"], (15502, 129, 2)).get_layer("to_sequence").output.shape[1:] == (60, 1024)
    keras.backend.clear_session()


def test_dynamic_grid():
    m = build("crnn_cbam", HEADS["dynamic"], (128, 64, 1), **dc.quick_hparams("crnn_cbam"), frames_per_step=21.533)
    assert m.output.shape == (None, 5, 2)                              # floor(128 / 21.533)
    m = build("resnet_dynamic", HEADS["dynamic"], (128, 64, 1), **dc.quick_hparams("resnet_dynamic"), out_steps=60)
    assert m.output.shape == (None, 60, 2)
    np.testing.assert_allclose(dc.area_weights(7, 3).sum(1), 1, atol=1e-6)


def test_save_load_roundtrip(tmp_path):
    m = build("crnn_cbam_ds", HEADS["dynamic"], SMALL, **dc.quick_hparams("crnn_cbam_ds"), out_steps=3)
    p = tmp_path / "m.keras"
    m.save(p)
    m2 = keras.models.load_model(p)
    np.testing.assert_allclose(np.asarray(m2(X)), np.asarray(m(X)), atol=1e-5)


def test_cost_known_counts():
    inp = keras.Input((20,))
    m = keras.Model(inp, layers.Dense(10)(inp))
    assert count_flops(m) == 2 * 20 * 10 + 10 and count_params(m) == 210
    inp = keras.Input((7, 3))
    m = keras.Model(inp, layers.LSTM(4)(inp))
    assert count_flops(m) == 7 * (2 * (3 + 4) * 16 + 16)
    assert profile_flops(m) < count_flops(m)                           # TF's profiler misses the RNN loop


def test_cost_agrees_with_tf_profiler_on_convnets():
    inp = keras.Input((10, 8, 2))
    x = layers.Conv2D(4, 3, padding="same")(inp)
    x = layers.DepthwiseConv2D(3)(x)
    x = layers.SeparableConv2D(6, 3, padding="same")(x)
    m = keras.Model(inp, layers.Dense(3)(layers.Flatten()(x)))
    assert count_flops(m) == profile_flops(m)
    assert count_flops(m, batch=2) == profile_flops(m, batch=2)


def test_cost_table_and_mobilenet_variant_is_cheaper():
    names = ["crnn_cbam", "crnn_cbam_ds", "nope"]
    t = cost_table(names, (128, 64, 1), HEADS["static"], hparams={n: dc.quick_hparams(n) for n in names[:2]})
    assert t.name.tolist() == names and t.error.iloc[2].startswith("KeyError") and t.error.iloc[:2].eq("").all()
    a, b = t.set_index("name").loc["crnn_cbam"], t.set_index("name").loc["crnn_cbam_ds"]
    assert b.params < a.params and b.flops < a.flops
    assert set(dc.DEAM_CNN_MODELS) <= set(registered_models())
    bd = flops_breakdown(build("crnn_cbam", HEADS["static"], SMALL, **dc.quick_hparams("crnn_cbam")))
    assert bd.loc[bd.layer == "b1_cbam_ca_mlp1", "calls"].item() == 2      # shared CBAM MLP: avg and max


@pytest.mark.slow
@pytest.mark.parametrize("name,task", [("simple_cnn", "static"), ("crnn_cbam", "static"), ("resnet_dynamic", "dynamic")])
def test_tiny_overfit(name, task):
    keras.utils.set_random_seed(0)
    r = np.random.default_rng(2)
    X8 = r.normal(size=(8, *SMALL)).astype("float32")
    h = HEADS[task]
    m = build(name, h, SMALL, **hp(name, dropout=0.0, **({"frames_per_step": 16} if task == "dynamic" else {})))
    Y8 = r.uniform(-1, 1, size=(8, *m.output.shape[1:])).astype("float32")
    compile_model(m, h, lr=0.003)
    loss = m.fit(X8, Y8, epochs=150, batch_size=8, verbose=0).history["loss"]
    assert loss[-1] < loss[0] / 5, (name, loss[0], loss[-1])
