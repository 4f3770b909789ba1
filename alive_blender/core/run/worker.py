"""Worker process: run one bpy-free stage and speak the progress protocol.

    python -m alive_blender.core.run.worker '{"stage": "train", "workdir": ..., ...}'

Stdout carries protocol lines (see ``protocol``); the last one is ``done`` or
``error``. The parent cancels by writing ``cancel`` on stdin (portable) or by
sending SIGTERM/SIGINT; either way the stage stops at its next safe point,
leaves its last good checkpoint, and the process exits with code 3.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import traceback

from ..errors import EXIT_INTERNAL, AliveError, Cancelled
from .protocol import Reporter, encode, line_sink

from . import stages
from .table import STAGES as TABLE


def _preview(workdir, reporter) -> dict:
    return {"preview": str(stages.preview(workdir))}


# the bpy-free stages of the table (core/run/table.py) and the function that runs each
CALLS = {"encode": stages.encode, "train": stages.train, "rollout": stages.rollout, "decode": stages.decode_rollout,
         "preview": _preview}
assert set(CALLS) == {s.name for s in TABLE if s.where == "worker"}
STAGES = tuple(CALLS) + ("chain",)


def run_stage(job: dict, reporter: Reporter):
    """Run one stage, or ``{"stage": "chain", "jobs": [...]}`` one after another.
    Every message the stage sends carries its name (``stage``)."""
    stage = job.get("stage")
    if stage == "chain":
        return [run_stage(sub, reporter) for sub in job.get("jobs", [])]
    if stage not in CALLS:
        raise AliveError(f"unknown stage '{stage}'", f"use one of {', '.join(STAGES)}")
    args = {k: v for k, v in job.items() if k not in ("stage", "train_preview")}
    reporter.begin(stage)
    if stage == "train" and job.get("train_preview"):  # the add-on shows training as it goes
        from .train_preview import PreviewReporter
        reporter = PreviewReporter(reporter, args["workdir"])
    return CALLS[stage](reporter=reporter, **args)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(sig, on_signal)
        except (ValueError, OSError):  # not the main thread / unsupported
            pass

    def watch_stdin():
        try:
            for line in sys.stdin:
                if line.strip() == "cancel":
                    stop.set()
                    return
        except (OSError, ValueError):
            return

    if not sys.stdin.isatty():
        threading.Thread(target=watch_stdin, daemon=True).start()

    sink = line_sink(sys.stdout)
    reporter = Reporter(sink, stop.is_set)
    try:
        job = json.loads(argv[0]) if argv else json.loads(sys.stdin.readline())
        result = run_stage(job, reporter)
        sink({"type": "done", "result": result})
        return 0
    except Cancelled as err:
        sink({"type": "error", "message": str(err), "code": Cancelled.exit_code})
        return Cancelled.exit_code
    except AliveError as err:
        sink({"type": "error", "message": str(err), "code": err.exit_code})
        return err.exit_code
    except Exception as err:  # unexpected: keep the traceback on stderr for bug reports
        traceback.print_exc(file=sys.stderr)
        sink({"type": "error", "message": f"internal error: {type(err).__name__}: {err}", "code": EXIT_INTERNAL})
        return EXIT_INTERNAL


if __name__ == "__main__":
    code = main()
    # every artifact is written atomically and closed by now: skip the interpreter's teardown
    # (seconds with torch loaded) so a cancelled worker ends, and frees its memory, at once
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
