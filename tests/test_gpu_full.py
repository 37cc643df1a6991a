"""The full-profile GPU entries (`real.gpu_models`, run by bench/gpu_full.py) resolve, and their committed results are consistent."""
import json, subprocess, sys
from pathlib import Path
import pytest
from mer.config import load_params
from mer.models.registry import get_model_info
from mer.pipeline import section_params
from mer.train import resolve_config

ROOT = Path(__file__).resolve().parents[1]


def _full_params():
    P = load_params(ROOT / "params.yaml")
    return section_params({**P, "train": {**P["train"], "profile": "full"}}, "real.gpu_models")


def test_gpu_entries_resolve_to_the_full_profile():
    P = _full_params()
    names = list(P["models"])
    assert names, "params.yaml has no real.gpu_models entries"
    for n in names:
        cfg = resolve_config(n, P)
        assert get_model_info(cfg["model"]).kind == "keras"
        assert cfg["crop_frames"] == P["train"]["profiles"]["full"]["crop_frames"]
        assert cfg["epochs"] == P["train"]["profiles"]["full"]["epochs"]


def test_gpu_script_help():
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_full.py"), "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "real.gpu_models" in r.stdout


@pytest.mark.parametrize("path", sorted((ROOT / "metrics" / "gpu").glob("*.json")), ids=lambda p: p.stem)
def test_committed_gpu_results_are_consistent(path):
    m = json.loads(path.read_text())
    assert path.stem in _full_params()["models"], f"{path.name}: no real.gpu_models entry of that name"
    assert m["profile"] == "full" and m["n"] == m["n_songs"]
    assert m["macro_f1_lo"] <= m["macro_f1"] <= m["macro_f1_hi"]
    log = path.with_name(path.stem + ".train_log.tsv")
    assert log.exists() and len(log.read_text().splitlines()) - 1 == m["epochs_run_total"]
