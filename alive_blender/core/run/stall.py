"""A child process that stops printing: the batch's per-shot hang limit. A
shot counts as hung when neither its log (stderr: progress) nor its result
file (stdout) has grown for the stall limit, the worker's STALL_TIMEOUT unless
the batch is told otherwise; it is then killed with its whole process group
(its own children too) and reported as hung, so the other shots go on."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from ..errors import EXIT_INTERNAL
from .worker_process import STALL_TIMEOUT  # noqa: F401  (the one limit: the worker's)

HUNG = "hung"                 # the shot's status in the summary and batch.json
HUNG_EXIT = EXIT_INTERNAL     # its exit code there, as a hung worker's


def hung_reason(limit: float) -> str:
    return f"hung: no output for {limit:g} s (the stall limit, batch --stall-timeout); stopped it"


class OutputWatch:
    """When any of ``paths`` last grew (checked by size, cheaply, at each poll)."""

    def __init__(self, *paths):
        self.paths = [Path(p) for p in paths]
        self.sizes = self._sizes()
        self.changed = time.monotonic()

    def _sizes(self) -> list[int]:
        out = []
        for p in self.paths:
            try:
                out.append(p.stat().st_size)
            except OSError:
                out.append(-1)
        return out

    def stalled(self, limit: float) -> bool:
        sizes = self._sizes()
        if sizes != self.sizes:
            self.sizes, self.changed = sizes, time.monotonic()
        return bool(limit) and time.monotonic() - self.changed > limit


def stop_hung(proc, log_path, limit: float) -> None:
    """Kill a hung shot's process group (it was started in its own session) and
    say why in its log, where the summary reads its error from."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        proc.kill()
    proc.wait()
    with open(log_path, "a") as log:
        log.write(f"\nalive: error: {hung_reason(limit)}\n")


def is_hung(record_error: str) -> bool:
    return str(record_error or "").startswith(HUNG + ":")
