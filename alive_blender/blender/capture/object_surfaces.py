"""Each moving object's evaluated surface in its own frame: ``capture/object_surfaces.npz``.

The capture sees only the sides the camera looked at; Blender knows the
rest. For every object with an id whose world matrix changes over the
captured samples, the evaluated mesh (modifiers applied, at the frame the
scene is at when the capture ends) is sampled uniformly by area, about one point per
captured pixel's footprint squared where the object came nearest the camera (12,000 to
200,000: ``completion.surface_sample_count``), with face normals, in object-local coordinates (the frame the
object clouds live in, ``core/world/clouds.py``). The 3-D bake completes each
object's cloud from them (``core/world/completion.py``).

The file is what the scene's static state makes, which the capture's key
already covers (meshes, modifiers), so it has no key of its own: it is
written into the staged capture, and into an up-to-date capture that lacks it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...core.world.capture_clouds import SURFACES as FILE, moving_ids
from ...core.world.completion import finest_footprint, sample_surface, surface_sample_count


def _mesh_surface(obj, depsgraph, footprint: float):
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
        tris = np.empty(len(me.loop_triangles) * 3, np.int32)
        me.loop_triangles.foreach_get("vertices", tris)
        vertices, tris = co.reshape(-1, 3).astype(np.float64), tris.reshape(-1, 3)
        area = sample_surface(vertices, tris, count=1)   # the area first: the count follows from it
        if area is None:
            return None
        return sample_surface(vertices, tris, count=surface_sample_count(area[2], footprint))
    finally:
        ev.to_mesh_clear()


def write_surfaces(folder: Path, objects: list, records: list, depsgraph) -> int:
    """Write ``folder/object_surfaces.npz`` for the moving id objects (``objects``: id order,
    1-based ids). Returns how many objects it holds (0: nothing moves, no file)."""
    import io
    from ...core.workdir.artifacts import DISK_FULL, atomic_path, disk_full_error
    ids, pts, nrm, areas = [], [], [], []
    for oid in moving_ids(records):
        got = _mesh_surface(objects[oid - 1], depsgraph, finest_footprint(records, oid)) \
            if oid <= len(objects) else None
        if got is not None:
            ids.append(oid)
            pts.append(got[0])
            nrm.append(got[1])
            areas.append(got[2])
    if not ids:
        return 0
    buffer = io.BytesIO()   # a full disk then fails in one plain write, with its errno
    np.savez(buffer, ids=np.array(ids, np.int32), counts=np.array([len(p) for p in pts], np.int64),
             points=np.concatenate(pts), normals=np.concatenate(nrm).astype(np.float16),
             areas=np.array(areas, np.float64))
    path = Path(folder) / FILE
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(buffer.getbuffer())
    except OSError as err:
        raise (disk_full_error(err, path) if err.errno in DISK_FULL else err) from None
    return len(ids)
