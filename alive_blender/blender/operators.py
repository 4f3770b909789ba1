"""Operators: Make Alive (every stage) and Cancel.

In background mode (``blender -b``, tests) Make Alive runs the stages
blocking. With a UI, capture renders on the main thread, then encoding,
training, rollout and decoding run in a worker process polled by a timer
(Blender stays responsive; the panel shows progress; Cancel stops it), and
the bake happens on the main thread when the worker is done.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import bpy
import numpy as np

from ..core.errors import AliveError, Cancelled
from ..core.protocol import Reporter
from .bake import BakeSettings
from .capture import CaptureSettings
from .jobs import Job

_ACTIVE = {"job": None, "scene": None, "workdir": None}


def resolve_workdir(context) -> Path:
    s = context.scene.alive
    if s.workdir:
        return Path(bpy.path.abspath(s.workdir))
    scene_part = bpy.path.clean_name(context.scene.name)
    if bpy.data.filepath:
        stem = Path(bpy.data.filepath).stem
        return Path(bpy.path.abspath(f"//alive_{stem}")) / scene_part
    from .preferences import get_prefs
    prefs = get_prefs()
    if prefs is not None and prefs.workdir:
        return Path(bpy.path.abspath(prefs.workdir)) / scene_part
    try:
        return Path(bpy.utils.extension_path_user(__package__.rsplit(".", 1)[0], path="work", create=True)) / scene_part
    except (ValueError, AttributeError):  # not running as an installed extension
        return Path(tempfile.gettempdir()) / "alive_blender" / scene_part


def run_settings(context):
    from ..core.encode import EncoderSpec
    from .pipeline import RunSettings
    from .preferences import get_prefs
    s = context.scene.alive
    prefs = get_prefs()
    encoder = EncoderSpec()
    device = "auto"
    if prefs is not None:
        device = prefs.device
        if prefs.clip_model:
            encoder = EncoderSpec(kind="open_clip", model=prefs.clip_model, pretrained=prefs.clip_pretrained,
                                  allow_download=bool(bpy.app.online_access))
    scene = context.scene
    return RunSettings(
        capture=CaptureSettings(camera=s.camera.name if s.camera else "",
                                frame_start=None if s.use_scene_range else s.frame_start,
                                frame_end=None if s.use_scene_range else s.frame_end,
                                width=s.width, height=s.height, engine=s.engine, samples=s.samples),
        encoder=encoder,
        generator={"arch": s.generator, "steps": s.generator_steps, "seconds": s.generator_seconds, "seed": s.seed},
        behavior={"arch": s.behavior, "epochs": s.behavior_epochs, "seed": s.seed},
        rollout={"steps": s.rollout_frames - 1, "count": 1, "seed": s.seed, "temperature": s.temperature,
                 "anchor": s.anchor},
        bake=BakeSettings(name=s.bake_name, start=scene.frame_start),
        device=device)


def _no_camera_reason(context) -> str:
    s = context.scene.alive
    if s.camera is None and context.scene.camera is None:
        return "The scene has no active camera: add one or pick a camera in the Alive panel"
    return ""


def _bake_from_workdir(scene, workdir: Path, bake_settings: BakeSettings, reporter) -> dict:
    from ..core.camera import scale_intrinsics
    from ..core.dataset import load_capture
    from .bake import bake
    decoded_dir = workdir / "decoded"
    decoded = {k: np.load(decoded_dir / f"{k}.npy") for k in ("rgb", "depth", "alpha")}
    cap = load_capture(workdir)
    ref = len(cap.samples) - 1
    K = scale_intrinsics(cap.K(ref), decoded["rgb"].shape[2] / cap.rgb.shape[2],
                         decoded["rgb"].shape[1] / cap.rgb.shape[1])
    blend_dir = Path(bpy.path.abspath("//")) if bpy.data.filepath else workdir
    return bake(scene, decoded, K, cap.world_from_camera(ref), bake_settings, blend_dir=blend_dir, reporter=reporter)


class ALIVE_OT_make_alive(bpy.types.Operator):
    bl_idname = "alive.make_alive"
    bl_label = "Make Alive"
    bl_description = "Capture the camera's frames, train the models, invent new frames and bake them into the scene"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        if _ACTIVE["job"] is not None:
            cls.poll_message_set("A job is already running: wait for it or cancel it")
            return False
        reason = _no_camera_reason(context)
        if reason:
            cls.poll_message_set(reason)
            return False
        return True

    def execute(self, context):
        settings = run_settings(context)
        workdir = resolve_workdir(context)
        scene = context.scene
        if bpy.app.background:
            from .pipeline import run_all
            try:
                result = run_all(scene, workdir, settings, Reporter(),
                                 blend_dir=Path(bpy.path.abspath("//")) if bpy.data.filepath else workdir)
            except (AliveError, Cancelled) as err:
                self.report({"ERROR"}, str(err))
                return {"CANCELLED"}
            self.report({"INFO"}, f"Alive: baked {result['bake']['name']} "
                                  f"({result['rollout']['shape'][1]} frames) from {workdir}")
            return {"FINISHED"}
        return self._start_ui(context, scene, workdir, settings)

    def _start_ui(self, context, scene, workdir, settings):
        from .capture import capture
        from .pipeline import validate
        wm = context.window_manager
        try:
            validate(scene, workdir, settings)
            wm.progress_begin(0, 100)
            rep = Reporter(lambda m: m["type"] == "progress" and wm.progress_update(int(m["fraction"] * 100)))
            capture(scene, workdir, settings.capture, rep)
        except (AliveError, Cancelled) as err:
            self.report({"ERROR"}, str(err))
            return {"CANCELLED"}
        finally:
            wm.progress_end()
        w = str(workdir)
        job = Job({"stage": "chain", "jobs": [
            {"stage": "encode", "workdir": w, "spec": settings.encoder.to_dict(), "device": settings.device},
            {"stage": "train", "workdir": w, "generator": settings.generator, "behavior": settings.behavior,
             "device": settings.device},
            {"stage": "rollout", "workdir": w, "settings": settings.rollout, "device": settings.device},
            {"stage": "decode_rollout", "workdir": w, "device": settings.device},
            {"stage": "preview", "workdir": w}]}).start()
        _ACTIVE.update(job=job, scene=scene.name, workdir=workdir, bake=settings.bake)
        bpy.app.timers.register(poll_active_job, first_interval=0.25)
        self.report({"INFO"}, "Alive: training in the background (see the Alive panel)")
        return {"FINISHED"}


def poll_active_job():
    """Timer callback (and what tests call): advance the active job.
    Returns seconds until the next call, or None when done."""
    job = _ACTIVE["job"]
    if job is None:
        return None
    scene = bpy.data.scenes.get(_ACTIVE["scene"] or "")
    running = job.poll()
    if scene is not None:
        scene.alive.job_progress = job.fraction
        scene.alive.job_status = job.message or job.status
    for area in getattr(bpy.context.screen, "areas", []) if bpy.context.screen else []:
        if area.type == "VIEW_3D":
            area.tag_redraw()
    if running:
        return 0.25
    _ACTIVE["job"] = None
    if scene is None:
        return None
    if job.error:
        scene.alive.job_status = f"Error: {job.error}"
        _report_error(job.error)
    elif job.cancelled:
        scene.alive.job_status = "Cancelled"
    else:
        try:
            res = _bake_from_workdir(scene, _ACTIVE["workdir"], _ACTIVE["bake"], Reporter())
            scene.alive.job_status = f"Baked '{res['name']}'"
        except AliveError as err:
            scene.alive.job_status = f"Error: {err}"
            _report_error(str(err))
    return None


def _report_error(message: str):
    print(f"alive: error: {message}")


class ALIVE_OT_cancel(bpy.types.Operator):
    bl_idname = "alive.cancel"
    bl_label = "Cancel"
    bl_description = "Stop the running Alive job (training keeps its last checkpoint)"

    @classmethod
    def poll(cls, context):
        if _ACTIVE["job"] is None:
            cls.poll_message_set("No Alive job is running")
            return False
        return True

    def execute(self, context):
        job = _ACTIVE["job"]
        if job is not None:
            job.cancel()
        self.report({"INFO"}, "Alive: cancelled")
        return {"FINISHED"}


def cancel_all():
    job = _ACTIVE["job"]
    if job is not None:
        job.cancel(timeout=2.0)
    _ACTIVE["job"] = None
    if bpy.app.timers.is_registered(poll_active_job):
        bpy.app.timers.unregister(poll_active_job)


CLASSES = (ALIVE_OT_make_alive, ALIVE_OT_cancel)
