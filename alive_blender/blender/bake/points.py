"""Bake: rolled-out, decoded frames -> scene data that plays back without the add-on.

* Point cloud: every decoded frame's depth unprojected through the capture
  camera into world space (one pose for all frames, or one per frame), masked
  by decoded alpha, at a point density of up to one point per decoded pixel
  (``point_density``: the fraction of pixels, taken on a regular stride); all
  frames in one mesh, stored frame after frame and compactly: float32
  positions and a BYTE_COLOR attribute ``alive_rgb`` (sRGB bytes, 4 bytes a
  point; not ``color``: Cycles' Attribute node reads nothing from that name).
  Frames are unprojected a chunk at a time, so decoded arrays may be
  memory-mapped and are never read whole. A geometry-nodes group turns
  Scene Time into a generated frame index with the modifier's Start and Hold
  inputs, looks up that frame's offset and count in a small hidden table
  object, makes exactly those points (radius on the modifier) by sampling
  position and colour, and sets a material that shows the colour in Cycles
  and EEVEE. Optionally the mesh becomes a Point Cloud object.
* Texture (bake_texture.py): an image sequence next to the .blend or a packed
  flipbook atlas, on a card in the capture frustum, as the world background,
  or as a material on a chosen object.
* Trajectory (trajectory.py): the embeddings as PCA curves.

Each bake lives in its own collection ``Alive <name>``; re-baking a name
removes exactly what that bake made before (every ID it made carries the
custom property ``alive_bake`` = name) and restores what it replaced.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import bpy
import numpy as np

from ...core.errors import AliveError
from ...core.run.protocol import Reporter
from ...core.settings import BakeSettings, TEXTURE_MODES  # noqa: F401  (the schema's; re-exported)
from ...core.pointcloud import (point_colors, point_mask, point_stride, srgb_to_linear,  # noqa: F401
                                unproject_frames, unproject_streamed)
from .tags import BAKE_DATA, TAG, bake_counts, tag, tagged  # noqa: F401  (TAG, bake_counts: re-exported)
from .texture import bake_texture, check_atlas_size, restore_replaced
from .trajectory import bake_trajectory
from .. import compat

FRAME_ATTR = "alive_frame"
COLOR_ATTR = "alive_rgb"
OFFSET_ATTR = "alive_offset"   # on the frame table: first point of each generated frame
COUNT_ATTR = "alive_count"     # ... and how many points it has


def remove_bake(name: str) -> int:
    """Delete every ID that a bake called ``name`` made and put back what it
    replaced (a scene's world, an object's material). Returns how many IDs."""
    restore_replaced(name)
    removed = 0
    for coll_name in BAKE_DATA:
        for idb in tagged(coll_name, name):
            getattr(bpy.data, coll_name).remove(idb)
            removed += 1
    return removed


def _collection(scene, name: str):
    coll = tag(bpy.data.collections.new(f"Alive {name}"), name)
    scene.collection.children.link(coll)
    return coll


def _socket(sockets, identifier: str):
    """Sockets share names (Compare has an A per data type): find by identifier."""
    return next(s for s in sockets if s.identifier == identifier)


def modifier_input(mod, name: str):
    """Identifier of a geometry-nodes modifier input called ``name``."""
    for item in mod.node_group.interface.items_tree:
        if getattr(item, "in_out", "") == "INPUT" and item.name == name:
            return item.identifier
    raise KeyError(name)


# ----------------------------------------------------------------------------- points

def _points_node_group(name: str):
    """Scene frame -> generated frame index -> that frame's points, with radius and material.

    The points of all frames are stored frame after frame; a small table object
    holds each frame's offset and count. The group looks the current frame up
    in the table and makes exactly that many points, sampling position and
    colour at offset + index: the work per frame is the points shown, not all
    points baked (Separate Geometry on the frame attribute would touch every
    point of every frame on each frame change)."""
    ng = tag(bpy.data.node_groups.new(f"Alive Points {name}", "GeometryNodeTree"), name)
    ng.description = (f"alive_blender bake '{name}': shows generated frame floor((frame - Start) / Hold), "
                      f"looked up in the Frame Table object")
    iface = ng.interface
    iface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    radius = iface.new_socket("Radius", in_out="INPUT", socket_type="NodeSocketFloat")
    radius.default_value, radius.min_value = 0.01, 0.0
    iface.new_socket("Material", in_out="INPUT", socket_type="NodeSocketMaterial")
    start = iface.new_socket("Start", in_out="INPUT", socket_type="NodeSocketInt")
    start.default_value = 1
    hold = iface.new_socket("Hold", in_out="INPUT", socket_type="NodeSocketInt")
    hold.default_value, hold.min_value = 1, 1
    iface.new_socket("Frame Table", in_out="INPUT", socket_type="NodeSocketObject")
    iface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    n, link = ng.nodes, ng.links.new
    gin, gout = n.new("NodeGroupInput"), n.new("NodeGroupOutput")

    def math(op, a, b=None, int_math=False):
        if int_math:
            node = compat.add_int_math(n, op)
        else:
            node = n.new("ShaderNodeMath")
            node.operation = op
        link(a, node.inputs[0])
        if b is not None:
            link(b, node.inputs[1])
        return node.outputs[0]

    def sample(geometry, data_type, value, index):
        node = n.new("GeometryNodeSampleIndex")
        node.data_type, node.domain = data_type, "POINT"
        link(geometry, node.inputs["Geometry"])
        link(value, node.inputs["Value"])
        link(index, node.inputs["Index"])
        return node.outputs[0]

    def named(attr_name, data_type):
        node = n.new("GeometryNodeInputNamedAttribute")
        node.data_type = data_type
        node.inputs["Name"].default_value = attr_name
        return node.outputs["Attribute"]

    time = n.new("GeometryNodeInputSceneTime")
    to_int = n.new("FunctionNodeFloatToInt")
    to_int.rounding_mode = "FLOOR"
    rel = math("DIVIDE", math("SUBTRACT", time.outputs["Frame"], gin.outputs["Start"]), gin.outputs["Hold"])
    link(rel, to_int.inputs[0])
    frame_index = to_int.outputs[0]
    table = n.new("GeometryNodeObjectInfo")
    link(gin.outputs["Frame Table"], table.inputs["Object"])
    # out-of-range indices sample nothing (0): no points before Start or after the last frame
    offset = sample(table.outputs["Geometry"], "INT", named(OFFSET_ATTR, "INT"), frame_index)
    count = sample(table.outputs["Geometry"], "INT", named(COUNT_ATTR, "INT"), frame_index)
    points = n.new("GeometryNodePoints")
    link(count, points.inputs["Count"])
    link(gin.outputs["Radius"], points.inputs["Radius"])
    source_index = math("ADD", n.new("GeometryNodeInputIndex").outputs[0], offset, int_math=True)
    link(sample(gin.outputs["Geometry"], "FLOAT_VECTOR", n.new("GeometryNodeInputPosition").outputs[0],
                source_index), points.inputs["Position"])
    store = n.new("GeometryNodeStoreNamedAttribute")
    store.data_type, store.domain = "FLOAT_COLOR", "POINT"
    store.inputs["Name"].default_value = COLOR_ATTR
    link(points.outputs["Points"], store.inputs["Geometry"])
    link(sample(gin.outputs["Geometry"], "FLOAT_COLOR", named(COLOR_ATTR, "FLOAT_COLOR"), source_index),
         store.inputs["Value"])
    setmat = n.new("GeometryNodeSetMaterial")
    link(store.outputs["Geometry"], setmat.inputs["Geometry"])
    link(gin.outputs["Material"], setmat.inputs["Material"])
    link(setmat.outputs["Geometry"], gout.inputs["Geometry"])
    for i, node in enumerate(ng.nodes):
        node.location = ((i % 8) * 200, -(i // 8) * 220)
    gin.location, gout.location = (-300, 0), (1800, 0)
    return ng


def _frame_table(coll, name: str, counts: np.ndarray):
    """A hidden object holding, per generated frame, where its points start and how many there are."""
    counts = np.asarray(counts, np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    mesh = tag(bpy.data.meshes.new(f"Alive Frame Table {name}"), name)
    mesh.vertices.add(len(counts))
    mesh.attributes.new(OFFSET_ATTR, "INT", "POINT").data.foreach_set("value", offsets.astype(np.int32))
    mesh.attributes.new(COUNT_ATTR, "INT", "POINT").data.foreach_set("value", counts.astype(np.int32))
    mesh.update()
    obj = tag(bpy.data.objects.new(f"Alive Frame Table {name}", mesh), name)
    obj.hide_render = True
    obj.hide_select = True
    coll.objects.link(obj)
    return obj


def _point_material(name: str):
    mat = tag(bpy.data.materials.new(f"Alive Points {name}"), name)
    mat.use_nodes = True
    nt = mat.node_tree
    nt.nodes.clear()
    attr = nt.nodes.new("ShaderNodeAttribute")
    attr.attribute_type = "GEOMETRY"
    attr.attribute_name = COLOR_ATTR
    emit = nt.nodes.new("ShaderNodeEmission")
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    nt.links.new(attr.outputs["Color"], emit.inputs["Color"])
    nt.links.new(emit.outputs["Emission"], out.inputs["Surface"])
    attr.location, emit.location, out.location = (0, 0), (220, 0), (440, 0)
    return mat


def write_point_mesh(mesh, pos: np.ndarray, frame_index: Optional[np.ndarray], colors: np.ndarray) -> None:
    """Bulk attribute writes: contiguous numpy arrays straight into foreach_set.
    ``colors``: sRGB bytes (M, 4) uint8 -> a BYTE_COLOR attribute (compact), or
    linear float (M, 4) -> FLOAT_COLOR. ``frame_index`` (optional, 4 bytes a
    point): the ``alive_frame`` attribute; playback needs only the frame table."""
    mesh.vertices.add(len(pos))
    mesh.attributes["position"].data.foreach_set("vector", np.ascontiguousarray(pos, np.float32).ravel())
    if frame_index is not None:
        fa = mesh.attributes.new(FRAME_ATTR, "INT", "POINT")
        fa.data.foreach_set("value", np.ascontiguousarray(frame_index, np.int32))
    if colors.dtype == np.uint8:
        ca = mesh.attributes.new(COLOR_ATTR, "BYTE_COLOR", "POINT")
        # color_srgb takes the bytes as they are (no linear round trip): exact
        ca.data.foreach_set("color_srgb", (colors.astype(np.float32) * np.float32(1.0 / 255.0)).ravel())
    else:
        ca = mesh.attributes.new(COLOR_ATTR, "FLOAT_COLOR", "POINT")
        ca.data.foreach_set("color", np.ascontiguousarray(colors, np.float32).ravel())
    mesh.update()


def _to_pointcloud(scene, obj, name: str):
    """Mesh object -> Point Cloud object in place; attributes are kept."""
    old_mesh = obj.data
    view_layer = scene.view_layers[0]
    with bpy.context.temp_override(scene=scene, view_layer=view_layer, active_object=obj, object=obj,
                                   selected_objects=[obj], selected_editable_objects=[obj]):
        bpy.ops.object.convert(target="POINTCLOUD")
    if obj.type != "POINTCLOUD":
        raise AliveError("converting the points to a Point Cloud object failed",
                         "bake without the point-cloud option (the mesh form renders the same)")
    tag(obj.data, name)
    obj.data.name = f"Alive Points {name}"
    if old_mesh.users == 0:
        bpy.data.meshes.remove(old_mesh)
    return obj


def bake_points(scene, coll, name: str, rgb: np.ndarray, depth: np.ndarray, alpha: np.ndarray,
                K: np.ndarray, world_from_camera: np.ndarray, frames: np.ndarray, radius: float,
                hold: int = 1, pointcloud_object: bool = False, timings: Optional[dict] = None,
                stride: int = 1, reporter: Optional[Reporter] = None):
    """One object holding every frame's points; returns (object, points per frame).

    ``frames`` are the scene frames the generated frames start on; the modifier's
    Start is frames[0] and Hold is ``hold``. ``stride``: every stride-th pixel in
    x and y becomes a point (see ``point_stride``)."""
    import time
    if pointcloud_object and not compat.can_convert_to_pointcloud():
        raise AliveError(f"Point Cloud objects need Blender 4.3 or later (this is {bpy.app.version_string})",
                         "bake without the point-cloud option (the mesh form renders the same)")
    t0 = time.perf_counter()
    pos, cols, counts = unproject_streamed(depth, alpha, rgb, K, world_from_camera, stride, reporter)
    t1 = time.perf_counter()
    mesh = tag(bpy.data.meshes.new(f"Alive Points {name}"), name)
    write_point_mesh(mesh, pos, None, cols)
    del cols
    t2 = time.perf_counter()
    obj = tag(bpy.data.objects.new(f"Alive Points {name}", mesh), name)
    coll.objects.link(obj)
    if pointcloud_object:
        _to_pointcloud(scene, obj, name)
    mod = obj.modifiers.new("Alive Points", "NODES")
    mod.node_group = _points_node_group(name)
    mat = _point_material(name)
    compat.set_modifier_input(mod, modifier_input(mod, "Radius"), float(radius))
    compat.set_modifier_input(mod, modifier_input(mod, "Material"), mat)
    compat.set_modifier_input(mod, modifier_input(mod, "Start"), int(frames[0]))
    compat.set_modifier_input(mod, modifier_input(mod, "Hold"), int(hold))
    compat.set_modifier_input(mod, modifier_input(mod, "Frame Table"), _frame_table(coll, name, counts))
    obj.data.materials.append(mat)
    if timings is not None:
        timings.update(unproject_s=t1 - t0, attributes_s=t2 - t1, points=int(len(pos)),
                       point_bytes=int(len(pos)) * 16)   # float32 xyz + 4 sRGB bytes
    return obj, counts


def median_depth(depth: Optional[np.ndarray], alpha: np.ndarray, most_frames: int = 16) -> float:
    """Median covered depth over at most ``most_frames`` evenly spaced frames (all
    of a short bake; a long one is not read whole), 5.0 when nothing is covered."""
    if depth is None:
        return 5.0
    n = len(depth)
    idx = np.unique(np.linspace(0, n - 1, min(n, most_frames)).round().astype(int))
    d, a = np.asarray(depth[idx]), np.asarray(alpha[idx])
    fg = d[point_mask(d, a)]
    return float(np.median(fg)) if len(fg) else 5.0


def camera_poses(scene, cam_obj, scene_frames) -> np.ndarray:
    """The camera's world matrix (scale removed) at each scene frame; the current frame is restored."""
    from ...core.camera import strip_scale
    keep = (scene.frame_current, scene.frame_subframe)
    out = []
    try:
        for f in scene_frames:
            scene.frame_set(int(f))
            out.append(strip_scale(np.array(cam_obj.matrix_world)))
    finally:
        scene.frame_set(keep[0], subframe=keep[1])
    return np.stack(out)


def target_object(scene, settings: BakeSettings):
    """The mesh that gets the texture as its material, or None; AliveError if it is not one."""
    if not (settings.texture and settings.target_object):
        return None
    obj = scene.objects.get(settings.target_object)
    if obj is None or obj.type != "MESH":
        meshes = sorted(o.name for o in scene.objects if o.type == "MESH" and o.get(TAG) is None)
        raise AliveError(f"object '{settings.target_object}' is not a mesh in scene '{scene.name}'",
                         "name a mesh object of the scene to carry the texture"
                         + (f", e.g. {', '.join(meshes[:5])}" if meshes else ""))
    return obj


def bake(scene, decoded: dict, K: np.ndarray, world_from_camera: np.ndarray, settings: BakeSettings,
         blend_dir: Optional[Path] = None, reporter: Optional[Reporter] = None,
         trajectory: Optional[tuple] = None) -> dict:
    """Bake decoded frames ({"rgb", "depth" (may be None), "alpha"} arrays) into ``scene``.

    ``world_from_camera`` is one 4x4 pose or one per decoded frame (N, 4, 4).
    ``trajectory`` = (observed (M, D), rollouts (K, S, D)) embeddings for the curves."""
    import time
    reporter = reporter or Reporter()
    settings.check()
    rgb, depth, alpha = decoded["rgb"], decoded.get("depth"), decoded["alpha"]
    if rgb.ndim != 4 or rgb.shape[0] == 0:
        raise AliveError("nothing to bake: the rollout has no frames", "roll out at least one step")
    N, H, W = rgb.shape[:3]
    if alpha.shape != (N, H, W) or (depth is not None and depth.shape != (N, H, W)):
        raise AliveError(f"decoded arrays disagree in shape: rgb {rgb.shape}, alpha {alpha.shape}"
                         + (f", depth {depth.shape}" if depth is not None else ""), "decode the rollout again")
    poses = np.asarray(world_from_camera, np.float64)
    if poses.shape not in ((4, 4), (N, 4, 4)):
        raise AliveError(f"camera pose of shape {poses.shape} for {N} frames", "give one 4x4 pose or one per frame")
    hold = int(settings.hold)
    start = scene.frame_start if settings.start is None else int(settings.start)
    frames = start + hold * np.arange(N)
    target = target_object(scene, settings)
    if settings.trajectory and trajectory is None:
        raise AliveError("the trajectory view needs the embeddings", "bake from a work directory")
    blend_dir = Path(blend_dir) if blend_dir else Path(bpy.path.abspath("//") or os.getcwd())
    if settings.texture or settings.card or settings.world:
        if settings.texture_mode == "atlas":
            check_atlas_size(N, W, H)
        else:
            from ...core.workdir.artifacts import ensure_writable_dir
            ensure_writable_dir(blend_dir, "folder for the image sequence (next to the .blend)")
    t_start = time.perf_counter()
    reporter.status(f"bake '{settings.name}': {N} frames from scene frame {start}"
                    + (f", each held {hold} frames" if hold > 1 else ""))
    remove_bake(settings.name)
    try:
        return _bake_into(scene, rgb, depth, alpha, K, poses, settings, frames, blend_dir, reporter, trajectory,
                          target, t_start, decoded.get("png_dir"))
    except BaseException:
        remove_bake(settings.name)  # no half-made bake left behind
        raise


def _bake_into(scene, rgb, depth, alpha, K, poses, settings, frames, blend_dir, reporter, trajectory, target,
               t_start, png_dir=None):
    import time
    N, H, W = rgb.shape[:3]
    hold = int(settings.hold)
    start_pose = poses if poses.ndim == 2 else poses[0]
    coll = _collection(scene, settings.name)
    result = {"name": settings.name, "frames": [int(frames[0]), int(frames[-1]) + hold - 1], "hold": hold,
              "collection": coll.name, "size": [int(W), int(H)]}
    has_depth = depth is not None
    distance = settings.card_distance or median_depth(depth, alpha)
    timings = {}
    if settings.points:
        if not has_depth:
            reporter.warning(f"this footage has no depth: the point cloud is a flat card of points "
                             f"{distance:g} units in front of the camera")
            depth = np.broadcast_to(np.float32(distance), (N, H, W))   # no memory: a view
            result["points_flat"] = True
        stride = point_stride(settings.point_density)
        radius = settings.radius or (distance / K[0, 0] * 0.75 * stride)
        obj, per_frame = bake_points(scene, coll, settings.name, rgb, depth, alpha, K, poses, frames, radius,
                                     hold, settings.pointcloud_object, timings, stride, reporter)
        result["point_stride"] = stride
        result["points_object"] = obj.name
        result["points_per_frame"] = per_frame.tolist()
        result["radius"] = float(radius)
        reporter.progress(0.5, "points baked")
    if settings.texture or settings.card or settings.world:
        t0 = time.perf_counter()
        result.update(bake_texture(scene, coll, settings, rgb, frames, K, poses, distance, blend_dir, target,
                                   pngs=png_dir))
        timings["texture_s"] = time.perf_counter() - t0
        reporter.progress(0.9, "texture baked")
    if settings.trajectory:
        result["trajectory"] = bake_trajectory(scene, coll, settings.name, *trajectory)
    timings["bake_s"] = time.perf_counter() - t_start
    result["timings"] = {k: round(v, 4) if isinstance(v, float) else v for k, v in timings.items()}
    result["camera_pose"] = "per-frame" if poses.ndim == 3 else "start"
    result["start_pose"] = start_pose.tolist()
    reporter.progress(1.0, f"bake '{settings.name}' done")
    return result
