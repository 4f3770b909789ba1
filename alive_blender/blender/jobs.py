"""Running bpy-free stages in a worker process without freezing Blender.

A ``Job`` starts ``python -m alive_blender.core.worker`` with a JSON job
description, reads its protocol lines on a thread, and exposes ``poll()``:
a plain function that applies what arrived (progress, metrics, warnings) and
says whether the job is still running. In the UI a ``bpy.app.timers`` callback
calls ``poll()``; tests call it directly (timers never fire in the bpy
module). ``cancel()`` asks the worker to stop at its next safe point (it keeps
its last good checkpoint), and kills it if it has not stopped in time.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from ..core.protocol import decode

PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])   # folder that holds the alive_blender package
PACKAGE_NAME = Path(__file__).resolve().parents[1].name


def worker_python() -> str:
    """The interpreter for workers: preferences' external Python, else this one.

    Inside Blender ``sys.executable`` is Blender's bundled Python; in the bpy
    module it is the venv's python."""
    try:
        from .preferences import get_prefs
        prefs = get_prefs()
        if prefs is not None and prefs.python_path:
            return bpy_abspath(prefs.python_path)
    except Exception:
        pass
    return sys.executable


def bpy_abspath(path: str) -> str:
    import bpy
    return bpy.path.abspath(path)


class Job:
    def __init__(self, job: dict, python: Optional[str] = None, on_message: Optional[Callable[[dict], None]] = None):
        self.job = job
        self.python = python or worker_python()
        self.on_message = on_message
        self.messages: "queue.Queue[dict]" = queue.Queue()
        self.log: list[str] = []
        self.fraction = 0.0
        self.message = ""
        self.status = ""
        self.metrics: dict[str, float] = {}
        self.warnings: list[str] = []
        self.result = None
        self.error: Optional[str] = None
        self.error_code: Optional[int] = None
        self.returncode: Optional[int] = None
        self.cancelled = False
        self._proc: Optional[subprocess.Popen] = None
        self._reader: Optional[threading.Thread] = None
        self._stderr_lines: list[str] = []

    def start(self) -> "Job":
        env = dict(os.environ)
        # the worker imports this same package, and sees the same site-packages (extension wheels)
        paths = [PACKAGE_PARENT] + [p for p in sys.path if p and os.path.isdir(p)]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths + env.get("PYTHONPATH", "").split(os.pathsep)))
        env["PYTHONUNBUFFERED"] = "1"
        self._proc = subprocess.Popen(
            [self.python, "-m", f"{PACKAGE_NAME}.core.worker", json.dumps(self.job)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            bufsize=1)
        self._reader = threading.Thread(target=self._read, args=(self._proc.stdout, False), daemon=True)
        self._reader.start()
        threading.Thread(target=self._read, args=(self._proc.stderr, True), daemon=True).start()
        return self

    def _read(self, stream, is_err: bool):
        for line in stream:
            if is_err:
                self._stderr_lines.append(line.rstrip())
                continue
            msg = decode(line)
            if msg is None:
                self.log.append(line.rstrip())
            else:
                self.messages.put(msg)

    @property
    def running(self) -> bool:
        return self._proc is not None and self.returncode is None

    def poll(self) -> bool:
        """Apply pending messages; True while the job is still running."""
        if self._proc is None:
            return False
        while True:
            try:
                msg = self.messages.get_nowait()
            except queue.Empty:
                break
            self._apply(msg)
        if self.returncode is None and self._proc.poll() is not None:
            self._reader.join(timeout=2.0)
            while not self.messages.empty():
                self._apply(self.messages.get_nowait())
            self.returncode = self._proc.returncode
            if self.returncode != 0 and self.error is None:
                tail = "; ".join(self._stderr_lines[-3:]) or "no output"
                self.error = f"worker stopped unexpectedly (exit code {self.returncode}): {tail}"
                self.error_code = 1
        return self.returncode is None

    def _apply(self, msg: dict):
        kind = msg["type"]
        if kind == "progress":
            self.fraction, self.message = msg["fraction"], msg.get("message", "")
        elif kind == "status":
            self.status = msg["message"]
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

    def cancel(self, timeout: float = 5.0) -> None:
        """Ask the worker to stop; kill it if it does not within ``timeout``."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self.cancelled = True
        try:
            self._proc.stdin.write("cancel\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self.poll()

    def wait(self, timeout: Optional[float] = None, interval: float = 0.05) -> "Job":
        """Block until done (background mode and tests)."""
        t0 = time.monotonic()
        while self.poll():
            if timeout is not None and time.monotonic() - t0 > timeout:
                raise TimeoutError("worker did not finish in time")
            time.sleep(interval)
        return self
