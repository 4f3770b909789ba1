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
from ..core.protocol import Reporter, TerminalSink

# command modules, in the order --help lists them
COMMANDS = ["run", "demo", "capture", "encode", "train", "rollout", "decode", "evaluate", "bake"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alive", description="alive_blender: make a Blender scene alive (capture, encode, train, rollout, bake).")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f".cmd_{name}", __name__).add_parser(sub)
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
        return Cancelled.exit_code
    except KeyboardInterrupt:
        print("alive: cancelled: interrupted", file=sys.stderr)
        return Cancelled.exit_code
    except AliveError as err:
        print(f"alive: error: {err}", file=sys.stderr)
        return err.exit_code
    except Exception as err:
        traceback.print_exc(file=sys.stderr)
        print(f"alive: error: internal error: {type(err).__name__}: {err} (please report this)", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        stop.restore()
        if real_stdout is not None:
            _restore_stdout(real_stdout)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    return EXIT_OK
