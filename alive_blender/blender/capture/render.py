"""Capture: render the active (or a named) camera's frames into WORKDIR/capture.

Each sample (a frame, or a subframe between two frames) is rendered once with
``bpy.ops.render.render``; a temporary compositor tree's File Output node
writes the Combined pass as an 8-bit sRGB PNG through Blender's own colour
management (view transform 'Standard', no look: plain sRGB) and the Z pass
as a single-channel 32-bit EXR. Single-layer files, because multilayer EXR
refuses non-square pixels. The background is masked from depth
(Cycles/Workbench write 1e10, EEVEE about clip_end) and the camera's
intrinsics and pose are read at that exact (sub)frame.

Object ids: every renderable object gets a temporary ``pass_index`` (1..M, by
name; restored afterwards) and each sample stores the Object Index pass as an
id image (uint16, 0 = nothing with an id) plus every such object's world
matrix, so later stages know what is where. Cycles writes the pass with the
frame; Workbench and EEVEE do not write it at all, so for them a second,
one-sample Cycles render of the same (sub)frame writes only the ids.

Every sample carries a content key over the render settings and the scene's
state at that (sub)frame (see scene_state.py); samples whose key is in the
previous capture are reused, not rendered. Every setting the capture changes
is restored afterwards, also after an error or a cancel; the user's output
path and file format are never touched (nothing writes the render result).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import bpy
import numpy as np

from ...core.workdir.artifacts import content_key
from ...core.camera import CameraParams, intrinsics, strip_scale
from ...core.workdir.capture_store import FORMAT, CaptureStore
from ...core.workdir.exr import read_plain_exr
from ...core.errors import AliveError
from ...core.run.protocol import Reporter
from ...core.settings import CaptureSettings, engine_name  # noqa: F401  (the schema's; re-exported)
from .. import compat
from . import object_relations, object_surfaces
from .deformation import deformation_record

# the schema's engine names (aliases resolved by core.settings.engine_name) -> Blender's
ENGINES = {"CYCLES": "CYCLES", "WORKBENCH": "BLENDER_WORKBENCH", "EEVEE": "BLENDER_EEVEE", "SCENE": ""}
VIEW_TRANSFORM = "Standard"
COLOUR = ("sRGB: Blender colour management, display 'sRGB', view transform 'Standard', look 'None', "
          "exposure 0, gamma 1, applied to the Combined pass before compositing")


def _oiio():
    try:
        import OpenImageIO as oiio
    except ImportError:
        # OpenImageIO ships inside the bpy wheel / Blender's bundled Python
        sys.path.append(os.path.join(bpy.utils.resource_path("LOCAL"), "python", "lib",
                                     f"python{sys.version_info.major}.{sys.version_info.minor}", "site-packages"))
        import OpenImageIO as oiio
    return oiio


def read_exr_channel(path) -> np.ndarray:
    """First channel of a single-layer EXR as float32 (H, W), rows top-down."""
    fast = read_plain_exr(path)
    if fast is not None:
        return fast
    oiio = _oiio()
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        raise AliveError(f"render output could not be read: {path}", "check disk space and the render engine")
    try:
        spec = inp.spec()
        pixels = inp.read_image(0, 0, 0, 1, "float")
    finally:
        inp.close()
    return np.asarray(pixels, np.float32).reshape(spec.height, spec.width)


def read_png_rgb(path) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB") if im.mode != "RGB" else im)


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
    """(frame, subframe) of every sample, in time order; extra samples only between captured frames."""
    return [(f, sub) for f, sub, _real in flagged_samples(scene, s)]


def flagged_samples(scene, s: CaptureSettings) -> list[tuple[int, float, bool]]:
    """(frame, subframe, is a captured frame) of every sample. With a step above 1 an
    in-between sample can land on a whole frame; it is still an in-between one."""
    start = scene.frame_start if s.frame_start is None else int(s.frame_start)
    end = scene.frame_end if s.frame_end is None else int(s.frame_end)
    if s.step < 1:
        raise AliveError(f"frame step must be at least 1, got {s.step}", "use --step 1 or more")
    if s.subframes < 0:
        raise AliveError(f"subframes must be 0 or more, got {s.subframes}", "use --subframes 0 or more")
    if end < start:
        raise AliveError(f"empty frame range {start}-{end} (the end is before the start)",
                         "give a range whose end is not before its start, e.g. 1-48")
    frames = list(range(start, end + 1, s.step))
    out = []
    for i, f in enumerate(frames):
        out.append((f, 0.0, True))
        if s.subframes and i + 1 < len(frames):
            for k in range(1, s.subframes + 1):
                # frame_set(f, subframe) takes a subframe in [0, 1): split the offset into whole + fraction
                t = k * s.step / (s.subframes + 1)
                out.append((f + int(t), round(t - int(t), 6), False))
    return out


def resolution(scene, s: CaptureSettings) -> tuple[int, int]:
    r = scene.render
    if (s.width or s.height) and not s.percent:
        if not (s.width > 0 and s.height > 0):
            raise AliveError(f"bad resolution {s.width}x{s.height}", "give both width and height, e.g. 128x96")
        return int(s.width), int(s.height)
    pct = s.percent or 100  # a percentage of the scene's resolution, when asked for
    if not 1 <= pct <= 1000:
        raise AliveError(f"bad resolution percentage {pct}", "use a percentage between 1 and 1000")
    return max(1, r.resolution_x * pct // 100), max(1, r.resolution_y * pct // 100)


def camera_params(scene, cam_obj, width: int, height: int) -> CameraParams:
    c = cam_obj.data
    r = scene.render
    return CameraParams(lens=c.lens, sensor_width=c.sensor_width, sensor_height=c.sensor_height,
                        sensor_fit=c.sensor_fit, shift_x=c.shift_x, shift_y=c.shift_y,
                        width=width, height=height, pixel_aspect_x=r.pixel_aspect_x,
                        pixel_aspect_y=r.pixel_aspect_y, clip_start=c.clip_start, clip_end=c.clip_end)


ID_TYPES = {"MESH", "CURVE", "CURVES", "SURFACE", "META", "FONT", "POINTCLOUD", "VOLUME", "GREASEPENCIL"}


def id_objects(scene) -> list:
    """The objects that get an id in the Object Index pass, in id order (1..M, by name)."""
    objs = [o for o in scene.objects if o.type in ID_TYPES]
    return sorted(objs, key=lambda o: o.name_full)[:65535]


def _touched(scene):
    """Every setting capture changes, as (owner, attribute)."""
    r = scene.render
    out = [(r, "engine"), (r, "resolution_x"), (r, "resolution_y"), (r, "resolution_percentage"),
           (r, "use_border"), (r, "use_compositing"), (r, "use_sequencer"), (r, "use_multiview"),
           (r, "dither_intensity"), (scene, "compositing_node_group"), (scene, "camera"),
           (scene.cycles, "samples"), (scene.cycles, "use_denoising"), (scene.cycles, "device"),
           (scene.cycles, "max_bounces"),
           (scene.eevee, "taa_render_samples")]
    out += [(o, "pass_index") for o in id_objects(scene)]
    out += [(vl, "use_pass_object_index") for vl in scene.view_layers]
    return out + [(vl, "use_pass_z") for vl in scene.view_layers] + [(vl, "use") for vl in scene.view_layers]


@contextlib.contextmanager
def render_overrides(scene):
    """Remember every touched setting, the current (sub)frame and which node
    groups exist; restore them all and delete what capture added."""
    saved = []
    for owner, attr in _touched(scene):
        try:
            saved.append((owner, attr, getattr(owner, attr)))
        except AttributeError:
            pass
    frame, subframe = scene.frame_current, scene.frame_subframe
    groups = set(bpy.data.node_groups)
    effects = compat.compositor_effects(scene)
    try:
        yield
    finally:
        for owner, attr, value in saved:
            try:
                if getattr(owner, attr) != value:
                    setattr(owner, attr, value)
            except (TypeError, AttributeError, ValueError):
                pass
        compat.remove_new_compositor_effects(scene, effects)
        for ng in [ng for ng in bpy.data.node_groups if ng not in groups]:
            for node in ng.nodes:
                if node.bl_idname == "CompositorNodeRLayers":
                    node.scene = None   # release the scene's user before the tree goes
            bpy.data.node_groups.remove(ng)
        scene.frame_set(frame, subframe=subframe)


def _output_tree(scene, stack: contextlib.ExitStack):
    """A compositor tree: Render Layers -> File Output (PNG sRGB 'rgb', EXR 'depth')."""
    ng = stack.enter_context(compat.capture_compositor(scene))
    rl = ng.nodes.new("CompositorNodeRLayers")
    if rl.scene != scene:
        rl.scene = scene
    rl.layer = scene.view_layers[0].name
    out = compat.new_file_output(ng)
    compat.file_output_add(out, "rgb", "RGBA")
    compat.file_output_add(out, "depth", "FLOAT")
    compat.file_output_add(out, "ids", "FLOAT")
    fmt = out.format
    compat.set_file_format(fmt, "PNG")
    fmt.color_mode, fmt.color_depth, fmt.compression = "RGB", "8", 0
    fmt.color_management = "OVERRIDE"
    fmt.display_settings.display_device = "sRGB"
    vs = fmt.view_settings
    vs.view_transform, vs.look, vs.exposure, vs.gamma, vs.use_curve_mapping = VIEW_TRANSFORM, "None", 0.0, 1.0, False
    for name in ("depth", "ids"):
        dfmt = compat.file_output_format(out, name)
        compat.set_file_format(dfmt, "OPEN_EXR")
        dfmt.color_depth, dfmt.exr_codec = "32", "NONE"
        compat.set_color_mode(dfmt, "BW", "RGB")
    if "Depth" not in rl.outputs:
        raise AliveError("the render layer has no Depth output", "enable the Z pass of the first view layer")
    ng.links.new(rl.outputs["Image"], out.inputs["rgb"])
    ng.links.new(rl.outputs["Depth"], out.inputs["depth"])
    _link_ids(out)
    return out


def _link_ids(out_node) -> None:
    """Render Layers' Object Index -> the File Output's ``ids`` (again, when it got dropped).

    The Render Layers node is the one feeding ``depth``: on 4.x the tree is the
    scene's own, whose (muted) Render Layers node comes first. Inputs are taken by
    position: 4.x renames them after the file names."""
    ng = out_node.id_data
    _rgb, depth, ids = out_node.inputs[:3]
    rl = depth.links[0].from_node
    sock = compat.render_layer_output(rl, "Object Index")
    if sock is not None and not (ids.is_linked and ids.links[0].from_socket == sock):
        ng.links.new(sock, ids)


def _apply_overrides(scene, cam_obj, engine: str, width: int, height: int, settings: CaptureSettings) -> None:
    r = scene.render
    if engine:
        r.engine = engine
    scene.camera = cam_obj
    r.resolution_x, r.resolution_y, r.resolution_percentage = width, height, 100
    r.use_border = False          # a render region would change what K means
    r.use_compositing = True      # the File Output node is how the passes are written
    r.use_sequencer = False       # render the 3D scene, not the sequencer's strips
    r.use_multiview = False
    r.dither_intensity = 0.0      # exact 8-bit sRGB, no noise
    for i, vl in enumerate(scene.view_layers):
        vl.use_pass_z = True
        vl.use_pass_object_index = i == 0
        vl.use = i == 0           # the first view layer is the one captured
    for index, obj in enumerate(id_objects(scene), 1):
        if obj.pass_index != index:
            obj.pass_index = index
    if r.engine == "CYCLES":
        if settings.samples > 0:
            scene.cycles.samples = settings.samples
        if settings.denoise is not None:
            scene.cycles.use_denoising = bool(settings.denoise)
        scene.cycles.device = "CPU"
    elif compat.is_eevee(r.engine) and settings.samples > 0:
        scene.eevee.taa_render_samples = settings.samples


def _render_identity(scene, settings: CaptureSettings, width: int, height: int) -> dict:
    """What, beyond the scene state, decides a render's pixels."""
    r = scene.render
    out = {"format": FORMAT, "engine": r.engine, "width": width, "height": height,
           "pixel_aspect": [r.pixel_aspect_x, r.pixel_aspect_y], "view_transform": VIEW_TRANSFORM,
           "ids": [o.name_full for o in id_objects(scene)]}
    if r.engine == "CYCLES":
        out.update(samples=scene.cycles.samples, denoise=scene.cycles.use_denoising)
    elif compat.is_eevee(r.engine):
        out.update(samples=scene.eevee.taa_render_samples)
    return out


def _render(what: str, hint: str) -> None:
    """One render through the output tree; Blender's error becomes a one-line AliveError."""
    try:
        bpy.ops.render.render(write_still=False)
    except RuntimeError as err:
        raise AliveError(f"rendering {what} failed: {str(err).strip().splitlines()[-1]}", hint) from None


def _render_ids(scene, out_node, folder: Path, stem: str, label: str) -> None:
    """The Object Index pass for an engine that does not write it: one Cycles sample of
    the same (sub)frame, through the same output tree; only its ``ids`` file is kept."""
    r = scene.render
    cy = scene.cycles
    engine, samples, denoise, bounces = r.engine, cy.samples, cy.use_denoising, cy.max_bounces
    r.engine = "CYCLES"
    # ids need no light: one sample, no bounces
    cy.samples, cy.use_denoising, cy.device, cy.max_bounces = 1, False, "CPU", 0
    _link_ids(out_node)   # the socket exists only while the engine writes the pass
    compat.file_output_target(out_node, folder, stem, ("rgb", "depth", "ids"))
    try:
        _render(f"the object ids of {label}", "check that the scene renders in Cycles")
    finally:
        r.engine = engine
        cy.samples, cy.use_denoising, cy.max_bounces = samples, denoise, bounces


def _store_render(store: CaptureStore, index: int, key: str, record: dict, png: Path, exr: Path,
                  clip_end: float, label: str, ids_exr: Optional[Path] = None) -> None:
    """Turn one render's files into a sample."""
    if not (png.is_file() and exr.is_file()):
        raise AliveError(f"rendering {label} wrote no output", "check disk space and the render engine")
    rgb = read_png_rgb(png)
    z = read_exr_channel(exr)
    exr.unlink()
    ids = None
    if ids_exr is not None:
        if not ids_exr.is_file():
            raise AliveError(f"rendering {label} wrote no object ids", "check disk space and the render engine")
        ids = np.clip(np.rint(read_exr_channel(ids_exr)), 0, 65535).astype(np.uint16)
        ids_exr.unlink()
    background = (z >= 0.99 * clip_end) | (z >= 1e9) | ~np.isfinite(z)
    depth = np.where(background, np.inf, z).astype(np.float32)
    alpha = (~background).astype(np.float32)
    store.add(index, key, record, rgb, depth, alpha, png=png, ids=ids)


ENGINE_LABELS = {"CYCLES": "Cycles", "BLENDER_EEVEE": "EEVEE", "BLENDER_EEVEE_NEXT": "EEVEE",
                 "BLENDER_WORKBENCH": "Workbench"}


def _announce_engine(scene, settings: CaptureSettings, engine: str, cam_obj, n: int, width: int, height: int,
                     reporter: Reporter) -> None:
    """Say up front which engine renders, how long that roughly takes and what the fast path is."""
    own = scene.render.engine
    used = engine or own
    label = ENGINE_LABELS.get(used, used)
    if used == "CYCLES" or compat.is_eevee(used):
        label += f", {settings.samples} samples" if settings.samples else ", the scene's samples"
    note = ""
    if used != own:
        note = f"; the scene's own engine is {ENGINE_LABELS.get(own, own)}: --engine SCENE renders with it"
    reporter.status(f"capture: {n} samples from '{cam_obj.name}' at {width}x{height} with {label}{note}")
    if compat.is_eevee(used):
        reporter.warning("EEVEE renders very slowly without a GPU (six 32x24 frames took 75 s on a CPU here, "
                         "Cycles 0.1 s): --engine CYCLES is the fast path")


def _say_why_everything_renders(store: CaptureStore, scene_key: str, force: bool, n: int, reporter) -> None:
    """Every sample's key folds in the scene's static state (objects, meshes,
    materials, lights, world, ...) and the render settings: when those changed
    since the last capture, every sample renders again; say so up front."""
    previous = (store.previous_meta or {}).get("scene_key")
    if force:
        reporter.status(f"capture: --force: all {n} samples render again")
    elif previous and previous != scene_key:
        reporter.status(f"capture: scene file changed since the last capture (objects, materials, lights, world "
                        f"or render settings): all {n} samples render again")


def check_inputs(scene, settings: CaptureSettings):
    """Everything that can be checked before any render; returns (camera, samples, engine, size)."""
    cam_obj = resolve_camera(scene, settings.camera)
    samples = flagged_samples(scene, settings)
    engine = ENGINES.get(engine_name(settings.engine or "SCENE"))
    if engine is None:
        raise AliveError(f"unknown render engine '{settings.engine}'", "use CYCLES, WORKBENCH, EEVEE or SCENE")
    engine = compat.engine_id(engine)
    if settings.samples < 0:
        raise AliveError(f"samples must be 0 or more, got {settings.samples}", "use --samples 1 or more")
    return cam_obj, samples, engine, resolution(scene, settings)


def capture(scene, workdir, settings: CaptureSettings, reporter: Optional[Reporter] = None,
            force: bool = False) -> dict:
    """Render (or reuse) every sample and store the training set; returns a summary.
    ``force``: render every sample even if an identical one is stored."""
    steps = capture_steps(scene, workdir, settings, reporter, force)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def capture_steps(scene, workdir, settings: CaptureSettings, reporter: Optional[Reporter] = None,
                  force: bool = False):
    """The capture as a generator: one sample per step, yielding the fraction done;
    the summary is the StopIteration value. A UI timer can call ``next`` once per tick
    (Blender stays responsive) and ``close()`` it to cancel between frames: every
    setting is restored and the previous capture kept, as after an error."""
    reporter = reporter or Reporter()
    cam_obj, samples, engine, (width, height) = check_inputs(scene, settings)
    t0 = time.perf_counter()
    _announce_engine(scene, settings, engine, cam_obj, len(samples), width, height, reporter)
    first_render = None
    from .scene_state import SceneState
    tmp_render = Path(tempfile.mkdtemp(prefix="alive-render-"))

    def this_scene():
        # the render operator and the depsgraph follow the context's scene: make it this one
        # (entered per step: a context override must not outlive the call that made it)
        return bpy.context.temp_override(scene=scene, view_layer=scene.view_layers[0])

    try:
        # Samples are stored on this thread. A writer thread overlapping the next render was
        # faster but crashed bpy 5.0.1 now and then: Blender touches Python state while a
        # render runs with the GIL released, so no other Python thread may run meanwhile.
        with CaptureStore(workdir) as store, render_overrides(scene), contextlib.ExitStack() as stack:
            with this_scene():
                _apply_overrides(scene, cam_obj, engine, width, height, settings)
                identity = _render_identity(scene, settings, width, height)
                scene.frame_set(samples[0][0], subframe=samples[0][1])
                state = SceneState(scene)   # before the output tree exists: it is not part of the scene
                out_node = _output_tree(scene, stack)
                depsgraph = bpy.context.evaluated_depsgraph_get()
                with_ids = id_objects(scene)
                ids_own_render = scene.render.engine != "CYCLES"
            scene_key = content_key(identity, state.static)
            _say_why_everything_renders(store, scene_key, force, len(samples), reporter)
            for i, (frame, sub, real) in enumerate(samples):
                reporter.check_cancel()
                with this_scene():
                    scene.frame_set(frame, subframe=sub)
                    if scene.camera != cam_obj:   # timeline markers may switch the active camera
                        scene.camera = cam_obj
                    cam_eval = cam_obj.evaluated_get(depsgraph)
                    params = camera_params(scene, cam_eval, width, height)
                    K = intrinsics(params)
                    world_from_camera = strip_scale(np.array(cam_eval.matrix_world))
                    record = {"frame": frame, "subframe": sub, "time": frame + sub, "real_frame": real,
                              "K": K.tolist(), "world_from_camera": world_from_camera.tolist(),
                              "camera": params.to_dict(),
                              "objects": {str(k): np.asarray(o.evaluated_get(depsgraph).matrix_world).tolist()
                                          for k, o in enumerate(with_ids, 1)},
                              "attached": object_relations.attachments(with_ids),
                              "deformation": deformation_record(with_ids, depsgraph)}
                    key = content_key(identity, state.static, cam_obj.name, frame, sub,
                                      state.dynamic_digest(depsgraph), record["K"], record["world_from_camera"])
                    label = f"frame {frame}{'+%.3g' % sub if sub else ''}{'' if real else ' (in-between)'}"
                    was_stored = not force and store.reuse(i, key, record)
                    if not was_stored:
                        stem = f"s{i:06d}_"
                        compat.file_output_target(out_node, tmp_render, stem, ("rgb", "depth", "ids"))
                        _render(label, "check that the scene renders in Blender with this engine")
                        if ids_own_render:
                            compat.file_output_written(tmp_render, stem, "ids", ".exr").unlink(missing_ok=True)
                            _render_ids(scene, out_node, tmp_render, f"i{i:06d}_", label)
                if was_stored:
                    reporter.progress((i + 1) / len(samples), f"{label} (unchanged)")
                    yield (i + 1) / len(samples)
                    continue
                ids_file = compat.file_output_written(tmp_render, f"i{i:06d}_" if ids_own_render else stem, "ids", ".exr")
                for extra in (("rgb", ".png"), ("depth", ".exr")):   # the id render's own colour and depth are not kept
                    compat.file_output_written(tmp_render, f"i{i:06d}_", *extra).unlink(missing_ok=True)
                _store_render(store, i, key, record, compat.file_output_written(tmp_render, stem, "rgb", ".png"),
                              compat.file_output_written(tmp_render, stem, "depth", ".exr"),
                              params.clip_end, label, ids_exr=ids_file)
                if first_render is None:   # how long the rest takes, at most, once one frame is known
                    first_render = time.perf_counter() - t0
                    left = len(samples) - i - 1
                    if left:
                        reporter.status(f"capture: first sample took {first_render:.1f} s; about "
                                        f"{first_render * left:.0f} s for the other {left} at most")
                reporter.progress((i + 1) / len(samples), label)
                yield (i + 1) / len(samples)
            meta = {"source": "render", "scene": scene.name, "camera": cam_obj.name,
                    "blender_version": bpy.app.version_string, "engine": identity["engine"],
                    "view_transform": COLOUR, "width": width, "height": height, "has_depth": True,
                    "depth": "planar distance along the view axis, +inf = background",
                    "has_ids": True, "object_ids": {str(k): o.name_full for k, o in enumerate(with_ids, 1)},
                    "object_bounds": object_relations.local_bounds(with_ids, depsgraph),
                    "settings": settings.to_dict(), "fps": scene.render.fps / scene.render.fps_base,
                    "scene_key": scene_key}
            with this_scene():   # each moving object's whole surface (per shape), for the 3-D bake's unseen sides
                surfaces = object_surfaces.write_surfaces(store.staged, with_ids, store.records, depsgraph, scene)
            meta = store.commit(meta)
            if surfaces["objects"] and not object_surfaces.surfaces_per_state(store.dir):   # up to date, from before
                with this_scene():
                    object_surfaces.write_surfaces(store.dir, with_ids, meta["samples"], depsgraph, scene)
            for note in surfaces["notes"]:
                reporter.warning(f"capture: object surfaces: {note}")
            rendered, reused = store.rendered, store.reused
    finally:
        shutil.rmtree(tmp_render, ignore_errors=True)
    seconds = time.perf_counter() - t0
    reporter.status(f"capture: {rendered} rendered, {reused} unchanged, {seconds:.1f} s")
    return {"samples": len(meta["samples"]), "rendered": rendered, "reused": reused,
            "up_to_date": rendered == 0 and reused == len(meta["samples"]),
            "width": width, "height": height, "engine": meta["engine"], "camera": cam_obj.name,
            "dir": str(store.dir), "key": meta["key"], "seconds": round(seconds, 3)}
