"""Which poses a relational rollout draws: free predicted poses, or captured ones.

A generator that can draw any pose (``compose_poses``: ``object-world``'s
object clouds) shows the predicted poses themselves (*free* mode): the model
runs on its own predictions, kept on the learned manifold by the anchor
toward the nearest captured joint state and by the relations (each group of
related slots keeps the relative placement of its nearest captured joint
frame: a carried ball stays on its carrier). ``object-layers`` can show only
captured poses, so there each step snaps to captured samples (*captured*
mode, ``stepper._draw``).

R.json says which ran (``poses_drawn``: FREE or CAPTURED); ``R.poses.npy`` then
holds the drawn poses (free) or the predicted ones (captured: the frames come
from ``R.states.npy``).
"""

from __future__ import annotations

import numpy as np

FREE = "free"
# free poses are pulled at least this far toward the nearest captured joint state per step (the seed's
# anchor; StepControls' default): without it a free rollout leaves the captured region (docs/relational.md)
FREE_ANCHOR = 0.1
FREE_PULL = 0.5   # the model continues this share of the way from its prediction to the nearest captured
                 # joint state: fully free (0) its platform drifts to its reach and stays; 1 is the snap
# and each slot's position stays within its captured box grown by this share of the box's size per
# axis (at least REACH_FLOOR scene units): in between captured places, never flown off (a wall, as the
# stepper's SPEED_LIMIT is)
REACH = 0.1
REACH_FLOOR = 1e-3
CAPTURED = "captured"

NOTES = {FREE: "free poses: R.poses.npy holds the drawn world matrices; states hold each object's nearest "
               "captured sample (what object-layers would draw, and the composer's shading hint)",
         CAPTURED: "captured poses: frames are drawn from the captured samples in states; R.poses.npy holds "
                   "the predicted poses"}


def draws_free_poses(behavior, generator) -> tuple[bool, str]:
    """(free, why): free when the generator composes explicit poses and its object slots are the
    behavior's (same capture ids, same order)."""
    if generator is None or not callable(getattr(generator, "compose_poses", None)):
        return False, "the generator draws only captured poses"
    objects = [int(o) for o in getattr(generator, "objects", [])]
    if objects != [int(o) for o in behavior.objects]:
        return False, (f"the generator's object slots {objects} are not the behavior's "
                       f"{[int(o) for o in behavior.objects]}")
    return True, "the generator draws any pose (object clouds)"


def within_reach(pred: np.ndarray, behavior) -> np.ndarray:
    """Pose features ``pred`` (M, 12) with each slot's position clipped to its captured box (grown by REACH)."""
    pos = behavior.poses[..., :3]                              # (F, M, 3)
    lo, hi = pos.min(0), pos.max(0)
    grow = np.maximum(REACH * (hi - lo), REACH_FLOOR)
    out = np.array(pred, np.float64)
    out[:, :3] = np.clip(out[:, :3], lo - grow, hi + grow)
    return out


def keep_relations(pred: np.ndarray, vel: np.ndarray, behavior, costs, held=()) -> np.ndarray:
    """Pose features ``pred`` (M, 12) with every group of related slots placed as in its nearest
    captured joint frame relative to its *carrier* (a held member, else the member whose captured
    positions spread least: a carrier moves its load, not the other way), the carrier where the
    prediction has it: contact and parenting hold, while the group itself may be where the capture
    never had it. Rotations and scales stay predicted. ``costs(pred, vel, slots)`` -> (F,) is the
    stepper's joint-frame cost."""
    out = np.array(pred, np.float64)
    held = set(int(m) for m in held)
    spread = behavior.poses[..., :3].std(0).sum(-1)          # (M,)
    for group in behavior.groups:
        if len(group) < 2:
            continue
        g = np.asarray(group)
        f = int(np.argmin(costs(pred, vel, g)))
        fixed = [m for m in group if m in held]
        carrier = fixed[0] if fixed else int(g[np.argmin(spread[g])])
        offset = pred[carrier, :3] - behavior.poses[f, carrier, :3]
        for m in group:
            if m not in held:
                out[m, :3] = behavior.poses[f, m, :3] + offset
    return out
