"""One command-line interface for two entry points.

``python -m alive_blender <command>`` (the bpy module) and
``blender -c alive <command>`` (registered with ``bpy.utils.register_cli_command``)
both end in ``main(argv)``. Each command lives in its own module ``cmd_<name>``
exposing ``add_parser(subparsers)`` that sets ``func(args, reporter) -> dict``.

Exit codes: 0 ok, 2 bad input, 3 cancelled/interrupted, 1 internal error.
On failure one line ``alive: error: <what> (<what to do>)`` goes to stderr.
Progress goes to stderr as well; ``--json`` prints the result as JSON on stdout.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import threading
import traceback

from ..core.errors import EXIT_INTERNAL, EXIT_OK, AliveError, Cancelled
from ..core.run.protocol import Reporter, TerminalSink
from ..core.workdir.artifacts import DISK_FULL, disk_full_error

# command modules, in the order --help lists them
COMMANDS = ["run", "batch", "info", "demo", "capture", "encode", "train", "rollout", "decode", "evaluate", "bake"]
COMMANDS.append("live")   # cmd_live: play the scene live (headless here; Play Live in the panel)

EPILOG = """\
exit codes:
  0  ok
  2  bad input (one line 'alive: error: WHAT (WHAT TO DO)' on stderr)
  3  cancelled or interrupted (Ctrl+C / SIGTERM stop at the next safe point;
     a second signal stops at once)
  1  internal error (a traceback on stderr: please report it)

entry points: 'python -m alive_blender COMMAND' (bpy module) and
'blender -c alive COMMAND' (the enabled extension) take the same arguments.
'alive COMMAND --help' describes one command."""


def _add_common(parser, top: bool) -> None:
    # on the top level and on every command, so 'alive --json run' and
    # 'alive run --json' both work (SUPPRESS: a command never resets the top's value)
    default = False if top else argparse.SUPPRESS
    parser.add_argument("--json", action="store_true", default=default,
                        help="print the result as JSON on stdout (progress stays on stderr)")
    parser.add_argument("--quiet", action="store_true", default=default, help="no progress output")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    parser = argparse.ArgumentParser(
        prog="alive", description="alive_blender: make a Blender scene alive (capture, encode, train, rollout, bake).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"alive_blender {__version__}")
    _add_common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f".cmd_{name}", __name__).add_parser(sub)
    for cmd in sub.choices.values():
        if cmd.epilog is None:
            cmd.epilog = "exit codes: 0 ok, 2 bad input, 3 cancelled/interrupted, 1 internal error"
        _add_common(cmd, top=False)
    return parser


class _StopFlag:
    """Set by SIGINT/SIGTERM so long loops stop at their next safe point."""

    def __init__(self):
        self.event = threading.Event()
        self._old = {}

    def install(self):
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except (ValueError, OSError):
                pass
        return self

    def _handle(self, signum, frame):
        if self.event.is_set():  # second signal: stop now
            raise KeyboardInterrupt
        self.event.set()

    def restore(self):
        for sig, old in self._old.items():
            try:
                signal.signal(sig, old)
            except (ValueError, OSError):
                pass


def _divert_stdout() -> int:
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    return saved


def _restore_stdout(saved: int) -> None:
    sys.stdout.flush()
    os.dup2(saved, 1)
    os.close(saved)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help, 2 for bad usage
        return int(exc.code or 0)
    stop = _StopFlag().install()
    sink = (lambda msg: None) if args.quiet else TerminalSink(sys.stderr)
    reporter = Reporter(sink, stop.event.is_set)
    # Blender's C code prints to fd 1 (render logs, "Saved ..."); with --json only
    # the JSON may reach stdout, so point fd 1 at stderr while the command runs
    real_stdout = _divert_stdout() if args.json else None
    try:
        result = args.func(args, reporter)
    except Cancelled as err:
        print(f"alive: cancelled: {err}", file=sys.stderr)
        failure = {"error": str(err), "exit_code": Cancelled.exit_code}
    except KeyboardInterrupt:
        print("alive: cancelled: interrupted", file=sys.stderr)
        failure = {"error": "interrupted", "exit_code": Cancelled.exit_code}
    except AliveError as err:
        print(f"alive: error: {err}", file=sys.stderr)
        failure = {"error": err.message, "hint": err.hint, "exit_code": err.exit_code}
    except Exception as err:
        if isinstance(err, OSError) and err.errno in DISK_FULL:
            # a write outside atomic_path hit a full disk: the environment, not a bug
            full = disk_full_error(err, err.filename or os.getcwd())
            print(f"alive: error: {full}", file=sys.stderr)
            failure = {"error": full.message, "hint": full.hint, "exit_code": full.exit_code}
        else:
            traceback.print_exc(file=sys.stderr)
            print(f"alive: error: internal error: {type(err).__name__}: {err} (please report this)",
                  file=sys.stderr)
            failure = {"error": f"internal error: {type(err).__name__}: {err}", "exit_code": EXIT_INTERNAL}
    else:
        failure = None
    finally:
        stop.restore()
        if real_stdout is not None:
            _restore_stdout(real_stdout)
    if failure is not None:
        if args.json:  # a machine reading stdout gets the failure too, in the same shape every time
            print(json.dumps({"ok": False, **failure}, indent=2))
        return failure["exit_code"]
    # a command may ask for another exit code with its result (batch: a shot failed)
    code = result.pop("exit_code", EXIT_OK) if isinstance(result, dict) else EXIT_OK
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    return code
