"""The stepper a live session drives: the behavior's own, or one over the object walk.

``stepper_for`` uses ``behavior.stepper()`` when the behavior offers one (the
relational behavior does); the object walk (``core/models/object_walk.py``)
is adapted here by ``WalkStepper``, which makes every control of
``StepControls`` act on the walk:

- *held*: the held object keeps its source sample (its pixels and pose stay);
- *goals*: among the frames the object may show next without breaking its
  motion (its successor, twins, a hold, a skip: the walk's own choices), it
  takes the one fewest walk steps away from the captured frame whose pose is
  nearest the goal (a breadth-first search over those choices, so it heads
  there along its captured motion and stops there, instead of greedily
  stalling where its motion first turns away);
- *temperature*: the walk's randomness (jump and tempo rates times T; T = 0
  plays every object's captured motion exactly);
- *anchor*: with chance ``anchor`` per step, each object takes the choice
  nearest the next frame of the nearest captured joint state (the captured
  frame whose arrangement is closest), so out-of-step objects fall back into
  a captured arrangement without a visible jump;
- *ground*: snap every object to the nearest captured arrangement at once;
- *loop_target*: with chance ``loop_weight``, each object heads (as for a
  goal) for the target state's frame.

The memory is the walk's cursor (one real-frame index per object) and its
random stream: constant size however long the session runs.
"""

from __future__ import annotations

import numpy as np

from ..errors import AliveError
from ..stepping import StepControls, StepState, steps_to


def stepper_for(behavior, generator):
    """The ``Stepper`` for a loaded behavior and generator (see the module docstring)."""
    make = getattr(behavior, "stepper", None)
    if callable(make):
        return make()
    from ..models.relational.model import RelationalBehavior
    if isinstance(behavior, RelationalBehavior):   # free poses where the generator draws any pose
        from ..models.relational.drawing import draws_free_poses
        from ..models.relational.stepper import RelationalStepper
        return RelationalStepper(behavior, free_poses=draws_free_poses(behavior, generator)[0])
    from ..models.object_walk import ObjectWalk
    if isinstance(behavior, ObjectWalk):
        return WalkStepper(behavior, generator)
    arch = getattr(getattr(behavior, "cfg", None), "arch", type(behavior).__name__)
    raise AliveError(f"behavior '{arch}' cannot be played live (it has no stepper)",
                     "train with --behavior relational (the default) or object-walk")


def _matrices(pose_features: np.ndarray) -> np.ndarray:
    """(..., 12) top 3x4 rows of world matrices -> (..., 4, 4)."""
    out = np.zeros(pose_features.shape[:-1] + (4, 4))
    out[..., :3, :4] = pose_features.reshape(pose_features.shape[:-1] + (3, 4))
    out[..., 3, 3] = 1.0
    return out


class WalkStepper:
    """``Stepper`` over an ``ObjectWalk`` (see the module docstring)."""

    def __init__(self, walk, generator=None):
        self.walk = walk
        M, F, P = walk.poses.shape
        self.frames = np.asarray(walk.frames, np.int64)          # real frame -> capture sample
        names = getattr(generator, "names", {}) or {}
        self.object_names = ([str(names.get(str(o), names.get(o, o))) for o in walk.objects]
                             if walk.objects else ["frame"])
        self.has_objects = bool(walk.objects)
        # poses per object and real frame: world matrices when the walk has objects; without ids
        # the one "object" is the whole frame and its pose the identity (nothing moves in 3-D)
        self.matrices = (_matrices(walk.poses) if self.has_objects and P == 12
                         else np.broadcast_to(np.eye(4), (M, F, 4, 4)).copy())
        self.position = self.matrices[..., :3, 3]                   # (M, F, 3)
        self.size = (M, F)
        # the choices after every frame, and the costs only after the last one (where the walk must jump
        # by cost): O(M F) kept, not the (M, F, F) cost table
        self.choices = [[self._choices(m, i, walk._costs(m, i)) for i in range(F)] for m in range(M)]
        self.end_costs = np.stack([walk._costs(m, F - 1) for m in range(M)])
        self._plans = {}   # (object, target frames) -> steps-to-target per frame; bounded by _PLANS

    _PLANS = 64

    # -- the walk's choices

    def _choices(self, m: int, i: int, c: np.ndarray) -> np.ndarray:
        """The frames object m may show after frame i without breaking its motion (first: the successor);
        ``c``: the walk's cost of each frame as the next one."""
        F = len(c)
        tol = self.walk.cfg.pose_tolerance
        if i + 1 < F:
            twins = np.flatnonzero(c <= tol)
            twins = twins[twins != i + 1]
            return np.array(list(dict.fromkeys([i + 1, *twins.tolist(), i, *([i + 2] if i + 2 < F else [])])),
                            np.int64)
        cc = c.copy()
        cc[i] = np.inf
        best = int(np.argmin(cc))
        near = np.flatnonzero(cc <= max(tol, cc[best]))
        return np.array(list(dict.fromkeys([best, *near.tolist(), i])), np.int64)

    def _plan(self, m: int, targets: tuple) -> np.ndarray:
        """Walk steps from each frame to the nearest of ``targets`` (inf: unreachable)."""
        key = (m, targets)
        if key in self._plans:
            return self._plans[key]
        dist = steps_to(self.choices[m], targets)
        if len(self._plans) >= self._PLANS:
            self._plans.pop(next(iter(self._plans)))
        self._plans[key] = dist
        return dist

    def _toward(self, m: int, i: int, targets: tuple, goal=None) -> int:
        """Among object m's choices after frame i, the one fewest steps from ``targets``
        (ties: the one nearest ``goal``, then the walk's order: successor first)."""
        dist = self._plan(m, targets)
        opts = self.choices[m][i]
        d = dist[opts]
        if not np.isfinite(d).any():
            return int(opts[0])
        best = opts[d == d.min()]
        if goal is not None and len(best) > 1:
            best = best[np.argsort(np.linalg.norm(self.position[m, best] - goal, axis=1), kind="stable")]
        return int(best[0])

    def goal_frames(self, m: int, goal) -> tuple:
        """The real frames whose pose of object m is nearest ``goal`` (a world position)."""
        d = np.linalg.norm(self.position[m] - np.asarray(goal, np.float64), axis=1)
        return tuple(np.flatnonzero(d <= d.min() + 1e-6).tolist())

    def nearest_arrangement(self, cur: np.ndarray) -> int:
        """The real frame whose captured arrangement is nearest the objects' current poses."""
        P = self.walk.poses                       # (M, F, P)
        now = P[np.arange(len(cur)), cur]         # (M, P)
        d = (np.linalg.norm(P - now[:, None], axis=2) / self.walk.step[:, None]).sum(0)
        return int(np.argmin(d))

    # -- the Stepper protocol

    def start(self, frame: int, seed: int) -> StepState:
        M, F = self.size
        if not 0 <= int(frame) < F:
            raise AliveError(f"start frame {frame} is outside the {F} captured frames",
                             f"start between 0 and {F - 1}")
        cur = np.full(M, int(frame), np.int64)
        return self._state(cur, {"cur": cur, "rng": np.random.default_rng(int(seed))}, 0)

    def _state(self, cur, memory, step) -> StepState:
        M = len(cur)
        return StepState(sources=self.frames[cur].copy(), poses=self.matrices[np.arange(M), cur].copy(),
                         memory=memory, step=step)

    def step(self, state: StepState, controls: StepControls) -> StepState:
        walk, cfg = self.walk, self.walk.cfg
        mem = state.memory
        rng = mem["rng"]
        cur = np.array(mem["cur"], np.int64)
        M, F = self.size
        T = max(float(controls.temperature), 0.0)
        for m in controls.goals:
            if not 0 <= int(m) < M:
                raise AliveError(f"a goal names object slot {m}; there are {M}", "name an object of the scene")
        if controls.ground:
            j = self.nearest_arrangement(cur)
            cur = np.array([cur[m] if m in controls.held else j for m in range(M)], np.int64)   # held stay held
            return self._state(cur, {"cur": cur, "rng": rng}, state.step + 1)
        anchor_to = None
        if controls.anchor > 0 and rng.random() < min(1.0, float(controls.anchor)):
            anchor_to = self.nearest_arrangement(cur)
        loop = None
        if controls.loop_target is not None and controls.loop_weight > 0:
            loop = np.asarray(controls.loop_target.memory["cur"], np.int64)
        steered = np.zeros(M, bool)
        nxt = cur.copy()
        for m in range(M):
            i = int(cur[m])
            opts = self.choices[m][i]
            if m in controls.held:
                nxt[m], steered[m] = i, True
                continue
            goal = controls.goals.get(m)
            if goal is not None and rng.random() < min(1.0, float(controls.goal_strength)):
                goal = np.asarray(goal, np.float64)
                nxt[m], steered[m] = self._toward(m, i, self.goal_frames(m, goal), goal), True
                continue
            if loop is not None and rng.random() < min(1.0, float(controls.loop_weight)):
                nxt[m], steered[m] = self._toward(m, i, (int(loop[m]),)), True
                continue
            if anchor_to is not None:
                want = min(anchor_to + 1, F - 1)
                pose_d = np.linalg.norm(walk.poses[m, opts] - walk.poses[m, want], axis=1)
                # the same pose as the anchor's next frame: that very frame (back in step)
                nxt[m] = want if want in opts else int(opts[np.argmin(pose_d)])
                steered[m] = True
                continue
            nxt[m] = self._random_choice(m, i, opts, T, rng)
        if M > 1 and not steered.all() and T > 0 and walk._arrangement(nxt) in walk.captured \
                and rng.random() < cfg.novelty:
            # the walk's novelty: prefer a new arrangement, moving only objects no control steers
            options = [np.array([nxt[m]]) if steered[m] else self.choices[m][int(cur[m])] for m in range(M)]
            nxt = np.asarray(walk._new_arrangement(nxt, options, rng), np.int64)
        return self._state(nxt, {"cur": nxt, "rng": rng}, state.step + 1)

    def _random_choice(self, m: int, i: int, opts: np.ndarray, T: float, rng) -> int:
        """The walk's own next frame (as ``ObjectWalk.walk``): mostly the successor; a tempo change
        or a jump to a twin with chances that scale with T; at the capture's end a jump by cost."""
        cfg = self.walk.cfg
        F = self.size[1]
        if i + 1 < F:
            tempo = [i] + ([i + 2] if i + 2 < F else [])
            twins = [int(j) for j in opts if j not in (i, i + 1, i + 2)]
            if T > 0 and rng.random() < min(1.0, cfg.tempo_rate * T):
                return int(rng.choice(tempo))
            if T > 0 and twins and rng.random() < min(1.0, cfg.jump_rate * T):
                return int(rng.choice(twins))
            return i + 1
        c = self.end_costs[m]   # i is the last frame here
        if T <= 0:
            cc = c.copy()
            cc[i] = np.inf
            return int(np.argmin(cc))
        logits = -c / T
        logits[i] = -np.inf
        p = np.exp(logits - logits.max())
        return int(rng.choice(F, p=p / p.sum()))
