"""Generator benchmark: original-siren vs the default vs copying the nearest training frame.

Two sequences, every 8th frame held out (index % 8 == 7), each generator
trained for the same wall-clock budget in this one run:

* ``blender``: the demo scene rendered with Cycles (alive_blender.blender.demo_scene
  + capture), FRAMES frames at the training size, with depth; also rendered at
  twice the size to check that decoding at 2x beats upscaling the 1x decode.
* ``footage``: the real pedestrian clip (../shared/data/pedestrians/*.png),
  box-downsampled to the training size (no depth).

Embeddings come from the default offline encoder (deterministic, non-semantic).
Columns: PSNR on training frames and on held-out frames (dB, RGB in [0,1]),
mean absolute depth error on held-out foreground pixels (scene units), decode
speed (frames/s at the training size, batch of all frames), parameters.

    python scripts/bench_generator.py [--seconds 60] [--frames 128] [--size 64x48] [--json out.json]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alive_blender.core.models.encoder import DeterministicEncoder  # noqa: E402
from alive_blender.core.models.generator import (GeneratorConfig, cpu_threads, psnr,  # noqa: E402
                                          train_generator)
from alive_blender.core.sphere import angle  # noqa: E402

# the coordinate networks only: object-layers (the pipeline default) composes a capture's objects
# and is measured in pixels by scripts/bench_alive.py; grid-siren is the default among these
DEFAULT_ARCH = "grid-siren"

FOOTAGE = ROOT.parent / "shared" / "data" / "pedestrians"
if not FOOTAGE.is_dir():
    FOOTAGE = Path("/work/shared/data/pedestrians")


def render_demo(frames: int, width: int, height: int, workdir: Path, samples: int, start: int = 1,
                step: int = 1) -> dict:
    import bpy

    from alive_blender.blender.capture.render import CaptureSettings, capture
    from alive_blender.blender.demo_scene import build_demo_scene
    from alive_blender.core.workdir.dataset import load_capture
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = build_demo_scene(frames=frames, width=width, height=height)
    capture(scene, workdir, CaptureSettings(width=width, height=height, samples=samples, frame_start=start,
                                            frame_end=frames, step=step))
    cap = load_capture(workdir)
    return {"rgb": cap.rgb.astype(np.float32) / 255.0, "depth": cap.depth, "alpha": cap.alpha}


def load_footage(width: int, height: int, frames: int) -> dict:
    from PIL import Image
    files = sorted(glob.glob(str(FOOTAGE / "*.png")))[:frames]
    if not files:
        raise SystemExit(f"no footage at {FOOTAGE}")
    rgb = []
    for f in files:
        with Image.open(f) as im:
            rgb.append(np.asarray(im.convert("RGB").resize((width, height), Image.BOX)))
    return {"rgb": np.stack(rgb).astype(np.float32) / 255.0, "depth": None, "alpha": None}


def depth_error(pred: np.ndarray, depth: np.ndarray) -> float:
    fg = np.isfinite(depth) & (depth > 0) & (depth < 1e9)
    return float(np.abs(pred[fg] - depth[fg]).mean())


def decode_fps(gen, emb, width, height, repeats=3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        gen.decode(emb, width, height)
        best = min(best, time.perf_counter() - t)
    return len(emb) / best


def bench_sequence(name: str, data: dict, seconds: float, seed: int, threads: int, report) -> dict:
    rgb, depth, alpha = data["rgb"], data["depth"], data["alpha"]
    N, H, W = rgb.shape[:3]
    emb = DeterministicEncoder(512).encode_images(rgb)
    held = np.arange(N) % 8 == 7
    tr = ~held
    sub = (lambda a, m: None if a is None else a[m])
    rows = []
    models = {}
    for arch in ("original-siren", DEFAULT_ARCH):
        cfg = GeneratorConfig(arch=arch, steps=10 ** 9, seconds=seconds, seed=seed, threads=threads)
        t0 = time.perf_counter()
        gen = train_generator(emb[tr], rgb[tr], sub(depth, tr), sub(alpha, tr), cfg)
        train_s = time.perf_counter() - t0
        out = gen.decode(emb, W, H)
        row = {"model": arch, "train_psnr": psnr(out["rgb"][tr], rgb[tr]),
               "held_psnr": psnr(out["rgb"][held], rgb[held]),
               "depth_err": depth_error(out["depth"][held], depth[held]) if depth is not None else None,
               "decode_fps": decode_fps(gen, emb, W, H), "params": gen.parameters(),
               "steps": gen.steps_done, "train_seconds": round(train_s, 1)}
        rows.append(row)
        models[arch] = gen
        report(f"  {name}: {arch} done ({gen.steps_done} steps)")
    # ablation: the default's closed-form linear base alone (no gradient steps)
    base_only = train_generator(emb[tr], rgb[tr], sub(depth, tr), sub(alpha, tr),
                                GeneratorConfig(arch=DEFAULT_ARCH, steps=0, seed=seed, threads=threads))
    out = base_only.decode(emb, W, H)
    rows.append({"model": f"{DEFAULT_ARCH}, base only (0 steps)", "train_psnr": psnr(out["rgb"][tr], rgb[tr]),
                 "held_psnr": psnr(out["rgb"][held], rgb[held]),
                 "depth_err": depth_error(out["depth"][held], depth[held]) if depth is not None else None,
                 "decode_fps": None, "params": None, "steps": 0, "train_seconds": None})
    ti = np.nonzero(tr)[0]
    nearest = np.array([ti[np.argmin(angle(emb[i][None], emb[ti]))] for i in np.nonzero(held)[0]])
    rows.append({"model": "nearest-training-frame copy", "train_psnr": None,
                 "held_psnr": psnr(rgb[nearest], rgb[held]),
                 "depth_err": depth_error(np.where(np.isfinite(depth[nearest]), depth[nearest], 0.0), depth[held])
                 if depth is not None else None,
                 "decode_fps": None, "params": None, "steps": None, "train_seconds": None})
    return {"name": name, "frames": int(N), "width": int(W), "height": int(H), "held_out": int(held.sum()),
            "rows": rows, "models": models, "emb": emb}


def upscale(images: np.ndarray, width: int, height: int) -> np.ndarray:
    import torch
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    y = torch.nn.functional.interpolate(x, size=(height, width), mode="bicubic", align_corners=False)
    return y.clamp(0, 1).permute(0, 2, 3, 1).numpy()


def fmt(v, spec):
    width = int("".join(ch for ch in spec.split(".")[0] if ch.isdigit()) or 0)
    return "-".rjust(width) if v is None else format(v, spec)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="training budget per model (wall clock)")
    ap.add_argument("--frames", type=int, default=128, help="frames of the rendered sequence")
    ap.add_argument("--size", default="64x48", help="training size WxH")
    ap.add_argument("--samples", type=int, default=16, help="Cycles samples for the training render")
    ap.add_argument("--ref-samples", type=int, default=64, help="Cycles samples for the 2x reference render")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: auto from the load)")
    ap.add_argument("--only", choices=("blender", "footage"), default=None)
    ap.add_argument("--json", default="", help="write the results here")
    args = ap.parse_args(argv)
    W, H = (int(v) for v in args.size.lower().split("x"))
    report = (lambda m: print(m, file=sys.stderr, flush=True))
    conditions = {"cpu_count": os.cpu_count(), "threads": cpu_threads(args.threads),
                  "load_average_at_start": [round(x, 2) for x in os.getloadavg()], "seconds": args.seconds,
                  "encoder": "deterministic-v1 (non-semantic)", "held_out": "every 8th frame (index % 8 == 7)"}
    results = []
    sharp = None
    with tempfile.TemporaryDirectory(prefix="alive-bench-gen-") as tmp:
        if args.only in (None, "blender"):
            report(f"rendering the demo scene: {args.frames} frames at {W}x{H} ({args.samples} samples); "
                   f"the held-out frames at {2 * W}x{2 * H} ({args.ref_samples} samples, a low-noise reference)")
            lo = render_demo(args.frames, W, H, Path(tmp) / "lo", args.samples)
            hi = render_demo(args.frames, 2 * W, 2 * H, Path(tmp) / "hi", args.ref_samples, start=8, step=8)
            res = bench_sequence("blender", lo, args.seconds, args.seed, args.threads, report)
            results.append(res)
            gen = res["models"][DEFAULT_ARCH]
            held = np.arange(len(lo["rgb"])) % 8 == 7          # frames 8, 16, ... = what hi rendered
            emb_h = res["emb"][held]
            dec_hi = gen.decode(emb_h, 2 * W, 2 * H)["rgb"]
            dec_lo = gen.decode(emb_h, W, H)["rgb"]
            up_dec = upscale(dec_lo, 2 * W, 2 * H)
            ref = hi["rgb"]
            sharp = {"model": DEFAULT_ARCH, "size": f"{2 * W}x{2 * H}", "frames": "held-out (never trained on)",
                     "decode_2x_psnr": psnr(dec_hi, ref), "upscaled_1x_decode_psnr": psnr(up_dec, ref),
                     "upscaled_1x_capture_psnr": psnr(upscale(lo["rgb"][held], 2 * W, 2 * H), ref),
                     "sharpness_decode_2x": sharpness(dec_hi), "sharpness_upscaled_1x_decode": sharpness(up_dec),
                     "sharpness_reference": sharpness(ref)}
            _save_sheet(Path(args.json).with_suffix(".png") if args.json else None, dec_hi, up_dec, ref)
        if args.only in (None, "footage"):
            report(f"footage: {FOOTAGE} at {W}x{H}")
            results.append(bench_sequence("footage", load_footage(W, H, args.frames), args.seconds, args.seed,
                                          args.threads, report))

    print(f"\nGenerator benchmark: {args.seconds:.0f} s wall-clock per model, {conditions['cpu_count']} CPUs "
          f"(load average at start {conditions['load_average_at_start']}), torch threads {conditions['threads']}")
    head = f"{'sequence':9} {'model':32} {'train dB':>9} {'held dB':>8} {'depth err':>9} {'decode f/s':>10} " \
           f"{'params':>8} {'steps':>6}"
    print(head)
    print("-" * len(head))
    for res in results:
        for r in res["rows"]:
            print(f"{res['name']:9} {r['model']:32} {fmt(r['train_psnr'], '9.2f')} {fmt(r['held_psnr'], '8.2f')} "
                  f"{fmt(r['depth_err'], '9.3f')} {fmt(r['decode_fps'], '10.0f')} {fmt(r['params'], '8d')} "
                  f"{fmt(r['steps'], '6d')}")
        base, default = res["rows"][0], res["rows"][1]
        print(f"{'':9} default / original: train {default['train_psnr'] - base['train_psnr']:+.2f} dB, "
              f"held-out {default['held_psnr'] - base['held_psnr']:+.2f} dB, "
              f"decode x{default['decode_fps'] / base['decode_fps']:.1f}")
    if sharp:
        print(f"\n2x decode ({sharp['size']}, held-out frames) vs the scene rendered at that size: "
              f"decode at 2x {sharp['decode_2x_psnr']:.2f} dB, bicubic-upscaled 1x decode "
              f"{sharp['upscaled_1x_decode_psnr']:.2f} dB, bicubic-upscaled 1x capture "
              f"{sharp['upscaled_1x_capture_psnr']:.2f} dB; sharpness (mean |horizontal gradient|): decode at 2x "
              f"{sharp['sharpness_decode_2x']:.4f}, upscaled 1x decode {sharp['sharpness_upscaled_1x_decode']:.4f}, "
              f"reference {sharp['sharpness_reference']:.4f}")
    if args.json:
        out = {"conditions": conditions, "sequences": [{k: v for k, v in r.items() if k not in ("models", "emb")}
                                                       for r in results], "two_x": sharp}
        Path(args.json).write_text(json.dumps(out, indent=2))
        print(f"wrote {args.json}")
    return 0


def sharpness(images: np.ndarray) -> float:
    return float(np.mean(np.abs(np.diff(images, axis=2))))


def _save_sheet(path, dec_hi, up_dec, ref_hi):
    """Side by side for a few frames: 2x decode | upscaled 1x decode | 2x render."""
    if path is None:
        return
    from alive_blender.core.workdir.images import write_png
    idx = [0, len(dec_hi) // 3, 2 * len(dec_hi) // 3]
    rows = [np.concatenate([dec_hi[i], up_dec[i], ref_hi[i]], axis=1) for i in idx]
    write_png(path, np.concatenate(rows, axis=0))


if __name__ == "__main__":
    sys.exit(main())
