"""Capture: render the active (or a named) camera's frames into WORKDIR/capture.

Renders each sample to a multilayer EXR in a temporary folder (Combined +
planar Z), converts Combined from linear to sRGB (the 'Standard' view
transform), masks the background (Cycles/Workbench write 1e10, EEVEE about
clip_end) and records the camera's intrinsics and pose at that exact
(sub)frame. Every render setting touched is restored afterwards, also after
an error or a cancel; the user's output path and file format stay as they were.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import bpy
import numpy as np

from ..core.artifacts import CAPTURE, WorkDir, atomic_path, content_key, ensure_writable_dir
from ..core.camera import CameraParams, intrinsics, strip_scale
from ..core.dataset import sample_name, write_meta, write_sample
from ..core.errors import AliveError
from ..core.protocol import Reporter

ENGINES = {"CYCLES": "CYCLES", "WORKBENCH": "BLENDER_WORKBENCH", "BLENDER_WORKBENCH": "BLENDER_WORKBENCH",
           "EEVEE": "BLENDER_EEVEE", "BLENDER_EEVEE": "BLENDER_EEVEE", "SCENE": ""}


@dataclass
class CaptureSettings:
    camera: str = ""                 # object name; "" = the scene's active camera
    frame_start: Optional[int] = None
    frame_end: Optional[int] = None
    step: int = 1
    subframes: int = 0               # extra renders between frames
    width: int = 0                   # 0 = from percent of the scene's resolution
    height: int = 0
    percent: int = 0                 # 0 = 100 when width/height are 0
    engine: str = "CYCLES"           # CYCLES | WORKBENCH | EEVEE | SCENE (keep the scene's)
    samples: int = 8
    denoise: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def _oiio():
    try:
        import OpenImageIO as oiio
    except ImportError:
        # OpenImageIO ships inside the bpy wheel / Blender's bundled Python
        sys.path.append(os.path.join(bpy.utils.resource_path("LOCAL"), "python", "lib",
                                     f"python{sys.version_info.major}.{sys.version_info.minor}", "site-packages"))
        import OpenImageIO as oiio
    return oiio


def read_multilayer_exr(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(rgba linear float32 HxWx4, depth float32 HxW), rows top-down."""
    oiio = _oiio()
    inp = oiio.ImageInput.open(path)
    if inp is None:
        raise AliveError(f"render output could not be read: {path}", "check disk space and the render engine")
    rgba = depth = None
    try:
        i = 0
        while inp.seek_subimage(i, 0):
            spec = inp.spec()
            names = list(spec.channelnames)
            # the explicit subimage form: the short form reads part 0 whatever seek_subimage chose
            pixels = inp.read_image(i, 0, 0, spec.nchannels, "float")
            pixels = np.asarray(pixels, np.float32).reshape(spec.height, spec.width, spec.nchannels)
            for c, name in enumerate(names):
                if name.endswith("Depth.Z"):
                    depth = pixels[..., c].copy()
            if any(n.endswith("Combined.R") for n in names):
                order = [names.index(n) for n in names if n.split(".")[-2:-1] == ["Combined"]]
                rgba = pixels[..., order]
            i += 1
    finally:
        inp.close()
    if rgba is None or depth is None:
        raise AliveError(f"render output lacks the Combined or Depth pass: {path}", "re-run the capture")
    return rgba, depth


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def resolve_camera(scene, name: str = ""):
    if name:
        obj = scene.objects.get(name) or bpy.data.objects.get(name)
        if obj is None:
            raise AliveError(f"camera '{name}' not found in scene '{scene.name}'", "give the name of a camera object")
    else:
        obj = scene.camera
        if obj is None:
            raise AliveError(f"scene '{scene.name}' has no active camera",
                             "add a camera and make it active (Ctrl+Numpad0), or name one with --camera")
    if obj.type != "CAMERA":
        raise AliveError(f"'{obj.name}' is a {obj.type.lower()}, not a camera", "pick a camera object")
    if obj.data.type != "PERSP":
        raise AliveError(f"camera '{obj.name}' is {obj.data.type.lower()}; only perspective cameras are supported",
                         "switch the camera to Perspective")
    return obj


def frame_samples(scene, s: CaptureSettings) -> list[tuple[int, float]]:
    start = scene.frame_start if s.frame_start is None else int(s.frame_start)
    end = scene.frame_end if s.frame_end is None else int(s.frame_end)
    if s.step < 1:
        raise AliveError(f"frame step must be at least 1, got {s.step}", "use --step 1 or more")
    if end < start:
        raise AliveError(f"empty frame range {start}-{end}", "give a range whose end is not before its start")
    frames = list(range(start, end + 1, s.step))
    out = []
    for i, f in enumerate(frames):
        out.append((f, 0.0))
        if s.subframes and i + 1 < len(frames):
            for k in range(1, s.subframes + 1):
                out.append((f, k * s.step / (s.subframes + 1)))
    return out


def resolution(scene, s: CaptureSettings) -> tuple[int, int]:
    r = scene.render
    if s.width and s.height:
        return int(s.width), int(s.height)
    pct = s.percent or 100
    return max(1, r.resolution_x * pct // 100), max(1, r.resolution_y * pct // 100)


def camera_params(scene, cam_obj, width: int, height: int) -> CameraParams:
    c = cam_obj.data
    r = scene.render
    return CameraParams(lens=c.lens, sensor_width=c.sensor_width, sensor_height=c.sensor_height,
                        sensor_fit=c.sensor_fit, shift_x=c.shift_x, shift_y=c.shift_y,
                        width=width, height=height, pixel_aspect_x=r.pixel_aspect_x,
                        pixel_aspect_y=r.pixel_aspect_y, clip_start=c.clip_start, clip_end=c.clip_end)


# every render setting capture touches, as (owner getter, attribute)
def _touched(scene):
    r = scene.render
    return [(r, "engine"), (r, "resolution_x"), (r, "resolution_y"), (r, "resolution_percentage"),
            (r, "filepath"), (r, "use_file_extension"),
            (r.image_settings, "media_type"), (r.image_settings, "file_format"),
            (r.image_settings, "color_depth"), (r.image_settings, "exr_codec"),
            (scene.view_settings, "view_transform"), (scene.view_settings, "look"),
            (scene.cycles, "samples"), (scene.cycles, "use_denoising"), (scene.cycles, "device"),
            (scene, "camera")] + [(vl, "use_pass_z") for vl in scene.view_layers]


@contextlib.contextmanager
def render_overrides(scene):
    """Remember every touched setting and the current frame; restore them all."""
    saved = []
    for owner, attr in _touched(scene):
        try:
            saved.append((owner, attr, getattr(owner, attr)))
        except AttributeError:
            pass
    frame, subframe = scene.frame_current, scene.frame_subframe
    try:
        yield
    finally:
        # restore in order: media_type before file_format (file_format must be valid for the media type)
        for owner, attr, value in saved:
            try:
                setattr(owner, attr, value)
            except (TypeError, AttributeError, ValueError):
                pass
        scene.frame_set(frame, subframe=subframe)


def scene_state_key(scene, cam_obj, frame: int, subframe: float) -> str:
    """Content key of what a render of this sample depends on that we can cheaply
    read: every object's evaluated transform and data name, materials, world.
    (Conservative where it matters: the camera's settings and pose are exact.)"""
    parts = []
    for obj in sorted(scene.objects, key=lambda o: o.name):
        if obj.hide_render:
            continue
        m = np.array(obj.matrix_world, np.float64).round(6).tolist()
        parts.append([obj.name, obj.type, obj.data.name if obj.data else "", m])
    return content_key(parts, frame, subframe)


def capture(scene, workdir, settings: CaptureSettings, reporter: Optional[Reporter] = None,
            force: bool = False) -> dict:
    """Render and store the training set; returns a summary."""
    steps = capture_steps(scene, workdir, settings, reporter, force)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def capture_steps(scene, workdir, settings: CaptureSettings, reporter: Optional[Reporter] = None,
                  force: bool = False):
    """``capture`` as a generator that yields after each rendered sample, so
    the add-on's modal operator can render one frame per UI event (progress
    and Esc between frames). Closing it early cancels: settings are restored
    and nothing is left in the work directory. Returns the summary."""
    reporter = reporter or Reporter()
    cam_obj = resolve_camera(scene, settings.camera)
    samples = frame_samples(scene, settings)
    engine = ENGINES.get(settings.engine.upper()) if settings.engine else ""
    if engine is None:
        raise AliveError(f"unknown render engine '{settings.engine}'", "use CYCLES, WORKBENCH, EEVEE or SCENE")
    wd = WorkDir(ensure_writable_dir(workdir, "work directory"))
    width, height = resolution(scene, settings)
    cap_dir = wd / CAPTURE

    reporter.status(f"capture: {len(samples)} samples from '{cam_obj.name}' at {width}x{height} "
                    f"({engine or scene.render.engine})")
    records = []
    tmp_render = Path(tempfile.mkdtemp(prefix="alive-render-"))
    staged = cap_dir.parent / f".capture.tmp-{os.getpid()}"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    try:
        with render_overrides(scene):
            r = scene.render
            if engine:
                r.engine = engine
            scene.camera = cam_obj
            r.resolution_x, r.resolution_y, r.resolution_percentage = width, height, 100
            r.use_file_extension = True
            r.image_settings.media_type = "MULTI_LAYER_IMAGE"
            r.image_settings.file_format = "OPEN_EXR_MULTILAYER"
            r.image_settings.color_depth = "32"
            r.image_settings.exr_codec = "ZIP"
            scene.view_settings.view_transform = "Standard"
            scene.view_settings.look = "None"
            for vl in scene.view_layers:
                vl.use_pass_z = True
            if r.engine == "CYCLES":
                scene.cycles.samples = max(1, settings.samples)
                scene.cycles.use_denoising = settings.denoise
                scene.cycles.device = "CPU"
            for i, (frame, sub) in enumerate(samples):
                reporter.check_cancel()
                scene.frame_set(frame, subframe=sub)
                params = camera_params(scene, cam_obj, width, height)
                K = intrinsics(params)
                world_from_camera = strip_scale(np.array(cam_obj.matrix_world))
                r.filepath = str(tmp_render / f"s{i:06d}.exr")
                bpy.ops.render.render(write_still=True, scene=scene.name)
                rgba, z = read_multilayer_exr(r.filepath)
                background = (z >= 0.99 * params.clip_end) | (z >= 1e9) | ~np.isfinite(z)
                depth = np.where(background, np.inf, z).astype(np.float32)
                alpha = (~background).astype(np.float32)
                rgb8 = (linear_to_srgb(rgba[..., :3]) * 255.0 + 0.5).astype(np.uint8)
                name = sample_name(i + 1)
                write_sample(staged, name, rgb8, depth, alpha)
                records.append({"file": f"{name}.npz", "image": f"{name}.png", "frame": frame,
                                "subframe": sub, "K": K.tolist(), "world_from_camera": world_from_camera.tolist(),
                                "camera": params.to_dict(),
                                "key": scene_state_key(scene, cam_obj, frame, sub)})
                reporter.progress((i + 1) / len(samples), f"frame {frame}{'+%.2f' % sub if sub else ''}")
                yield i + 1
            used_engine = r.engine
        meta = {"format": 1, "source": "render", "scene": scene.name, "camera": cam_obj.name,
                "blender_version": bpy.app.version_string, "engine": used_engine,
                "view_transform": "Standard (sRGB transfer on linear Combined)",
                "width": width, "height": height, "has_depth": True, "settings": settings.to_dict(),
                "samples": records}
        meta["key"] = content_key(settings.to_dict(), used_engine, [s["key"] for s in records], width, height)
        write_meta(staged, meta)
        with atomic_path(cap_dir) as final_tmp:
            os.replace(staged, final_tmp)
        wd.mark_done("capture", meta["key"], samples=len(records))
    finally:
        shutil.rmtree(tmp_render, ignore_errors=True)
        shutil.rmtree(staged, ignore_errors=True)
    return {"samples": len(records), "width": width, "height": height, "engine": used_engine,
            "camera": cam_obj.name, "dir": str(cap_dir)}
