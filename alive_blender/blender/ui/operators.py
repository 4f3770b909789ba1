"""Operators, one per stage in the order of the work, and Make Alive for all.

- Capture renders on the main thread. With a UI it is modal: one frame per
  timer event, progress in the panel and the status bar, Esc (or Cancel)
  stops it and restores the scene. From scripts and in background mode it
  renders blocking with progress lines on the terminal.
- Train (encode + train) and Rollout (rollout + decode + preview) run in a
  worker process (``jobs``): with a UI a timer polls it, Blender stays
  responsive; in background mode the same job runs blocking.
- Bake writes scene data on the main thread (undoable).
- Make Alive chains them: capture, one worker job for the rest, then the bake.

Operators called from Python default to blocking in background mode; the
hidden ``mode`` property forces either behaviour (scripts, tests).
"""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import EnumProperty, StringProperty

from ...core.errors import AliveError, Cancelled
from ...core.run.protocol import Reporter, TerminalSink
from ..bake.points import BakeSettings
from ..capture.render import CaptureSettings
from .jobs import RUNNER, Job, tag_redraw
from .preferences import device, encoder_spec, keep_logs, resolve_workdir
from .props import sample_control_curves

PREVIEW_IMAGE = "Alive Preview"
MODES = [("AUTO", "Auto", "Blocking in background mode, in the background with a UI"),
         ("BLOCKING", "Blocking", "Run to the end before returning"),
         ("ASYNC", "Background", "Start and return; a timer (or the caller) polls the job")]


# -- settings --------------------------------------------------------------------------------------------------

def rollout_settings(scene) -> dict:
    """The rollout stage's settings from the scene. Animated controls
    (temperature, anchor, steering) become per-step lists sampled from their
    F-curves at the frames the steps are baked to; constant ones stay scalars."""
    s = scene.alive
    steps = s.rollout_frames - 1
    out = {"steps": steps, "count": 1, "seed": s.seed, "loop": s.loop,
           "prompt": s.prompt, "negative_prompt": s.negative_prompt}
    bake_start = scene.frame_start
    for key, values in sample_control_curves(scene, bake_start + 1, steps).items():
        out[key] = [round(float(v), 6) for v in values] if values.size and values.min() != values.max() \
            else round(float(values[0] if values.size else getattr(s, key)), 6)
    return out


def generator_settings(s) -> dict:
    cfg = {"arch": s.generator, "steps": s.generator_steps, "seconds": s.generator_seconds, "seed": s.seed}
    # width is the SIREN layer width of film-siren / original-siren; grid-siren sizes itself from the resolution
    if s.generator != "grid-siren":
        cfg["hidden"] = s.generator_width
    return cfg


def output_size(s) -> tuple[int, int]:
    """The panel's output size, (0, 0) when unset (output = training size)."""
    return (s.output_width, s.output_height) if s.output_width and s.output_height else (0, 0)


def run_settings(scene):
    from ..pipeline import RunSettings
    s = scene.alive
    out_w, out_h = output_size(s)
    return RunSettings(
        capture=CaptureSettings(camera=s.camera.name if s.camera else "",
                                frame_start=None if s.use_scene_range else s.frame_start,
                                frame_end=None if s.use_scene_range else s.frame_end,
                                width=out_w or s.width, height=out_h or s.height, engine=s.engine,
                                samples=s.samples),
        working_size=(s.width, s.height) if out_w else (0, 0),
        encoder=encoder_spec(),
        generator=generator_settings(s),
        behavior={"arch": s.behavior, "epochs": s.behavior_epochs, "seed": s.seed},
        rollout=rollout_settings(scene),
        bake=BakeSettings(name=s.bake_name, start=scene.frame_start, points=s.bake_points, texture=s.bake_texture,
                          width=out_w, height=out_h, point_density=s.point_density),
        device=device())


def stage_state(scene) -> dict:
    """What the scene's work folder already holds (drives the poll functions)."""
    wd = resolve_workdir(scene)
    return {"workdir": wd, "capture": (wd / "capture" / "meta.json").exists(),
            "model": (wd / "model" / "manifest.json").exists(),
            "decoded": (wd / "decoded" / "rgb.npy").exists()}


def _blend_dir(workdir: Path) -> Path:
    return Path(bpy.path.abspath("//")) if bpy.data.filepath else workdir


# -- poll helpers ----------------------------------------------------------------------------------------------

def _camera_reason(scene) -> str:
    s = scene.alive
    if s.camera is None and scene.camera is None:
        return "The scene has no active camera: add one (or pick a camera in the Alive panel)"
    return ""


def _busy_reason() -> str:
    return "An Alive job is running: wait for it or cancel it" if RUNNER.busy else ""


def _poll(cls, context, *checks) -> bool:
    if context.scene is None or not hasattr(context.scene, "alive"):
        cls.poll_message_set("No scene")
        return False
    for check in checks:
        reason = check(context.scene)
        if reason:
            cls.poll_message_set(reason)
            return False
    return True


def _needs(what: str, message: str):
    def check(scene):
        try:
            return "" if stage_state(scene)[what] else message
        except (AliveError, OSError, ValueError):
            return message
    return check


_NEEDS_CAPTURE = _needs("capture", "Nothing captured yet: run Capture first")
_NEEDS_MODEL = _needs("model", "No trained model yet: run Train first")
_NEEDS_DECODED = _needs("decoded", "No rolled-out frames yet: run Rollout first")


def _blocking(op) -> bool:
    return op.mode == "BLOCKING" or (op.mode == "AUTO" and bpy.app.background)


def _report_all(op, reports) -> set:
    """Reports gathered by a blocking job, as this operator's reports."""
    status = {"FINISHED"}
    for level, text in reports:
        op.report({level}, text)
        if level == "ERROR":
            status = {"CANCELLED"}
    return status


# -- continuations on the main thread after a worker finished ------------------------------------------------

def load_preview(path: Path):
    """Show ``path`` as the image PREVIEW_IMAGE (reloaded when it changes), also in
    any Image Editor that shows it or nothing."""
    path = Path(path)
    if not path.exists():
        return None
    img = bpy.data.images.get(PREVIEW_IMAGE)
    if img is None:
        img = bpy.data.images.load(str(path), check_existing=False)
        img.name = PREVIEW_IMAGE
    else:
        img.filepath = str(path)
        img.reload()
    wm = bpy.context.window_manager
    for win in (wm.windows if wm else []):
        for area in win.screen.areas:
            if area.type == "IMAGE_EDITOR" and area.spaces.active.image in (None, img):
                area.spaces.active.image = img
    if not bpy.app.background:
        img.preview_ensure()
        img.preview.reload()  # the panel's thumbnail follows the new pixels
    return img


def _after_train(scene, job) -> str:
    res = (job.result or [{}])[-1]
    if "train_psnr" in res:
        scene.alive.train_psnr = res["train_psnr"]
    return f"trained '{res.get('generator', '?')}' + '{res.get('behavior', '?')}' " \
           f"(PSNR {res.get('train_psnr', float('nan')):.1f} dB)"


def _after_rollout(scene, job) -> str:
    res = job.result or []
    load_preview(Path(res[-1]["preview"]) if res and "preview" in res[-1] else resolve_workdir(scene) / "preview.png")
    frames = next((r["frames"] for r in res if isinstance(r, dict) and "frames" in r), "?")
    return f"rolled out {frames} frames (see the image '{PREVIEW_IMAGE}')"


def _bake(scene, workdir: Path, reporter=None) -> dict:
    from ..bake.from_workdir import bake_from_workdir
    settings = run_settings(scene)
    return bake_from_workdir(scene, workdir, settings.bake, blend_dir=_blend_dir(workdir), device=settings.device,
                             reporter=reporter, decoded_dir=Path(workdir) / "decoded")


def _after_all(scene, job) -> str:
    for r in job.result or []:
        if isinstance(r, dict) and "train_psnr" in r:
            scene.alive.train_psnr = r["train_psnr"]
    _after_rollout(scene, job)
    res = _bake(scene, RUNNER.workdir)
    if not bpy.app.background:
        try:
            bpy.ops.ed.undo_push(message="Alive Bake")
        except RuntimeError:
            pass
    return f"baked '{res['name']}' (frames {res['frames'][0]}-{res['frames'][1]})"


def _start_worker(op, context, which: str, label: str, on_success) -> set:
    from ..pipeline import worker_job
    scene = context.scene
    try:
        settings = run_settings(scene)
        workdir = resolve_workdir(scene)
        job = Job(worker_job(workdir, settings, which))
        final = RUNNER.start(job, scene, label, workdir, on_success, blocking=_blocking(op), keep_log=keep_logs())
    except AliveError as err:
        op.report({"ERROR"}, str(err))
        return {"CANCELLED"}
    if final is not None:  # blocking: the job has ended
        return _report_all(op, RUNNER.reports[-(len(job.warnings) + 1):])
    op.report({"INFO"}, f"Alive: {label.lower()} running in the background (see the Alive panel; Cancel stops it)")
    return {"FINISHED"}


# -- capture (main thread) -------------------------------------------------------------------------------------

class _CaptureMixin:
    """Blocking capture in ``execute``; modal capture (one frame per timer event) in ``invoke``."""

    mode: EnumProperty(name="Mode", items=MODES, default="AUTO", options={"HIDDEN", "SKIP_SAVE"},
                       description="Whether to run blocking or in the background")

    def _prepare(self, context):
        from ..pipeline import validate
        scene = context.scene
        settings = run_settings(scene)
        workdir = resolve_workdir(scene)
        validate(scene, workdir, settings)
        return scene, settings, workdir

    def _capture_blocking(self, context):
        from ..capture.render import capture
        scene, settings, workdir = self._prepare(context)
        sink = TerminalSink()
        rep = Reporter(lambda m: (sink(m), _show_progress(scene, "Capture", m)))
        RUNNER.capture_busy = True
        try:
            return scene, settings, workdir, capture(scene, workdir, settings.capture, rep)
        finally:
            RUNNER.capture_busy = False

    def _start_modal(self, context):
        from ..capture.render import capture_steps
        try:
            scene, settings, workdir = self._prepare(context)
        except AliveError as err:
            self.report({"ERROR"}, str(err))
            return {"CANCELLED"}
        self._scene, self._settings, self._workdir = scene, settings, workdir
        RUNNER.capture_busy, RUNNER.capture_cancel = True, False
        rep = Reporter(lambda m: _show_progress(scene, "Capture", m), lambda: RUNNER.capture_cancel)
        self._steps = capture_steps(scene, workdir, settings.capture, rep)
        wm = context.window_manager
        wm.progress_begin(0, 1000)
        self._timer = wm.event_timer_add(0.01, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def _end_modal(self, context):
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        RUNNER.capture_busy = RUNNER.capture_cancel = False
        tag_redraw()

    def modal(self, context, event):
        if event.type == "ESC" or RUNNER.capture_cancel:
            self._steps.close()  # restores the scene's settings, leaves nothing behind
            self._end_modal(context)
            self._scene.alive.job_status = "Capture: cancelled"
            self.report({"WARNING"}, "Alive capture cancelled")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        try:
            next(self._steps)
        except StopIteration as done:
            self._end_modal(context)
            return self._captured(context, done.value)
        except (AliveError, Cancelled) as err:
            self._end_modal(context)
            self._scene.alive.job_status = f"Capture failed: {err}"[:200]
            self.report({"ERROR"}, f"Alive capture failed: {err}")
            return {"CANCELLED"}
        return {"RUNNING_MODAL"}

    def _captured(self, context, summary: dict) -> set:
        self._scene.alive.job_status = f"Captured {summary['samples']} frames"
        self.report({"INFO"}, f"Alive: captured {summary['samples']} frames at "
                              f"{summary['width']}x{summary['height']} from '{summary['camera']}'")
        return {"FINISHED"}


def _show_progress(scene, label: str, msg: dict):
    s = scene.alive
    if msg["type"] == "progress":
        s.job_progress = msg["fraction"]
        s.job_status = f"{label}: {msg.get('message', '')}"[:200]
        wm = bpy.context.window_manager
        if wm is not None:
            wm.progress_update(int(msg["fraction"] * 1000))
        tag_redraw()
    elif msg["type"] == "status":
        s.job_status = f"{label}: {msg['message']}"[:200]


class ALIVE_OT_capture(_CaptureMixin, bpy.types.Operator):
    bl_idname = "alive.capture"
    bl_label = "Capture"
    bl_description = "Render the camera's frames (with depth) into the work folder. Esc cancels"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return _poll(cls, context, lambda s: _busy_reason(), _camera_reason)

    def invoke(self, context, event):
        if _blocking(self) or bpy.app.background:  # modal operators never run without a UI
            return self.execute(context)
        return self._start_modal(context)

    def execute(self, context):
        try:
            _, _, _, summary = self._capture_blocking(context)
        except (AliveError, Cancelled) as err:
            self.report({"ERROR"}, f"Alive capture failed: {err}")
            return {"CANCELLED"}
        self._scene = context.scene
        return self._captured(context, summary)


# -- worker stages ---------------------------------------------------------------------------------------------

class _WorkerMixin:
    mode: EnumProperty(name="Mode", items=MODES, default="AUTO", options={"HIDDEN", "SKIP_SAVE"},
                       description="Whether to run blocking or in the background")


class ALIVE_OT_train(_WorkerMixin, bpy.types.Operator):
    bl_idname = "alive.train"
    bl_label = "Train"
    bl_description = "Encode the captured frames and train the generator and behavior models (in a worker process)"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return _poll(cls, context, lambda s: _busy_reason(), _NEEDS_CAPTURE)

    def execute(self, context):
        return _start_worker(self, context, "train", "Train", _after_train)


class ALIVE_OT_rollout(_WorkerMixin, bpy.types.Operator):
    bl_idname = "alive.rollout"
    bl_label = "Roll Out"
    bl_description = "Invent new frames with the trained models and decode them (in a worker process)"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return _poll(cls, context, lambda s: _busy_reason(), _NEEDS_MODEL)

    def execute(self, context):
        return _start_worker(self, context, "rollout", "Rollout", _after_rollout)


class ALIVE_OT_bake(bpy.types.Operator):
    bl_idname = "alive.bake"
    bl_label = "Bake"
    bl_description = "Bake the rolled-out frames into the scene as a point cloud and an image card"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return _poll(cls, context, lambda s: _busy_reason(), _NEEDS_DECODED)

    def execute(self, context):
        scene = context.scene
        wm = context.window_manager
        wm.progress_begin(0, 1000)
        try:
            res = _bake(scene, resolve_workdir(scene), Reporter(lambda m: _show_progress(scene, "Bake", m)))
        except AliveError as err:
            self.report({"ERROR"}, f"Alive bake failed: {err}")
            return {"CANCELLED"}
        finally:
            wm.progress_end()
        scene.alive.job_status = f"Baked '{res['name']}'"
        self.report({"INFO"}, f"Alive: baked '{res['name']}' (frames {res['frames'][0]}-{res['frames'][1]})")
        return {"FINISHED"}


class ALIVE_OT_make_alive(_CaptureMixin, bpy.types.Operator):
    bl_idname = "alive.make_alive"
    bl_label = "Make Alive"
    bl_description = "Capture the camera's frames, train the models, invent new frames and bake them into the scene"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return _poll(cls, context, lambda s: _busy_reason(), _camera_reason)

    def invoke(self, context, event):
        if _blocking(self) or bpy.app.background:
            return self.execute(context)
        return self._start_modal(context)

    def execute(self, context):
        # capture blocking; the rest blocking too, or in a worker when mode is ASYNC
        try:
            self._capture_blocking(context)
        except (AliveError, Cancelled) as err:
            self.report({"ERROR"}, f"Alive capture failed: {err}")
            return {"CANCELLED"}
        return _start_worker(self, context, "all", "Make Alive", _after_all)

    def _captured(self, context, summary):  # modal capture done: the rest in a worker
        return _start_worker(self, context, "all", "Make Alive", _after_all)


class ALIVE_OT_cancel(bpy.types.Operator):
    bl_idname = "alive.cancel"
    bl_label = "Cancel"
    bl_description = "Stop the running Alive job (training keeps its last good checkpoint)"

    @classmethod
    def poll(cls, context):
        if not RUNNER.busy:
            cls.poll_message_set("No Alive job is running")
            return False
        return True

    def execute(self, context):
        label = RUNNER.label if RUNNER.job is not None else "capture"
        RUNNER.cancel()
        self.report({"INFO"}, f"Alive: cancelling {label.lower()}")
        return {"FINISHED"}


class ALIVE_OT_report(bpy.types.Operator):
    """Reports from outside an operator (the job timer) reach the status bar this way."""
    bl_idname = "alive.report"
    bl_label = "Alive Report"
    bl_description = "Show a message from an Alive job"
    bl_options = {"INTERNAL"}

    level: EnumProperty(name="Level", items=[("INFO", "Info", "Information"), ("WARNING", "Warning", "Warning"),
                                             ("ERROR", "Error", "Error")], default="INFO",
                        description="Kind of message")
    message: StringProperty(name="Message", default="", description="Text of the message")

    def execute(self, context):
        self.report({self.level}, self.message)
        return {"FINISHED"}


class ALIVE_OT_show_preview(bpy.types.Operator):
    bl_idname = "alive.show_preview"
    bl_label = "Show Preview"
    bl_description = "Show the latest preview (training frame or captured vs. rolled-out frames) in an Image Editor"

    @classmethod
    def poll(cls, context):
        if bpy.data.images.get(PREVIEW_IMAGE) is None:
            cls.poll_message_set("No preview yet: train or roll out first")
            return False
        return True

    def execute(self, context):
        img = bpy.data.images[PREVIEW_IMAGE]
        screen = context.screen
        areas = [a for a in (screen.areas if screen else []) if a.type == "IMAGE_EDITOR"]
        if not areas and not bpy.app.background and context.window is not None:
            try:  # a new window showing an Image Editor
                bpy.ops.wm.window_new()
                win = context.window_manager.windows[-1]
                areas = list(win.screen.areas[:1])
                areas[0].type = "IMAGE_EDITOR"
            except (RuntimeError, IndexError):
                areas = []
        for area in areas:
            area.spaces.active.image = img
        where = "an Image Editor" if areas else "the image list (open an Image Editor to see it)"
        self.report({"INFO"}, f"Alive: preview '{img.name}' ({img.size[0]}x{img.size[1]}) in {where}")
        return {"FINISHED"}


def cancel_all():
    """Stop whatever runs (unregister, file load): blocking, the worker killed if slow."""
    RUNNER.cancel_and_wait(timeout=2.0)
    from .jobs import poll_active_job
    if bpy.app.timers.is_registered(poll_active_job):
        bpy.app.timers.unregister(poll_active_job)


CLASSES = (ALIVE_OT_capture, ALIVE_OT_train, ALIVE_OT_rollout, ALIVE_OT_bake, ALIVE_OT_make_alive,
           ALIVE_OT_cancel, ALIVE_OT_report, ALIVE_OT_show_preview)
