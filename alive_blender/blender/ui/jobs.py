"""Running bpy-free stages in a worker process without freezing Blender.

A ``Job`` (core/run/worker_process.py, here with the interpreter the
preferences name) starts ``python -m alive_blender.core.run.worker`` with a
JSON job description and reads its protocol lines on threads. The ``Runner`` owns the
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

import time
from pathlib import Path
from typing import Callable, Optional

from ...core.errors import AliveError
from ...core.run.protocol import TerminalSink
from ...core.run.worker_process import (EXIT_CANCELLED, KILL_AFTER, PACKAGE_NAME, PACKAGE_PARENT,  # noqa: F401
                                        WorkerProcess, worker_env)
from ...core.run.train_preview import PREVIEW_FILE
from .preferences import get_prefs, worker_python  # noqa: F401  (worker_python: re-exported)
from .previews import load_preview

POLL_INTERVAL = 0.25      # timer interval while a job runs


class Job(WorkerProcess):
    """A worker process with the interpreter the add-on preferences name."""

    def __init__(self, job: dict, python: Optional[str] = None, on_message: Optional[Callable[[dict], None]] = None,
                 **kwargs):
        super().__init__(job, python or worker_python(), on_message, **kwargs)


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
            raise AliveError("an Alive job is already running", "wait for it or cancel it")
        self.scene_name, self.label, self.on_success, self.workdir = scene.name, label, on_success, workdir
        self.keep_log = keep_log
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
        path = Path(self.workdir) / PREVIEW_FILE
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return
        if mtime != self._preview_mtime:
            self._preview_mtime = mtime
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
