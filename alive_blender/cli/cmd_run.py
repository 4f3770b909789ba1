"""``run SCENE.blend --out WORKDIR``: every stage on one scene, then save."""

from __future__ import annotations

from pathlib import Path

from ..core.run.table import FORCEABLE
from .run_args import add_run_args, settings_from_args


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
                   choices=list(FORCEABLE) + ["all"],
                   help="re-run STAGE even if its inputs did not change (repeatable): "
                        + ", ".join(FORCEABLE) + " or all")
    p.add_argument("--until", default="", metavar="STAGE", choices=list(FORCEABLE),
                   help="stop after STAGE (no bake, nothing saved), e.g. --until encode renders and encodes on "
                        "one machine; a later run on the same WORKDIR goes on from there")
    p.set_defaults(func=execute)


def forced_stages(args) -> tuple:
    force = list(getattr(args, "force", []) or [])
    return FORCEABLE if "all" in force else tuple(force)


def run_scene(scene, workdir: Path, save: Path, settings, reporter, force: tuple = (), until: str = "") -> dict:
    from ..blender.bake.frame_folders import switched_on_save
    from ..blender.pipeline import run_all
    from ..blender.scenefile import check_save_target, save_blend
    from ..core.workdir.lock import workdir_lock
    save = check_save_target(save)
    # the lock is held through the save too (never two writers); a bake's frames switch in with the save
    with workdir_lock(workdir), switched_on_save():
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
