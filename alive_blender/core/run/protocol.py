"""The line-based progress protocol spoken by workers, the CLI and the panel.

One message per line, ``ALIVE <json>``; anything else on the stream is plain
log output. Message types (after Blender's ``blender_ext.py`` CLI):

Every message also carries ``stage`` (encode, train, ...: core/run/table.py)
once a stage has begun, so a reader never parses the text to know where a
job is:

    status    {"message"}                      a stage starts / what happens now
    progress  {"fraction", "message"}          0..1 within the current stage
    metric    {"name", "value", "step"?}       a number worth showing (loss, PSNR)
    warning   {"message"}
    error     {"message", "code"}              the job failed; code = CLI exit code
    done      {"result"}                       the job finished; result is JSON data

A ``Reporter`` turns calls into messages; sinks decide where they go (a worker
prints them, the terminal draws a progress bar, the add-on updates the UI).
Cancellation travels the other way as a callable the long loops check.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Callable, Optional

from ..errors import Cancelled

PREFIX = "ALIVE "
TYPES = ("status", "progress", "metric", "warning", "error", "done")


def encode(msg: dict) -> str:
    if msg.get("type") not in TYPES:
        raise ValueError(f"unknown message type {msg.get('type')!r}")
    return PREFIX + json.dumps(msg, separators=(",", ":"), default=float)


def decode(line: str) -> Optional[dict]:
    """The message on ``line``, or None for plain output."""
    line = line.rstrip("\r\n")
    if not line.startswith(PREFIX):
        return None
    try:
        msg = json.loads(line[len(PREFIX):])
    except json.JSONDecodeError:
        return None
    return msg if isinstance(msg, dict) and msg.get("type") in TYPES else None


class Reporter:
    """What long-running core code talks to. Sink receives message dicts."""

    def __init__(self, sink: Optional[Callable[[dict], None]] = None,
                 should_stop: Optional[Callable[[], bool]] = None):
        self._sink = sink or (lambda msg: None)
        self._should_stop = should_stop or (lambda: False)
        self.stage = ""      # the stage running now (a name from the stage table)
        self.doing = ""      # its last status message

    def begin(self, stage: str) -> None:
        """From now on messages carry ``stage``."""
        self.stage = stage

    def emit(self, msg: dict) -> None:
        if self.stage and "stage" not in msg:
            msg = {**msg, "stage": self.stage}
        self._sink(msg)

    def status(self, message: str) -> None:
        self.doing = message
        self.emit({"type": "status", "message": message})

    def progress(self, fraction: float, message: str = "") -> None:
        self.emit({"type": "progress", "fraction": max(0.0, min(1.0, float(fraction))),
                   "message": message})

    def metric(self, name: str, value: float, step: Optional[int] = None) -> None:
        msg = {"type": "metric", "name": name, "value": float(value)}
        if step is not None:
            msg["step"] = int(step)
        self.emit(msg)

    def warning(self, message: str) -> None:
        self.emit({"type": "warning", "message": message})

    def check_cancel(self) -> None:
        """Raise Cancelled at a safe point when the user asked to stop."""
        if self._should_stop():
            raise Cancelled(f"cancelled during {self.doing or self.stage or 'job'}")


def line_sink(stream=None) -> Callable[[dict], None]:
    """Sink that writes protocol lines (what a worker process does)."""
    def sink(msg: dict) -> None:
        out = stream or sys.stdout
        out.write(encode(msg) + "\n")
        out.flush()
    return sink


class TerminalSink:
    """Human-readable progress on a terminal: a redrawn bar on a TTY, plain
    throttled lines otherwise (logs, CI)."""

    def __init__(self, stream=None, min_interval: float = 1.0):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.min_interval = min_interval
        self._last = 0.0
        self._bar_open = False
        self._stage = ""

    def _end_bar(self):
        if self._bar_open:
            self.stream.write("\n")
            self._bar_open = False

    def __call__(self, msg: dict) -> None:
        kind = msg["type"]
        if kind == "progress":
            frac = msg["fraction"]
            now = time.monotonic()
            if self.tty:
                width = 30
                fill = int(round(frac * width))
                self.stream.write(f"\r  [{'#' * fill}{'.' * (width - fill)}] {frac * 100:5.1f}% "
                                  f"{msg.get('message', '')[:60]:<60}")
                self._bar_open = True
            elif now - self._last >= self.min_interval or frac >= 1.0:
                self.stream.write(f"  {self._stage}: {frac * 100:5.1f}% {msg.get('message', '')}\n")
                self._last = now
        elif kind == "status":
            self._end_bar()
            self._stage = msg["message"]
            self.stream.write(f"alive: {msg['message']}\n")
        elif kind == "warning":
            self._end_bar()
            self.stream.write(f"alive: warning: {msg['message']}\n")
        elif kind == "error":
            self._end_bar()
            self.stream.write(f"alive: error: {msg['message']}\n")
        elif kind == "done":
            self._end_bar()
        self.stream.flush()
