"""Baked frames as a keyframed texture.

Two storage modes:

* ``sequence``: PNG files in ``alive_<name>/`` next to the .blend (relative
  ``//`` paths once saved). The Image Texture node's image user is cyclic with
  a duration of 1, so the file it reads is always ``1 + frame_offset``
  whatever the scene frame; ``frame_offset`` is keyed (constant) to the
  generated frame index at each generated frame's first scene frame.
* ``atlas``: every frame as a tile of one image packed into the .blend; a
  Mapping node scales the coordinates to one tile and its keyed Location picks
  the tile. The .blend then renders with nothing else on disk.

Targets: a card filling the capture camera's frustum (UVs), the world
background (Window coordinates: the frames as the camera saw them), or a
material on a chosen mesh (its UV map). What a target replaced (a scene's
world, an object's first material) is recorded and restored on re-bake.
"""

from __future__ import annotations

from typing import Optional
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

from ...core.errors import AliveError
from ...core.workdir.capture_store import link_or_copy
from ...core.workdir.images import write_png
from ...core.atlas import MAX_ATLAS_SIDE, atlas_layout, atlas_pixels, check_atlas_size, tile_offsets  # noqa: F401
from . import frame_folders
from .tags import TAG, tag

PREV_WORLD = "alive_prev_world"          # on a baked world: the world it replaced
TARGET_OBJECT = "alive_target"           # on a baked object material: the object it was put on
PREV_MATERIAL = "alive_prev_material"    # ... and the material it replaced there ("" = slot added)


def _atlas_image(name: str, rgb: np.ndarray):
    N, H, W = rgb.shape[:3]
    cols, rows = check_atlas_size(N, W, H)
    img = tag(bpy.data.images.new(f"Alive Atlas {name}", width=cols * W, height=rows * H, alpha=False), name)
    img.pixels.foreach_set(atlas_pixels(rgb, cols, rows).ravel())
    img.update()
    img.pack()  # stored in the .blend as PNG (lossless): renders with nothing else on disk
    if img.packed_file is None:
        raise AliveError("packing the atlas image into the .blend failed", "use --texture sequence")
    return img, cols, rows


def _sequence_image(name: str, rgb: np.ndarray, blend_dir: Path, pngs: Optional[Path] = None):
    """The frames as a PNG sequence next to the .blend; frames the decode
    already wrote as PNG (``pngs``) are linked (or copied), not encoded again."""
    folder = Path(blend_dir) / f"alive_{bpy.path.clean_name(name)}"

    def fill(tmp: Path) -> None:
        for i, frame in enumerate(rgb):
            png = f"frame_{i + 1:05d}.png"
            if pngs is not None and (Path(pngs) / png).is_file():
                link_or_copy(Path(pngs) / png, tmp / png)
            else:
                write_png(tmp / png, frame)
    # swapped at once, or (CLI) written beside the old folder and switched after the .blend's save
    now = frame_folders.write_frames(folder, fill)
    first = now / "frame_00001.png"
    img = tag(bpy.data.images.load(str(first), check_existing=False), name)
    img.name = f"Alive Frames {name}"
    frame_folders.shown_by(now, img.name)
    img.source = "SEQUENCE"
    if bpy.data.filepath:
        img.filepath = bpy.path.relpath(str(first))
    return img, folder


def _keys_constant(idblock, name: str) -> None:
    """Constant interpolation on every key of ``idblock``'s action (frames switch,
    never blend) and tag the action as this bake's."""
    from .. import compat
    ad = idblock.animation_data
    if not ad or not ad.action:
        return
    tag(ad.action, name)
    for fc in compat.action_fcurves(ad):
        for kp in fc.keyframe_points:
            kp.interpolation = "CONSTANT"


class FrameSource:
    """The image and how to select generated frame i at scene frame frames[i]."""

    def __init__(self, name: str, mode: str, rgb: np.ndarray, frames: np.ndarray, blend_dir: Path,
                 pngs: Optional[Path] = None):
        self.name, self.mode, self.frames = name, mode, np.asarray(frames)
        if mode == "atlas":
            self.image, self.cols, self.rows = _atlas_image(name, rgb)
            self.offsets = tile_offsets(len(rgb), self.cols, self.rows)
            self.folder = None
        else:
            self.image, self.folder = _sequence_image(name, rgb, blend_dir, pngs)

    def nodes(self, nt, coord_socket, x: float = 0.0):
        """Add the texture lookup to node tree ``nt``; returns the colour output socket.
        Keys land on ``nt``'s animation data."""
        tex = nt.nodes.new("ShaderNodeTexImage")
        tex.name = "Alive Frames"
        tex.image = self.image
        tex.interpolation = "Closest"   # pixels as decoded; no bleeding between atlas tiles
        tex.extension = "EXTEND"
        tex.location = (x + 400, 0)
        if self.mode == "atlas":
            mapping = nt.nodes.new("ShaderNodeMapping")
            mapping.name = "Alive Tile"
            mapping.vector_type = "POINT"
            mapping.inputs["Scale"].default_value = (1.0 / self.cols, 1.0 / self.rows, 1.0)
            mapping.location = (x + 200, 0)
            nt.links.new(coord_socket, mapping.inputs["Vector"])
            nt.links.new(mapping.outputs["Vector"], tex.inputs["Vector"])
            loc = mapping.inputs["Location"]
            for (u, v), f in zip(self.offsets, self.frames):
                loc.default_value = (float(u), float(v), 0.0)
                loc.keyframe_insert("default_value", frame=int(f))
        else:
            nt.links.new(coord_socket, tex.inputs["Vector"])
            iu = tex.image_user
            # cyclic with duration 1: the file read is 1 + frame_offset at every scene frame
            iu.frame_start = int(self.frames[0])
            iu.frame_duration = 1
            iu.use_cyclic = True
            iu.use_auto_refresh = True
            for i, f in enumerate(self.frames):
                iu.frame_offset = i
                iu.keyframe_insert("frame_offset", frame=int(f))
        return tex.outputs["Color"]


def _shade_with_frames(idblock, name: str, source: FrameSource, coords: str, shader: str, output: str) -> None:
    """Replace ``idblock``'s node tree with: texture coordinates ``coords`` ->
    the frames -> ``shader`` (its Color input, its first output) -> ``output``."""
    idblock.use_nodes = True
    nt = idblock.node_tree
    nt.nodes.clear()
    tc = nt.nodes.new("ShaderNodeTexCoord")
    color = source.nodes(nt, tc.outputs[coords], 200)
    shade = nt.nodes.new(shader)
    out = nt.nodes.new(output)
    nt.links.new(color, shade.inputs["Color"])
    nt.links.new(shade.outputs[0], out.inputs["Surface"])
    shade.location, out.location = (900, 0), (1100, 0)
    _keys_constant(nt, name)


def _emission_material(mat_name: str, name: str, source: FrameSource, coords: str = "UV"):
    mat = tag(bpy.data.materials.new(mat_name), name)
    _shade_with_frames(mat, name, source, coords, "ShaderNodeEmission", "ShaderNodeOutputMaterial")
    return mat


def card_vertices(K: np.ndarray, width: int, height: int, distance: float) -> np.ndarray:
    """Camera-space (Blender axes) corners of the image plane at ``distance``:
    bottom-left, bottom-right, top-right, top-left as seen from the camera."""
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    x0, x1 = (0 - cx) / fx * distance, (width - cx) / fx * distance
    y0, y1 = (0 - cy) / fy * distance, (height - cy) / fy * distance   # OpenCV: y down
    return np.array([[x0, -y1, -distance], [x1, -y1, -distance], [x1, -y0, -distance], [x0, -y0, -distance]])


def _card(scene, coll, name: str, mat, K, poses, frames, width, height, distance):
    mesh = tag(bpy.data.meshes.new(f"Alive Card {name}"), name)
    mesh.from_pydata(card_vertices(K, width, height, distance).tolist(), [], [[0, 1, 2, 3]])
    uv = mesh.uv_layers.new(name="UVMap")
    uv.data.foreach_set("uv", np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32).ravel())
    mesh.materials.append(mat)
    mesh.update()
    obj = tag(bpy.data.objects.new(f"Alive Card {name}", mesh), name)
    coll.objects.link(obj)
    obj.rotation_mode = "QUATERNION"
    if poses.ndim == 2:
        obj.matrix_world = Matrix(poses.tolist())
    else:
        # per-frame camera poses: the card follows the camera, frame by frame
        for pose, f in zip(poses, frames):
            obj.matrix_world = Matrix(pose.tolist())
            obj.keyframe_insert("location", frame=int(f))
            obj.keyframe_insert("rotation_quaternion", frame=int(f))
        _keys_constant(obj, name)
    return obj


def _world(scene, name: str, source: FrameSource):
    world = tag(bpy.data.worlds.new(f"Alive World {name}"), name)
    _shade_with_frames(world, name, source, "Window", "ShaderNodeBackground", "ShaderNodeOutputWorld")
    cyc = getattr(world, "cycles", None)
    if cyc is not None:
        # a video plate, not an environment: skip Cycles' importance map, which would be
        # rebuilt for every frame the image changes (seconds per frame)
        cyc.sampling_method = "NONE"
    prev = _users_own(scene.world, PREV_WORLD)
    if prev is not None:
        world[PREV_WORLD] = prev  # an ID property: keeps the user's world alive through a save
    scene.world = world
    return world


def _users_own(idb, key: str):
    """The user's own ID: ``idb`` itself, or what a bake's ID replaced (followed
    through so that removing bakes in any order ends with the user's again)."""
    if idb is None or idb.get(TAG) is None:
        return idb
    return idb.get(key)


def _on_object(obj, mat) -> None:
    mats = obj.data.materials
    mat[TARGET_OBJECT] = obj
    if len(mats) == 0:
        mats.append(mat)  # no PREV_MATERIAL: the slot is removed again
    else:
        prev = _users_own(mats[0], PREV_MATERIAL)
        if prev is not None:
            mat[PREV_MATERIAL] = prev
        mats[0] = mat


def restore_replaced(name: str) -> None:
    """Undo what bake ``name``'s targets replaced: scene worlds, object materials."""
    for scene in bpy.data.scenes:
        w = scene.world
        if w is not None and w.get(TAG) == name:
            scene.world = w.get(PREV_WORLD)
    for mat in [m for m in bpy.data.materials if m.get(TAG) == name and TARGET_OBJECT in m]:
        obj = mat[TARGET_OBJECT]
        if not isinstance(obj, bpy.types.Object) or obj.type != "MESH":
            continue
        mats = obj.data.materials
        for i in reversed(range(len(mats))):
            if mats[i] is not None and mats[i] == mat:
                prev = mat.get(PREV_MATERIAL)
                if prev is not None:
                    mats[i] = prev
                else:
                    mats.pop(index=i)


def bake_texture(scene, coll, settings, rgb: np.ndarray, frames: np.ndarray, K: np.ndarray, poses: np.ndarray,
                 distance: float, blend_dir: Path, target=None, pngs: Optional[Path] = None) -> dict:
    """Bake the frames as a texture on the chosen targets; returns what it made.
    ``pngs``: a folder holding the same frames as PNG already (the decode's)."""
    name = settings.name
    N, H, W = rgb.shape[:3]
    source = FrameSource(name, settings.texture_mode, rgb, frames, blend_dir, pngs)
    out = {"image": source.image.name, "texture_mode": settings.texture_mode}
    if source.folder is not None:
        out["image_folder"] = str(source.folder)
    else:
        out["atlas"] = [source.cols, source.rows]
    want_card = settings.card or not (settings.world or target is not None)
    if want_card:
        mat = _emission_material(f"Alive Card {name}", name, source)
        obj = _card(scene, coll, name, mat, K, poses, frames, W, H, distance)
        out["card_object"] = obj.name
        out["card_distance"] = float(distance)
    if settings.world:
        out["world"] = _world(scene, name, source).name
    if target is not None:
        mat = _emission_material(f"Alive Texture {name}", name, source)
        _on_object(target, mat)
        out["target_object"] = target.name
    return out
