#!/usr/bin/env python
"""musicnn embedding speed benchmark (a script, not a test).

For each of `--models` (default MSD_musicnn) it times, per 30-s clip and after one warm-up call:

1. decode: `mer.features.musicnn.load_audio_16k` (mer.audio / soundfile decode + resample to 16 kHz mono);
2. mel: the 96-band log-mel and the 187-frame patches;
3. network, production route: the Keras 3 rebuild under `tf.function` (`MusicnnEmbedder.embed_patches`);
4. network, reference route (`--graph`): the author's TF1 graph in a `tf.compat.v1.Session` (graph import and restore excluded),

and the largest absolute difference between the two routes. Clips: the first 30 s of the DEAM mp3s in `$MER_DATA/DEAM/MEMD_audio`
(re-encoded to 30-s mp3s at their own rate in a temporary folder, so decode is timed on real mp3s), or a synthetic signal when the
data are absent. `--hop` sets the patch hop in frames (187 = no overlap; 31 = about 0.5 s, the dynamic setting).

    python bench/musicnn.py
    python bench/musicnn.py --models MSD_musicnn MTT_musicnn MSD_vgg MTT_vgg --graph --out reports/bench_musicnn.json
"""
from __future__ import annotations
import argparse, os, platform, sys, tempfile, time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mer.config import data_skip_reason, require_data, resolve, write_json  # noqa: E402
import mer.features.musicnn as mm  # noqa: E402


def clips(tmp: Path, n: int) -> list[Path]:
    "Up to `n` 30-s mp3 clips: DEAM's first 30 s when present, else one synthetic clip."
    out = []
    if data_skip_reason("DEAM", "MEMD_audio") is None:
        for f in sorted(require_data("DEAM", "MEMD_audio").glob("*.mp3"))[:n]:
            y, sr = sf.read(f, dtype="float32")
            p = tmp / f"{f.stem}_30s.mp3"; sf.write(p, y[:30 * sr], sr); out.append(p)
    if not out:
        t = np.arange(30 * 22050) / 22050
        y = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)
        p = tmp / "synthetic_30s.mp3"; sf.write(p, y, 22050); out.append(p)
    return out


class GraphRunner:
    "The reference route with the graph imported and restored once (so only `sess.run` is timed)."
    def __init__(self, model: str):
        import tensorflow as tf
        from tensorflow.core.protobuf import meta_graph_pb2
        prefix = mm.checkpoint_prefix(model)
        mg = meta_graph_pb2.MetaGraphDef(); mg.ParseFromString(Path(prefix + ".meta").read_bytes())
        for node in mg.graph_def.node:
            if "_output_shapes" in node.attr: del node.attr["_output_shapes"]
        self.g = tf.Graph()
        with self.g.as_default():
            saver = tf.compat.v1.train.import_meta_graph(mg, clear_devices=True)
            self.sess = tf.compat.v1.Session(graph=self.g); saver.restore(self.sess, prefix)
        self.fetch = mm._GRAPH_OUT[mm.MODELS[model]]

    def __call__(self, patches):
        return self.sess.run(self.fetch, {"model/Placeholder:0": patches, "model/Placeholder_2:0": False})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["MSD_musicnn"], choices=sorted(mm.MODELS))
    ap.add_argument("--clips", type=int, default=3, help="number of DEAM clips (default 3)")
    ap.add_argument("--repeat", type=int, default=3, help="timed passes over the clips (default 3)")
    ap.add_argument("--hop", type=int, default=mm.PATCH_FRAMES, help="patch hop in frames (default 187)")
    ap.add_argument("--graph", action="store_true", help="also time the reference TF1 graph route")
    ap.add_argument("--out", default=None, help="write the figures as JSON here (e.g. reports/bench_musicnn.json)")
    a = ap.parse_args(argv)
    res = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
           "hop_frames": a.hop, "models": {}}
    with tempfile.TemporaryDirectory() as d:
        files = clips(Path(d), a.clips)
        print(f"{len(files)} clip(s) of 30 s: {[f.name for f in files]}; {os.cpu_count()} CPUs; patch hop {a.hop} frames")
        for model in a.models:
            t0 = time.perf_counter(); e = mm.MusicnnEmbedder(model, patch_hop_frames=a.hop); t_build = time.perf_counter() - t0
            g = GraphRunner(model) if a.graph else None
            data = [mm.load_audio_16k(f) for f in files]
            P = [mm.make_patches(mm.musicnn_logmel(y, sr), hop_frames=a.hop)[0] for y, sr in data]
            e.embed_patches(P[0]); g and g(P[0])                               # warm-up (tracing, first session run)
            tt = dict(decode=0.0, mel=0.0, network=0.0, graph_network=0.0); diff = 0.0
            for _ in range(a.repeat):
                for f in files:
                    t0 = time.perf_counter(); y, sr = mm.load_audio_16k(f); t1 = time.perf_counter()
                    p = mm.make_patches(mm.musicnn_logmel(y, sr), hop_frames=a.hop)[0]; t2 = time.perf_counter()
                    emb_, tags_ = e.embed_patches(p); t3 = time.perf_counter()
                    tt["decode"] += t1 - t0; tt["mel"] += t2 - t1; tt["network"] += t3 - t2
                    if g:
                        t4 = time.perf_counter(); ref = g(p); tt["graph_network"] += time.perf_counter() - t4
                        diff = max(diff, float(np.abs(ref["tags"] - tags_).max()), float(np.abs(ref["penultimate"] - emb_).max()))
            n = a.repeat * len(files)
            per = {k: v / n for k, v in tt.items() if g or k != "graph_network"}
            per["total"] = per["decode"] + per["mel"] + per["network"]
            res["models"][model] = {"build_s": t_build, "per_clip_s": per, "patches_per_clip": int(len(P[0])), "dim": e.dim,
                                    **({"max_abs_diff_keras_vs_graph": diff} if g else {})}
            print(f"{model:12s} build {t_build:5.2f} s | per 30-s clip ({len(P[0])} patches): " +
                  ", ".join(f"{k} {v:.3f} s" for k, v in per.items()) + (f" | max|keras-graph| {diff:.1e}" if g else ""))
    if a.out: write_json(resolve(a.out), res); print("wrote", resolve(a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
