"""Full-profile training of the audio models on a GPU machine.

    python bench/gpu_full.py fourq_cnn_ds_full [more names] [--profile full] [--out metrics/gpu]

Entries live under `real.gpu_models` in params.yaml (the same keys as `real.models`) and train with
`train.profile: full` (the seeds' input length, 200 epochs, patience 20). They are not DVC stages: on 2 CPU cores one
such run takes hours, so `make repro-real` leaves them out and this script runs them where a GPU is. It needs the
cached features (`make repro-real` first, or the `features/<dataset>/<store>` folders copied over) and the dataset's
labels (`data.shared_root` or `MER_DATA`).

Keras runs on whatever backend is installed: TensorFlow when present (tf.data crops), else JAX or PyTorch
(`KERAS_BACKEND`; the NumPy `PyDataset` crops of `mer.train.make_train_dataset`). Each entry goes through
`mer.pipeline.train_from_params`, the function the DVC train stages call, with DVCLive off: the learning curve goes to
`models/gpu/<name>/train_log.tsv` (copied to `metrics/gpu/<name>.train_log.tsv`, and the out-of-fold predictions to
`metrics/gpu/<name>.predictions.csv`, so CIs and figures can be recomputed without a GPU). Writes `models/gpu/<name>/` (weights,
resolved config, log, predictions, metrics) and `metrics/gpu/<name>.json` with the backend, device and wall time added.
"""
from __future__ import annotations
import argparse, importlib.util, json, os, platform, shutil, subprocess, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _device() -> str:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
        if out.returncode == 0 and out.stdout.strip(): return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="+", help="entries of real.gpu_models in params.yaml")
    ap.add_argument("--profile", default="full", choices=["quick", "full"])
    ap.add_argument("--out", default="metrics/gpu", help="folder for <name>.json")
    ap.add_argument("--section", default="real.gpu_models")
    a = ap.parse_args(argv)
    if "KERAS_BACKEND" not in os.environ and importlib.util.find_spec("tensorflow") is None:
        os.environ["KERAS_BACKEND"] = "jax" if importlib.util.find_spec("jax") else "torch"
    import keras
    from mer.config import load_params, resolve
    from mer.models.registry import get_model_info
    from mer.pipeline import section_params, train_from_params
    from mer.train import resolve_config
    P = load_params()
    P = {**P, "train": {**P["train"], "profile": a.profile}}
    device = _device()
    print(f"keras {keras.__version__} on {keras.backend.backend()}, device: {device}", flush=True)
    for name in a.names:
        cfg = resolve_config(name, section_params(P, a.section))
        if get_model_info(cfg["model"]).kind != "keras": raise SystemExit(f"{name}: {cfg['model']} is not a Keras model")
        # the pipeline's own function, without DVCLive (the GPU image has no dvc), into models/gpu/ and metrics/gpu/
        m = train_from_params(name, P, section=a.section, dvclive=False, models_dir="models/gpu", metrics_dir=a.out,
                              extra={"backend": keras.backend.backend(), "device": device, "ci_unit": "artist"})
        for f in ("train_log.tsv", "predictions.csv"):    # kept beside the metrics (in git): curves, CIs and figures can be
            shutil.copyfile(resolve(f"models/gpu/{name}/{f}"), resolve(f"{a.out}/{name}.{f}"))   # redone without the GPU
        flat = {k: v for k, v in m.items() if not isinstance(v, (list, dict))}
        print(json.dumps({"name": name, **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in flat.items()}}, default=str),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
