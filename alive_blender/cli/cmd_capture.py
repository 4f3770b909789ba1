"""``capture``: a scene's camera renders, or existing footage, as the training set in WORKDIR/capture.

    capture SCENE.blend --out WORKDIR [--camera NAME] [--frames A-B] [--step K] [--subframes N]
                        [--resolution WxH | --percent P] [--engine E] [--samples S] [--denoise | --no-denoise]
    capture --movie FILE --out WORKDIR [--frames A-B] [--step K] [--resolution WxH | --percent P]
    capture --images DIR_OR_GLOB --out WORKDIR [...same]
"""

from __future__ import annotations

from pathlib import Path

from ..core.errors import AliveError
from ..core.workdir.lock import workdir_lock
from .common import parse_frames, parse_size


def add_parser(sub) -> None:
    p = sub.add_parser("capture", help="render a scene's camera (or read footage) into a training set",
                       description="Render the active (or a named) camera of SCENE.blend over a frame range, or read "
                                   "a movie / image sequence, into WORKDIR/capture. Unchanged samples are not "
                                   "rendered again.")
    p.add_argument("scene", nargs="?", default="", help="the .blend to capture (not with --movie/--images)")
    p.add_argument("--out", required=True, help="work directory")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--movie", default="", help="read this movie file instead of rendering")
    src.add_argument("--images", default="", help="read this image sequence (folder or glob) instead of rendering")
    p.add_argument("--camera", default="", help="camera object name (default: the scene's active camera)")
    p.add_argument("--frames", default="", help="frame range A-B (default: the scene's, or all footage frames)")
    p.add_argument("--step", type=int, default=1, help="capture every K-th frame")
    p.add_argument("--subframes", type=int, default=0, help="extra renders between captured frames")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--resolution", default="", help="capture size WxH (default: the scene's / footage's)")
    size.add_argument("--percent", type=int, default=0, help="capture size as a percentage of the scene's")
    p.add_argument("--engine", default="SCENE", help="CYCLES, WORKBENCH, EEVEE or SCENE (the scene's own; default)")
    p.add_argument("--samples", type=int, default=0, help="render samples for Cycles/EEVEE (default: the scene's)")
    dn = p.add_mutually_exclusive_group()
    dn.add_argument("--denoise", dest="denoise", action="store_true", default=None, help="Cycles denoising on")
    dn.add_argument("--no-denoise", dest="denoise", action="store_false", help="Cycles denoising off")
    p.add_argument("--force", action="store_true", help="render every sample even if an identical one is stored")
    p.set_defaults(func=execute)


def execute(args, reporter) -> dict:
    start, end = parse_frames(args.frames)
    w, h = parse_size(args.resolution, "--resolution")
    out = Path(args.out).expanduser().absolute()
    if args.movie or args.images:
        if args.scene:
            raise AliveError("give either SCENE.blend or --movie/--images, not both", "drop one of them")
        for flag, value in (("--camera", args.camera), ("--subframes", args.subframes), ("--samples", args.samples),
                            ("--denoise", args.denoise is not None), ("--force", args.force)):
            if value:
                raise AliveError(f"{flag} applies to rendering a scene, not to footage", f"drop {flag}")
        if args.engine.upper() != "SCENE":
            raise AliveError("--engine applies to rendering a scene, not to footage", "drop --engine")
        from ..core.workdir.footage import FootageSettings
        fs = FootageSettings(frame_start=start, frame_end=end, step=args.step, width=w, height=h,
                             percent=args.percent)
        from ..blender.capture.movie import capture_image_sequence, capture_movie
        with workdir_lock(out):
            if args.images:
                return capture_image_sequence(args.images, out, fs, reporter)
            return capture_movie(args.movie, out, fs, reporter)
    if not args.scene:
        raise AliveError("nothing to capture", "give SCENE.blend, --movie FILE or --images DIR_OR_GLOB")
    import bpy

    from ..blender.capture.render import CaptureSettings, capture, check_inputs
    from ..blender.scenefile import open_blend
    settings = CaptureSettings(camera=args.camera, frame_start=start, frame_end=end, step=args.step,
                               subframes=args.subframes, width=w, height=h, percent=args.percent,
                               engine=args.engine, samples=args.samples, denoise=args.denoise)
    open_blend(args.scene)
    check_inputs(bpy.context.scene, settings)   # bad input fails before the work directory is made
    with workdir_lock(out):
        return capture(bpy.context.scene, out, settings, reporter, force=args.force)
