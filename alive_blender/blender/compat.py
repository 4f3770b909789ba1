"""Every difference between the Blender versions the extension supports
(4.2 LTS to 5.3, Python 3.11 and 3.13), in one place.

The rest of the Blender layer is written against the 5.x API and calls these
helpers where 4.x differs. Each helper tests for the feature, not the version
number, so a point release that back-ports a change is handled too.

- Compositor: 5.0 made it a node group (``scene.compositing_node_group``);
  4.x has one tree per scene (``scene.use_nodes`` + ``scene.node_tree``).
- File Output node: 5.0 has ``file_output_items`` + ``directory``/``file_name``;
  4.x has ``file_slots`` + ``base_path`` and appends the frame number.
- Image formats: 5.0 added ``media_type``, which must be set before ``file_format``.
- Engines: EEVEE is ``BLENDER_EEVEE`` in 5.x, ``BLENDER_EEVEE_NEXT`` in 4.2-4.5.
- Actions: 4.4 added slotted actions (F-curves in channelbags); 4.2 has ``action.fcurves``
  (removed in 5.0).
- Sequencer: 4.4 renamed ``sequences`` to ``strips`` (the old name is gone in 5.0).
- Compositor effects: 5.3 wraps the compositor node group in ``scene.compositor_effects``.
- Render Layers node: the object index pass is 'Object Index' in 5.x, 'IndexOB' in 4.x.
- Geometry-nodes modifier inputs: 5.2 made them RNA structs
  (``mod.properties.inputs.<identifier>.value``); before, ID properties (``mod[identifier]``).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import bpy


def engine_id(name: str) -> str:
    """Blender's identifier for a render engine in this version ('EEVEE' -> BLENDER_EEVEE[_NEXT])."""
    if name in ("EEVEE", "BLENDER_EEVEE", "BLENDER_EEVEE_NEXT"):
        return "BLENDER_EEVEE_NEXT" if bpy.app.version < (5, 0, 0) else "BLENDER_EEVEE"
    return name


def is_eevee(engine: str) -> bool:
    return engine in ("BLENDER_EEVEE", "BLENDER_EEVEE_NEXT")


# --- compositor ---------------------------------------------------------------------------

@contextlib.contextmanager
def capture_compositor(scene):
    """A compositor node tree that is the scene's compositor while the block runs.

    5.x: a new node group set as ``scene.compositing_node_group`` (the caller's
    render_overrides restores the old group and removes the new one). 4.x: the
    scene's own tree, with its nodes muted (so the user's File Outputs write
    nothing) and ours removed again afterwards."""
    if hasattr(scene, "compositing_node_group"):
        tree = bpy.data.node_groups.new(".alive_capture_output", "CompositorNodeTree")
        scene.compositing_node_group = tree
        yield tree
        return
    use_nodes = scene.use_nodes
    scene.use_nodes = True
    tree = scene.node_tree
    muted = {n.name: n.mute for n in tree.nodes}
    links = [(lk.from_socket, lk.to_socket) for lk in tree.links]
    for n in tree.nodes:
        n.mute = True
    try:
        yield tree
    finally:
        for n in [n for n in tree.nodes if n.name not in muted]:
            if n.bl_idname == "CompositorNodeRLayers":
                n.scene = None
            tree.nodes.remove(n)
        for n in tree.nodes:
            n.mute = muted.get(n.name, n.mute)
        existing = {(lk.from_socket, lk.to_socket) for lk in tree.links}
        for a, b in links:
            if (a, b) not in existing:
                tree.links.new(a, b)
        scene.use_nodes = use_nodes


def compositor_effects(scene) -> set:
    """The scene's compositor effects (5.3+), to remove the ones a capture adds: in 5.3
    setting ``compositing_node_group`` makes a 'Scene Effect' that setting it back to
    None leaves behind. Empty before 5.3."""
    return {e.as_pointer() for e in getattr(scene, "compositor_effects", ())}


def remove_new_compositor_effects(scene, before: set) -> None:
    for effect in [e for e in getattr(scene, "compositor_effects", ()) if e.as_pointer() not in before]:
        scene.compositor_effects.remove(effect)


def render_layer_output(node, name: str):
    """A Render Layers node output by its 5.x name, or None while the pass is off
    (4.x names the object index pass 'IndexOB')."""
    old = {"Object Index": "IndexOB"}.get(name)
    sock = node.outputs.get(name)
    return sock if sock is not None or old is None else node.outputs.get(old)


def new_file_output(tree):
    """A File Output node with no inputs yet (4.x starts one with an 'Image' slot)."""
    node = tree.nodes.new("CompositorNodeOutputFile")
    if hasattr(node, "file_slots"):
        node.file_slots.clear()
    return node


def file_output_add(node, name: str, kind: str = "RGBA") -> None:
    """Add an input called ``name`` to a File Output node (kind: RGBA or FLOAT)."""
    if hasattr(node, "file_output_items"):
        node.file_output_items.new(kind, name)
    else:
        node.file_slots.new(name)


def file_output_format(node, name: str):
    """The image format of one File Output input, detached from the node's format."""
    if hasattr(node, "file_output_items"):
        item = node.file_output_items[name]
        item.override_node_format = True
        return item.format
    slot = node.file_slots[name]
    slot.use_node_format = False
    return slot.format


def set_file_format(fmt, file_format: str) -> None:
    """Set an ImageFormatSettings' file format (5.x: media type first)."""
    if hasattr(fmt, "media_type"):
        fmt.media_type = "MULTI_LAYER_IMAGE" if file_format == "OPEN_EXR_MULTILAYER" else "IMAGE"
    fmt.file_format = file_format


def set_color_mode(fmt, *modes: str) -> str:
    """Set the first of ``modes`` the format accepts (4.2's OPEN_EXR has no BW: RGB then,
    the value in every channel); returns the one set."""
    for mode in modes:
        try:
            fmt.color_mode = mode
            return mode
        except TypeError:
            continue
    raise TypeError(f"none of the colour modes {modes} is accepted by {fmt.file_format}")


def file_output_target(node, folder: Path, stem: str, names: tuple[str, ...]) -> None:
    """Make the File Output node write its inputs ``names`` as ``folder/stem<name>...``."""
    if hasattr(node, "file_output_items"):
        node.directory = str(folder) + os.sep
        node.file_name = stem
        return
    node.base_path = str(folder) + os.sep
    for slot, name in zip(node.file_slots, names):
        slot.path = stem + name


def file_output_written(folder: Path, stem: str, name: str, ext: str) -> Path:
    """The file the File Output node wrote for input ``name`` (4.x appends the frame number)."""
    exact = Path(folder) / f"{stem}{name}{ext}"
    if exact.exists():
        return exact
    found = sorted(Path(folder).glob(f"{stem}{name}*{ext}"))
    return found[0] if found else exact


# --- animation ----------------------------------------------------------------------------

def action_fcurves(anim_data) -> list:
    """The F-curves that animate the ID owning ``anim_data`` (empty if none)."""
    if anim_data is None or anim_data.action is None:
        return []
    action = anim_data.action
    slot = getattr(anim_data, "action_slot", None)
    if slot is not None or not hasattr(action, "fcurves"):
        from bpy_extras import anim_utils
        bag = anim_utils.action_get_channelbag_for_slot(action, slot)
        return list(bag.fcurves) if bag is not None else []
    return list(action.fcurves)


def find_fcurve(anim_data, data_path: str, index: int = 0):
    for fc in action_fcurves(anim_data):
        if fc.data_path == data_path and fc.array_index == index:
            return fc
    return None


# --- sequencer ----------------------------------------------------------------------------

def sequencer_strips(sequence_editor):
    """The sequence editor's top-level strips collection (``strips``; 4.2: ``sequences``)."""
    return sequence_editor.strips if hasattr(sequence_editor, "strips") else sequence_editor.sequences


# --- geometry nodes and object types --------------------------------------------------------

def add_int_math(nodes, operation: str):
    """An integer Math node (4.3+); 4.2 has none, so a float Math node: exact up to 2**24,
    which bounds a 4.2 bake to 16.7 million points in all."""
    if hasattr(bpy.types, "FunctionNodeIntegerMath"):
        node = nodes.new("FunctionNodeIntegerMath")
    else:
        node = nodes.new("ShaderNodeMath")
    node.operation = operation
    return node


def can_convert_to_pointcloud() -> bool:
    """Object > Convert > Point Cloud exists (4.3+)."""
    items = bpy.ops.object.convert.get_rna_type().properties["target"].enum_items
    return "POINTCLOUD" in items.keys()


def evaluated_point_attributes(obj, names: tuple[str, ...]) -> dict:
    """The points an object's modifiers make, as {attribute name: flat float32 array}
    ('position' included; missing attributes are left out) for the current frame.

    5.x: ``evaluated_geometry().pointcloud``. 4.x has no Python access to a mesh
    object's point-cloud result, so a Points to Vertices node is put before the
    modifier group's output for the moment of reading, and the result is read as a mesh."""
    import numpy as np
    depsgraph = bpy.context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(depsgraph)
    if hasattr(ev, "evaluated_geometry"):
        geometry = ev.evaluated_geometry()   # held: its point cloud is freed with it (ReferenceError)
        return _read_attributes(geometry.pointcloud, names, np)
    if obj.type == "POINTCLOUD":
        return _read_attributes(ev.data, names, np)
    mod = next(m for m in obj.modifiers if m.type == "NODES" and m.node_group is not None)
    tree = mod.node_group
    out = next(n for n in tree.nodes if n.bl_idname == "NodeGroupOutput")
    src = out.inputs[0].links[0].from_socket
    # the radius is not carried over to vertices: keep a copy under another name
    keep_radius = tree.nodes.new("GeometryNodeStoreNamedAttribute")
    keep_radius.data_type, keep_radius.domain = "FLOAT", "POINT"
    keep_radius.inputs["Name"].default_value = ".alive_radius"
    radius = tree.nodes.new("GeometryNodeInputRadius")
    to_vertices = tree.nodes.new("GeometryNodePointsToVertices")
    tree.links.new(src, keep_radius.inputs["Geometry"])
    tree.links.new(radius.outputs[0], keep_radius.inputs["Value"])
    tree.links.new(keep_radius.outputs["Geometry"], to_vertices.inputs["Points"])
    tree.links.new(to_vertices.outputs["Mesh"], out.inputs[0])
    mesh = None
    try:
        depsgraph = bpy.context.evaluated_depsgraph_get()
        depsgraph.update()
        mesh = bpy.data.meshes.new_from_object(obj.evaluated_get(depsgraph), preserve_all_data_layers=True,
                                               depsgraph=depsgraph)
        found = _read_attributes(mesh, tuple(names) + (".alive_radius",), np)
        if "radius" in names and ".alive_radius" in found:
            found["radius"] = found[".alive_radius"]
        found.pop(".alive_radius", None)
        return found
    finally:
        for node in (to_vertices, radius, keep_radius):
            tree.nodes.remove(node)
        tree.links.new(src, out.inputs[0])
        if mesh is not None:
            bpy.data.meshes.remove(mesh)


def _read_attributes(geometry, names, np) -> dict:
    if geometry is None:
        return {"position": np.zeros(0, np.float32)}
    out = {}
    for name in ("position",) + tuple(names):
        attr = geometry.attributes.get(name)
        if attr is None:
            continue
        width = {"FLOAT_VECTOR": 3, "FLOAT_COLOR": 4, "BYTE_COLOR": 4, "FLOAT2": 2}.get(attr.data_type, 1)
        key = {"FLOAT_VECTOR": "vector", "FLOAT_COLOR": "color", "BYTE_COLOR": "color",
               "FLOAT2": "vector"}.get(attr.data_type, "value")
        values = np.zeros(len(attr.data) * width, np.float32)
        attr.data.foreach_get(key, values)
        out[name] = values
    return out


def settle_mesh_layers() -> None:
    """4.x makes a UV map's pin and selection layers the first time Python reads them,
    which moves the UV layers in memory; read them once up front so that walking the
    scene twice sees the same layers at the same addresses."""
    if bpy.app.version >= (5, 0, 0):
        return
    for mesh in bpy.data.meshes:
        for uv in mesh.uv_layers:
            for name in ("pin", "vertex_selection", "edge_selection"):
                getattr(uv, name)[:1]


def set_modifier_input(mod, identifier: str, value) -> None:
    """Set a geometry-nodes modifier input. 5.2: each input is an RNA struct,
    ``mod.properties.inputs.<identifier>.value`` (item assignment there would only
    add a custom property that evaluation ignores; for an ID-pointer input it
    deadlocks the next depsgraph update). Before 5.2: an ID property, ``mod[identifier]``."""
    inputs = getattr(getattr(mod, "properties", None), "inputs", None)
    if inputs is not None:
        getattr(inputs, identifier).value = value
    else:
        mod[identifier] = value


def get_modifier_input(mod, identifier: str):
    inputs = getattr(getattr(mod, "properties", None), "inputs", None)
    return getattr(inputs, identifier).value if inputs is not None else mod[identifier]
