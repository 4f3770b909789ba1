"""``demo [--out DIR] [--full-size]``: build the embedded demo scene and run the whole loop on it.

The default stays quick (renders, trains and bakes at 64x48). ``--full-size``
renders the scene at 1280x720, trains at a 128x72 working size, and decodes
and bakes the invented frames at 1280x720 with a point per 2x2 pixels."""

from __future__ import annotations

from pathlib import Path

from .cmd_run import run_scene
from .run_args import add_run_args, settings_from_args


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="build the demo scene and make it alive (writes out/demo.blend)",
                       description="Builds a small animated scene in code, runs every stage on it, and writes "
                                   "OUT/demo.blend and OUT/preview.png (captured frames over invented ones).")
    p.add_argument("--out", default="out", help="output folder (default: out)")
    p.add_argument("--demo-frames", type=int, default=48, help="length of the demo animation")
    p.add_argument("--full-size", action="store_true",
                   help=f"production resolution: render, decode and bake at {FULL_SIZE[0]}x{FULL_SIZE[1]} "
                        f"(training at a {FULL_WORKING[0]}x{FULL_WORKING[1]} working size; minutes, not seconds)")
    add_run_args(p)
    p.set_defaults(func=execute)


FULL_SIZE = (1280, 720)
FULL_WORKING = (128, 72)
FULL_POINT_DENSITY = 0.25


def execute(args, reporter) -> dict:
    import shutil

    import bpy

    from ..blender.demo_scene import build_demo_scene
    from ..core.workdir.artifacts import ensure_writable_dir
    if args.full_size:
        args.output_size = args.output_size or f"{FULL_SIZE[0]}x{FULL_SIZE[1]}"
        args.resolution = args.resolution or f"{FULL_WORKING[0]}x{FULL_WORKING[1]}"
        if args.point_density is None:
            args.point_density = FULL_POINT_DENSITY
    settings = settings_from_args(args)
    out = ensure_writable_dir(args.out, "output folder")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    size = FULL_SIZE if args.full_size else (128, 96)
    scene = build_demo_scene(frames=args.demo_frames, width=size[0], height=size[1])
    for other in [s for s in bpy.data.scenes if s != scene]:
        bpy.data.scenes.remove(other)
    save = Path(args.save) if args.save else out / "demo.blend"
    result = run_scene(scene, out / "work", save, settings, reporter)
    shutil.copyfile(result["preview"], out / "preview.png")
    result["preview"] = str(out / "preview.png")
    reporter.status(f"preview: {result['preview']}")
    return result
