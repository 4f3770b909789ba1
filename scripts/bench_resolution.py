"""Benchmark production resolution: a 1280x720 shot end to end, and a dense bake.

Rows, side by side in one run:
  * end to end on the demo scene rendered at --size (default 1280x720, --frames 48): capture (full size),
    encode (streamed), train (at the --working size), rollout, decode (full size, streamed), bake (points at
    --point-density, image sequence linked from decode), save, preview: each stage's wall time and peak
    resident memory (sampled every 20 ms; the process's baseline with bpy + torch loaded is its own row)
  * sharpness: gradient energy of the invented frames / the captured frames at full size (target >= 0.9)
  * the saved .blend's size (textures referenced, not packed) and the viewport frame-change time (median)
  * dense bake: --bake-frames (200) synthetic frames at --size, memory-mapped, at --bake-density
    (1/9 = one point per 3x3 pixels, >= 100,000 points a frame at 1280x720): bake time (target <= 30 s),
    .blend size, frame-change time (target <= 50 ms median)
  * with --device cuda: train and decode again on the GPU, and decode under bf16 autocast (mixed precision)

It runs whatever generator is the default at run time (``--generator`` picks another, or several:
``--generator object-layers,object-world`` runs each on the same capture, rows side by side); ``--scene
pan|dolly`` takes the combination scene with a moving camera instead of the demo scene.

  OMP_NUM_THREADS=2 python scripts/bench_resolution.py [--frames 48] [--size 1280x720] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cpu_seconds() -> float:
    """CPU time of this process (all threads): on a machine shared with other work the
    wall time stretches with the load, this much less so."""
    t = os.times()
    return t.user + t.system


class PeakMemory:
    """Peak resident memory of this process during a block (sampled every 20 ms)."""

    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()

    def _watch(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            self._stop.wait(0.02)

    def __enter__(self):
        self.peak = rss_bytes()
        self._cpu0 = cpu_seconds()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())
        self.cpu = cpu_seconds() - self._cpu0


def gradient_energy(frames) -> float:
    """Mean squared finite-difference gradient of the luminance, over frames (0..1 scale)."""
    total, n = 0.0, 0
    for f in frames:
        g = np.asarray(f, np.float32)[..., :3].mean(-1) / 255.0
        total += float((np.diff(g, axis=0) ** 2).mean() + (np.diff(g, axis=1) ** 2).mean())
        n += 1
    return total / max(n, 1)


def frame_change_ms(scene, obj, frames) -> float:
    """Median wall time of a frame change with the points object evaluated (what the viewport does)."""
    import bpy
    times = []
    for f in frames:
        t = time.perf_counter()
        scene.frame_set(int(f))
        geo = obj.evaluated_get(bpy.context.evaluated_depsgraph_get()).evaluated_geometry()
        pc = geo.pointcloud
        _ = len(pc.points) if pc is not None else 0
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1000.0


def build_scene(args):
    """The shot at --size: the demo scene (still camera), or the combination scene with a panning or a
    dollying camera (issue 19), its first --frames frames."""
    import bpy

    from alive_blender.blender.combination_scene import build_combination_scene
    from alive_blender.blender.demo_scene import build_demo_scene
    W, H = args.size
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if args.scene == "demo":
        scene = build_demo_scene(frames=args.frames, width=W, height=H)
    else:
        scene = build_combination_scene(width=W, height=H, **{args.scene: 16})
        scene.frame_end = args.frames
    for other in [s for s in bpy.data.scenes if s != scene]:
        bpy.data.scenes.remove(other)
    return scene


def run_end_to_end(args, rows, out_dir: Path):
    """Every stage for each of --generator's architectures, on one capture (rendered and encoded once;
    each generator's end-to-end total counts that capture and encode)."""
    import bpy

    from alive_blender.blender.bake.from_workdir import bake_from_workdir
    from alive_blender.blender.bake.points import BakeSettings
    from alive_blender.blender.capture.render import CaptureSettings, capture
    from alive_blender.blender.scenefile import save_blend
    from alive_blender.core.models.generator import DEFAULT_ARCH
    from alive_blender.core.run import stages
    from alive_blender.core.workdir.dataset import open_capture
    W, H = args.size
    ww, wh = args.working
    scene = build_scene(args)
    clean = out_dir / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(clean))
    archs = [a.strip() for a in (args.generator or DEFAULT_ARCH).split(",") if a.strip()]
    rows.append({"row": "baseline (bpy + torch loaded)", "seconds": 0.0, "peak_gb": rss_bytes() / 1e9})
    first = out_dir / "work"

    def timed(name, call):
        with PeakMemory() as mem:
            t = time.monotonic()
            result = call()
            secs = time.monotonic() - t
        rows.append({"row": name, "seconds": secs, "cpu_s": mem.cpu, "peak_gb": mem.peak / 1e9})
        print(f"  {name}: {secs:.1f} s ({mem.cpu:.1f} s CPU), peak {mem.peak / 1e9:.2f} GB", flush=True)
        return result

    if args.capture_from:   # an earlier run's capture and embeddings of the same shot (hard links)
        shutil.rmtree(first, ignore_errors=True)
        shutil.copytree(Path(args.capture_from), first, copy_function=os.link,
                        ignore=shutil.ignore_patterns("model", "rollout", "decoded", "bakes", "preview*"))
        rows.append({"row": f"capture + encode: reused from {args.capture_from}", "seconds": 0.0, "peak_gb": 0.0})
    else:
        timed("capture", lambda: capture(scene, first, CaptureSettings(width=W, height=H, engine=args.engine,
                                                                       samples=args.samples)))
        timed("encode", lambda: stages.encode(first, {}, "cpu"))
    shared = rows[-1:] if args.capture_from else rows[-2:]
    cap = open_capture(first)
    captured = [cap.read(i)[0] for i in range(len(cap))]
    info = {}
    for k, arch in enumerate(archs):
        wd = first if k == 0 else out_dir / f"work_{arch}"
        if k:   # the same capture and embeddings (hard links), nothing trained
            shutil.rmtree(wd, ignore_errors=True)
            shutil.copytree(first, wd, copy_function=os.link,
                            ignore=shutil.ignore_patterns("model", "rollout", "decoded", "bakes", "preview*"))
        bpy.ops.wm.open_mainfile(filepath=str(clean))   # each bake on the scene as captured
        scene = bpy.context.scene
        gen_cfg = {"arch": arch, "steps": args.steps, "seed": 0}
        mine = len(rows)
        rows.append({"row": f"baseline before {arch}", "seconds": 0.0, "peak_gb": rss_bytes() / 1e9})
        results = {}
        for name, call in [
            ("train", lambda: stages.train(wd, gen_cfg, {"epochs": 150, "seed": 0}, "cpu", working_size=(ww, wh))),
            ("rollout", lambda: stages.rollout(wd, {"steps": args.frames - 1, "count": 1, "seed": 0}, device="cpu")),
            ("decode", lambda: stages.decode_rollout(wd, width=W, height=H, device="cpu")),
            ("bake", lambda: bake_from_workdir(scene, wd, BakeSettings(point_density=args.point_density),
                                               blend_dir=out_dir, device="cpu", decoded_dir=wd / "decoded")),
            ("save", lambda: save_blend(out_dir / f"shot_{arch}.blend")),
            ("preview", lambda: stages.preview(wd)),
        ]:
            results[name] = timed(f"{name} ({arch}" + (f", {ww}x{wh})" if name == "train" else ")"), call)
        own = shared + rows[mine:]
        rows.append({"row": f"end to end, {arch} ({args.scene}, {args.frames} frames {W}x{H})",
                     "seconds": sum(r["seconds"] for r in own), "cpu_s": sum(r.get("cpu_s", 0.0) for r in own),
                     "peak_gb": max(r["peak_gb"] for r in own)})
        dec = np.load(wd / "decoded" / "rgb.npy", mmap_mode="r")
        ratio = gradient_energy(dec) / max(gradient_energy(captured), 1e-12)
        bake = results["bake"]
        if "points_object" in bake:   # the per-frame bake: one points object, its points per frame
            obj, per_frame = scene.objects[bake["points_object"]], np.asarray(bake["points_per_frame"])
        else:   # the 3-D bake (the default): clouds stored once, moved by keys; all are drawn every frame
            obj = scene.objects[bake["points_3d"]["cloud_objects"][0]]
            per_frame = np.asarray([bake["points_3d"]["points"]])
        start = bake["frames"][0]
        change = frame_change_ms(scene, obj, [start + (i * 7) % args.frames for i in range(20)])
        tag = "" if len(archs) == 1 else f" ({arch})"
        info.update({f"sharpness_ratio{tag}": ratio,
                     f"blend_mb{tag}": (out_dir / f"shot_{arch}.blend").stat().st_size / 1e6,
                     f"frame_change_ms{tag}": change, f"points_per_frame_median{tag}": int(np.median(per_frame)),
                     f"train_psnr{tag}": results["train"].get("train_psnr")})
        if args.sheet:
            from alive_blender.core.workdir.images import write_png
            sheet = Path(args.sheet)
            sheet = sheet if len(archs) == 1 else sheet.with_name(f"{sheet.stem}_{arch}{sheet.suffix}")
            write_png(sheet, contact_sheet_full(captured, dec, args.sheet_columns, args.sheet_crop))
            info[f"sheet{tag}"] = str(sheet)
    info["generator"] = ",".join(archs)
    return info


def contact_sheet_full(captured, decoded, columns: int, crop=(0, 0)) -> np.ndarray:
    """Captured frames over invented ones, at full size (pixels 1:1), ``columns`` of
    each; ``crop`` (W, H): only that much of each frame's centre (keeps the PNG small)."""
    def cut(f):
        f = np.asarray(f)
        if not crop[0]:
            return f
        H, W = f.shape[:2]
        y0, x0 = max(0, (H - crop[1]) // 2), max(0, (W - crop[0]) // 2)
        return f[y0:y0 + crop[1], x0:x0 + crop[0]]

    def row(frames):
        idx = np.linspace(0, len(frames) - 1, columns).round().astype(int)
        tiles = [cut(frames[i]) for i in idx]
        pad = np.full((tiles[0].shape[0], 8, 3), 24, np.uint8)
        return np.concatenate(sum([[t, pad] for t in tiles], [])[:-1], axis=1)
    top, bottom = row(captured), row(decoded)
    gap = np.full((8, top.shape[1], 3), 24, np.uint8)
    return np.concatenate([top, gap, bottom], axis=0)


def run_dense_bake(args, rows, out_dir: Path):
    """200 synthetic frames at full size, memory-mapped like decode leaves them, PNGs already on disk."""
    import bpy

    from alive_blender.blender.bake.points import BakeSettings, bake
    from alive_blender.blender.scenefile import save_blend
    from alive_blender.core.workdir.images import write_png
    W, H = args.size
    n = args.bake_frames
    src = out_dir / "dense_decoded"
    src.mkdir(parents=True, exist_ok=True)
    mm = np.lib.format.open_memmap
    rgb = mm(src / "rgb.npy", mode="w+", dtype=np.uint8, shape=(n, H, W, 3))
    depth = mm(src / "depth.npy", mode="w+", dtype=np.float32, shape=(n, H, W))
    alpha = mm(src / "alpha.npy", mode="w+", dtype=np.float32, shape=(n, H, W))
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    base = np.stack([xx / W * 255, yy / H * 255, np.full_like(xx, 90)], -1).astype(np.uint8)
    pngs = []
    for i in range(n):   # a wave moving through a plane: every pixel covered
        rgb[i] = base
        depth[i] = 5.0 + 0.3 * np.sin(xx / 40.0 + i * 0.2)
        alpha[i] = 1.0
        pngs.append(src / f"frame_{i + 1:05d}.png")
        if not pngs[-1].exists():
            write_png(pngs[-1], base)
    del rgb, depth, alpha
    decoded = {k: np.load(src / f"{k}.npy", mmap_mode="r") for k in ("rgb", "depth", "alpha")}
    decoded["png_files"] = pngs
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, n
    f = float(W)
    K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]])
    settings = BakeSettings(name="dense", start=1, point_density=args.bake_density)
    with PeakMemory() as mem:
        t = time.monotonic()
        result = bake(scene, decoded, K, np.eye(4), settings, blend_dir=out_dir)
        secs = time.monotonic() - t
    ppf = int(np.median(result["points_per_frame"]))
    rows.append({"row": f"dense bake ({n} frames {W}x{H}, {ppf} points/frame)", "seconds": secs,
                 "cpu_s": mem.cpu, "peak_gb": mem.peak / 1e9})
    t = time.monotonic()
    blend = save_blend(out_dir / "dense.blend")
    rows.append({"row": "dense bake: save .blend", "seconds": time.monotonic() - t, "peak_gb": rss_bytes() / 1e9})
    obj = scene.objects[result["points_object"]]
    change = frame_change_ms(scene, obj, [1 + (i * 13) % n for i in range(30)])
    return {"dense_points_per_frame": ppf, "dense_bake_s": secs, "dense_blend_mb": blend.stat().st_size / 1e6,
            "dense_frame_change_ms": change, "dense_timings": result.get("timings", {})}


def run_cuda_rows(args, rows, out_dir: Path):
    """Train and decode again on the GPU (fp32), and decode under bf16 autocast."""
    import torch

    from alive_blender.core.run import stages
    wd = out_dir / "work"
    W, H = args.size
    ww, wh = args.working
    gen_cfg = {"arch": args.generator.split(",")[0] or None, "steps": args.steps, "seed": 0}
    gen_cfg = {k: v for k, v in gen_cfg.items() if v is not None}
    for name, call in [
        ("train (cuda)", lambda: stages.train(wd, gen_cfg, {"epochs": 150, "seed": 0}, "cuda", force=True,
                                              working_size=(ww, wh))),
        ("decode (cuda fp32)", lambda: stages.decode_rollout(wd, width=W, height=H, device="cuda",
                                                             out_dir=out_dir / "dec_cuda")),
    ]:
        torch.cuda.synchronize()
        t = time.monotonic()
        call()
        torch.cuda.synchronize()
        rows.append({"row": name, "seconds": time.monotonic() - t,
                     "peak_gb": torch.cuda.max_memory_allocated() / 1e9})
    with torch.autocast("cuda", dtype=torch.bfloat16):
        t = time.monotonic()
        stages.decode_rollout(wd, width=W, height=H, device="cuda", out_dir=out_dir / "dec_bf16")
        torch.cuda.synchronize()
        rows.append({"row": "decode (cuda bf16 autocast)", "seconds": time.monotonic() - t,
                     "peak_gb": torch.cuda.max_memory_allocated() / 1e9})
    a = np.load(out_dir / "dec_cuda" / "rgb.npy", mmap_mode="r").astype(np.float32)
    b = np.load(out_dir / "dec_bf16" / "rgb.npy", mmap_mode="r").astype(np.float32)
    return {"bf16_vs_fp32_max_abs_rgb": float(np.abs(a - b).max())}


def size(text):
    from alive_blender.cli.common import parse_size
    return parse_size(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=48, help="shot length (end to end)")
    ap.add_argument("--size", type=size, default=(1280, 720), help="render / output size WxH")
    ap.add_argument("--working", type=size, default=(128, 72), help="training (working) size WxH")
    ap.add_argument("--engine", default="CYCLES")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--steps", type=int, default=500, help="generator steps")
    ap.add_argument("--generator", default="", help="generator architecture(s), comma-separated, on one capture "
                                                    "(default: the package's default)")
    ap.add_argument("--scene", default="demo", choices=["demo", "pan", "dolly"],
                    help="demo (still camera) or the combination scene with a panning / dollying camera")
    ap.add_argument("--point-density", type=float, default=1 / 9, help="end-to-end bake: points per pixel")
    ap.add_argument("--bake-frames", type=int, default=200, help="dense bake: frames (0: skip)")
    ap.add_argument("--bake-density", type=float, default=1 / 9, help="dense bake: points per pixel")
    ap.add_argument("--skip-end-to-end", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu; cuda adds the GPU rows")
    ap.add_argument("--sheet", default="", help="write the full-size contact sheet (PNG) here")
    ap.add_argument("--sheet-columns", type=int, default=3)
    ap.add_argument("--sheet-crop", type=size, default=(480, 270),
                    help="centre crop WxH of each frame in the sheet, pixels 1:1 (the full size: whole frames)")
    ap.add_argument("--capture-from", default="", help="use this work directory's capture and embeddings (the "
                    "same --scene, --size, --frames, --engine) instead of rendering: the generators' rows only")
    ap.add_argument("--json", default="", help="also write the results here")
    ap.add_argument("--keep", default="", help="work in this folder and keep it (default: a temporary one)")
    args = ap.parse_args(argv)
    import torch
    # load torch's native modules before any render: importing them (triton, via the optimizer) after
    # Workbench/EEVEE started their EGL context crashed in the loader here (bpy 5.0.1, Mesa)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)]).step()
    try:
        import triton.runtime.autotuner  # noqa: F401
    except ImportError:
        pass
    threads = int(os.environ.get("OMP_NUM_THREADS", "0") or 0)
    if threads:
        torch.set_num_threads(threads)
    rows, info = [], {}
    out_dir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="alive-bench-res-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    if not args.skip_end_to_end:
        info.update(run_end_to_end(args, rows, out_dir))
        if args.device.startswith("cuda"):
            info.update(run_cuda_rows(args, rows, out_dir))
    if args.bake_frames:
        info.update(run_dense_bake(args, rows, out_dir))
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = -1.0
    machine = {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "loadavg_1m": load,
               "platform": platform.platform()}
    print(f"\nbench_resolution: {args.size[0]}x{args.size[1]}, working {args.working[0]}x{args.working[1]}, "
          f"{args.frames} frames; machine {machine}")
    print(f"{'stage':<58} {'seconds':>9} {'CPU s':>8} {'peak GB':>8}")
    for r in rows:
        cpu = f"{r['cpu_s']:>8.1f}" if "cpu_s" in r else f"{'-':>8}"
        print(f"{r['row']:<58} {r['seconds']:>9.2f} {cpu} {r['peak_gb']:>8.2f}")
    for k, v in info.items():
        if not isinstance(v, dict):
            print(f"{k:<40} {v:.3f}" if isinstance(v, float) else f"{k:<40} {v}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "info": info, "machine": machine,
                                               "args": {k: v for k, v in vars(args).items()}}, indent=2,
                                              default=str))


if __name__ == "__main__":
    main()
