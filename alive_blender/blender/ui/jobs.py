"""Running bpy-free stages in a worker process without freezing Blender.

A ``Job`` starts ``python -m alive_blender.core.run.worker`` with a JSON job
description and reads its protocol lines on threads. The ``Runner`` owns the
add-on's one active job: ``poll()`` applies what arrived (progress, metrics,
warnings) to the scene's job fields and the window manager's progress bar,
and when the worker has ended turns the outcome into an operator report and
runs the main-thread continuation (e.g. the bake). In the UI a
``bpy.app.timers`` callback (``poll_active_job``) calls it; in background mode
``run_blocking`` calls the same poll in a loop; tests call it directly (timers
never fire in the bpy module).

Cancel asks the worker to stop at its next safe point (stdin ``cancel``): it
keeps its last good checkpoint and exits with code 3. A worker that has not
stopped ``KILL_AFTER`` seconds later is killed; its writes are atomic, so
nothing half-written remains either way. The worker's memory (GPU included)
is freed when its process ends.
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

from ...core.run.protocol import TerminalSink, decode

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
POLL_INTERVAL = 0.25      # timer interval while a job runs
EXIT_CANCELLED = 3
STATUS_PREFIX = {"decode_rollout": "decode"}  # stages whose status lines start with another word


def worker_python() -> str:
    """The interpreter for workers: preferences' external Python, else this one.

    Inside Blender ``sys.executable`` is Blender's bundled Python; in the bpy
    module it is the venv's python."""
    try:
        from .preferences import get_prefs
        prefs = get_prefs()
        if prefs is not None and prefs.python_path:
            import bpy
            return bpy.path.abspath(prefs.python_path)
    except (ImportError, AttributeError):
        pass
    return sys.executable


def worker_env() -> dict:
    env = dict(os.environ)
    # the worker imports this same package, and sees the same site-packages (extension wheels)
    paths = [PACKAGE_PARENT] + [p for p in sys.path if p and os.path.isdir(p)]
    old = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths + old))
    env["PYTHONUNBUFFERED"] = "1"
    # leave one core to Blender's UI (unless the user chose a thread count); torch reads this
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) - 1)))
    return env


class Job:
    """One worker process running one stage (or a chain of stages)."""

    def __init__(self, job: dict, python: Optional[str] = None, on_message: Optional[Callable[[dict], None]] = None,
                 stall_timeout: float = STALL_TIMEOUT):
        self.job = job
        self.stall_timeout = stall_timeout
        self._last_output = time.monotonic()
        self.python = python or worker_python()
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
                env=worker_env(), bufsize=1)
        except OSError as err:
            from ...core.errors import AliveError
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
        if kind == "progress":
            self.fraction, self.message = msg["fraction"], msg.get("message", "")
        elif kind == "status":
            self.status, self.message = msg["message"], ""
            prefix = msg["message"].split(":", 1)[0].strip()
            for i in range(self.stage_index, len(self.stages)):
                if STATUS_PREFIX.get(self.stages[i], self.stages[i]) == prefix:
                    if i != self.stage_index:
                        self.stage_index, self.fraction = i, 0.0
                    break
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


def report(level: str, message: str) -> None:
    """An operator report from outside an operator (timer callbacks): through
    the ``alive.report`` operator, so it reaches the status bar and Info log."""
    import bpy
    try:
        bpy.ops.alive.report(level=level, message=message[:1000])
    except RuntimeError:
        pass  # an ERROR report raises in the caller by design; it has been reported
    except AttributeError:  # add-on unregistered meanwhile
        print(f"alive: {level.lower()}: {message}")


class Runner:
    """The add-on's one active job (worker process or main-thread capture).

    ``on_success(scene, job) -> str`` runs on the main thread after a worker
    finished well (bake, loading previews) and returns the report text."""

    def __init__(self):
        self.job: Optional[Job] = None
        self.scene_name = ""
        self.label = ""
        self.on_success: Optional[Callable] = None
        self.workdir: Optional[Path] = None
        self.capture_busy = False          # a modal capture on the main thread
        self.capture_cancel = False
        self.reports: list[tuple[str, str]] = []
        self.progress_open = False
        self.keep_log = False
        self._terminal: Optional[TerminalSink] = None
        self._preview_mtime = None

    @property
    def busy(self) -> bool:
        return self.job is not None or self.capture_busy

    def start(self, job: Job, scene, label: str, workdir: Path, on_success: Optional[Callable] = None,
              blocking: bool = False, keep_log: bool = False):
        """Start ``job`` (not yet started) for ``scene``. Blocking runs the same
        poll loop here (background mode) with progress lines on the terminal;
        otherwise a timer polls it. Returns the final report (blocking) or None."""
        import bpy
        if self.busy:
            from ...core.errors import AliveError
            raise AliveError("an Alive job is already running", "wait for it or cancel it")
        self.scene_name, self.label, self.on_success, self.workdir = scene.name, label, on_success, workdir
        self.keep_log = keep_log
        from ...core.run.train_preview import PREVIEW_FILE
        old_preview = Path(workdir) / PREVIEW_FILE
        self._preview_mtime = old_preview.stat().st_mtime_ns if old_preview.exists() else None
        self._terminal = TerminalSink() if blocking else None
        if self._terminal is not None:
            job.on_message = self._terminal
        job.start()
        self.job = job
        s = scene.alive
        s.job_status, s.job_progress = f"{label}: starting", 0.0
        wm = bpy.context.window_manager
        if wm is not None:
            wm.progress_begin(0, 1000)
            self.progress_open = True
        if blocking:
            try:
                while self.poll() is not None:
                    time.sleep(0.05)
            except BaseException:  # Ctrl+C in `blender -b`: stop the worker too, leave no stale job
                self.cancel_and_wait()
                raise
            return self.reports[-1] if self.reports else None
        if not bpy.app.timers.is_registered(poll_active_job):
            bpy.app.timers.register(poll_active_job, first_interval=POLL_INTERVAL)
        return None

    def cancel(self):
        """Non-blocking: the next polls finish the job (killing it if needed)."""
        if self.job is not None:
            self.job.request_cancel()
        if self.capture_busy:
            self.capture_cancel = True

    def cancel_and_wait(self, timeout: float = 2.0):
        """Blocking: used when the add-on unregisters or a file is loaded."""
        job = self.job
        if job is not None:
            job.cancel(timeout=timeout)
            self._end_progress()
            self.job = None
        self.capture_cancel = self.capture_busy

    def _scene(self):
        import bpy
        return bpy.data.scenes.get(self.scene_name)

    def _end_progress(self):
        import bpy
        if self.progress_open and bpy.context.window_manager is not None:
            bpy.context.window_manager.progress_end()
        self.progress_open = False

    def _report(self, level: str, message: str):
        self.reports.append((level, message))
        if self._terminal is None:  # blocking: the operator that waited reports them itself
            report(level, message)

    def _update_preview(self):
        """Show the worker's newest training preview (WORKDIR/train_preview.png) when it changes."""
        if self.workdir is None:
            return
        from ...core.run.train_preview import PREVIEW_FILE
        path = Path(self.workdir) / PREVIEW_FILE
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return
        if mtime != self._preview_mtime:
            self._preview_mtime = mtime
            from .operators import load_preview
            load_preview(path)

    def poll(self) -> Optional[float]:
        """Advance the active job: the timer callback's body. Returns seconds
        until the next call, or None when there is nothing left to do."""
        import bpy
        job = self.job
        if job is None:
            return None
        running = job.poll()
        scene = self._scene()
        if scene is not None:
            apply_job_state(scene.alive, job, self.label)
        if self.progress_open and bpy.context.window_manager is not None:
            bpy.context.window_manager.progress_update(int(job.overall * 1000))
        self._update_preview()
        tag_redraw()
        if running:
            return 0.02 if job.cancelled else POLL_INTERVAL
        self.job = None
        self._end_progress()
        if job.returncode is not None and job.returncode < 0 and self.workdir is not None:
            remove_worker_temps(Path(self.workdir), job.pid)  # a killed worker may leave a temp file
        if self.keep_log and self.workdir is not None:
            job.write_log(Path(self.workdir) / "logs" / f"{self.label.lower().replace(' ', '_')}.log")
        for w in job.warnings:
            self._report("WARNING", w)
        if scene is None:
            self._report("ERROR", f"Alive {self.label}: the scene '{self.scene_name}' is gone")
            return None
        s = scene.alive
        if job.returncode != 0 and (job.cancelled or job.error_code == EXIT_CANCELLED):
            s.job_status = f"{self.label}: cancelled"
            how = "stopped" if job.returncode == EXIT_CANCELLED else "killed"
            self._report("WARNING", f"Alive {self.label}: cancelled (worker {how}; the last good checkpoint is kept)")
        elif job.error:
            s.job_status = f"{self.label} failed: {job.error}"[:200]
            self._report("ERROR", f"Alive {self.label} failed: {job.error}")
        else:
            try:
                text = self.on_success(scene, job) if self.on_success else f"{self.label}: done"
            except Exception as err:  # AliveError and anything the continuation hits: a report, not a crash
                s.job_status = f"{self.label} failed: {err}"[:200]
                self._report("ERROR", f"Alive {self.label} failed: {err}")
            else:
                s.job_status = text[:200]
                self._report("INFO", f"Alive: {text}")
        tag_redraw()
        return None


def apply_job_state(s, job: Job, label: str) -> None:
    """Job progress and metrics onto the scene's Alive fields (what the panel shows)."""
    s.job_progress = job.overall
    what = job.message or job.status
    s.job_status = f"{label}: {what}"[:200] if what else f"{label}: running"
    if "generator_loss" in job.metrics:
        s.train_loss = job.metrics["generator_loss"]
    if "generator_psnr" in job.metrics:
        s.train_psnr = job.metrics["generator_psnr"]


def remove_worker_temps(workdir: Path, pid: int) -> list[Path]:
    """Temp files of a killed worker (``atomic_path`` names them .NAME.tmp-PID-...):
    the final names were never written, so removing them leaves no trace."""
    import shutil
    removed = []
    for p in workdir.rglob(f".*.tmp-{pid}-*") if workdir.is_dir() else []:
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def tag_redraw():
    import bpy
    wm = bpy.context.window_manager
    for win in (wm.windows if wm else []):
        for area in win.screen.areas:
            if area.type in ("VIEW_3D", "IMAGE_EDITOR"):
                area.tag_redraw()


RUNNER = Runner()


def poll_active_job():
    """The ``bpy.app.timers`` callback (tests call it directly)."""
    return RUNNER.poll()
