"""Per sample, a digest of each id object's evaluated geometry in its own frame.

Only objects that can deform are recorded (modifiers, shape keys, animated
data, non-mesh geometry: ``scene_state.may_deform``); a rigid object has no
entry and stays one state. Positions are the evaluated mesh's local vertex
coordinates (rounded to 1e-5: float noise between two evaluations of the same
shape is not a new shape), so moving the object does not change its digest,
bending it does. ``core/world/deformation.py`` turns equal digests into states.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .scene_state import may_deform


def position_digest(co: np.ndarray) -> str:
    """Digest of local vertex positions (float32, flat or (V, 3)), rounded to 1e-5."""
    return hashlib.sha256(np.round(np.asarray(co, np.float32).ravel(), 5).tobytes()).hexdigest()[:16]


def geometry_digest(obj_eval) -> str | None:
    """Digest of an evaluated object's vertex positions in its own frame (None: no geometry)."""
    try:
        mesh = obj_eval.to_mesh()
    except RuntimeError:   # no mesh form (an empty, a light): nothing to deform
        return None
    try:
        if mesh is None:
            return None
        co = np.empty(len(mesh.vertices) * 3, np.float32)
        mesh.vertices.foreach_get("co", co)
        return position_digest(co)
    finally:
        obj_eval.to_mesh_clear()


def deformation_record(objects, depsgraph) -> dict:
    """{"id": digest} for the id objects (1-based, in id order) that can deform."""
    out = {}
    for k, o in enumerate(objects, 1):
        if may_deform(o):
            digest = geometry_digest(o.evaluated_get(depsgraph))
            if digest is not None:
                out[str(k)] = digest
    return out
