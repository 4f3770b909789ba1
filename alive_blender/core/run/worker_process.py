"""A worker process running bpy-free stages (``python -m
alive_blender.core.run.worker JOB``), read on threads so whoever started it
(the panel's job runner) never waits on it: its protocol messages queue up,
cancel asks it to stop at a safe point, and one that does not stop is killed.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable, Optional

from ..errors import AliveError
from .children import child_env
from .protocol import decode

# The worker imports this same package by name from the folder that holds it.
# Installed as an extension, that folder is the extension's own directory
# (.../extensions/user_default/alive_blender) and the package is the inner
# ``alive_blender``; in a checkout it is the repository root.
PACKAGE_PARENT = str(Path(__file__).resolve().parents[3])
PACKAGE_NAME = Path(__file__).resolve().parents[2].name

KILL_AFTER = 0.75         # seconds a cancelled worker gets before it is killed (gone within 1 s)
STALL_TIMEOUT = 900.0     # seconds without a line from the worker before it counts as hung and is stopped
LOG_LINES = 5000          # lines of worker output kept (a flooding worker cannot fill memory)
MAX_LINE = 65536          # characters read as one line at most (a line without an end is read in pieces)
EXIT_CANCELLED = 3


def worker_env(python: Optional[str] = None) -> dict:
    # the worker imports this same package, and sees the same site-packages (extension wheels);
    # an external Python (another version, perhaps) gets only the package: it brings its own packages
    # (not resolved: a venv's python is a link to the base interpreter, with other packages).
    # It leaves one core to Blender's UI unless the user chose a thread count.
    external = python is not None and os.path.abspath(python) != os.path.abspath(sys.executable)
    threads = 0 if "OMP_NUM_THREADS" in os.environ else max(1, (os.cpu_count() or 2) - 1)
    return child_env([PACKAGE_PARENT] + ([] if external else [p for p in sys.path if p and os.path.isdir(p)]),
                     threads)


class WorkerProcess:
    """One worker process running one stage (or a chain of stages)."""

    def __init__(self, job: dict, python: Optional[str] = None, on_message: Optional[Callable[[dict], None]] = None,
                 stall_timeout: float = STALL_TIMEOUT):
        self.job = job
        self.stall_timeout = stall_timeout
        self._last_output = time.monotonic()
        self.python = python or sys.executable
        self.on_message = on_message
        self.messages: "queue.Queue[dict]" = queue.Queue()
        self.log: "deque[str]" = deque(maxlen=LOG_LINES)
        self.fraction = 0.0                # within the current stage
        self.stages = [j.get("stage", "") for j in job.get("jobs", [])] if job.get("stage") == "chain" \
            else [job.get("stage", "")]
        self.stage_index = 0
        self.message = ""
        self.status = ""
        self.metrics: dict[str, float] = {}
        self.warnings: list[str] = []
        self.result = None
        self.error: Optional[str] = None
        self.error_code: Optional[int] = None
        self.returncode: Optional[int] = None
        self.cancelled = False
        self.killed = False
        self._kill_at: Optional[float] = None
        self._proc: Optional[subprocess.Popen] = None
        self._readers: list[threading.Thread] = []
        self._stderr_lines: "deque[str]" = deque(maxlen=LOG_LINES)

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self._proc else None

    def start(self) -> "Job":
        try:
            self._proc = subprocess.Popen(
                [self.python, "-m", f"{PACKAGE_NAME}.core.run.worker", json.dumps(self.job)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env=worker_env(self.python), bufsize=1)
        except OSError as err:
            raise AliveError(f"could not start the worker with '{self.python}': {err}",
                             "check the Worker Python path in the add-on preferences") from None
        self._readers = [threading.Thread(target=self._read, args=(self._proc.stdout, False), daemon=True),
                         threading.Thread(target=self._read, args=(self._proc.stderr, True), daemon=True)]
        for t in self._readers:
            t.start()
        return self

    def _read(self, stream, is_err: bool):
        for line in iter(lambda: stream.readline(MAX_LINE), ""):
            self._last_output = time.monotonic()
            if is_err:
                self._stderr_lines.append(line.rstrip()[:2000])
                continue
            self.log.append(line.rstrip()[:2000])  # everything, protocol lines included, for "Keep Worker Logs"
            msg = decode(line)
            if msg is not None:
                self.messages.put(msg)

    @property
    def overall(self) -> float:
        """Progress over all the stages of a chain, 0..1."""
        if self.result is not None:
            return 1.0
        return min(1.0, (self.stage_index + self.fraction) / max(1, len(self.stages)))

    @property
    def running(self) -> bool:
        return self._proc is not None and self.returncode is None

    def poll(self) -> bool:
        """Apply pending messages; True while the job is still running."""
        if self._proc is None:
            return False
        self._drain()
        if self.returncode is None and self._kill_at is not None and time.monotonic() >= self._kill_at \
                and self._proc.poll() is None:
            self._proc.kill()
            self.killed = True
        if self.returncode is None and self.stall_timeout and not self.killed and self._proc.poll() is None \
                and time.monotonic() - self._last_output > self.stall_timeout:
            self._proc.kill()  # hung: no line for stall_timeout seconds; its writes are atomic
            self.killed = True
            self.error = (f"worker hung: no output for {self.stall_timeout:.0f} s during "
                          f"{self.status or self.stages[self.stage_index]}; stopped it")
            self.error_code = 1
        if self.returncode is None and self._proc.poll() is not None:
            for t in self._readers:
                t.join(timeout=2.0)
            self._drain()
            self.returncode = self._proc.returncode
            self._close_pipes()
            if self.returncode == 0 and self.result is None and self.error is None:
                self.error, self.error_code = "worker ended without reporting a result", 1
            if self.returncode != 0 and self.error is None:
                if self.cancelled:
                    self.error, self.error_code = "cancelled", EXIT_CANCELLED
                else:
                    tail = "; ".join(list(self._stderr_lines)[-3:])[-500:] or "no output"
                    self.error = f"worker stopped unexpectedly (exit code {self.returncode}): {tail}"
                    self.error_code = 1
        return self.returncode is None

    def _drain(self):
        while True:
            try:
                msg = self.messages.get_nowait()
            except queue.Empty:
                return
            self._apply(msg)

    def _close_pipes(self):
        for f in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            try:
                f.close()
            except (OSError, ValueError):
                pass

    def _apply(self, msg: dict):
        kind = msg["type"]
        stage = msg.get("stage")   # every worker message names its stage (protocol.py)
        if stage in self.stages[self.stage_index:]:
            i = self.stages.index(stage, self.stage_index)
            if i != self.stage_index:
                self.stage_index, self.fraction = i, 0.0
        if kind == "progress":
            self.fraction, self.message = msg["fraction"], msg.get("message", "")
        elif kind == "status":
            self.status, self.message = msg["message"], ""
        elif kind == "metric":
            self.metrics[msg["name"]] = msg["value"]
        elif kind == "warning":
            self.warnings.append(msg["message"])
        elif kind == "error":
            self.error, self.error_code = msg["message"], msg.get("code", 1)
        elif kind == "done":
            self.result, self.fraction = msg.get("result"), 1.0
        if self.on_message:
            self.on_message(msg)

    def request_cancel(self, kill_after: float = KILL_AFTER) -> None:
        """Ask the worker to stop (non-blocking); ``poll`` kills it if it has
        not stopped ``kill_after`` seconds later."""
        if self._proc is None or self.returncode is not None or self._proc.poll() is not None:
            return
        self.cancelled = True
        self._kill_at = time.monotonic() + kill_after
        try:
            self._proc.stdin.write("cancel\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass

    def cancel(self, timeout: float = 5.0) -> None:
        """Ask the worker to stop and wait for it; kill it after ``timeout``."""
        self.request_cancel(kill_after=timeout)
        self.wait(interval=0.02)

    def wait(self, timeout: Optional[float] = None, interval: float = 0.05) -> "Job":
        """Block until done (background mode and tests)."""
        t0 = time.monotonic()
        while self.poll():
            if timeout is not None and time.monotonic() - t0 > timeout:
                raise TimeoutError("worker did not finish in time")
            time.sleep(interval)
        return self

    def write_log(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(["# stdout", *self.log, "# stderr", *self._stderr_lines]) + "\n")
