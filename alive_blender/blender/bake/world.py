"""The 3-D bake (the default point bake; ``bake --points-3d`` alone): one fused cloud per
moving object plus the background cloud, each an object moved per frame by keyed transforms.

The clouds are built from the capture, whatever the generator
(``core/world/capture_clouds.py``: id masks, depth, cameras, object
matrices), each object's completed from the surface Blender recorded at
capture time (``core/world/completion.py``): an object's points in its own
frame, the background's in world space. The poses come from the rollout: the
per-object states or poses (``objects.rollout_poses``), or, for a rollout of
whole captured frames (a moving camera on object-layers), the objects' matrices
in each frame's source sample. Footage, a generator that does not replay
captured objects, or a rollout without states gets today's per-frame bake
(``world_plan`` says why). Each
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
from ...core.world.completion import RADIUS
from .objects import key_object_poses, rollout_appearance, rollout_poses
from .points import _collection, _point_material, modifier_input, remove_bake, write_point_mesh
from .tags import tag, tagged
from .. import compat

RADIUS_ATTR = "alive_radius"
RADIUS_OVERLAP = RADIUS   # radius = this x footprint: neighbouring points overlap, no see-through cracks


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


WORLD_ARCHS = ("object-layers", "object-world")   # generators whose frames are captured objects at poses


def world_plan(workdir, rollout_file: Optional[Path] = None, variation: int = 0):
    """((object ids, names, poses (N, M, 4, 4)), "") when the 3-D bake applies, else (None, why not)."""
    from ...core.workdir.artifacts import MODEL, ROLLOUT, read_json
    from ...core.workdir.dataset import load_capture_info
    from ...core.world.capture_clouds import moving_ids, why_not
    workdir = Path(workdir)
    cap = load_capture_info(workdir)
    why = why_not(cap)
    if why:
        return None, why
    arch = read_json(workdir / MODEL / "generator.json", "generator header").get("config", {}).get("arch", "")
    if arch not in WORLD_ARCHS:
        return None, f"the generator '{arch}' does not draw captured objects"
    rollout_file = Path(rollout_file) if rollout_file else workdir / ROLLOUT / "rollout.npy"
    if not (rollout_file.with_suffix(".states.npy").exists() or rollout_file.with_suffix(".poses.npy").exists()):
        return None, "the rollout has no per-object states or poses"
    if not moving_ids(cap.samples):
        return None, "no object moves in the capture"
    names, poses = rollout_poses(workdir, rollout_file, variation)
    by_name = {v: int(k) for k, v in cap.meta.get("object_ids", {}).items()}
    return ([by_name[n] for n in names], names, poses), ""


def bake_world(scene, workdir, name: str = "alive", rollout_file: Optional[Path] = None, variation: int = 0,
               start: Optional[int] = None, reporter=None, hold: int = 1, replace: bool = True) -> dict:
    """Bake the capture's 3-D clouds into ``scene``, moved by the rollout's poses. ``replace``: remove
    what a bake of this name made first (False: add to it, e.g. beside its texture)."""
    import time
    from ...core.workdir.artifacts import CAPTURE, MODEL
    from ...core.workdir.checkpoint import load_model_array
    from ...core.workdir.dataset import load_capture
    from ...core.world.capture_clouds import capture_clouds, load_surfaces
    from ...core.world.deformation import deformation_states
    t0 = time.perf_counter()
    plan, why = world_plan(workdir, rollout_file, variation)
    if plan is None:
        raise AliveError(f"no 3-D bake: {why}", "bake the per-frame points (--point-bake per-frame)")
    ids, names, poses = plan
    surfaces = load_surfaces(Path(workdir) / CAPTURE)
    capture = load_capture(Path(workdir))
    # the generator's shading owners: the background's points leave the objects' shadows out
    owner = load_model_array(Path(workdir) / MODEL / "generator.safetensors", "owner")
    bg, clouds, report = capture_clouds(capture, ids, surfaces, owner)
    if replace:
        remove_bake(name)
    try:
        coll = next(iter(tagged("collections", name)), None) or _collection(scene, name)
        group = _cloud_node_group(name)
        material = _point_material(name)
        _cloud_object(coll, name, "background", bg, group, material)
        objs, slots = [], []
        for m, (n, states) in enumerate(zip(names, clouds)):
            for s, c in enumerate(states):
                objs.append(_cloud_object(coll, name, n if len(states) == 1 else f"{n} state {s}", c, group,
                                          material))
                slots.append((m, s, len(states)))
        s0 = scene.frame_start if start is None else int(start)
        frames = s0 + int(hold) * np.arange(len(poses))
        key_object_poses(scene, [o.name for o in objs], poses[:, [m for m, _, _ in slots]], frames)
        shape_states = [deformation_states(capture.samples, oid) for oid in ids]
        appearance = rollout_appearance(workdir, rollout_file, variation)
        if appearance is None or appearance.shape != poses.shape[:2]:
            appearance = np.zeros(poses.shape[:2], np.int64)   # no states: each object's first captured shape
        for o, (m, s, count) in zip(objs, slots):
            if count > 1:   # a deforming object: the cloud of the state its sample had
                shown = shape_states[m][appearance[:, m]] == s
                for frame, show in zip(frames, shown):
                    o.hide_render = o.hide_viewport = not bool(show)
                    o.keyframe_insert("hide_render", frame=int(frame))
                    o.keyframe_insert("hide_viewport", frame=int(frame))
            if o.animation_data and o.animation_data.action:   # the keys' action is the bake's: a re-bake
                tag(o.animation_data.action, name)              # removes it
                for fc in compat.action_fcurves(o.animation_data) if hold > 1 else ():
                    for k in fc.keyframe_points:   # on twos: each pose held, like the per-frame bake's frames
                        k.interpolation = "CONSTANT"
    except BaseException:
        remove_bake(name)
        raise
    points = len(bg) + sum(len(c) for states in clouds for c in states)
    completed = sum(int((~c.seen).sum()) for states in clouds for c in states)
    if reporter is not None:
        reporter.status(f"bake '{name}': 3-D clouds ({len(names)} objects in {len(objs)} clouds + background, "
                        f"{points} points, {completed} of them completed from the objects' surfaces"
                        f"{'' if surfaces else ' (none: the capture has no object surfaces, capture again)'}), "
                        f"keyed on frames {frames[0]}-{frames[-1]}")
        per_object = [(n, report["objects"][str(o)]) for n, o in zip(names, ids)]
        partial = [f"{n} {r['completed_states']} of {r['states']}" for n, r in per_object
                   if surfaces and r["completed_states"] < r["states"]]
        if partial:   # a state without its own surface is what the capture saw of it: a shell from the side
            reporter.warning(f"bake '{name}': states completed from their own surface: {', '.join(partial)} "
                             "(the others: captured points only; capture again for a surface per state)")
    return {"name": name, "points": int(points), "objects": names, "completed": completed,
            "cloud_objects": [o.name for o in objs], "clouds": report,
            "frames": [int(frames[0]), int(frames[-1]) + int(hold) - 1], "seconds": round(time.perf_counter() - t0, 3)}
