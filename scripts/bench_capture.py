"""Capture overhead against a plain ``bpy.ops.render.render(animation=True)`` of the same frames.

Both run in this process on the demo scene, alternating, ``--rounds`` times
each; the table shows the fastest of each (least disturbed by other load) and
their ratio. Capture includes everything it does per frame: depth and the
RGB through the compositor's File Output node, reading them back, masks,
camera K/pose, the scene-state key, and writing the dataset. The plain render
writes 8-bit PNGs with the same engine, size and samples. A third column
times a second, unchanged capture (nothing renders).

    python scripts/bench_capture.py [--frames 48] [--size 128] [--engines CYCLES,WORKBENCH] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--samples", type=int, default=8, help="Cycles samples (denoising off)")
    ap.add_argument("--engines", default="CYCLES,WORKBENCH")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", default="", help="write the results here as JSON")
    args = ap.parse_args(argv)

    import bpy

    from alive_blender.blender.capture.render import ENGINES, CaptureSettings, capture, engine_name
    from alive_blender.blender.demo_scene import build_demo_scene

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = build_demo_scene(frames=args.frames, width=args.size, height=args.size)
    if bpy.context.window is None:
        for s in [s for s in bpy.data.scenes if s != scene]:
            bpy.data.scenes.remove(s)
    tmp = Path(tempfile.mkdtemp(prefix="alive-bench-"))
    rows = []
    try:
        for name in [e.strip().upper() for e in args.engines.split(",") if e.strip()]:
            engine = ENGINES[engine_name(name)]
            r = scene.render
            r.engine = engine
            r.resolution_x = r.resolution_y = args.size
            r.resolution_percentage = 100
            scene.cycles.samples, scene.cycles.use_denoising, scene.cycles.device = args.samples, False, "CPU"
            scene.view_settings.view_transform = "Standard"
            r.image_settings.file_format, r.image_settings.color_mode = "PNG", "RGB"
            scene.frame_start, scene.frame_end, scene.frame_step = 1, args.frames, 1
            settings = CaptureSettings(engine=name, width=args.size, height=args.size, samples=args.samples,
                                       denoise=False)

            def plain():
                out = tmp / "plain"
                shutil.rmtree(out, ignore_errors=True)
                r.filepath = str(out / "f_")
                t = time.perf_counter()
                with bpy.context.temp_override(scene=scene):
                    bpy.ops.render.render(animation=True)
                return time.perf_counter() - t

            def full_capture():
                wd = tmp / "wd"
                shutil.rmtree(wd, ignore_errors=True)
                t = time.perf_counter()
                res = capture(scene, wd, settings)
                assert res["rendered"] == args.frames, res
                return time.perf_counter() - t

            def cached_capture():
                t = time.perf_counter()
                res = capture(scene, tmp / "wd", settings)
                assert res["rendered"] == 0, res
                return time.perf_counter() - t

            # warm up: first renders compile shaders / load kernels
            scene.frame_set(1)
            r.filepath = str(tmp / "warm.png")
            with bpy.context.temp_override(scene=scene):
                bpy.ops.render.render(write_still=True)
            plains, caps, cached = [], [], []
            for _ in range(args.rounds):
                plains.append(plain())
                caps.append(full_capture())
                cached.append(cached_capture())
            row = {"engine": name, "frames": args.frames, "size": args.size,
                   "samples": args.samples if name == "CYCLES" else None,
                   "plain_s": min(plains), "capture_s": min(caps), "cached_s": min(cached),
                   "ratio": min(caps) / min(plains), "plain_all": plains, "capture_all": caps}
            rows.append(row)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\ncapture vs plain render(animation=True), {args.frames} frames at {args.size}x{args.size}, "
          f"best of {args.rounds} (machine: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})")
    print(f"{'engine':<10} {'plain s':>8} {'capture s':>10} {'ratio':>6} {'unchanged re-capture s':>24}")
    for row in rows:
        print(f"{row['engine']:<10} {row['plain_s']:>8.2f} {row['capture_s']:>10.2f} {row['ratio']:>6.2f} "
              f"{row['cached_s']:>24.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "load": os.getloadavg(), "cpus": os.cpu_count(),
                                               "blender": bpy.app.version_string}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
