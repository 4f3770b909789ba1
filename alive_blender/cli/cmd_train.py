"""``train WORKDIR``: encode the captured frames (if needed) and train the generator and behavior model."""

from __future__ import annotations

from .run_args import add_train_args, settings_from_args


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="encode (if needed) and train the models of a captured work directory",
                       description="Trains the generator (embedding -> image, depth, alpha) and the behavior model "
                                   "on WORKDIR's capture; encodes the frames first when the embeddings are missing "
                                   "or were made by another encoder. The settings and their defaults are run's, so "
                                   "'train' and 'run' train alike. A stopped generator run resumes from its "
                                   "checkpoint when started again with the same settings.")
    p.add_argument("workdir", help="work directory holding a capture (made by run, demo or capture)")
    add_train_args(p)
    p.add_argument("--force", action="store_true", help="train again even when the models are up to date")
    p.set_defaults(func=execute)


def execute(args, reporter) -> dict:
    from pathlib import Path

    from ..core.errors import AliveError
    from ..core.run.table import job
    from ..core.run.worker import run_stage
    from ..core.workdir.artifacts import CAPTURE, WorkDir
    from ..core.workdir.lock import workdir_lock
    settings = settings_from_args(args)
    wd = WorkDir(Path(args.workdir).expanduser().absolute())
    if not (wd / CAPTURE / "meta.json").exists():
        raise AliveError(f"no capture in '{wd.root}'",
                         "capture frames first: `python -m alive_blender run SCENE.blend --out WORKDIR`")
    with workdir_lock(wd.root):
        enc = run_stage(job("encode", wd.root, settings), reporter)
        result = run_stage(job("train", wd.root, settings, force=args.force), reporter)
    return {"workdir": str(wd.root), "encoder": enc["label"], **result}
