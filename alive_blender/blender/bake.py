"""Bake: rolled-out, decoded frames -> scene data that plays back without the add-on.

* Point cloud: every decoded frame's depth unprojected through the capture
  camera into world space, masked by decoded alpha; all frames in one mesh
  with an INT point attribute ``alive_frame`` (the scene frame it shows on)
  and a FLOAT_COLOR attribute ``alive_rgb`` (not ``color``: Cycles' Attribute
  node reads nothing from that name). A geometry-nodes group compares
  ``alive_frame`` with Scene Time, keeps that frame's vertices, turns them
  into points (radius on the modifier) and sets a material that shows the
  colour in Cycles and EEVEE.
* Texture: the decoded frames as an image sequence (files next to the .blend,
  relative ``//`` paths) on an Image Texture node whose ``frame_offset`` is
  keyframed (constant interpolation) to pick each frame, shown on a
  camera-facing card that fills the capture camera's frustum.

Each bake lives in its own collection ``Alive <name>``; re-baking a name
removes exactly what that bake made before (tracked by a custom property).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import bpy
import numpy as np

from ..core.camera import unproject
from ..core.errors import AliveError
from ..core.images import write_png
from ..core.protocol import Reporter

TAG = "alive_bake"          # custom property naming the bake an ID belongs to
FRAME_ATTR = "alive_frame"
COLOR_ATTR = "alive_rgb"


@dataclass
class BakeSettings:
    name: str = "alive"
    start: Optional[int] = None      # scene frame of the first baked frame; None = scene start
    points: bool = True
    texture: bool = True
    card_distance: float = 0.0       # 0 = median decoded depth
    radius: float = 0.0              # 0 = from the pixel footprint

    def to_dict(self) -> dict:
        return asdict(self)


def _tag(idblock, name):
    idblock[TAG] = name
    return idblock


def remove_bake(name: str) -> int:
    """Delete every ID that a bake called ``name`` made. Returns how many."""
    removed = 0
    for coll_name in ("objects", "meshes", "materials", "node_groups", "images", "collections"):
        coll = getattr(bpy.data, coll_name)
        for idb in [i for i in coll if i.get(TAG) == name]:
            coll.remove(idb)
            removed += 1
    return removed


def _collection(scene, name: str):
    coll = _tag(bpy.data.collections.new(f"Alive {name}"), name)
    scene.collection.children.link(coll)
    return coll


def _socket(sockets, identifier: str):
    """Sockets share names (Compare has an A per data type): find by identifier."""
    return next(s for s in sockets if s.identifier == identifier)


def _points_node_group(name: str):
    ng = _tag(bpy.data.node_groups.new(f"Alive Points {name}", "GeometryNodeTree"), name)
    ng.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    radius = ng.interface.new_socket("Radius", in_out="INPUT", socket_type="NodeSocketFloat")
    radius.default_value = 0.01
    radius.min_value = 0.0
    ng.interface.new_socket("Material", in_out="INPUT", socket_type="NodeSocketMaterial")
    ng.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    n = ng.nodes
    gin, gout = n.new("NodeGroupInput"), n.new("NodeGroupOutput")
    time = n.new("GeometryNodeInputSceneTime")
    attr = n.new("GeometryNodeInputNamedAttribute")
    attr.data_type = "INT"
    attr.inputs["Name"].default_value = FRAME_ATTR
    to_int = n.new("FunctionNodeFloatToInt")
    to_int.rounding_mode = "FLOOR"
    cmp = n.new("FunctionNodeCompare")
    cmp.data_type = "INT"
    cmp.operation = "EQUAL"
    sep = n.new("GeometryNodeSeparateGeometry")
    sep.domain = "POINT"
    m2p = n.new("GeometryNodeMeshToPoints")
    setmat = n.new("GeometryNodeSetMaterial")
    link = ng.links.new
    link(time.outputs["Frame"], to_int.inputs[0])
    link(attr.outputs["Attribute"], _socket(cmp.inputs, "A_INT"))
    link(to_int.outputs[0], _socket(cmp.inputs, "B_INT"))
    link(gin.outputs["Geometry"], sep.inputs["Geometry"])
    link(cmp.outputs["Result"], sep.inputs["Selection"])
    link(sep.outputs["Selection"], m2p.inputs["Mesh"])
    link(gin.outputs["Radius"], m2p.inputs["Radius"])
    link(m2p.outputs["Points"], setmat.inputs["Geometry"])
    link(gin.outputs["Material"], setmat.inputs["Material"])
    link(setmat.outputs["Geometry"], gout.inputs["Geometry"])
    for i, node in enumerate([gin, time, attr, to_int, cmp, sep, m2p, setmat, gout]):
        node.location = (i * 180, 0)
    return ng


def _point_material(name: str):
    mat = _tag(bpy.data.materials.new(f"Alive Points {name}"), name)
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


def bake_points(scene, coll, name: str, rgb: np.ndarray, depth: np.ndarray, alpha: np.ndarray,
                K: np.ndarray, world_from_camera: np.ndarray, frames: np.ndarray, radius: float):
    """One mesh holding every frame's points; returns the object."""
    N, H, W = depth.shape
    pos_list, col_list, frame_list = [], [], []
    for i in range(N):
        keep = (alpha[i] > 0.5) & np.isfinite(depth[i]) & (depth[i] > 0)
        pts = unproject(depth[i], K, world_from_camera)[keep]
        pos_list.append(pts.astype(np.float32))
        col = rgb[i][keep].astype(np.float32)
        col = col / 255.0 if rgb.dtype == np.uint8 else col
        col_list.append(np.concatenate([col, np.ones((len(col), 1), np.float32)], axis=1))
        frame_list.append(np.full(len(pts), int(frames[i]), np.int32))
    pos = np.concatenate(pos_list) if pos_list else np.zeros((0, 3), np.float32)
    cols = np.concatenate(col_list) if col_list else np.zeros((0, 4), np.float32)
    fr = np.concatenate(frame_list) if frame_list else np.zeros(0, np.int32)
    mesh = _tag(bpy.data.meshes.new(f"Alive Points {name}"), name)
    mesh.vertices.add(len(pos))
    mesh.attributes["position"].data.foreach_set("vector", pos.ravel())
    fa = mesh.attributes.new(FRAME_ATTR, "INT", "POINT")
    fa.data.foreach_set("value", fr)
    ca = mesh.attributes.new(COLOR_ATTR, "FLOAT_COLOR", "POINT")
    ca.data.foreach_set("color", cols.ravel())
    mesh.update()
    obj = _tag(bpy.data.objects.new(f"Alive Points {name}", mesh), name)
    coll.objects.link(obj)
    mod = obj.modifiers.new("Alive Points", "NODES")
    mod.node_group = _points_node_group(name)
    mat = _point_material(name)
    for item in mod.node_group.interface.items_tree:
        if getattr(item, "in_out", "") != "INPUT":
            continue
        if item.name == "Radius":
            mod[item.identifier] = float(radius)
        elif item.name == "Material":
            mod[item.identifier] = mat
    obj.data.materials.append(mat)
    return obj


def bake_texture(scene, coll, name: str, rgb: np.ndarray, frames: np.ndarray, K: np.ndarray,
                 world_from_camera: np.ndarray, width: int, height: int, distance: float, blend_dir: Path):
    """Image sequence next to the .blend on a card in the camera frustum."""
    seq_dir = blend_dir / f"alive_{name}"
    seq_dir.mkdir(parents=True, exist_ok=True)
    for old in seq_dir.glob("frame_*.png"):
        old.unlink()
    for i, img in enumerate(rgb):
        write_png(seq_dir / f"frame_{i + 1:05d}.png", img)
    img = _tag(bpy.data.images.load(str(seq_dir / "frame_00001.png"), check_existing=False), name)
    img.name = f"Alive Frames {name}"
    img.source = "SEQUENCE"
    if bpy.data.filepath:
        img.filepath = bpy.path.relpath(str(seq_dir / "frame_00001.png"))

    mat = _tag(bpy.data.materials.new(f"Alive Card {name}"), name)
    mat.use_nodes = True
    nt = mat.node_tree
    nt.nodes.clear()
    tex = nt.nodes.new("ShaderNodeTexImage")
    tex.image = img
    tex.interpolation = "Closest"
    iu = tex.image_user
    iu.frame_start = int(frames[0])
    iu.frame_duration = len(rgb)
    iu.use_auto_refresh = True
    emit = nt.nodes.new("ShaderNodeEmission")
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    nt.links.new(tex.outputs["Color"], emit.inputs["Color"])
    nt.links.new(emit.outputs["Emission"], out.inputs["Surface"])
    tex.location, emit.location, out.location = (0, 0), (300, 0), (520, 0)
    # file used = clamp(f - frame_start + 1, 0, duration) + offset; key the offset so
    # each scene frame shows its generated frame even where playback and sequence disagree
    for i, f in enumerate(frames):
        iu.frame_offset = int(i + 1) - int(f - frames[0] + 1)
        iu.keyframe_insert("frame_offset", frame=int(f))
    _constant_interpolation(nt)

    # the card: a plane exactly covering the frustum at `distance` along the view axis
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    x0, x1 = (0 - cx) / fx * distance, (width - cx) / fx * distance
    y0, y1 = (0 - cy) / fy * distance, (height - cy) / fy * distance
    corners_cv = np.array([[x0, y1], [x1, y1], [x1, y0], [x0, y0]])   # bottom-left, ccw seen from camera
    verts_cam = np.stack([corners_cv[:, 0], -corners_cv[:, 1], np.full(4, -distance), np.ones(4)], axis=1)
    verts = (verts_cam @ world_from_camera.T)[:, :3]
    mesh = _tag(bpy.data.meshes.new(f"Alive Card {name}"), name)
    mesh.from_pydata(verts.tolist(), [], [[0, 1, 2, 3]])
    uv = mesh.uv_layers.new(name="UVMap")
    uv.data.foreach_set("uv", np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32).ravel())
    mesh.materials.append(mat)
    mesh.update()
    obj = _tag(bpy.data.objects.new(f"Alive Card {name}", mesh), name)
    coll.objects.link(obj)
    return obj, img


def _constant_interpolation(idblock):
    from bpy_extras import anim_utils
    ad = idblock.animation_data
    if not ad or not ad.action:
        return
    bag = anim_utils.action_get_channelbag_for_slot(ad.action, ad.action_slot)
    if bag is None:
        return
    for fc in bag.fcurves:
        for kp in fc.keyframe_points:
            kp.interpolation = "CONSTANT"


def bake(scene, decoded: dict, K: np.ndarray, world_from_camera: np.ndarray, settings: BakeSettings,
         blend_dir: Optional[Path] = None, reporter: Optional[Reporter] = None) -> dict:
    """Bake decoded frames ({"rgb","depth","alpha"} arrays) into ``scene``."""
    reporter = reporter or Reporter()
    rgb, depth, alpha = decoded["rgb"], decoded.get("depth"), decoded["alpha"]
    N, H, W = rgb.shape[:3]
    if N == 0:
        raise AliveError("nothing to bake: the rollout has no frames", "roll out at least one step")
    if not settings.name or settings.name.strip() != settings.name:
        raise AliveError(f"bad bake name {settings.name!r}", "use a non-empty name without surrounding spaces")
    start = scene.frame_start if settings.start is None else int(settings.start)
    frames = np.arange(start, start + N)
    reporter.status(f"bake '{settings.name}': {N} frames from scene frame {start}")
    remove_bake(settings.name)
    coll = _collection(scene, settings.name)
    result = {"name": settings.name, "frames": [int(frames[0]), int(frames[-1])], "collection": coll.name}
    fg = depth[(alpha > 0.5) & np.isfinite(depth) & (depth > 0)] if depth is not None else np.zeros(0)
    if settings.points:
        if depth is None:
            reporter.warning("no depth in this data: the point cloud is skipped (bake the card instead)")
        else:
            radius = settings.radius or float(np.median(fg) / K[0, 0] * 0.75) if len(fg) else 0.01
            obj = bake_points(scene, coll, settings.name, rgb, depth, alpha, K, world_from_camera, frames, radius)
            result["points_object"] = obj.name
            result["points_per_frame"] = [int(((alpha[i] > 0.5) & np.isfinite(depth[i]) & (depth[i] > 0)).sum())
                                          for i in range(N)]
        reporter.progress(0.5, "points baked")
    if settings.texture:
        distance = settings.card_distance or (float(np.median(fg)) if len(fg) else 5.0)
        blend_dir = Path(blend_dir) if blend_dir else Path(bpy.path.abspath("//") or os.getcwd())
        obj, img = bake_texture(scene, coll, settings.name, rgb, frames, K, world_from_camera, W, H,
                                distance, blend_dir)
        result["card_object"] = obj.name
        result["image"] = img.name
        reporter.progress(1.0, "texture baked")
    return result
