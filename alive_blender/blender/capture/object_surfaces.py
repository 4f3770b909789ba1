"""Each moving object's evaluated surface in its own frame, per deformation state: ``capture/object_surfaces.npz``.

The capture sees only the sides the camera looked at; Blender knows the
rest. For every object with an id whose world matrix changes over the
captured samples, or whose shape does (``core/world/deformation.py``), the
evaluated mesh (modifiers applied) is sampled uniformly by area, about one point per
captured pixel's footprint squared where the object came nearest the camera (12,000 to
200,000: ``completion.surface_sample_count``), with face normals, in object-local coordinates (the frame the
object clouds live in, ``core/world/clouds.py``). The 3-D bake completes each
object's cloud from them (``core/world/completion.py``).

A rigid object has one state: its surface at the frame the scene is at when the
capture ends. A deforming object gets one surface per deformation state,
evaluated at the (sub)frame of the state's first sample (the scene's frame is
restored afterwards); at most ``deformation.MAX_SURFACE_STATES`` states per
object, the ones shown in the most samples (``write_surfaces`` says which
objects were capped). A state whose shape evaluated again is not the recorded
one (a simulation evaluated out of order) gets no surface, and is said so:
its cloud stays what the capture saw rather than taking another shape.

The file: ``ids``, ``states`` (the deformation state of each surface), ``counts``,
``points``, ``normals``, ``areas``. A file from before states has no ``states``
array; it loads as one surface per object (``capture_clouds.load_surfaces``).

The file is what the scene's static state and the samples' records make, which the
capture's key already covers (meshes, modifiers, animation), so it has no key of its own:
it is written into the staged capture, and into an up-to-date capture that lacks it or has
a file from before states.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...core.world.capture_clouds import SURFACES as FILE, moving_ids, surfaces_per_state
from ...core.world.completion import finest_footprint, sample_surface, surface_sample_count
from ...core.world.deformation import KEY, MAX_SURFACE_STATES, deforming_objects, surface_states
from .deformation import position_digest

__all__ = ["FILE", "write_surfaces", "surfaces_per_state"]


def _mesh_surface(obj, depsgraph, footprint: float, digest: str | None = None):
    """(points, normals, area) of the object's evaluated mesh, or None (no surface, or not the shape
    whose ``digest`` the capture recorded)."""
    ev = obj.evaluated_get(depsgraph)
    try:
        me = ev.to_mesh()
    except RuntimeError:
        return None
    if me is None:
        return None
    try:
        me.calc_loop_triangles()
        if not len(me.loop_triangles):
            return None
        co = np.empty(len(me.vertices) * 3, np.float32)
        me.vertices.foreach_get("co", co)
        if digest is not None and position_digest(co) != digest:
            return None
        tris = np.empty(len(me.loop_triangles) * 3, np.int32)
        me.loop_triangles.foreach_get("vertices", tris)
        vertices, tris = co.reshape(-1, 3).astype(np.float64), tris.reshape(-1, 3)
        area = sample_surface(vertices, tris, count=1)   # the area first: the count follows from it
        if area is None:
            return None
        return sample_surface(vertices, tris, count=surface_sample_count(area[2], footprint))
    finally:
        ev.to_mesh_clear()


def _state_surfaces(scene, obj, oid: int, records: list, depsgraph, footprint: float, max_states: int):
    """[(state, surface)] of a deforming object (each state at its first sample's (sub)frame),
    the number of states, and the states whose shape did not evaluate again."""
    wanted, total = surface_states(records, oid, max_states)
    out, lost = [], []
    for state, sample in wanted:
        r = records[sample]
        scene.frame_set(int(r["frame"]), subframe=float(r.get("subframe", 0.0)))
        got = _mesh_surface(obj, depsgraph, footprint, (r.get(KEY) or {}).get(str(oid)))
        if got is None:
            lost.append(state)
        else:
            out.append((state, got))
    return out, total, lost


def write_surfaces(folder: Path, objects: list, records: list, depsgraph, scene=None,
                   max_states: int = MAX_SURFACE_STATES) -> dict:
    """Write ``folder/object_surfaces.npz`` for the moving or deforming id objects (``objects``: id
    order, 1-based ids; ``records``: the samples' records). ``scene``: the scene to step to each
    deforming object's states (its frame is restored); without it a deforming object gets no
    surface; ``max_states``: surfaces per deforming object, at most. Returns {"objects": how many
    objects have a surface (0: nothing moves, no file), "notes": what was capped or left out, for
    the capture's message}."""
    import io
    from ...core.workdir.artifacts import DISK_FULL, atomic_path, disk_full_error
    deforming = deforming_objects(records, range(1, len(objects) + 1))
    entries, notes = [], []
    frame = (scene.frame_current, scene.frame_subframe) if scene is not None else None
    try:
        for oid in sorted(set(moving_ids(records)) | set(deforming)):
            if oid > len(objects):
                continue
            obj, footprint = objects[oid - 1], finest_footprint(records, oid)
            if oid not in deforming:
                got = _mesh_surface(obj, depsgraph, footprint)
                entries += [(oid, 0, got)] if got is not None else []
                continue
            if scene is None:
                notes.append(f"{obj.name}: deforms, no scene to evaluate its states in")
                continue
            got, total, lost = _state_surfaces(scene, obj, oid, records, depsgraph, footprint, max_states)
            entries += [(oid, s, g) for s, g in got]
            if len(got) + len(lost) < total:
                notes.append(f"{obj.name}: surfaces of {len(got) + len(lost)} of its {total} states (at most "
                             f"{max_states}: the ones in the most samples; the rest are not completed)")
            if lost:
                notes.append(f"{obj.name}: no surface in state{'s' * (len(lost) > 1)} "
                             f"{', '.join(map(str, lost))} (evaluated again, it was not the captured shape)")
    finally:
        if frame is not None:
            scene.frame_set(frame[0], subframe=frame[1])
    if not entries:
        return {"objects": 0, "notes": notes}
    buffer = io.BytesIO()   # a full disk then fails in one plain write, with its errno
    np.savez(buffer, ids=np.array([o for o, _, _ in entries], np.int32),
             states=np.array([s for _, s, _ in entries], np.int32),
             counts=np.array([len(g[0]) for _, _, g in entries], np.int64),
             points=np.concatenate([g[0] for _, _, g in entries]),
             normals=np.concatenate([g[1] for _, _, g in entries]).astype(np.float16),
             areas=np.array([g[2] for _, _, g in entries], np.float64))
    path = Path(folder) / FILE
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(buffer.getbuffer())
    except OSError as err:
        raise (disk_full_error(err, path) if err.errno in DISK_FULL else err) from None
    return {"objects": len({o for o, _, _ in entries}), "notes": notes}
