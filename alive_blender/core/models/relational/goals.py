"""Per-object goals for the relational stepper: head there along the captured motion, then stay.

A pull on the predicted position alone does not hold: the next draw follows
the learned motion past the goal (measured: 92-97 % of the way at its best
within 48 steps, a few % at step 48). So a goal plans over captured frames
instead, for the group of related slots the object belongs to (its carrier
and what it carries go with it):

- the *targets* are the captured frames whose position of the object is
  nearest the goal;
- from a frame the group may go on to the successor of any frame that shows
  the same arrangement of the group (its captured motion, and the twins the
  periodic shot repeats; at the capture's end, the frame nearest its state
  moved one step on), or stay where it is;
- each step it takes the option fewest such steps from a target (a
  breadth-first search, as the walk's goals do: greedy would stall where the
  motion first turns away); at a target, staying is one of the best options,
  so it stays while the goal is set.

``goal_strength`` is the chance per step that the goal decides the draw.
"""

from __future__ import annotations

import numpy as np

from ...stepping import steps_to


class GoalPlanner:
    """Goal plans over a behavior's captured frames (``pose_class``: one id per slot and pose);
    ``costs(pred, vel, slots)`` -> (F,) is the stepper's joint-frame cost."""

    _PLANS = 64   # cached plans (group, targets): a live session's goal stays set for many ticks

    def __init__(self, behavior, costs):
        self.beh = behavior
        self.costs = costs
        self.position = behavior.world[:, :, :3, 3]           # (F, M, 3)
        self._options: dict = {}
        self._plans: dict = {}

    def targets(self, m: int, goal) -> tuple:
        """The captured frames whose position of slot m is nearest ``goal`` (a world position)."""
        d = np.linalg.norm(self.position[:, m] - np.asarray(goal, np.float64), axis=1)
        return tuple(np.flatnonzero(d <= d.min() + 1e-6).tolist())

    def options(self, group: tuple) -> list:
        """Per captured frame: the frames the group may show next (a hold first, then successors)."""
        if group not in self._options:
            cls = self.beh.pose_class[:, list(group)]          # (F, G)
            F = len(cls)
            out = []
            for i in range(F):
                twins = np.flatnonzero((cls == cls[i]).all(1))
                nxt = [int(t) + 1 for t in twins if t + 1 < F] or [self._continuation(list(group), i)]
                out.append(np.array([i, *nxt], np.int64))
            self._options[group] = out
        return self._options[group]

    def _continuation(self, group: list, i: int) -> int:
        """Where the capture's end goes on: the other frame nearest frame i's state moved one step on
        (the stepper's joint-frame cost over the group: as the walk jumps at its end)."""
        beh = self.beh
        cost = self.costs(beh.poses[i] + beh.vels[i], beh.vels[i], np.asarray(group))
        cost[i] = np.inf
        return int(np.argmin(cost))

    def _plan(self, group: tuple, targets: tuple) -> np.ndarray:
        """Steps from each captured frame to the nearest of ``targets`` (inf: unreachable)."""
        key = (group, targets)
        if key in self._plans:
            return self._plans[key]
        dist = steps_to(self.options(group), targets)
        if len(self._plans) >= self._PLANS:
            self._plans.pop(next(iter(self._plans)))
        self._plans[key] = dist
        return dist

    def next_frame(self, group, m: int, frame: int, goal):
        """The captured frame group (with slot m, goal ``goal``) shows after ``frame``, or None when no
        target can be reached from there (then the draw is left to the model)."""
        group = tuple(int(g) for g in group)
        dist = self._plan(group, self.targets(m, goal))
        opts = self.options(group)[int(frame)]
        d = dist[opts]
        if not np.isfinite(d).any():
            return None
        best = opts[d == d.min()]
        if len(best) > 1:   # ties: nearest the goal, then the hold (at a target: stay), then successors
            near = np.linalg.norm(self.position[best, m] - np.asarray(goal, np.float64), axis=1)
            best = best[np.argsort(near, kind="stable")]
        return int(best[0])
