"""The data layer on the real shared data (skipped with the reason when absent) and on messy DEAM-format fixtures."""
import json, subprocess, sys, warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mer.config import DataNotFound, data_skip_reason, require_data
from mer.data.deam import (audio_index, deam_paths, load_deam, load_dynamic, load_metadata, load_opensmile_frames,
                           load_opensmile_means, load_static, make_fixture, read_metadata_file)
from mer.data.datasets import load_dataset
from mer.data.fourq import load_fourq
from mer.data.splits import (check_grouped, fourq_folds, grouped_kfold, mediaeval_split, music2emo_split, read_split,
                             write_split)
from mer.data.validate import select_songs, validate_deam, validate_main


def need(*parts):
    reason = data_skip_reason(*parts)
    if reason: pytest.skip(reason)
    return require_data(*parts)


# ---------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def deam():
    return load_deam(need("DEAM"))


def test_real_static(deam):
    s = deam.static
    assert len(s) == 1802 and s.song_id.is_unique
    assert s.subset.value_counts().to_dict() == {"2014": 1000, "2013": 744, "2015": 58}
    assert s.valence_mean.between(1, 9).all() and s.arousal_mean.between(1, 9).all()
    np.testing.assert_allclose(s.arousal, (s.arousal_mean - 5) / 4)
    # subsets from the metadata agree with the DEAM id ranges
    ids = s.song_id.astype(int)
    assert (ids[s.subset == "2013"] <= 1000).all() and ids[s.subset == "2014"].between(1001, 2000).all()
    assert (ids[s.subset == "2015"] > 2000).all()


def test_real_dynamic_metadata_audio(deam):
    d = deam.dynamic
    assert d.song_id.nunique() == 1802 and d.time_s.min() == 15.0 and d.time_s.max() == pytest.approx(626.0)
    assert d[["valence", "arousal"]].abs().max().max() <= 1
    n = d.groupby("song_id").size()
    assert (n[[str(i) for i in deam.static.song_id[deam.static.subset != "2015"]]] == 60).all()
    assert len(deam.audio) == 10 and set(deam.audio.song_id) <= set(deam.static.song_id)
    m = deam.metadata
    assert len(m) == 1802 and m.artist.notna().all()
    assert not m.artist.str.contains("\t").any() and not m.title.str.startswith('"').any()
    assert m.warning.notna().sum() > 10                    # the unquoted commas of the 2014 file are flagged


def test_real_opensmile_means_and_music2emo():
    need("DEAM-derived")
    om = load_opensmile_means()
    assert om.shape == (1802, 131) and om.song_id.is_unique
    sp = music2emo_split()
    assert sp.split.value_counts().to_dict() == {"train": 1261, "validation": 271, "test": 270}


def test_real_validate(tmp_path):
    root = need("DEAM")
    rep = validate_main(root, tmp_path / "report.json", {"check_audio_duration": True})
    back = json.loads((tmp_path / "report.json").read_text())
    assert back["counts"]["static"] == 1802 and back["counts"]["audio"] == 10
    assert rep["cross_check"]["2014"]["swapped"] is False
    assert rep["cross_check"]["2014"]["r"]["static_arousal~dynamic_arousal"] > 0.8
    # the 2013 finding: reported with evidence, and the option undoes it
    assert rep["cross_check"]["2013"]["swapped"] is True
    assert any(i["check"] == "cross_check" and "swapped" in i["message"] for i in rep["issues"])
    rep2 = validate_deam(root, {"swap_static_va": ["2013"], "check_audio_duration": False})
    assert rep2["cross_check_after_options"]["2013"]["swapped"] is False


def test_real_fourq():
    root = need("4Q")
    fq = load_fourq(root)
    assert len(fq) == 720 and fq.quadrant.value_counts().to_dict() == {q: 180 for q in ("Q1", "Q2", "Q3", "Q4")}
    assert fq.path.map(lambda p: Path(p).is_file()).all()
    folds = fourq_folds(fq, k=5, seed=0)
    check_grouped(folds, fq)
    ds = load_dataset("fourq")
    assert len(ds.labels) == 720 and ds.groups.index.is_unique


def test_real_datasets():
    need("DEAM")
    ds = load_dataset("deam-shared")
    assert len(ds.static) == 1802 and len(ds.audio) == 10 and not ds.synthetic


# ---------------------------------------------------------------- fixtures
def test_fixture_messy_csvs(tmp_path):
    root = make_fixture(tmp_path / "DEAM")
    p = deam_paths(root)
    assert p["static_1_2000"].read_bytes().count(b"\r\n") > 3            # CRLF, spaces in headers, as in the real files
    s = load_static(root)
    assert s.song_id.tolist() == ["2", "3", "4", "1001", "1002", "2001"] and "valence_max_mean" in s.columns
    m = load_metadata(root)
    assert m.set_index("song_id").loc["3", "title"] == "Song 3"            # tabs, quotes and double blanks removed
    assert m.set_index("song_id").loc["1001", "warning"].startswith("unquoted comma")
    assert pd.isna(m.set_index("song_id").loc["2001", "album"])            # n/a
    assert len(load_dynamic(root)) == 5 * 60 + 70                         # blank cells past the end dropped


def test_fixture_quotes_tabs_nan(tmp_path):
    f = tmp_path / "metadata_2014.csv"
    f.write_text('song_id,artist,album,title,Genre,,\n'
                 '1001,"\tThe ""Q"" Band\t",A,"""Quoted."""," Rock ",tag1,\n'
                 '1002,Solo,n/a,Title,NaN,,\n')
    m = read_metadata_file(f)
    assert m.artist.tolist() == ['The "Q" Band', "Solo"] and m.title.tolist() == ["Quoted.", "Title"]
    assert m.genre[0] == "Rock" and m.album[0] == "A" and m.tags[0] == "tag1"
    assert m.loc[1, ["genre", "album", "tags"]].isna().all()                # NaN, n/a and blanks are missing values
    assert m.subset.unique().tolist() == ["2014"]


def test_fixture_bad_values_and_missing_files(tmp_path):
    root = make_fixture(tmp_path / "DEAM", audio=False)
    p = deam_paths(root)
    p["static_1_2000"].write_bytes(b"song_id, valence_mean, valence_std, arousal_mean, arousal_std\r\n2,abc,1,5,1\r\n")
    with pytest.raises(ValueError, match="static_annotations_averaged_songs_1_2000.csv"): load_static(root)
    p["static_1_2000"].write_bytes(b"song_id, valence_mean, valence_std, arousal_mean, arousal_std\r\n2,,1,NaN,1\r\n")
    assert load_static(root).loc[0, ["valence_mean", "arousal_mean"]].isna().all()
    p["valence"].unlink()
    with pytest.raises(DataNotFound, match="valence.csv"): load_dynamic(root)
    with pytest.raises(DataNotFound, match="features"): load_opensmile_frames(root, 2)
    with pytest.raises(DataNotFound, match="MEMD_audio"): audio_index(root, required=True)
    with pytest.raises(DataNotFound): load_deam(tmp_path / "absent")


def test_fixture_opensmile_frames(tmp_path):
    (tmp_path / "features").mkdir()
    rows = ["frameTime;F0final_sma_stddev;F0final_sma_amean;pcm_RMSenergy_sma_amean"]
    rows += [f"{0.5 * i:.2f};{i};{100 + i};0.{i}" for i in range(90)]
    (tmp_path / "features" / "12.csv").write_text("\n".join(rows) + "\n")
    df = load_opensmile_frames(tmp_path, "12")
    assert df.shape == (90, 5) and df.time_s.iloc[-1] == 44.5 and df.song_id.eq("12").all()
    om = tmp_path / "means.csv"
    om.write_text("song_id,a_amean,b_amean\n2,1.0,2.0\n3,1.5,\n")
    assert load_opensmile_means(om).b_amean.isna().tolist() == [False, True]


def test_validate_options_never_silent(tmp_path):
    root = make_fixture(tmp_path / "DEAM")
    rep = validate_deam(root, {"check_audio_duration": False})
    assert rep["exclusions"]["n"] == 0 and rep["n_songs_kept"] == 6
    data, excl = select_songs(load_deam(root), {"drop_full_length": True})
    assert excl.to_dict("records") == [{"song_id": "2001", "subset": "2015", "reason": "2015 full-length song"}]
    assert "2001" not in set(data.static.song_id) and "2001" not in set(data.dynamic.song_id)
    with pytest.raises(ValueError, match="unknown"): validate_deam(root, {"drop_all": True})


def test_splits_stable_across_processes(tmp_path):
    df = pd.DataFrame({"song_id": [str(i) for i in range(2, 80)], "artist": [f"a{i % 23}" for i in range(78)],
                       "quadrant": [f"Q{1 + i % 4}" for i in range(78)]})
    df.to_csv(tmp_path / "in.csv", index=False)
    write_split(grouped_kfold(df, k=5, seed=3), tmp_path / "a.csv")
    code = ("import pandas as pd; from mer.data.splits import grouped_kfold, write_split; "
            f"df = pd.read_csv(r'{tmp_path / 'in.csv'}', dtype=str).sample(frac=1, random_state=9); "
            f"write_split(grouped_kfold(df, k=5, seed=3), r'{tmp_path / 'b.csv'}')")
    subprocess.run([sys.executable, "-c", code], check=True, env={**__import__("os").environ, "PYTHONHASHSEED": "123"})
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    f = read_split(tmp_path / "a.csv")
    check_grouped(f, df)
    assert mediaeval_split(pd.DataFrame({"song_id": ["2", "1500", "2040"]})).split.tolist() == ["train", "test", "test"]


def test_missing_datasets_say_how(tmp_path):
    P = {"data": {"synthetic_root": str(tmp_path / "s"), "deam_root": str(tmp_path / "d")}}
    with pytest.raises(DataNotFound, match="synthesize"): load_dataset("synthetic", P)
    with pytest.raises(DataNotFound, match="cvml.unige.ch"): load_dataset("deam", P)
    with pytest.raises(ValueError, match="unknown dataset"): load_dataset("x", P)


def test_synthetic_default_loads(tmp_path):
    syn = pytest.importorskip("mer.data.synthetic", reason="mer.data.synthetic not built yet")
    root = tmp_path / "synthetic" / "DEAM"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        syn.generate_deam(root, n_songs=4, seed=1, min_duration_s=20.0, max_duration_s=22.0, jobs=1)
    ds = load_dataset("synthetic", {"data": {"synthetic_root": str(root)}})
    assert ds.synthetic and len(ds.static) == 4 and len(ds.audio) == 4
    assert ds.static.valence.between(-1, 1).all() and ds.dynamic.time_s.min() == 15.0
    rep = validate_deam(root)
    assert rep["ok"], [i for i in rep["issues"] if i["severity"] == "error"]


def test_cli_validate_paths_from_working_folder(tmp_path, monkeypatch):
    # `mer data validate --root X --json Y`: both relative paths are taken from the working folder
    from mer.cli import main, EXIT_OK, EXIT_FAIL
    make_fixture(tmp_path / "somewhere" / "DEAM")
    monkeypatch.chdir(tmp_path / "somewhere")
    rc = main(["data", "validate", "--root", "DEAM", "--json", "out/report.json"])
    assert rc in (EXIT_OK, EXIT_FAIL)                     # the messy fixture may list errors; the report is written either way
    rep = json.loads((tmp_path / "somewhere" / "out" / "report.json").read_text())
    assert Path(rep["root"]) == tmp_path / "somewhere" / "DEAM" and rep["counts"]["static"] == 6   # 3 + 2 + 1 songs
    assert main(["data", "validate", "--root", "no-such-folder", "--json", "out/r2.json"]) != EXIT_OK


# ---------------------------------------------------------------- what the real pipeline's results were computed from
ROOT = Path(__file__).resolve().parents[1]

def test_real_stages_depend_on_their_datasets_fingerprint():
    "Every real-pipeline stage that reads a shared dataset depends on its fingerprint, and the fingerprints rerun every time."
    from dvc.repo import Repo
    stages = [s for s in Repo(str(ROOT)).index.stages if Path(s.path).parent.name == "real"]
    datasets = ("fourq", "deam-shared")
    fps = {s.addressing: s for s in stages if s.addressing.split(":")[-1].startswith("fingerprint@")}
    assert sorted(fps) == sorted(f"real/dvc.yaml:fingerprint@{d}" for d in datasets)
    assert all(s.always_changed for s in fps.values())
    checked = 0
    for s in stages:
        name = s.addressing.split(":")[-1]
        if name.startswith(("fingerprint@", "benchmark")): continue
        deps = {Path(d.def_path).as_posix() for d in s.deps}
        mine = {f"real/fingerprints/{d}.json" for d in datasets} & deps
        assert len(mine) == 1, f"{name} depends on {sorted(mine) or 'no'} dataset fingerprint"
        ds = mine.pop().split("/")[-1][:-5]
        other = [d for d in deps | {Path(o.def_path).as_posix() for o in s.outs}
                 if d.startswith(("data/splits/", "features/")) and d != f"data/splits/{ds}.csv" and d != f"features/{ds}"
                 and not d.startswith(f"features/{ds}/")]
        assert not other, f"{name}: fingerprint of {ds} but reads/writes {other}"      # the fingerprint of its own dataset
        checked += 1
    assert checked > 40

@pytest.mark.parametrize("name", ["fourq", "deam-shared"])
def test_committed_fingerprint_is_the_shared_data(name):
    "The committed results were computed from the shared data as it is (else: `make repro-real` and commit the fingerprints)."
    from mer.data.datasets import fingerprint
    for part in (("4Q",) if name == "fourq" else ("DEAM", "DEAM-derived")): need(part)
    committed = json.loads((ROOT/"real"/"fingerprints"/f"{name}.json").read_text())
    now = fingerprint(name)
    changed = sorted(k for k in {*committed["listing"], *now["listing"]} if committed["listing"].get(k) != now["listing"].get(k))
    assert now["md5"] == committed["md5"], f"{name}: the shared data differ from the committed fingerprint in {changed[:5]}"

def test_committed_results_were_computed_from_the_committed_fingerprints():
    "Every stage reading a dataset recorded (real/dvc.lock) the fingerprint file that is committed: no fingerprint was updated alone."
    import hashlib, yaml
    lock = yaml.safe_load((ROOT/"real"/"dvc.lock").read_text())["stages"]
    want = {f"real/fingerprints/{d}.json": hashlib.md5((ROOT/"real"/"fingerprints"/f"{d}.json").read_bytes()).hexdigest()
            for d in ("fourq", "deam-shared")}
    seen = 0
    for stage, entry in lock.items():
        for dep in entry.get("deps", []):
            if dep["path"] in want:
                assert dep["md5"] == want[dep["path"]], f"{stage} ran on another {dep['path']} than the committed one"
                seen += 1
    assert seen > 40
