"""``train WORKDIR``: encode the captured frames (if needed) and train the generator and behavior model."""

from __future__ import annotations

from .common import add_encoder_args, encoder_spec


def add_parser(sub) -> None:
    from ..core.models.generator import ARCHITECTURES, DEFAULT_ARCH
    p = sub.add_parser("train", help="encode (if needed) and train the models of a captured work directory",
                       description="Trains the generator (embedding -> image, depth, alpha) and the behavior model "
                                   "on WORKDIR's capture; encodes the frames first when the embeddings are missing "
                                   "or were made by another encoder. A stopped generator run resumes from its "
                                   "checkpoint when started again with the same settings.")
    p.add_argument("workdir", help="work directory holding a capture (made by run, demo or capture)")
    p.add_argument("--generator", default=DEFAULT_ARCH, choices=ARCHITECTURES,
                   help=f"generator architecture (default: {DEFAULT_ARCH})")
    p.add_argument("--generator-steps", type=int, default=None,
                   help="generator training steps (default: the architecture's default)")
    p.add_argument("--generator-seconds", type=float, default=0.0,
                   help="wall-clock budget for the generator in seconds (0: none); training stops at whichever "
                        "of steps and seconds comes first")
    from ..core.models import behavior
    p.add_argument("--behavior", default=None, choices=behavior.ARCHITECTURES,
                   help=f"behavior architecture (default: {behavior.DEFAULT_ARCH} with object-layers, "
                        f"{behavior.EMBEDDING_DEFAULT} with the other generators)")
    p.add_argument("--behavior-epochs", type=int, default=None, help="behavior model epochs")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="train again even when the models are up to date")
    add_encoder_args(p)
    p.set_defaults(func=execute)


def generator_settings(args) -> dict:
    from ..core.errors import AliveError
    g = {"arch": args.generator, "seed": args.seed, "seconds": float(args.generator_seconds or 0.0)}
    if args.generator_steps is not None:
        if args.generator_steps < 1:
            raise AliveError(f"--generator-steps must be at least 1 (got {args.generator_steps})",
                             "give a positive step count, or use --generator-seconds for a time budget")
        g["steps"] = args.generator_steps
    if g["seconds"] < 0:
        raise AliveError(f"--generator-seconds must not be negative (got {g['seconds']})", "use 0 for no time limit")
    return g


def execute(args, reporter) -> dict:
    from pathlib import Path

    from ..core.run import stages
    from ..core.workdir.artifacts import CAPTURE, WorkDir
    from ..core.errors import AliveError
    gen = generator_settings(args)
    spec = encoder_spec(args)
    wd = WorkDir(Path(args.workdir).expanduser().absolute())
    if not (wd / CAPTURE / "meta.json").exists():
        raise AliveError(f"no capture in '{wd.root}'",
                         "capture frames first: `python -m alive_blender run SCENE.blend --out WORKDIR`")
    behavior = {"seed": args.seed, **({"arch": args.behavior} if args.behavior else {})}
    if args.behavior_epochs is not None:
        behavior["epochs"] = args.behavior_epochs
    enc = stages.encode(wd.root, spec, args.device, reporter=reporter)
    result = stages.train(wd.root, gen, behavior, args.device, force=args.force, reporter=reporter)
    return {"workdir": str(wd.root), "encoder": enc["label"], **result}
