"""Relations between object slots: stated by Blender, detected from geometry, or learned.

- *stated*: the capture records each id object's parent and constraints
  (``meta.json`` samples' ``attached``); a slot whose parent is another slot
  is related to it (``parent``), a slot with constraints is related to every
  slot it is near (``constraint``: the target is not recorded, only the type).
- *contact*: two slots whose posed bounding boxes touch (gap within a small
  tolerance) in most captured frames: one rests on or carries the other; or
  an *event*: they touch in some frame and there the motion of one of them
  changes abruptly (a ball hits a box and both change course). A brief
  contact without such a change (two objects that pass close by) is no
  relation, so independent objects stay independent.
- *learned*: every ordered pair gets an edge, so the message-passing network
  can learn whatever else ties them.

Related slots (stated or contact, transitively) form *groups*: the stepper
draws a group's members from one captured sample, so their relation holds in
what is shown.
"""

from __future__ import annotations

import numpy as np

EDGE_TYPES = ("parent", "constraint", "contact", "learned")
CONTACT_SHARE = 0.5      # in contact in at least this share of the captured frames
CONTACT_TOLERANCE = 0.05  # gap that still counts as touching, as a share of the smaller box's size
# an event: at a touching frame (or one either side: the hit falls between samples) a slot's acceleration is
# at least EVENT_FACTOR times its median acceleration over the shot, and at least EVENT_FLOOR of its median
# step (a slot mostly at rest has a median acceleration of about 0: a jitter is no hit). Smooth motion peaks
# at about 1.5 times its median (sines: carried and rig scenes); the collision's hit is 4-7 times.
EVENT_FACTOR = 3.0
EVENT_FLOOR = 0.25


def world_boxes(world: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Axis-aligned world boxes (..., M, 2, 3) of local boxes ``bounds`` (M, 2, 3) posed by ``world`` (..., M, 4, 4)."""
    lo, hi = bounds[:, 0], bounds[:, 1]
    corners = np.stack([np.stack([(hi if (c >> a) & 1 else lo)[:, a] for a in range(3)], -1) for c in range(8)], -2)
    pts = np.einsum("...mij,mcj->...mci", world[..., :3, :3], corners) + world[..., None, :3, 3]
    return np.stack([pts.min(-2), pts.max(-2)], -2)


def pair_gaps(boxes: np.ndarray) -> np.ndarray:
    """(..., M, M, 3) signed gap per axis between boxes (negative = overlap along that axis)."""
    lo, hi = boxes[..., 0, :], boxes[..., 1, :]
    return np.maximum(lo[..., :, None, :] - hi[..., None, :, :], lo[..., None, :, :] - hi[..., :, None, :])


def separation(boxes: np.ndarray) -> np.ndarray:
    """(..., M, M): how far apart two boxes are (max gap over axes; <= 0 means they touch or overlap)."""
    return pair_gaps(boxes).max(-1)


def box_size(bounds: np.ndarray) -> np.ndarray:
    return np.maximum(np.min(bounds[:, 1] - bounds[:, 0], -1), 1e-6)


def touching(world: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(F, M, M) bool: posed boxes touching or overlapping (boxes of rotated objects are loose)."""
    size = box_size(bounds)
    tol = CONTACT_TOLERANCE * np.minimum(size[:, None], size[None, :])
    return separation(world_boxes(world, bounds)) <= tol[None]


def sustained_pairs(world: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(M, M) bool: slots touching in at least CONTACT_SHARE of the frames (world (F, M, 4, 4))."""
    out = touching(world, bounds).mean(0) >= CONTACT_SHARE
    np.fill_diagonal(out, False)
    return out


def event_pairs(world: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(M, M) bool: slots that touch in some frame where one of them changes its motion abruptly
    (EVENT_FACTOR, EVENT_FLOOR): a collision, however briefly they touch."""
    F, M = world.shape[:2]
    if F < 3:
        return np.zeros((M, M), bool)
    pos = world[:, :, :3, 3]
    acc = np.zeros((F, M))
    acc[1:-1] = np.linalg.norm(pos[2:] - 2 * pos[1:-1] + pos[:-2], axis=-1)
    step = np.linalg.norm(np.diff(pos, axis=0), axis=-1)
    typical = np.maximum(EVENT_FACTOR * np.median(acc[1:-1], 0), EVENT_FLOOR * np.median(step, 0))
    kink = acc > np.maximum(typical, 1e-9)                            # (F, M)
    near = kink.copy()                                                # the frame either side too
    near[1:] |= kink[:-1]
    near[:-1] |= kink[1:]
    touch = touching(world, bounds)
    out = (touch & (near[:, :, None] | near[:, None, :])).any(0)
    np.fill_diagonal(out, False)
    return out


def contact_pairs(world: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(M, M) bool: slots in contact: sustained (resting, carried) or an event (a collision)."""
    M = world.shape[1]
    if bounds is None or M < 2:
        return np.zeros((M, M), bool)
    return sustained_pairs(world, bounds) | event_pairs(world, bounds)


def stated_pairs(attached: list, names: list) -> tuple[np.ndarray, np.ndarray]:
    """(parent (M, M), constraint (M, M)) bool from the per-sample ``attached`` records
    ({slot name: {"parent": name, "constraints": [...]}} per sample, names = slot names)."""
    M = len(names)
    parent = np.zeros((M, M), bool)
    constraint = np.zeros((M, M), bool)
    index = {n: i for i, n in enumerate(names)}
    for rec in attached:
        for child, a in rec.items():
            c = index.get(child)
            if c is None:
                continue
            p = index.get(a.get("parent"))
            if p is not None:
                parent[c, p] = parent[p, c] = True
            if a.get("constraints"):
                constraint[c, :] = constraint[:, c] = True
    np.fill_diagonal(constraint, False)
    return parent, constraint


def edge_types(parent: np.ndarray, constraint: np.ndarray, contact: np.ndarray) -> np.ndarray:
    """(M, M, 4) multi-hot edge types (EDGE_TYPES) for every ordered pair; the diagonal is unused."""
    M = len(parent)
    learned = ~np.eye(M, dtype=bool)
    return np.stack([parent, constraint & learned, contact, learned], -1).astype(np.float32)


def groups(related: np.ndarray) -> list[list[int]]:
    """Connected components of a (M, M) relation, each sorted; singletons included."""
    M = len(related)
    seen, out = set(), []
    for s in range(M):
        if s in seen:
            continue
        comp, todo = [], [s]
        seen.add(s)
        while todo:
            i = todo.pop()
            comp.append(i)
            for j in np.flatnonzero(related[i]):
                if int(j) not in seen:
                    seen.add(int(j))
                    todo.append(int(j))
        out.append(sorted(comp))
    return out


def contact_violations(world: np.ndarray, captured_world: np.ndarray, bounds: np.ndarray,
                       contact: np.ndarray) -> np.ndarray:
    """Per frame of ``world`` (T, M, 4, 4): True where two objects interpenetrate or lose contact.

    Measured from the poses and the posed bounding boxes, against what the
    capture shows as valid (axis-aligned boxes of rotated objects are loose,
    so the capture's own range is the reference): for a sustained contact
    pair, its separation outside the captured range (a ball that sinks into
    or floats above its platform); for an event pair (a collision: they touch
    only at the hit), their relative placement off every captured one (a
    ball through the box, or a box pushed away while the ball has yet to
    fall: the collision out of step); for any other pair, an overlap deeper
    than the capture ever had. Tolerance: CONTACT_TOLERANCE of the smaller box."""
    M = world.shape[1]
    if bounds is None or M < 2:
        return np.zeros(len(world), bool)
    size = box_size(bounds)
    tol = CONTACT_TOLERANCE * np.minimum(size[:, None], size[None, :])
    ref = separation(world_boxes(captured_world, bounds))
    lo, hi = ref.min(0), ref.max(0)
    sep = separation(world_boxes(world, bounds))
    off = np.where(contact[None], (sep < lo[None] - tol) | (sep > hi[None] + tol), sep < np.minimum(lo - tol, -tol)[None])
    events = contact & ~sustained_pairs(captured_world, bounds)
    for i, j in zip(*np.nonzero(events)):
        rel = world[:, j, :3, 3] - world[:, i, :3, 3]                                    # (T, 3)
        seen = captured_world[:, j, :3, 3] - captured_world[:, i, :3, 3]                 # (F, 3)
        off[:, i, j] = np.linalg.norm(rel[:, None] - seen[None], axis=-1).min(1) > tol[i, j]
    off &= ~np.eye(M, dtype=bool)[None]
    return off.any((1, 2))
