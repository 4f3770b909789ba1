"""``run SCENE.blend --out WORKDIR``: every stage on one scene, then save."""

from __future__ import annotations

from pathlib import Path

from .common import add_encoder_args, encoder_spec, parse_frames, parse_size


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="capture, encode, train, roll out and bake one scene",
                       description="Run the whole alive loop on SCENE.blend; artifacts go to WORKDIR. "
                                   "Re-running with the same WORKDIR skips every stage whose inputs did not "
                                   "change and continues an interrupted training from its checkpoint; "
                                   "--force STAGE re-runs one stage anyway. The bake is always re-applied "
                                   "(it edits the scene opened from SCENE.blend).")
    p.add_argument("scene", help="the .blend to make alive")
    p.add_argument("--out", required=True, help="work directory")
    add_run_args(p)
    p.add_argument("--force", action="append", default=[], metavar="STAGE",
                   choices=list(FORCE_STAGES) + ["all"],
                   help="re-run STAGE even if its inputs did not change (repeatable): "
                        + ", ".join(FORCE_STAGES) + " or all")
    p.add_argument("--until", default="", metavar="STAGE", choices=list(FORCE_STAGES),
                   help="stop after STAGE (no bake, nothing saved), e.g. --until encode renders and encodes on "
                        "one machine; a later run on the same WORKDIR goes on from there")
    p.set_defaults(func=execute)


FORCE_STAGES = ("capture", "encode", "train", "rollout", "decode")


def forced_stages(args) -> tuple:
    force = list(getattr(args, "force", []) or [])
    return FORCE_STAGES if "all" in force else tuple(force)


def add_run_args(p) -> None:
    p.add_argument("--camera", default="", help="camera object name (default: the scene's active camera)")
    p.add_argument("--frames", default="", help="frame range A-B (default: the scene's)")
    p.add_argument("--resolution", default="", help="training resolution WxH (default: 64x48)")
    p.add_argument("--engine", default="CYCLES", help="CYCLES, WORKBENCH, EEVEE or SCENE")
    p.add_argument("--samples", type=int, default=8, help="render samples (Cycles)")
    p.add_argument("--rollout-frames", type=int, default=48, help="frames to invent and bake")
    from ..core.models import behavior, generator
    p.add_argument("--generator", default=generator.DEFAULT_ARCH, choices=generator.ARCHITECTURES,
                   help=f"generator architecture (default: {generator.DEFAULT_ARCH}: captured objects composed "
                        "in new arrangements; without object ids, e.g. footage, the nearest captured frame)")
    p.add_argument("--behavior", default=None, choices=behavior.ARCHITECTURES,
                   help=f"behavior architecture (default: {behavior.DEFAULT_ARCH} with object-layers: each object "
                        "walks its own captured motion, without object ids a video-texture walk over whole "
                        f"frames; {behavior.EMBEDDING_DEFAULT} with the other generators)")
    p.add_argument("--generator-steps", type=int, default=500, help="generator training steps (at most)")
    p.add_argument("--generator-seconds", type=float, default=0.0,
                   help="wall-clock budget for generator training; whichever of steps/seconds ends first (0: none). "
                        "With a budget the learning-rate schedule follows the clock, so results are not bit-exact")
    p.add_argument("--behavior-epochs", type=int, default=150)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--anchor", type=float, default=0.0,
                   help="pull toward the nearest observed frame per step (the default model needs none; "
                        "original-vae used 0.1)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--name", default="alive", help="bake name (its collection is 'Alive NAME')")
    p.add_argument("--save", default="", help="save the baked scene here (default: WORKDIR/alive.blend)")
    add_encoder_args(p)


def settings_from_args(args):
    from ..blender.bake.points import BakeSettings
    from ..blender.capture.render import CaptureSettings
    from ..blender.pipeline import RunSettings
    start, end = parse_frames(args.frames)
    w, h = parse_size(args.resolution) if args.resolution else (64, 48)
    return RunSettings(
        capture=CaptureSettings(camera=args.camera, frame_start=start, frame_end=end, width=w, height=h,
                                engine=args.engine, samples=args.samples),
        encoder=encoder_spec(args),
        generator={"arch": args.generator, "steps": args.generator_steps, "seconds": args.generator_seconds,
                   "seed": args.seed},
        behavior={"epochs": args.behavior_epochs, "seed": args.seed,
                  **({"arch": args.behavior} if args.behavior else {})},
        rollout={"steps": max(1, args.rollout_frames - 1), "count": 1, "seed": args.seed,
                 "temperature": args.temperature, "anchor": args.anchor},
        bake=BakeSettings(name=args.name),
        device=args.device)


def run_scene(scene, workdir: Path, save: Path, settings, reporter, force: tuple = (), until: str = "") -> dict:
    from ..blender.pipeline import run_all
    from ..blender.scenefile import check_save_target, save_blend
    save = check_save_target(save)
    result = run_all(scene, workdir, settings, reporter, blend_dir=save.parent, force=force, until=until)
    if until:
        return result
    result["blend"] = str(save_blend(save))
    reporter.status(f"saved {result['blend']}")
    return result


def execute(args, reporter) -> dict:
    import bpy

    from ..blender.scenefile import open_blend
    settings = settings_from_args(args)  # bad flags fail before the file is opened
    open_blend(args.scene)
    workdir = Path(args.out).expanduser().absolute()
    save = Path(args.save) if args.save else workdir / "alive.blend"
    return run_scene(bpy.context.scene, workdir, save, settings, reporter, force=forced_stages(args),
                     until=getattr(args, "until", ""))
