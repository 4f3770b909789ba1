"""What a live session shows in the scene, updated in place every tick.

``LiveView.create`` adds, in its own collection ``Alive Live`` (every ID
tagged ``alive_bake`` = ``LIVE_NAME``, so ``remove`` takes exactly those
away and the scene is as it was):

- a points object: a mesh whose vertices are the frame's points (world
  positions from the session, sRGB bytes in ``alive_rgb``), turned into
  points by a two-node geometry-nodes group (Mesh to Points, Set Material)
  with the bake's point material;
- a card in the capture camera's frustum showing one image, ``Alive Live
  Frame``, whose pixels are rewritten each tick.

``live_tick(view, session, inputs)`` is the per-tick work: step the session,
write the points and the image. The modal operator's timer calls it in the
UI; tests call it directly (the bpy module has no event loop).
"""

from __future__ import annotations

import time
from typing import Optional

import bpy
import numpy as np
from mathutils import Matrix

from ..bake.points import COLOR_ATTR, _point_material, median_depth, modifier_input, remove_bake
from ..bake.tags import tag
from ..bake.texture import card_vertices
from .. import compat

LIVE_NAME = "__live__"           # the tag of everything Play Live adds (never a user's bake name)
FRAME_IMAGE = "Alive Live Frame"


def _points_group():
    ng = tag(bpy.data.node_groups.new("Alive Live Points", "GeometryNodeTree"), LIVE_NAME)
    iface = ng.interface
    iface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    radius = iface.new_socket("Radius", in_out="INPUT", socket_type="NodeSocketFloat")
    radius.default_value, radius.min_value = 0.01, 0.0
    iface.new_socket("Material", in_out="INPUT", socket_type="NodeSocketMaterial")
    iface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    n, link = ng.nodes, ng.links.new
    gin, gout = n.new("NodeGroupInput"), n.new("NodeGroupOutput")
    to_points = n.new("GeometryNodeMeshToPoints")
    setmat = n.new("GeometryNodeSetMaterial")
    link(gin.outputs["Geometry"], to_points.inputs["Mesh"])
    link(gin.outputs["Radius"], to_points.inputs["Radius"])
    link(to_points.outputs["Points"], setmat.inputs["Geometry"])
    link(gin.outputs["Material"], setmat.inputs["Material"])
    link(setmat.outputs["Geometry"], gout.inputs["Geometry"])
    gin.location, to_points.location, setmat.location, gout.location = (-400, 0), (-150, 0), (100, 0), (350, 0)
    return ng


def _frame_material(image):
    mat = tag(bpy.data.materials.new("Alive Live Frame"), LIVE_NAME)
    mat.use_nodes = True
    nt = mat.node_tree
    nt.nodes.clear()
    tex = nt.nodes.new("ShaderNodeTexImage")
    tex.image = image
    tex.interpolation = "Closest"
    emit = nt.nodes.new("ShaderNodeEmission")
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    nt.links.new(tex.outputs["Color"], emit.inputs["Color"])
    nt.links.new(emit.outputs["Emission"], out.inputs["Surface"])
    tex.location, emit.location, out.location = (-300, 0), (0, 0), (220, 0)
    return mat


class LiveView:
    """The live points object and card of one session (see the module docstring)."""

    def __init__(self, scene, coll, points_obj, card_obj, image):
        self.scene, self.collection = scene, coll
        self.points_object, self.card_object, self.image = points_obj, card_obj, image
        self.ticks = 0
        self._rgba = None

    @classmethod
    def create(cls, scene, session, points: bool = True, card: bool = True) -> "LiveView":
        remove_bake(LIVE_NAME)   # a view left by a crashed session
        coll = tag(bpy.data.collections.new("Alive Live"), LIVE_NAME)
        scene.collection.children.link(coll)
        first = session.frame or session.compose(session.state)
        W, H = session.size
        distance = median_depth(first.depth[None], first.alpha[None]) if session.has_depth else 5.0
        points_obj = card_obj = image = None
        try:
            if points:
                mesh = tag(bpy.data.meshes.new("Alive Live Points"), LIVE_NAME)
                points_obj = tag(bpy.data.objects.new("Alive Live Points", mesh), LIVE_NAME)
                coll.objects.link(points_obj)
                mod = points_obj.modifiers.new("Alive Live Points", "NODES")
                mod.node_group = _points_group()
                mat = tag(_point_material(LIVE_NAME), LIVE_NAME)
                mat.name = "Alive Live Points"
                radius = distance / session.K[0, 0] * 0.75 * session.stride
                compat.set_modifier_input(mod, modifier_input(mod, "Radius"), float(radius))
                compat.set_modifier_input(mod, modifier_input(mod, "Material"), mat)
                mesh.materials.append(mat)
            if card:
                # a float buffer takes foreach_set as a copy (a byte image converts every value: 6x slower
                # at 1280x720); its values are the sRGB bytes / 255, so it is read as sRGB
                image = tag(bpy.data.images.new(FRAME_IMAGE, W, H, alpha=False, float_buffer=True), LIVE_NAME)
                image.colorspace_settings.name = "sRGB"
                mesh = tag(bpy.data.meshes.new("Alive Live Card"), LIVE_NAME)
                mesh.from_pydata(card_vertices(session.K, W, H, distance).tolist(), [], [[0, 1, 2, 3]])
                uv = mesh.uv_layers.new(name="UVMap")
                uv.data.foreach_set("uv", np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32).ravel())
                mesh.materials.append(_frame_material(image))
                mesh.update()
                card_obj = tag(bpy.data.objects.new("Alive Live Card", mesh), LIVE_NAME)
                coll.objects.link(card_obj)
                card_obj.matrix_world = Matrix(np.asarray(session.world_from_camera).tolist())
        except BaseException:
            remove_bake(LIVE_NAME)
            raise
        view = cls(scene, coll, points_obj, card_obj, image)
        view.show(first)
        return view

    def show(self, frame) -> float:
        """Write one frame into the points mesh and the card's image; returns the seconds it took."""
        t0 = time.perf_counter()
        if self.points_object is not None and frame.positions is not None:
            mesh = self.points_object.data
            mesh.clear_geometry()
            if COLOR_ATTR in mesh.attributes:
                mesh.attributes.remove(mesh.attributes[COLOR_ATTR])
            mesh.vertices.add(len(frame.positions))
            mesh.attributes["position"].data.foreach_set("vector", np.ascontiguousarray(frame.positions).ravel())
            ca = mesh.attributes.new(COLOR_ATTR, "BYTE_COLOR", "POINT")
            ca.data.foreach_set("color_srgb", (frame.colors.astype(np.float32) * np.float32(1 / 255)).ravel())
            mesh.update()
        if self.image is not None:
            H, W = frame.rgb.shape[:2]
            if tuple(self.image.size) != (W, H):
                self.image.scale(W, H)
            if self._rgba is None or self._rgba.shape[:2] != (H, W):
                self._rgba = np.ones((H, W, 4), np.float32)   # reused: no 15 MB allocation a tick at 720p
            if frame.rgba is not None:   # one pass over 4 contiguous channels (3 strided ones: 8x slower)
                np.multiply(frame.rgba[::-1], np.float32(1 / 255), out=self._rgba)   # rows run bottom-up
            else:
                np.multiply(frame.rgb[::-1], np.float32(1 / 255), out=self._rgba[..., :3])
            self.image.pixels.foreach_set(self._rgba.ravel())
            self.image.update()
        self.ticks += 1
        return time.perf_counter() - t0

    def remove(self) -> int:
        """Take away everything the view added: the scene is as it was before Play Live."""
        self.points_object = self.card_object = self.image = None
        return remove_bake(LIVE_NAME)


def live_tick(view: LiveView, session, inputs=None, recorder=None, dropped: int = 0) -> dict:
    """One tick: ``dropped`` missed ticks are stepped without being shown (a slow tick drops
    frames), then the session steps under ``inputs`` and the view shows its frame."""
    t0 = time.perf_counter()
    if dropped > 0:
        session.advance(int(dropped) * max(session.tempo, 0))
    frame = session.step(inputs)
    if recorder is not None:
        recorder.add(frame)
    scene_s = view.show(frame)
    timings = dict(frame.timings, scene_ms=scene_s * 1e3, tick_ms=(time.perf_counter() - t0) * 1e3)
    return {"frame": frame, "timings": timings}


def ground_point(region, rv3d, coord, height: float) -> Optional[np.ndarray]:
    """Where the view ray through ``coord`` (region pixels) meets the plane z = ``height``."""
    from bpy_extras import view3d_utils
    origin = np.array(view3d_utils.region_2d_to_origin_3d(region, rv3d, coord))
    direction = np.array(view3d_utils.region_2d_to_vector_3d(region, rv3d, coord))
    if abs(direction[2]) < 1e-9:
        return None
    t = (height - origin[2]) / direction[2]
    return origin + t * direction if t > 0 else None
