"""``capture``: a scene's camera renders, or existing footage, as the training set in WORKDIR/capture.

    capture SCENE.blend --out WORKDIR [--camera NAME] [--frames A-B] [--step K] [--subframes N]
                        [--resolution WxH | --percent P] [--engine E] [--samples S] [--denoise | --no-denoise]
    (defaults: run's, core/settings.py: 64x48, Cycles, 8 samples, no denoising)
    capture --movie FILE --out WORKDIR [--frames A-B] [--step K] [--resolution WxH | --percent P]
    capture --images DIR_OR_GLOB --out WORKDIR [...same]
"""

from __future__ import annotations

from pathlib import Path

from ..core.errors import AliveError
from ..core.workdir.lock import workdir_lock
from .common import parse_frames, parse_size
from .run_args import add_capture_args, settings_from_args


def add_parser(sub) -> None:
    p = sub.add_parser("capture", help="render a scene's camera (or read footage) into a training set",
                       description="Render the active (or a named) camera of SCENE.blend over a frame range, or read "
                                   "a movie / image sequence, into WORKDIR/capture. Unchanged samples are not "
                                   "rendered again. The render settings are run's (the same defaults), so a later "
                                   "'run' on WORKDIR finds this capture up to date.")
    p.add_argument("scene", nargs="?", default="", help="the .blend to capture (not with --movie/--images)")
    p.add_argument("--out", required=True, help="work directory")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--movie", default="", help="read this movie file instead of rendering")
    src.add_argument("--images", default="", help="read this image sequence (folder or glob) instead of rendering")
    add_capture_args(p)
    p.add_argument("--force", action="store_true", help="render every sample even if an identical one is stored")
    p.set_defaults(func=execute)


def execute(args, reporter) -> dict:
    out = Path(args.out).expanduser().absolute()
    if args.movie or args.images:
        return _footage(args, out, reporter)
    if not args.scene:
        raise AliveError("nothing to capture", "give SCENE.blend, --movie FILE or --images DIR_OR_GLOB")
    import bpy

    from ..blender.capture.render import capture, check_inputs
    from ..blender.scenefile import open_blend
    settings = settings_from_args(args).capture
    open_blend(args.scene)
    check_inputs(bpy.context.scene, settings)   # bad input fails before the work directory is made
    with workdir_lock(out):
        return capture(bpy.context.scene, out, settings, reporter, force=args.force)


def _footage(args, out: Path, reporter) -> dict:
    if args.scene:
        raise AliveError("give either SCENE.blend or --movie/--images, not both", "drop one of them")
    for flag, value in (("--camera", args.camera), ("--subframes", args.subframes), ("--samples", args.samples),
                        ("--denoise", args.denoise), ("--engine", args.engine), ("--force", args.force or None)):
        if value is not None:
            raise AliveError(f"{flag} applies to rendering a scene, not to footage", f"drop {flag}")
    from ..core.workdir.footage import FootageSettings
    start, end = parse_frames(args.frames)
    w, h = parse_size(args.resolution)   # default: the footage's own size
    fs = FootageSettings(frame_start=start, frame_end=end, step=args.step or 1, width=w, height=h,
                         percent=args.percent or 0)
    from ..blender.capture.movie import capture_image_sequence, capture_movie
    with workdir_lock(out):
        if args.images:
            return capture_image_sequence(args.images, out, fs, reporter)
        return capture_movie(args.movie, out, fs, reporter)
