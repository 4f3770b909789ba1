"""Every difference between the Blender versions the extension supports
(4.2 LTS to 5.2, Python 3.11 and 3.13), in one place.

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
