"""Content keys of what a render depends on: the scene's state at one (sub)frame.

A capture sample's key is ``content_key(static, dynamic(frame), frame)``:

* ``static_digest`` (once per capture, at the first sample): a walk over the
  RNA properties of every datablock kind a render reads (objects, meshes with
  all their attributes and topology, curves, materials and node trees, images
  with file size/mtime, lights, cameras, worlds, collections, ...) and of the
  scene's render/engine/view-layer/colour settings. Animation actions are left
  out here: their effect is in the dynamic part, so editing one keyframe
  re-renders only the frames whose evaluated values changed.
* ``dynamic_digest`` (per sample, after ``frame_set``): the evaluated value of
  every animated or driven property, the evaluated world matrix of every object
  instance the depsgraph renders (covers parenting, constraints, instancing),
  and a hash of the evaluated vertex positions of objects that deform
  (modifiers, shape keys, animated data).

The frame number is always part of the key, so frame-dependent effects that
no property shows (Scene Time in nodes, simulations, animated noise seed,
image sequences) never reuse another frame's render.

Known limits, kept on the conservative side where cheap: big non-mesh
collections (over ``MAX_ITEMS`` items, e.g. curve points) are keyed by length
only; simulation caches and linked libraries' files are keyed by name.
"""

from __future__ import annotations

import hashlib
import os

import bpy
import numpy as np

from .. import compat

MAX_DEPTH = 6
MAX_ITEMS = 4096

# datablock collections whose content can change a render
ID_KINDS = ("objects", "meshes", "curves", "hair_curves", "pointclouds", "volumes", "metaballs", "lattices",
            "armatures", "grease_pencils", "materials", "node_groups", "textures", "images", "lights",
            "lightprobes", "worlds", "cameras", "collections", "particles", "shape_keys", "fonts",
            "cache_files", "movieclips", "masks", "speakers")

_SKIP = {"rna_type", "users", "session_uid", "tag", "is_evaluated", "original", "is_runtime_data", "is_missing",
         "is_editmode", "use_extra_user", "is_dirty", "preview", "select", "select_head", "select_tail",
         "is_library_indirect", "library_weak_reference", "asset_data", "use_fake_user", "is_embedded_data",
         "animation_data", "bl_rna", "mode", "is_override_data", "override_library", "bound_box",
         "pixels", "bindcode", "packed_files", "is_dirty", "has_data", "is_float", "is_editmode",
         "vertex_colors", "uv_layers", "loop_triangles", "loop_triangle_polygons", "normals",
         "corner_normals", "polygon_normals", "vertex_normals", "color_attributes", "edges", "loops",
         "polygons", "vertices", "attributes", "skin_vertices", "vertex_creases", "edge_creases",
         "shape_keys_eval", "total_vert_sel", "total_edge_sel", "total_face_sel", "active_material_index",
         "active_shape_key_index", "active_material", "display", "statistics", "id_data",
         "is_modified", "grease_pencil_modifiers", "field", "matrix_world", "matrix_local", "matrix_basis",
         "dimensions", "angle", "angle_x", "angle_y"}  # the last ones: derived from lens and sensor
# node editor layout: moving a node around does not change the render
_NODE_UI = {"location", "location_absolute", "width", "height", "dimensions", "show_options", "show_preview",
            "hide", "show_texture", "color", "use_custom_color", "label", "color_tag", "warning_propagation",
            "show_expanded", "parent", "internal_links", "active_item_index", "bl_label", "bl_description",
            "bl_icon", "bl_width_default", "bl_width_min", "bl_width_max", "bl_height_default", "bl_height_min",
            "bl_height_max", "bl_static_type"}
# of a node socket only these decide the render (links are hashed with the tree's links)
_SOCKET_KEEP = {"identifier", "default_value", "enabled"}
# scene properties that say where/when the user looks, not what renders
_SCENE_SKIP = {"frame_current", "frame_float", "frame_subframe", "frame_current_final", "cursor", "tool_settings",
               "sequence_editor", "keying_sets", "keying_sets_all", "timeline_markers", "alive", "collection",
               "objects", "camera", "depsgraph", "compositing_node_group", "node_tree", "use_nodes",
               "grease_pencil_settings",
               "safe_areas", "transform_orientation_slots", "unit_settings", "use_preview_range",
               "frame_preview_start", "frame_preview_end", "show_subframe", "frame_start", "frame_end",
               "frame_step", "background_set", "render", "view_layers", "is_nla_tweakmode", "rigidbody_world"}
_RENDER_SKIP = {"filepath", "image_settings", "ffmpeg", "use_file_extension", "use_overwrite", "use_placeholder",
                "file_extension", "is_movie_format", "use_lock_interface", "frame_path", "has_multiple_engines",
                "use_border", "use_crop_to_border", "border_min_x", "border_min_y", "border_max_x",
                "border_max_y", "use_compositing", "use_sequencer", "resolution_x", "resolution_y",
                "resolution_percentage", "engine", "dither_intensity"}
_VIEWLAYER_SKIP = {"objects", "active_layer_collection", "depsgraph", "use_pass_z"}

_ATTR_FIELDS = {"FLOAT": ("value", 1, np.float32), "INT": ("value", 1, np.int32), "INT8": ("value", 1, np.int32),
                "FLOAT_VECTOR": ("vector", 3, np.float32), "FLOAT2": ("vector", 2, np.float32),
                "FLOAT_COLOR": ("color", 4, np.float32), "BYTE_COLOR": ("color", 4, np.float32),
                "BOOLEAN": ("value", 1, bool), "INT32_2D": ("value", 2, np.int32),
                "QUATERNION": ("value", 4, np.float32), "FLOAT4X4": ("value", 16, np.float32)}


class _Hasher:
    """Collects parts and hashes their repr once at the end (cheaper than per part)."""

    def __init__(self, log=None):
        self.parts: list = []
        self.log = log

    def add(self, *parts) -> None:
        if self.log is not None:
            self.log.append(parts)
        self.parts.append(parts)

    def add_bytes(self, b: bytes) -> None:
        self.parts.append(hashlib.sha256(b).digest())

    def hexdigest(self) -> str:
        return hashlib.sha256(repr(self.parts).encode()).hexdigest()[:32]


def _value(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (set, frozenset)):   # enum flags: sets iterate in a per-process order
        return tuple(sorted(v))
    try:
        return tuple(v)   # bpy arrays, vectors, matrices (rows repr as vectors)
    except TypeError:
        return repr(v)


def _walk(h: _Hasher, struct, depth: int, seen: set, skip: set = frozenset(), animated: set = frozenset()) -> None:
    """Hash the RNA properties of ``struct`` (IDs it points to by name).
    ``animated``: (struct pointer, property) pairs left to the per-frame digest."""
    try:
        ptr = struct.as_pointer()
    except (AttributeError, ReferenceError):
        return
    if ptr in seen or depth > MAX_DEPTH:
        return
    seen.add(ptr)
    is_node = isinstance(struct, bpy.types.Node)
    is_socket = isinstance(struct, bpy.types.NodeSocket)
    props = struct.bl_rna.properties
    if is_socket:
        # sorted: a set of strings iterates in a per-process order (hash randomisation)
        props = [props[n] for n in sorted(_SOCKET_KEEP) if n in props]
    for prop in props:
        name = prop.identifier
        if name in _SKIP or name in skip or (is_node and name in _NODE_UI) or (ptr, name) in animated \
                or (is_socket and name not in _SOCKET_KEEP):
            continue
        try:
            value = getattr(struct, name)
        except Exception:   # some properties refuse to be read in some states: not part of the key then
            continue
        kind = prop.type
        if kind == "POINTER":
            if value is None:
                h.add(name, None)
            elif isinstance(value, bpy.types.ID) and not value.is_embedded_data:
                h.add(name, type(value).__name__, value.name_full)
            elif value.as_pointer() in seen:   # hashed already: say which one (e.g. a link's socket)
                h.add(name, "ref", repr(value))
            else:
                h.add(name, "{")
                _walk(h, value, depth + 1, seen, animated=animated)
                h.add("}")
        elif kind == "COLLECTION":
            n = len(value)
            h.add(name, n)
            if n > MAX_ITEMS:
                continue
            for item in value:
                if isinstance(item, bpy.types.ID):
                    h.add(item.name_full)
                else:
                    _walk(h, item, depth + 1, seen, animated=animated)
        else:
            h.add(name, _value(value))


def _mesh_geometry(h: _Hasher, mesh) -> None:
    """Topology and every attribute of a mesh, read in bulk."""
    for coll, field, dtype, width in ((mesh.vertices, "co", np.float32, 3),
                                      (mesh.edges, "vertices", np.int32, 2),
                                      (mesh.polygons, "loop_start", np.int32, 1),
                                      (mesh.loops, "vertex_index", np.int32, 1)):
        arr = np.empty(len(coll) * width, dtype)
        coll.foreach_get(field, arr)
        h.add(field, arr.size)
        h.add_bytes(arr.tobytes())
    for attr in mesh.attributes:
        spec = _ATTR_FIELDS.get(attr.data_type)
        h.add(attr.name, attr.domain, attr.data_type, len(attr.data))
        if spec is None or attr.name == "position":
            continue
        field, width, dtype = spec
        arr = np.empty(len(attr.data) * width, dtype)
        try:
            attr.data.foreach_get(field, arr)
        except (RuntimeError, TypeError, AttributeError):
            continue
        h.add_bytes(arr.tobytes())
    for uv in mesh.uv_layers:
        arr = np.empty(len(uv.uv) * 2, np.float32)
        uv.uv.foreach_get("vector", arr)
        h.add(uv.name)
        h.add_bytes(arr.tobytes())


def _image_file(h: _Hasher, img) -> None:
    if img.packed_file is not None:
        h.add("packed", img.packed_file.size)
        h.add_bytes(bytes(img.packed_file.data)[:1 << 20])
        return
    path = bpy.path.abspath(img.filepath, library=img.library)
    try:
        st = os.stat(path)
        h.add(path, st.st_size, st.st_mtime_ns)
    except OSError:
        h.add(path, "missing")


def _ids():
    out = []
    for kind in ID_KINDS:
        coll = getattr(bpy.data, kind, None)
        if coll is None:
            continue
        for idb in coll:
            if kind == "images" and idb.type in {"RENDER_RESULT", "COMPOSITING"}:
                continue  # what the last render left, not an input
            out.append(idb)
            tree = getattr(idb, "node_tree", None)
            if tree is not None:
                out.append(tree)
    return out


def static_digest(scene, log=None) -> str:
    """Everything a render reads that does not change from frame to frame."""
    compat.settle_mesh_layers()
    h = _Hasher(log)
    seen: set = set()
    animated = set()
    for idb in _ids() + [scene, scene.world]:
        for path, _index in _animated(idb) if idb is not None else []:
            owner_path, _, prop = path.rpartition(".")
            try:
                owner = idb.path_resolve(owner_path) if owner_path else idb
                animated.add((owner.as_pointer(), prop))
            except (ValueError, AttributeError):
                pass
    h.add("scene", scene.name)
    _walk(h, scene, 0, seen, _SCENE_SKIP, animated)
    _walk(h, scene.render, 0, seen, _RENDER_SKIP, animated)
    for vl in scene.view_layers:
        _walk(h, vl, 0, seen, _VIEWLAYER_SKIP, animated)
    for idb in _ids():
        h.add(type(idb).__name__, idb.name_full)
        _walk(h, idb, 0, seen, animated=animated)
        if isinstance(idb, bpy.types.Mesh):
            _mesh_geometry(h, idb)
        elif isinstance(idb, bpy.types.Image) and idb.source in {"FILE", "SEQUENCE", "MOVIE", "TILED"}:
            _image_file(h, idb)
    return h.hexdigest()


def _animated(idb):
    """(data_path, index) of every animated or driven property of an ID."""
    ad = getattr(idb, "animation_data", None)
    if ad is None:
        return []
    paths = []
    paths += [(fc.data_path, fc.array_index) for fc in compat.action_fcurves(ad)]
    paths += [(fc.data_path, fc.array_index) for fc in ad.drivers]
    for track in ad.nla_tracks:
        h = _Hasher()
        for strip in track.strips:
            h.add(strip.name, strip.frame_start, strip.frame_end, strip.action.name if strip.action else None)
        paths.append(("__nla__" + track.name + h.hexdigest(), -1))
    return paths


def may_deform(obj) -> bool:
    """Whether an object's evaluated geometry can differ from its mesh (modifiers, shape keys,
    animated data, non-mesh geometry)."""
    data = obj.data
    return bool(len(obj.modifiers) or (getattr(data, "shape_keys", None) is not None)
                or (data is not None and data.animation_data is not None) or obj.type not in
                {"MESH", "CAMERA", "LIGHT", "EMPTY", "LIGHT_PROBE", "SPEAKER"})


class SceneState:
    """Per-capture helper: the static digest once, then a key per sample."""

    def __init__(self, scene):
        self.scene = scene
        self.static = static_digest(scene)
        self.animated = [(idb, _animated(idb)) for idb in _ids() + [scene, scene.world] if idb is not None]
        self.animated = [(idb, paths) for idb, paths in self.animated if paths]

    def dynamic_digest(self, depsgraph) -> str:
        h = _Hasher()
        for idb, paths in self.animated:
            ev = depsgraph.id_eval_get(idb) if hasattr(depsgraph, "id_eval_get") else idb
            for path, index in paths:
                if path.startswith("__nla__"):
                    h.add(path)
                    continue
                try:
                    v = ev.path_resolve(path)
                    if index >= 0 and hasattr(v, "__len__") and not isinstance(v, str):
                        v = v[index]
                except (ValueError, AttributeError, IndexError, TypeError):
                    v = "?"
                h.add(idb.name_full, path, index, _value(v) if not isinstance(v, bpy.types.bpy_struct) else repr(v))
        for inst in depsgraph.object_instances:
            obj = inst.object
            if not inst.show_self and not inst.show_particles:
                continue
            m = np.asarray(inst.matrix_world, np.float64).round(6)
            h.add(obj.name, obj.type, inst.is_instance)
            h.add_bytes(m.tobytes())
            if obj.type == "MESH" and (inst.is_instance or may_deform(obj.original)):
                mesh = obj.data
                arr = np.empty(len(mesh.vertices) * 3, np.float32)
                mesh.vertices.foreach_get("co", arr)
                h.add_bytes(arr.tobytes())
        return h.hexdigest()
