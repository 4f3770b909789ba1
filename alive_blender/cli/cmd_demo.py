"""``demo [--out DIR]``: build the embedded demo scene and run the whole loop on it."""

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
    add_run_args(p)
    p.set_defaults(func=execute)


def execute(args, reporter) -> dict:
    import shutil

    import bpy

    from ..blender.demo_scene import build_demo_scene
    from ..core.workdir.artifacts import ensure_writable_dir
    settings = settings_from_args(args)
    out = ensure_writable_dir(args.out, "output folder")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = build_demo_scene(frames=args.demo_frames)
    for other in [s for s in bpy.data.scenes if s != scene]:
        bpy.data.scenes.remove(other)
    save = Path(args.save) if args.save else out / "demo.blend"
    result = run_scene(scene, out / "work", save, settings, reporter)
    shutil.copyfile(result["preview"], out / "preview.png")
    result["preview"] = str(out / "preview.png")
    reporter.status(f"preview: {result['preview']}")
    return result
