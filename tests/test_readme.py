"""README's generated results section (tools/make_readme.py) from a benchmark JSON."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("make_readme", ROOT / "tools" / "make_readme.py")
make_readme = importlib.util.module_from_spec(spec); spec.loader.exec_module(make_readme)

def test_targets_table_states_each_target_and_whether_it_is_met():
    b = {"targets": [{"dataset": "fourq", "task": "classes (quadrant)", "metric": "macro_f1", "target": 0.78, "source": "project target",
                      "model": "m1", "value": "0.766 [0.736, 0.796]", "gap": -0.014, "met": False, "within_ci": True,
                      "candidates": 16},
                     {"dataset": "deam-shared", "task": "static", "metric": "arousal_r2", "target": 0.603, "source": "Music2Emo",
                      "model": "m2", "value": "0.650 [0.620, 0.680]", "gap": 0.047, "met": True, "within_ci": False}]}
    rows = [l for l in make_readme.targets_md(b) if l.startswith("| fourq") or l.startswith("| deam")]
    assert rows[0] == ("| fourq, classes (quadrant) | macro-F1 | 0.78 | `m1` 0.766 [0.736, 0.796] | 16 | -0.014 | no | yes | project target |")
    assert rows[1].split(" | ")[1:3] == ["R² arousal", "0.603"] and rows[1].endswith("| +0.047 | yes | no | Music2Emo |")
    assert make_readme.targets_md({}) == []

def test_data_line_names_each_fingerprint():
    b = {"data": {"fourq": {"files": 722, "bytes": 172395432, "md5": "c6d7"}, "deam-shared": {"files": 21, "bytes": 14277808, "md5": "cd03"}}}
    line = make_readme.data_md(b)
    assert "deam-shared 21 files, 14.3 MB, MD5 `cd03`; fourq 722 files, 172.4 MB, MD5 `c6d7`." in line
    assert make_readme.data_md({}) == "" and make_readme.data_md({"data": {}}) == ""

def test_curves_line_states_trend_and_extrapolation():
    b = {"curves": [{"model": "q", "metric": "macro_f1", "per_doubling": 0.0312, "n_max": 576.0, "at": 810.0, "gain_to_at": 0.0106,
                     "extrapolated": True, "anchor": "Panda"},
                    {"model": "d", "metric": "valence_r2", "per_doubling": -0.004, "n_max": 1261.0, "anchor": ""},
                    {"model": "d", "metric": "arousal_r2", "per_doubling": 0.06, "n_max": 1261.0, "anchor": ""}]}
    line = make_readme.curves_md(b)
    assert "`q` macro-F1 +0.031 per doubling (up to 576 songs); at that rate 810 training songs (Panda) would add +0.011 (an extrapolation)" in line
    assert "`d` R² valence -0.004 / R² arousal +0.060 per doubling (up to 1261 songs)." in line
    assert make_readme.curves_md({}) == ""
