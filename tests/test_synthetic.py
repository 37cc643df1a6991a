"""The SYNTHETIC default dataset, read the way a DEAM loader reads the real files (pandas, csv) and compared with the real DEAM when present."""
import csv, io, json
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from mer.config import data_skip_reason, require_data
from mer.data import synthetic as syn

SL = Path("annotations")/"annotations averaged per song"/"song_level"
DY = Path("annotations")/"annotations averaged per song"/"dynamic (per second annotations)"
FILES = [SL/syn.STATIC_1_2000, SL/syn.STATIC_2000_2058, DY/"arousal.csv", DY/"valence.csv",
         Path("metadata")/"metadata_2013.csv", Path("metadata")/"metadata_2014.csv", Path("metadata")/"metadata_2015.csv"]


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn")/"DEAM"
    rep = syn.generate_deam(root, n_songs=5, seed=7, min_duration_s=18, max_duration_s=19, jobs=1, verbose=False)
    return root, rep


def test_layout_and_labelling(ds):
    root, rep = ds
    for rel in FILES: assert (root/rel).is_file(), rel
    assert rep["synthetic"] is True and "SYNTHETIC" in (root/"SYNTHETIC_README.md").read_text()
    assert json.loads((root/"generation_report.json").read_text())["params"]["seed"] == 7
    mp3 = sorted(p.stem for p in (root/"MEMD_audio").glob("*.mp3"))
    assert mp3 == sorted(s["song_id"] for s in rep["songs"])
    assert [s["subset"] for s in rep["songs"]].count("2015") == 1


def test_static_with_pandas(ds):
    root, rep = ds
    raw = pd.read_csv(root/SL/syn.STATIC_1_2000)
    assert list(raw.columns) == ["song_id", " valence_mean", " valence_std", " arousal_mean", " arousal_std"]   # DEAM's spaces
    df = pd.read_csv(root/SL/syn.STATIC_1_2000, skipinitialspace=True)
    assert list(df.columns) == ["song_id", "valence_mean", "valence_std", "arousal_mean", "arousal_std"]
    assert df.song_id.between(1, 2000).all() and df[["valence_mean", "arousal_mean"]].stack().between(1, 9).all()
    assert (df[["valence_std", "arousal_std"]] > 0).all().all()
    late = pd.read_csv(root/SL/syn.STATIC_2000_2058, skipinitialspace=True)
    assert "valence_ max_mean" in late.columns and "arousal_min_std" in late.columns and len(late.columns) == 13
    assert late.song_id.between(2001, 2058).all()
    assert (late.valence_min_mean <= late.valence_mean).all() and (late.valence_mean <= late["valence_ max_mean"]).all()


def test_dynamic_with_pandas(ds):
    root, rep = ds
    dur = {s["song_id"]: s["duration_s"] for s in rep["songs"]}
    for dim in ("valence", "arousal"):
        df = pd.read_csv(root/DY/f"{dim}.csv")
        assert df.columns[0] == "song_id" and df.columns[1] == "sample_15000ms" and df.columns[2] == "sample_15500ms"
        vals = df.drop(columns="song_id").to_numpy(float)
        assert np.nanmax(np.abs(vals)) <= 1
        for sid, row in zip(df.song_id.astype(str), vals):
            n = int(2*(dur[sid] - 15))
            assert np.isfinite(row[:n]).all() and np.isnan(row[n:]).all()         # frames until the end, blank after
    assert (root/DY/"arousal.csv").read_bytes().count(b"\r\n") == (root/DY/"arousal.csv").read_bytes().count(b"\n")


def test_metadata_with_pandas(ds):
    root, rep = ds
    m13 = pd.read_csv(root/"metadata"/"metadata_2013.csv")
    assert list(m13.columns) == ["song_id", "album", "artist", "title", "Genre"]
    assert m13.Genre.str.strip().eq("synthetic").all() and m13.artist.str.strip().str.startswith("Synthetic Artist").all()
    m14 = pd.read_csv(root/"metadata"/"metadata_2014.csv")
    assert list(m14.columns[:5]) == ["song_id", "artist", "album", "title", "Genre"] and len(m14.columns) == 105
    m15 = pd.read_csv(root/"metadata"/"metadata_2015.csv")
    assert list(m15.columns[:5]) == ["song_id", "title", "artist", "album", "Genre"] and len(m15.columns) == 19
    ids = set(m13.song_id) | set(m14.song_id) | set(m15.song_id)
    assert {str(i) for i in ids} == {s["song_id"] for s in rep["songs"]}


def test_audio(ds):
    root, rep = ds
    for s in rep["songs"]:
        y, sr = sf.read(root/"MEMD_audio"/f"{s['song_id']}.mp3")
        assert sr == 22050 and y.ndim == 1 and abs(len(y)/sr - s["duration_s"]) < 0.05
        assert 0.005 < np.sqrt(np.mean(y**2)) and np.abs(y).max() <= 1.0


@pytest.mark.skipif(data_skip_reason("DEAM", "annotations") is not None, reason=str(data_skip_reason("DEAM", "annotations")))
def test_headers_match_real_deam(ds):
    root, _ = ds
    real = require_data("DEAM")
    for rel in FILES:
        a, b = (real/rel).read_bytes(), (root/rel).read_bytes()
        ha, hb = a.split(b"\n")[0], b.split(b"\n")[0]
        if rel.parent.name.startswith("dynamic"): assert ha.startswith(hb[:-1]) and hb.endswith(b"\r"), rel
        else: assert ha == hb, rel
        assert (a.count(b"\r\n") == a.count(b"\n")) == (b.count(b"\r\n") == b.count(b"\n")), rel


def test_deam_loader_reads_it(ds):
    deam = pytest.importorskip("mer.data.deam")
    root, rep = ds
    d = deam.load_deam(root)
    assert sorted(d.static.song_id) == sorted(s["song_id"] for s in rep["songs"])
    assert {"valence", "arousal", "valence_mean", "arousal_std"} <= set(d.static.columns)
    assert d.static[["valence", "arousal"]].abs().max().max() <= 1
    assert len(d.dynamic) == sum(int(2*(s["duration_s"] - 15)) for s in rep["songs"])
    assert d.metadata.warning.isna().all() and len(d.audio) == 5


def test_deterministic_and_seed_dependent():
    a = syn.plan_dataset(6, seed=5, min_duration_s=18, max_duration_s=20)
    assert json.dumps(a) == json.dumps(syn.plan_dataset(6, seed=5, min_duration_s=18, max_duration_s=20))
    assert json.dumps(a) != json.dumps(syn.plan_dataset(6, seed=6, min_duration_s=18, max_duration_s=20))
    cues = a[0]["sections"]
    y1 = syn.synth_song(cues, a[0]["duration_s"], seed=3, style=a[0]["style"])
    assert np.array_equal(y1, syn.synth_song(cues, a[0]["duration_s"], seed=3, style=a[0]["style"]))


def test_cue_table_and_learnability(ds):
    root, rep = ds
    ct = syn.cue_table(root)
    assert len(ct) == 5 and set(syn.CUES) <= set(ct.columns)
    v, a = syn.labels_from_cues(ct[list(syn.CUES)].to_dict("series"))
    assert np.all(np.abs(v) < 1) and np.all(np.abs(a) < 1)
    # the reported ceiling is the R^2 of the noiseless labels against the values actually written in the files
    st = pd.concat([pd.read_csv(root/SL/f, skipinitialspace=True)[["song_id", "valence_mean", "arousal_mean"]]
                    for f in (syn.STATIC_1_2000, syn.STATIC_2000_2058)])
    st = st.set_index(st.song_id.astype(str)).loc[[s["song_id"] for s in rep["songs"]]]
    for d in ("valence", "arousal"):
        y, yhat = (st[f"{d}_mean"].to_numpy() - 5)/4, np.array([s["static_clean"][d] for s in rep["songs"]])
        r2 = 1 - np.sum((y - yhat)**2)/np.sum((y - y.mean())**2)
        assert abs(r2 - rep["ceiling_r2"]["static"][d]) < 1e-9
        assert np.sqrt(np.mean((y - yhat)**2)) < 3*0.08                    # noise std 0.08 (+ rounding)


def test_refuses_foreign_folder(tmp_path):
    (tmp_path/"DEAM").mkdir(); (tmp_path/"DEAM"/"mine.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not a synthetic dataset"):
        syn.generate_deam(tmp_path/"DEAM", n_songs=2, overwrite=True, verbose=False)
    assert (tmp_path/"DEAM"/"mine.txt").read_text() == "x"
