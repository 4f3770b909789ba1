"""What Blender states about how objects are attached, for the capture's meta.

Per sample, for every object with an id that has a parent or constraints:
``{"parent": name or None, "parent_type": ..., "constraints": [type, ...]}``
(only enabled constraints with influence > 0). Once per capture, each id
object's local bounding box (evaluated: modifiers included), so contact and
interpenetration can be measured from poses alone (``core/models/relational``).
"""

from __future__ import annotations

import numpy as np


def attachments(objects) -> dict:
    """{"id": {...}} for the id objects (1-based, in id order) that are attached to something."""
    out = {}
    for k, o in enumerate(objects, 1):
        cons = [c.type for c in o.constraints if c.enabled and c.influence > 0]
        if o.parent is not None or cons:
            out[str(k)] = {"parent": o.parent.name_full if o.parent is not None else None,
                           "parent_type": o.parent_type if o.parent is not None else None,
                           "constraints": cons}
    return out


def local_bounds(objects, depsgraph) -> dict:
    """{"id": [[min x, y, z], [max x, y, z]]}: each id object's evaluated local bounding box."""
    out = {}
    for k, o in enumerate(objects, 1):
        box = np.array([tuple(c) for c in o.evaluated_get(depsgraph).bound_box], np.float64)
        out[str(k)] = [box.min(0).tolist(), box.max(0).tolist()]
    return out
