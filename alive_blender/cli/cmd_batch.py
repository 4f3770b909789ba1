"""``batch SHOTS.toml --out DIR``: run many shots, each as its own ``run`` process."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "batch", help="run many shots from a SHOTS.toml (in order, in parallel, or on Ray)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run 'alive run' on every [[shot]] of SHOTS.toml, each in its own process, with one work "
                    "directory (OUT/NAME) and one log (OUT/logs/NAME.log) per shot and a summary table at the "
                    "end (also OUT/batch.json). A failing shot does not stop the others, nor does a hung one (silent "
                    "for --stall-timeout: stopped, reported as hung); the exit code is 2 "
                    "when a shot had bad input, 1 when one failed internally or hung, 3 when the batch was stopped.",
        epilog="""\
SHOTS.toml:
  [defaults]                   # any 'run' setting, flag names with underscores
  resolution = "64x48"
  rollout_frames = 96
  [[shot]]
  name = "sh010"               # OUT/sh010, OUT/logs/sh010.log
  blend = "shots/sh010.blend"  # relative to the TOML file, or absolute
  camera = "CAM_main"          # optional
  frames = "1-120"
  gpus = 1                     # Ray only: the shot's task asks for a GPU

exit codes: 0 all shots ok, 2 bad input (the file, or a shot), 3 stopped, 1 internal error""")
    p.add_argument("shots", help="the SHOTS.toml file")
    p.add_argument("--out", required=True, help="output folder: one work directory per shot")
    p.add_argument("--jobs", type=int, default=1, help="shots to run at the same time (default 1)")
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help="run only this shot (repeatable); used by the Flamenco job type")
    p.add_argument("--ray", default="", metavar="ADDRESS",
                   help="run the shots as tasks on the Ray cluster at ADDRESS ('auto': the running one; "
                        "'local': start a small local instance)")
    from ..core.run.worker_process import STALL_TIMEOUT
    p.add_argument("--stall-timeout", type=float, default=STALL_TIMEOUT, metavar="SECONDS",
                   help="a shot printing nothing for this long is stopped and reported as hung; the others go on "
                        f"(default: the worker's limit, {STALL_TIMEOUT:g}; 0: no limit)")
    p.add_argument("--dry-run", action="store_true", help="print each shot's command and exit")
    p.set_defaults(func=execute)


def run_flags() -> dict[str, str]:
    """Every flag of ``run``, underscores, -> "switch" | "value" (from its parser)."""
    from . import cmd_run
    probe = argparse.ArgumentParser(add_help=False)
    sub = probe.add_subparsers()
    cmd_run.add_parser(sub)
    flags = {}
    for action in sub.choices["run"]._actions:
        for opt in action.option_strings:
            if opt.startswith("--"):
                kind = "switch" if isinstance(action, (argparse._StoreTrueAction,)) else "value"
                flags[opt[2:].replace("-", "_")] = kind
    flags.pop("help", None)
    return flags


def check_shot(shot) -> None:
    """A shot's settings through the run parser and the settings schema, as its
    ``run`` process will read them: a bad value fails the batch before it starts."""
    from . import cmd_run
    from .run_args import settings_from_args
    probe = argparse.ArgumentParser(add_help=False)
    sub = probe.add_subparsers()
    cmd_run.add_parser(sub)
    parser = sub.choices["run"]

    def refuse(message):
        from ..core.errors import AliveError
        raise AliveError(message, "fix the setting (alive run --help)")

    parser.error = refuse   # argparse would exit the batch
    settings_from_args(parser.parse_args(shot.argv(Path("/tmp"))[1:]))


def cli_prefix() -> list[str]:
    """How a child process starts this CLI: Blender's binary with ``-c alive``
    inside Blender (the command is registered by the enabled extension), or
    ``python -m alive_blender`` with the bpy module."""
    import os
    bpy = sys.modules.get("bpy")
    binary = getattr(getattr(bpy, "app", None), "binary_path", "") if bpy else ""
    name = os.path.basename(binary or "").lower()
    if name.startswith("blender") and os.path.isfile(binary):
        return [binary, "-c", "alive"]
    return [sys.executable, "-m", "alive_blender"]


def execute(args, reporter) -> dict:
    from ..core.run.batch import load_shots, run_batch, summary_table
    flags = run_flags()
    if args.dry_run:
        shots = load_shots(args.shots, flags, args.only, check_shot)
        out = Path(args.out).expanduser().absolute()
        commands = {s.name: cli_prefix() + s.argv(out, flags) for s in shots}
        for name, cmd in commands.items():
            print(" ".join(cmd), file=sys.stderr)
        return {"shots": [s.name for s in shots], "commands": commands}

    def should_stop() -> bool:
        try:
            reporter.check_cancel()
            return False
        except Exception:
            return True

    summary = run_batch(args.shots, args.out, cli_prefix(), flags, jobs=args.jobs, ray_address=args.ray,
                        only=args.only, should_stop=should_stop, on_event=lambda m: reporter.status(f"batch: {m}"),
                        check=check_shot, stall_timeout=args.stall_timeout)
    print("\n" + summary_table(summary["shots"]), file=sys.stderr)
    reporter.status(f"batch: {summary['ok']} ok, {summary['failed']} failed; summary in {summary['out']}/batch.json")
    return summary
