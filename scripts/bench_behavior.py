"""Benchmark behavior models as feedback loops, side by side in one run.

For each shot (embeddings of a real sequence), trains the candidate models
and rolls each out COUNT x STEPS from one start, then scores every rollout
with alive_blender.core.metrics against the shot itself. Rows: the default
model, the other stochastic model, original-vae with anchor 0.1 and 0,
copy-last, an isotropic random walk with the observed step size, and the
video-texture walk; plus the default at several temperatures.

Shots:
  --footage DIR     PNG frames (e.g. /work/shared/data/pedestrians), encoded here
                    with the deterministic NON-SEMANTIC encoder (not CLIP)
  --workdir DIR     a work directory with embed/embeddings.npy (e.g. a captured
                    Blender render of the demo scene)
  --npy FILE        an (N, D) embeddings file

Usage:
  python scripts/bench_behavior.py --footage /work/shared/data/pedestrians \
      --workdir out/demo128 --steps 1000 --count 16 --json out/bench_behavior.json
  # an object walk's embeddings (open_clip ViT-B-32, random init) before and after issue 22
  python scripts/bench_behavior.py --walk-encoding tests/data/pedestrians --steps 1000 --count 16 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alive_blender.core.models.behavior import ARCHITECTURES, CAPTURE_ARCHS, BehaviorConfig, train_behavior  # noqa: E402

# embedding-space models only: object-walk (the pipeline default) walks a capture's objects and is
# measured in pixels by scripts/bench_alive.py; mdn-window is the default among these
ARCHITECTURES = tuple(a for a in ARCHITECTURES if a not in CAPTURE_ARCHS)
DEFAULT_ARCH = "mdn-window"
from alive_blender.core.metrics import check_targets, evaluate  # noqa: E402
from alive_blender.core.rollout import (RolloutConfig, copy_last, random_walk, rollout,  # noqa: E402
                                        video_texture_walk)

COLS = ["realism", "coverage", "diversity_10", "diversity_100", "diversity_last", "diversity_mean", "smoothness_ratio",
        "jump_rate", "freeze_share", "min_nearest_cos", "novelty"]


def load_footage(folder: Path) -> np.ndarray:
    from PIL import Image

    from alive_blender.core.models.encoder import DeterministicEncoder
    files = sorted(Path(folder).glob("*.png"))
    if not files:
        raise SystemExit(f"no PNG frames in {folder}")
    imgs = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    return DeterministicEncoder(512).encode_images(imgs)


def bench_shot(name: str, emb: np.ndarray, steps: int, count: int, seed: int, temps: list[float],
               epochs: int, vae_epochs: int) -> dict:
    import torch
    start = len(emb) - 1
    rows = []

    def add(label, traj, secs=None, train_s=None):
        m = evaluate(traj, emb)
        row = {"method": label, **{c: m[c] for c in COLS}}
        if secs is not None:
            row["rollout_steps_per_s"] = count * steps / max(secs, 1e-9)
        if train_s is not None:
            row["train_s"] = train_s
        rows.append(row)
        print(fmt_row(row), flush=True)
        return m

    print(f"\n== {name}: {len(emb)} frames, D={emb.shape[1]}, {count} x {steps} steps from frame {start}, "
          f"torch threads {torch.get_num_threads()}")
    print(fmt_header())
    models = {}
    for arch in [DEFAULT_ARCH] + [a for a in ARCHITECTURES if a != DEFAULT_ARCH]:
        cfg = BehaviorConfig(arch=arch, seed=seed, epochs=vae_epochs if arch == "original-vae" else epochs)
        t0 = time.monotonic()
        models[arch] = train_behavior(emb, cfg)
        train_s = time.monotonic() - t0
        anchors = [0.1, 0.0] if arch == "original-vae" else [0.0, 0.1] if arch == DEFAULT_ARCH else [0.0]
        for anchor in anchors:
            t0 = time.monotonic()
            traj = rollout(models[arch], emb, RolloutConfig(steps=steps, count=count, seed=seed, start=start,
                                                            temperature=1.0, anchor=anchor))
            secs = time.monotonic() - t0
            label = f"{arch}{' (default)' if arch == DEFAULT_ARCH else ''} anchor {anchor:g}"
            m = add(label, traj, secs, train_s)
            if arch == DEFAULT_ARCH and anchor == 0.0:
                default_metrics = m
        if arch == DEFAULT_ARCH:
            # the same model without its restoring pull: what the learned dynamics do alone
            std = models[arch].net.std
            keep, std.restore = std.restore, 0.0
            t0 = time.monotonic()
            traj = rollout(models[arch], emb, RolloutConfig(steps=steps, count=count, seed=seed, start=start))
            add(f"{arch} without restoring pull", traj, time.monotonic() - t0)
            std.restore = keep
    add("copy-last", copy_last(emb, steps, count, start))
    add("random walk (matched step)", random_walk(emb, steps, count, seed, start))
    t0 = time.monotonic()
    vt = video_texture_walk(emb, steps, count, seed, start)
    add("video-texture walk", vt, time.monotonic() - t0)
    temp_rows = []
    print(f"-- {DEFAULT_ARCH}: temperature sweep")
    for t in temps:
        traj = rollout(models[DEFAULT_ARCH], emb, RolloutConfig(steps=steps, count=count, seed=seed, start=start,
                                                                temperature=t))
        m = evaluate(traj, emb)
        temp_rows.append({"temperature": t, "step_ratio": m["smoothness_ratio"],
                          "diversity_last": m["diversity_last"], "diversity_100": m["diversity_100"],
                          "diversity_mean": m["diversity_mean"],
                          "realism": m["realism"], "coverage": m["coverage"]})
        print(f"   T={t:<5g} step ratio {m['smoothness_ratio']:.3f}  diversity@100 {m['diversity_100']:.3f}  "
              f"diversity@last {m['diversity_last']:.3f}  diversity mean {m['diversity_mean']:.3f}  realism {m['realism']:.3f}  coverage {m['coverage']:.3f}")
    def rising(key):
        return all(temp_rows[i + 1][key] > temp_rows[i][key] for i in range(len(temps) - 1))
    mono = {"step": rising("step_ratio"), "diversity_mean": rising("diversity_mean"),
            "diversity_last": rising("diversity_last"), "diversity_100": rising("diversity_100")}
    targets = check_targets(default_metrics)
    print(f"-- targets for {DEFAULT_ARCH} at T=1: " + ", ".join(f"{k} {'ok' if v else 'MISSED'}"
                                                                 for k, v in targets.items()))
    print("-- temperature raises monotonically: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in mono.items()))
    return {"shot": name, "frames": int(len(emb)), "dim": int(emb.shape[1]), "rows": rows,
            "temperature_sweep": temp_rows, "temperature_monotonic": mono, "targets": targets}


def fmt_header() -> str:
    return f"{'method':38s} " + " ".join(f"{c[:9]:>9s}" for c in COLS) + "    steps/s  train s"


def fmt_row(r: dict) -> str:
    sps = f"{r['rollout_steps_per_s']:10.0f}" if "rollout_steps_per_s" in r else " " * 10
    tr = f"{r['train_s']:8.1f}" if "train_s" in r else ""
    return f"{r['method'][:38]:38s} " + " ".join(f"{r[c]:9.3f}" for c in COLS) + sps + " " + tr


def timing_check(emb: np.ndarray, seed: int, epochs: int) -> dict:
    """Training plus 16 x 1000 rollout steps of the default model, on a
    128-frame shot (the given shot cycled/truncated to 128 frames)."""
    import torch
    shot = emb[np.arange(128) % len(emb)] if len(emb) != 128 else emb
    t0 = time.monotonic()
    beh = train_behavior(shot, BehaviorConfig(arch=DEFAULT_ARCH, seed=seed, epochs=epochs))
    t1 = time.monotonic()
    rollout(beh, shot, RolloutConfig(steps=1000, count=16, seed=seed))
    t2 = time.monotonic()
    out = {"frames": 128, "threads": torch.get_num_threads(), "train_s": t1 - t0, "rollout_s": t2 - t1,
           "total_s": t2 - t0, "rollout_steps_per_s": 16000 / (t2 - t1)}
    print(f"\n== timing ({DEFAULT_ARCH}, 128 frames, process torch threads {out['threads']}; the stochastic models run on one): train {out['train_s']:.1f} s "
          f"+ rollout 16x1000 {out['rollout_s']:.1f} s = {out['total_s']:.1f} s; "
          f"{out['rollout_steps_per_s']:.0f} steps/s")
    return out


def _encode_every_state(wd: Path, states: np.ndarray) -> np.ndarray:
    """The walk's encoding before issue 22 (stages._encode_states then): every
    state composed and encoded, 16 frames per encoder call, nothing reused."""
    from alive_blender.core.models.steering import workdir_encoder
    from alive_blender.core.run import stages
    from alive_blender.core.sphere import normalize
    gen = stages.load_generator(wd, "cpu")
    encoder = workdir_encoder(wd, "cpu")
    K, N, _ = states.shape
    out = np.empty((K, N, gen.dim), np.float32)
    for k in range(K):
        for i0 in range(0, N, 16):
            frames = gen.compose(states[k, i0:i0 + 16])["rgb"]
            out[k, i0:i0 + 16] = encoder.encode_images((frames * 255 + 0.5).astype(np.uint8))
    return normalize(out)


def walk_encoding_check(footage: Path, steps: int, count: int, before_steps: int, seed: int,
                        size: str = "64x48", model: str = "ViT-B-32") -> dict:
    """Rows: a COUNT x STEPS object walk on footage with a real open_clip
    architecture (random-initialised weights: no pretrained ones offline, the
    cost is the same), its embeddings made before issue 22 (every frame
    composed and encoded; measured on COUNT x BEFORE_STEPS and extrapolated
    per frame when that is smaller) and now (captured frames from
    embeddings.npy, composed ones encoded once each, and only when needed)."""
    import tempfile

    import torch

    from alive_blender.core.models.object_walk import rollout_states
    from alive_blender.core.rollout import RolloutConfig
    from alive_blender.core.run import stages
    from alive_blender.core.workdir.footage import FootageSettings, capture_images
    w, h = map(int, size.lower().split("x"))
    wd = Path(tempfile.mkdtemp(prefix="alive-walkenc-")) / "wd"
    capture_images(str(footage), wd, FootageSettings(width=w, height=h))
    t0 = time.monotonic()
    stages.encode(wd, {"kind": "open_clip", "model": model, "pretrained": ""}, device="cpu")
    encode_s = time.monotonic() - t0
    stages.train(wd, {"seed": seed}, {"seed": seed}, device="cpu")   # the defaults: object-layers + object-walk
    n_frames = len(np.load(wd / "embed" / "embeddings.npy"))
    rows = []
    frames_total = count * (steps + 1)

    def add(label, secs, frames_timed, encoded, note=""):
        full = secs * frames_total / frames_timed
        row = {"method": label, "measured_s": round(secs, 2), "measured_frames": frames_timed,
               "s_for_full": round(full, 1), "encoded": encoded, "note": note}
        rows.append(row)
        print(f"{label:58s} {secs:9.2f} {frames_timed:9d} {full:10.1f} {encoded:9d}  {note}", flush=True)

    print(f"\n== walk encoding: footage {footage} ({n_frames} frames {w}x{h}), open_clip {model} (random init), "
          f"{count} x {steps} steps = {frames_total} frames, torch threads {torch.get_num_threads()}; "
          f"encode stage {encode_s:.1f} s for the {n_frames} captured frames")
    print(f"{'method':58s} {'measured s':>9s} {'frames':>9s} {'s (full)':>10s} {'encoded':>9s}")
    emb = np.load(wd / "embed" / "embeddings.npy")
    walk = stages.load_behavior(wd, "cpu")
    before_steps = min(before_steps, steps)
    states = rollout_states(walk, emb, RolloutConfig(steps=before_steps, count=count, seed=seed))
    t0 = time.monotonic()
    _encode_every_state(wd, states)
    secs = time.monotonic() - t0
    add("before: every frame composed + encoded", secs, states.shape[0] * states.shape[1], states.size,
        "" if before_steps == steps else f"measured on {count} x {before_steps}, extrapolated per frame")
    t0 = time.monotonic()
    info = stages.rollout(wd, {"steps": steps, "count": count, "seed": seed}, device="cpu")
    add("now: rollout stage, nothing needs the embeddings", time.monotonic() - t0, frames_total,
        info["embeddings"]["encoded"], f"{info['embeddings']['from_capture']} rows from embeddings.npy")
    t0 = time.monotonic()
    stages.evaluate(wd, wd / "rollout" / "rollout.npy")
    add("now: + evaluate (encodes on demand)", time.monotonic() - t0, frames_total, 0)
    t0 = time.monotonic()
    info = stages.rollout(wd, {"steps": steps, "count": count, "seed": seed, "prompt": "people walking",
                               "steer_strength": 0.2}, device="cpu", force=True)
    add("now: rollout stage steered (every row an embedding)", time.monotonic() - t0, frames_total,
        info["embeddings"]["encoded"], "incl. building the encoder and the text direction")
    return {"footage": str(footage), "size": size, "model": f"open_clip {model} (random init)",
            "captured_frames": int(n_frames), "encode_stage_s": round(encode_s, 2), "steps": steps,
            "count": count, "rows": rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--footage", default="", help="folder of PNG frames (deterministic encoder)")
    ap.add_argument("--workdir", default="", help="work directory with embed/embeddings.npy")
    ap.add_argument("--npy", default="", help="(N, D) embeddings file")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=BehaviorConfig.epochs)
    ap.add_argument("--vae-epochs", type=int, default=200)
    ap.add_argument("--temperatures", default="0.5,1,1.5,2")
    ap.add_argument("--threads", type=int, default=2, help="process torch threads (the target machine has 2 cores)")
    ap.add_argument("--json", default="", help="write the results here")
    ap.add_argument("--walk-encoding", default="", metavar="FOOTAGE",
                    help="only the walk-encoding rows: a COUNT x STEPS object walk on this PNG folder with open_clip "
                         "ViT-B-32 (random init), its embeddings before and after issue 22")
    ap.add_argument("--before-steps", type=int, default=50,
                    help="with --walk-encoding: steps the 'before' row is measured on (extrapolated per frame)")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    if args.walk_encoding:
        results = {"machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg()},
                   "walk_encoding": walk_encoding_check(Path(args.walk_encoding), args.steps, args.count,
                                                        args.before_steps, args.seed)}
        results["machine"]["load_avg_end"] = os.getloadavg()
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(results, indent=2))
        return 0
    shots = []
    if args.workdir:
        shots.append((f"render {args.workdir}", np.load(Path(args.workdir) / "embed" / "embeddings.npy")))
    if args.footage:
        shots.append((f"footage {args.footage} (deterministic NON-SEMANTIC encoder)", load_footage(Path(args.footage))))
    if args.npy:
        shots.append((f"embeddings {args.npy}", np.load(args.npy)))
    if not shots:
        ap.error("give --footage, --workdir or --npy")
    temps = [float(t) for t in args.temperatures.split(",")]
    results = {"machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg()}, "steps": args.steps,
               "count": args.count, "seed": args.seed, "shots": []}
    for name, emb in shots:
        results["shots"].append(bench_shot(name, np.asarray(emb, np.float32), args.steps, args.count, args.seed,
                                           temps, args.epochs, args.vae_epochs))
    results["timing"] = timing_check(np.asarray(shots[0][1], np.float32), args.seed, args.epochs)
    results["machine"]["load_avg_end"] = os.getloadavg()
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
