"""End to end through the pipeline glue (what the DVC stage notebooks call) on a tiny SYNTHETIC dataset in a temporary project
(`MER_ROOT`), so nothing touches the repository's data/, features/, models/ or metrics/."""
import json, os, shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    d = tmp_path_factory.mktemp("proj")
    for f in ("settings.ini", "dvc.yaml"): shutil.copy(ROOT/f, d/f)
    P = yaml.safe_load((ROOT/"params.yaml").read_text())
    P["synthetic"].update(n_songs=15, min_duration_s=22.0, max_duration_s=24.0)
    P["train"]["defaults"]["n_boot"] = 50
    P["models"] = {
        "svm_static": {"model": "deck_svm", "features": "descriptors", "task": "static", "protocol": "cv", "folds": 3},
        "lin_dynamic": {"model": "embedding_linear", "features": "musicnn", "task": "dynamic", "protocol": "cv"},
        "svm_spotify": {"model": "deck_svm", "features": "descriptors", "task": "static", "protocol": "cv", "columns": "spotify"},
        "bad_columns": {"model": "deck_svm", "features": "descriptors", "task": "static", "protocol": "cv", "columns": ["tempo", "nope"]},
        "cnn_columns": {"model": "simple_cnn", "features": "logmel", "task": "static", "protocol": "cv", "columns": ["tempo"]},
        "lin_aug": {"model": "embedding_linear", "features": "logmel_aug", "task": "static", "protocol": "cv"},
        "cnn_aug": {"model": "simple_cnn", "features": "logmel_aug", "task": "classes", "labels": "quadrant", "protocol": "cv",
                    "epochs": 2, "crops_per_song": 2, "hparams": {"base_filters": 4, "resize_time": None}},
        "dyn_aug": {"model": "embedding_linear", "features": "logmel_aug", "task": "dynamic", "protocol": "cv"},
        "lin_me15": {"model": "embedding_linear", "features": "musicnn", "task": "dynamic", "protocol": "mediaeval"},
        "lin_fused": {"model": "embedding_linear", "features": ["musicnn", "descriptors"], "task": "classes", "labels": "quadrant",
                      "protocol": "cv"},
        "svm_fused": {"model": "deck_svm", "features": ["musicnn", "descriptors"], "task": "static", "protocol": "cv"},
    }
    P["features"] = {"descriptors": {"repr": "descriptors", "sr": 22050},
                     "logmel": {"repr": "logmel", "sr": 22050, "n_fft": 1024, "hop": 512, "n_mels": 16},
                     "logmel_aug": {"repr": "logmel", "sr": 22050, "n_fft": 1024, "hop": 512, "n_mels": 16,
                                    "augment": {"pitch_steps": [2], "stretch": [0.9]}},
                     "musicnn": {"repr": "musicnn", "model": "MSD_musicnn", "progress": False}}
    P["splits"] = {"folds": 3, "seed": 0}
    P["real"] = {"models": {"svm_real_section": dict(P["models"]["svm_static"], dataset="synthetic")},
                 "gpu_models": {"mlp_gpu": {"model": "embedding_mlp", "features": "musicnn", "task": "static", "protocol": "holdout",
                                            "epochs": 2, "dataset": "synthetic"}}}
    (d/"params.yaml").write_text(yaml.safe_dump(P))
    old = os.environ.get("MER_ROOT"); os.environ["MER_ROOT"] = str(d)
    yield d, P
    if old is None: os.environ.pop("MER_ROOT", None)
    else: os.environ["MER_ROOT"] = old


def test_pipeline_end_to_end(project):
    d, P = project
    from mer.data.synthetic import generate_deam
    from mer.data.datasets import load_dataset
    from mer.data.splits import grouped_kfold, write_split
    from mer.pipeline import feature_audio_index, extract_representation, train_from_params, store_path
    from mer.benchmark import collect, best_per_task
    S = P["synthetic"]
    generate_deam(d/P["data"]["synthetic_root"], n_songs=S["n_songs"], seed=S["seed"], min_duration_s=S["min_duration_s"],
                  max_duration_s=S["max_duration_s"], jobs=1, verbose=False)
    ds = load_dataset("synthetic", P)
    df = ds.static[["song_id"]].merge(ds.groups.rename("artist").reset_index(), on="song_id")
    write_split(grouped_kfold(df, k=3, seed=0), d/"data/splits/synthetic.csv")
    idx = feature_audio_index("synthetic", P)
    assert len(idx) == 15 and idx.path.map(lambda p: Path(p).is_file()).all()
    for rep in ("descriptors", "logmel", "musicnn"):
        r = extract_representation(rep, idx, P)
        assert r.status.isin(["ok", "skipped", "done", "cached"]).all(), r
    assert store_path("synthetic", "logmel").is_dir() and str(store_path("synthetic", "logmel")).startswith(str(d))
    m = train_from_params("svm_static", P)
    assert np.isfinite(m["valence_r2"]) and np.isfinite(m["arousal_r2"]) and m["n_songs"] == 15
    out = d/"models/svm_static"
    assert {"model.joblib", "config.json", "predictions.csv", "metrics.json"} <= {p.name for p in out.iterdir()}
    pred = pd.read_csv(out/"predictions.csv", dtype={"song_id": str})
    assert pred.tested.all() and len(pred) == 15                      # every song predicted out of fold under CV
    assert json.loads((d/"metrics/models/svm_static.json").read_text())["model"] == "deck_svm"
    log = pd.read_csv(out/"train_log.tsv", sep="\t", keep_default_na=False)      # a scikit-learn model's log: its inner search
    assert sorted(log.fold.unique()) == [0, 1, 2] and (log.groupby("fold").chosen.sum() == 1).all()
    assert len(log) == 3 * 3 * 2 and {"model__estimator__C", "model__estimator__gamma", "mean_test_score"} <= set(log.columns)
    from mer.benchmark import search_summary
    row = search_summary(d/"models").set_index("model").loc["svm_static"]
    assert row["chosen per fold"].startswith("model__estimator__C: ") and row["chosen per fold"].count(",") == 2 * 2
    from mer.models.deck import SPOTIFY_PROXIES                        # `columns: spotify`: the deck's Spotify-API proxies only
    train_from_params("svm_spotify", P)
    cols = json.loads((d/"models/svm_spotify/config.json").read_text())["columns"]
    assert cols == [f"descriptors:{c}" for c in SPOTIFY_PROXIES.values()], cols
    md = train_from_params("lin_dynamic", P)                            # 2 Hz windows, folds and bootstrap by song
    pd_ = pd.read_csv(d/"models/lin_dynamic/predictions.csv", dtype={"song_id": str})
    assert pd_.song_id.nunique() == 15 and (pd_.time_s >= 15.0).all() and np.isfinite(md["arousal_rmse"])
    alt = train_from_params("svm_static", P, dvclive=False, models_dir="models_alt", metrics_dir="metrics/alt", extra={"device": "test"})
    assert alt["device"] == "test" and json.loads((d/"metrics/alt/svm_static.json").read_text())["device"] == "test"
    assert (d/"models_alt/svm_static/model.joblib").is_file()     # what bench/gpu_full.py calls (no DVCLive, its own folders)
    train_from_params("svm_real_section", P, section="real.models")  # the real pipeline's section goes to metrics/real/
    assert (d/"metrics/real/svm_real_section.json").is_file()
    df = collect(d/"models")
    assert set(df.name) == {"svm_static", "svm_spotify", "lin_dynamic", "svm_real_section"}
    best = best_per_task(df)
    assert {b["task"] for b in best} == {"synthetic: static, cv", "synthetic: dynamic, cv"}   # one best per protocol


def test_predict_multi_store_models(project):
    """Models on several feature stores (a musicnn embedding and the descriptors table, concatenated per song) predict from
    audio exactly what the pipeline scored on their last fold: `mer predict` recomputes every store from one decode, using the
    store settings training recorded (`features_metas`), in the trained column order (pooled `store:i` for the embedding head,
    the store's own table columns for the SVM)."""
    d, P = project
    from mer.pipeline import feature_audio_index, train_from_params
    from mer.data.splits import read_split
    from mer.predict import Predictor, predicts_from_audio
    path = feature_audio_index("synthetic", P).set_index("song_id").path
    sp = read_split(d/"data/splits/synthetic.csv")
    last = sp.song_id[sp.fold == sp.fold.max()].astype(str).tolist()[:2]       # the saved model is the last fold's
    for name in ("lin_fused", "svm_fused"):
        train_from_params(name, P, dvclive=False)
        out = d/"models"/name
        cfg = json.loads((out/"config.json").read_text())
        assert set(cfg["features_metas"]) == {"musicnn", "descriptors"} and predicts_from_audio(out)
        pr = pd.read_csv(out/"predictions.csv", dtype={"song_id": str}).set_index("song_id")
        pred = Predictor(out, curve=False, warmup=False)
        for s in last:
            r = pred.predict_file(path[s])
            if cfg["task"] == "classes":
                got, ref = [r["class_probs"][c] for c in cfg["classes"]], pr.loc[s, [f"p_{c}" for c in cfg["classes"]]].to_numpy(float)
            else:
                got, ref = [r["valence"], r["arousal"]], np.clip(pr.loc[s, ["valence_pred", "arousal_pred"]].to_numpy(float), -1, 1)
            np.testing.assert_allclose(got, ref, atol=1e-4, err_msg=f"{name} on {s}")
    cfg["features_metas"].pop("descriptors"); (out/"config.json").write_text(json.dumps(cfg))   # trained before it was recorded
    with pytest.raises(ValueError, match="retrain it"):
        Predictor(out, warmup=False)
    assert not predicts_from_audio(out)


def test_pipeline_mediaeval2015_protocol(project):
    """Dynamic VA under MediaEval 2015: trained on the 2013/2014 songs, tested on the 2015 songs only (a clear error without
    the split column)."""
    d, P = project
    from mer.data.datasets import load_dataset
    from mer.data.splits import mediaeval2015_split, read_split, write_split
    from mer.pipeline import train_from_params
    with pytest.raises(ValueError, match="no 'mediaeval' column"):
        train_from_params("lin_me15", P, dvclive=False)
    ds = load_dataset("synthetic", P)
    sp = read_split(d/"data/splits/synthetic.csv")
    me = mediaeval2015_split(ds.static, sp)
    assert set(me.mediaeval) == {"train", "validation", "test"}, me.mediaeval.value_counts()
    write_split(sp.merge(me, on="song_id", how="left"), d/"data/splits/synthetic.csv")
    m = train_from_params("lin_me15", P, dvclive=False)
    pred = pd.read_csv(d/"models/lin_me15/predictions.csv", dtype={"song_id": str})
    test_songs = set(me.song_id[me.mediaeval == "test"])
    assert set(pred.song_id[pred.tested]) == test_songs                  # only the 2015 songs are scored
    assert set(ds.static.set_index("song_id").subset.loc[list(test_songs)]) == {"2015"}
    assert m["n_folds"] == 1 and np.isfinite(m["arousal_rmse"]) and np.isfinite(m["valence_r"])


def test_pipeline_offline_augmentation(project, monkeypatch):
    "A store with pitch-shifted / time-stretched copies: training folds get the copies of their own songs only."
    d, P = project
    import mer.train
    from mer.pipeline import feature_audio_index, extract_representation, train_from_params, store_path
    from mer.features.store import FeatureStore
    if not (d/"data/splits/synthetic.csv").is_file(): pytest.skip("needs test_pipeline_end_to_end's dataset and splits")
    r = extract_representation("logmel_aug", feature_audio_index("synthetic", P), P)
    assert (r.status == "ok").all(), r
    st = FeatureStore(store_path("synthetic", "logmel_aug"))
    assert len(st.ids()) == 15 and all(v == ["p+2", "s0.9"] for v in st.variants().values())
    assert st.get(st.ids()[0] + "~s0.9").shape[0] > st.get(st.ids()[0]).shape[0]          # 0.9: slower, longer
    seen, fit = [], mer.train.fit_sklearn
    monkeypatch.setattr(mer.train, "fit_sklearn", lambda cfg, h, train, groups=None: seen.append((len(train["X"]), train["n_originals"], groups)) or fit(cfg, h, train, groups))
    m = train_from_params("lin_aug", P, dvclive=False)
    assert len(seen) == 3 and all(n == 3 * k for n, k, _ in seen), seen              # every training song brings its two copies
    assert all(sorted(pd.Series(g[k:]).value_counts()) == sorted(pd.Series(g[:k]).value_counts() * 2) for _, k, g in seen)
    conf = json.loads((d/"models/lin_aug/config.json").read_text())
    assert conf["n_augmented"] == 30 and conf["variants"] == ["p+2", "s0.9"] and m["n"] == 15       # tested on the originals
    mc = train_from_params("cnn_aug", P, dvclive=False)
    assert mc["n"] == 15 and np.isfinite(mc["macro_f1"])
    with pytest.raises(ValueError, match="must be the only feature store of a static or classes task"): train_from_params("dyn_aug", P)


def test_pipeline_clear_errors(project):
    d, P = project
    from mer.pipeline import train_from_params, section_params, feature_config
    with pytest.raises(KeyError, match="no model 'nope'"): train_from_params("nope", P)
    with pytest.raises(KeyError, match="no 'missing' section|has no 'missing'"): section_params(P, "missing")
    with pytest.raises(KeyError, match="no entry 'nope'"): feature_config("nope", P)
    from mer.pipeline import extract_representation
    Pm = {**P, "features": {**P["features"], "mus_aug": {**P["features"]["musicnn"], "augment": {"pitch_steps": [1]}}}}
    with pytest.raises(ValueError, match="applies to the spectral representations"): extract_representation("mus_aug", None, Pm)
    with pytest.raises(ValueError, match=r"columns \['nope'\] are not in the features; available: .*tempo"): train_from_params("bad_columns", P)
    with pytest.raises(ValueError, match="selects song-table columns"): train_from_params("cnn_columns", P)


def _bench_script(name: str):
    "Import bench/<name>.py (a script folder, not a package) as a module."
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, ROOT/"bench"/f"{name}.py"); mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_script_runs_the_pipeline_function(project):
    "bench/gpu_full.py trains a `real.gpu_models` entry through train_from_params (no DVCLive) into models/gpu and metrics/gpu."
    d, P = project
    mod = _bench_script("gpu_full")
    assert mod.main(["mlp_gpu", "--profile", "quick", "--out", "metrics/gpu"]) == 0
    m = json.loads((d/"metrics/gpu/mlp_gpu.json").read_text())
    assert m["profile"] == "quick" and m["backend"] and m["device"] and m["n_songs"] == 15 and 0 < m["n"] < 15   # holdout: one test fold
    log = (d/"metrics/gpu/mlp_gpu.train_log.tsv").read_text().splitlines()
    assert len(log) - 1 == m["epochs_run_total"] == 2 and (d/"models/gpu/mlp_gpu/model.keras").is_file()
    assert not (d/"dvclive/mlp_gpu").exists()
    pred = (d/"metrics/gpu/mlp_gpu.predictions.csv").read_bytes()
    assert pred == (d/"models/gpu/mlp_gpu/predictions.csv").read_bytes()
    pred = pd.read_csv(d/"metrics/gpu/mlp_gpu.predictions.csv")          # every song, the scored ones marked
    assert len(pred) == m["n_songs"] and pred.tested.sum() == m["n"] and pred[pred.tested].valence_pred.notna().all()



def test_seed_spread_script(project):
    "bench/seeds.py retrains entries once per seed through train_from_params into a temporary folder, seed 0 being the pipeline's."
    d, P = project
    from mer.pipeline import train_from_params
    mod = _bench_script("seeds")
    ref = train_from_params("svm_static", P)                          # the DVC stage's run: seed 0
    mfile = d/"metrics/models/svm_static.json"; before = mfile.read_bytes()
    folders = sorted(p.name for p in (d/"models").iterdir())
    assert mod.main(["svm_static", "--seeds", "0", "3", "--out", "reports/seeds.json"]) == 0
    B = json.loads((d/"reports/seeds.json").read_text())
    assert B["machine"]["cpu_count"] and "numpy" in B["versions"]
    (e,) = B["entries"]
    assert e["name"] == "svm_static" and e["section"] == "models" and e["task"] == "static"
    assert [r["seed"] for r in e["runs"]] == [0, 3]
    for k in ("valence_r2", "arousal_r2", "valence_rmse", "arousal_rmse"):
        assert e["runs"][0][k] == ref[k], k                          # seed 0 reproduces the pipeline's figure exactly
        s = next(r for r in e["summary"] if r["metric"] == k)
        v = np.array([r[k] for r in e["runs"]])
        assert s["mean"] == pytest.approx(v.mean()) and s["sd"] == pytest.approx(v.std(ddof=1)) and s["min"] == v.min()
        assert s["committed"] == ref[k] and s["committed_lo"] == ref[f"{k}_lo"] and s["ci_half_width"] == pytest.approx((ref[f"{k}_hi"] - ref[f"{k}_lo"]) / 2)
    assert mfile.read_bytes() == before and sorted(p.name for p in (d/"models").iterdir()) == folders   # DVC outputs untouched
    # --append adds an entry (a real.models one, found by name) and keeps the others
    assert mod.main(["svm_real_section", "--seeds", "0", "1", "--out", "reports/seeds.json", "--append"]) == 0
    B = json.loads((d/"reports/seeds.json").read_text())
    assert [(e["name"], e["section"]) for e in B["entries"]] == [("svm_static", "models"), ("svm_real_section", "real.models")]
    with pytest.raises(SystemExit, match="no entry 'nope'"): mod.main(["nope", "--out", "reports/x.json"])
    with pytest.raises(SystemExit, match="at least two different seeds"): mod.main(["svm_static", "--seeds", "1", "1"])


def test_curve_from_params(project):
    "The learning-curve stage's function: fraction 1 reproduces the trained model's metrics; each pipeline has its own folder."
    d, P = project
    from mer.pipeline import curve_from_params, train_from_params
    P2 = {**P, "curves": {"fractions": [0.6, 1.0], "repeats": 2}}
    m = train_from_params("svm_static", P)
    curve_from_params("svm_static", P2)
    got = pd.read_csv(d/"metrics/curves/svm_static.csv")
    assert got[["fraction", "repeat"]].values.tolist() == [[0.6, 0], [0.6, 1], [1.0, 0]]
    assert (got.model == "svm_static").all() and (got.dataset == "synthetic").all() and (got.task == "static").all()
    assert (got.n_test == 15).all() and got.n_train.iloc[-1] == 10 and got.n_train.iloc[0] == 6   # 3 folds: 10 training songs each
    for k in ("valence_r2", "arousal_r2", "valence_rmse"):
        assert got[k].iloc[-1] == pytest.approx(m[k], abs=1e-12), k                 # fraction 1 is the model itself
    curve_from_params("svm_real_section", P2, section="real.models")
    assert (d/"metrics/curves_real/svm_real_section.csv").is_file()


def test_curve_entries_match_their_models():
    "Every learning-curve entry names a trained model of its pipeline, and a real entry the dataset that model reads."
    P = yaml.safe_load((ROOT/"params.yaml").read_text())
    assert set(P["curves"]["models"]) <= set(P["models"])
    for name, e in P["real"]["curves"].items():
        assert name in P["real"]["models"], name
        assert e["dataset"] == P["real"]["models"][name]["dataset"], (name, e)
