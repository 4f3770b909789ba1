"""The 3-D bake (``bake --points-3d``): one fused cloud per moving object plus the
background cloud, each an object moved per frame by keyed transforms.

The clouds are the object-world generator's (``core/models/world_layers.py``):
an object's points in its own frame, the background's in world space. Each
becomes a mesh of vertices with an sRGB byte colour and a per-point radius
(half its footprint, slightly enlarged so neighbours overlap); a small
geometry-nodes group makes them points with the bake's emission material
(the same one the per-frame point bake uses). Each object cloud's world
matrix is keyed per invented frame from the rollout's poses
(``objects.key_object_poses``), so the clouds are solid from every side the
capture saw, render from any camera, and play back without the add-on. The
.blend holds each point once, not once per frame. A deforming object has one
cloud object per captured deformation state ("NAME state S"), all moved by the
same keys; per frame only the state of the sample the object is drawn from
(``R.states.npy``) is visible (keyed ``hide_render``/``hide_viewport``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

import bpy

from ...core.errors import AliveError
from .objects import key_object_poses, rollout_appearance, rollout_poses
from .points import _collection, _point_material, modifier_input, remove_bake, write_point_mesh
from .tags import tag
from .. import compat

RADIUS_ATTR = "alive_radius"
RADIUS_OVERLAP = 0.75    # radius = this x footprint: neighbouring points overlap, no see-through cracks


def _cloud_node_group(name: str):
    """Mesh vertices -> points (radius from the per-point attribute) with a material."""
    ng = tag(bpy.data.node_groups.new(f"Alive Cloud {name}", "GeometryNodeTree"), name)
    iface = ng.interface
    iface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    iface.new_socket("Material", in_out="INPUT", socket_type="NodeSocketMaterial")
    iface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    n, link = ng.nodes, ng.links.new
    gin, gout = n.new("NodeGroupInput"), n.new("NodeGroupOutput")
    radius = n.new("GeometryNodeInputNamedAttribute")
    radius.data_type = "FLOAT"
    radius.inputs["Name"].default_value = RADIUS_ATTR
    to_points = n.new("GeometryNodeMeshToPoints")
    link(gin.outputs["Geometry"], to_points.inputs["Mesh"])
    link(radius.outputs["Attribute"], to_points.inputs["Radius"])
    setmat = n.new("GeometryNodeSetMaterial")
    link(to_points.outputs["Points"], setmat.inputs["Geometry"])
    link(gin.outputs["Material"], setmat.inputs["Material"])
    link(setmat.outputs["Geometry"], gout.inputs["Geometry"])
    for i, node in enumerate((gin, radius, to_points, setmat, gout)):
        node.location = (i * 220, 0)
    return ng


def _cloud_object(coll, name: str, label: str, cloud, group, material):
    mesh = tag(bpy.data.meshes.new(f"Alive Cloud {name} {label}"), name)
    cols = np.concatenate([cloud.colors, np.full((len(cloud), 1), 255, np.uint8)], 1)
    write_point_mesh(mesh, cloud.points, None, cols)
    mesh.attributes.new(RADIUS_ATTR, "FLOAT", "POINT").data.foreach_set(
        "value", np.ascontiguousarray(cloud.sizes * RADIUS_OVERLAP, np.float32))
    mesh.materials.append(material)
    obj = tag(bpy.data.objects.new(f"Alive Cloud {name} {label}", mesh), name)
    coll.objects.link(obj)
    mod = obj.modifiers.new("Alive Cloud", "NODES")
    mod.node_group = group
    compat.set_modifier_input(mod, modifier_input(mod, "Material"), material)
    return obj


def bake_world(scene, workdir, name: str = "alive", rollout_file: Optional[Path] = None, variation: int = 0,
               start: Optional[int] = None, reporter=None) -> dict:
    """Bake the object-world generator's clouds into ``scene``, moved by the rollout's poses."""
    from ...core.run.stages import load_generator
    gen = load_generator(workdir)
    if getattr(gen.cfg, "arch", "") != "object-world" or not gen.objects:
        raise AliveError("the 3-D bake needs an object-world generator with moving objects",
                         "train with --generator object-world (a capture with object ids)")
    names, poses = rollout_poses(workdir, rollout_file, variation)
    cap_names = [gen.names.get(str(o), str(o)) for o in gen.objects]
    if names != cap_names:
        raise AliveError(f"the rollout's objects ({', '.join(names)}) are not the generator's "
                         f"({', '.join(cap_names)})", "roll out again with this work directory's models")
    bg, per_state = gen.state_clouds()
    appearance = rollout_appearance(workdir, rollout_file, variation)
    if appearance is None or appearance.shape != poses.shape[:2]:
        appearance = np.zeros(poses.shape[:2], np.int64)   # no states: each object's first captured shape
    remove_bake(name)
    try:
        coll = _collection(scene, name)
        group = _cloud_node_group(name)
        material = _point_material(name)
        _cloud_object(coll, name, "background", bg, group, material)
        objs, slots = [], []
        for m, (n, states) in enumerate(zip(names, per_state)):
            for s, c in enumerate(states):
                objs.append(_cloud_object(coll, name, n if len(states) == 1 else f"{n} state {s}", c, group,
                                          material))
                slots.append((m, s, len(states)))
        s0 = scene.frame_start if start is None else int(start)
        frames = s0 + np.arange(len(poses))
        key_object_poses(scene, [o.name for o in objs], poses[:, [m for m, _, _ in slots]], frames)
        for o, (m, s, count) in zip(objs, slots):
            if count > 1:   # a deforming object: the cloud of the state its sample had
                shown = gen.a["shape_states"][appearance[:, m], m] == s
                for frame, show in zip(frames, shown):
                    o.hide_render = o.hide_viewport = not bool(show)
                    o.keyframe_insert("hide_render", frame=int(frame))
                    o.keyframe_insert("hide_viewport", frame=int(frame))
            if o.animation_data and o.animation_data.action:   # the keys' action is the bake's: a re-bake
                tag(o.animation_data.action, name)              # removes it
    except BaseException:
        remove_bake(name)
        raise
    points = len(bg) + sum(len(c) for states in per_state for c in states)
    if reporter is not None:
        reporter.status(f"bake '{name}': 3-D clouds ({len(names)} objects in {len(objs)} clouds + background, "
                        f"{points} points), keyed on frames {frames[0]}-{frames[-1]}")
    return {"name": name, "points": int(points), "objects": names, "frames": [int(frames[0]), int(frames[-1])]}
