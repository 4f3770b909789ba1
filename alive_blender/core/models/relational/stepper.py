"""Stepping the relational behavior under the seed's controls (``core/stepping.Stepper``).

One tick: the simulator predicts a distribution over every slot's
acceleration; a draw (temperature scales its randomness) gives the predicted
state; then the controls act on it, in this order:

- held slots keep their pose (velocity zero);
- a loop target (``--loop``) pulls the whole state ``loop_weight`` of the way
  to the target state (the rollout ramps it to 1 at the end: it ends there);
- anchor pulls ``anchor`` of the way to the nearest captured joint state (the
  seed's renormalize-then-lerp, on the pose manifold: the rotation is made
  orthonormal again after); ``ground`` snaps to it;
- a per-object goal (``goals.py``) draws the slot's group from the captured
  frame that heads for the goal along the captured motion, and stays at the
  frame nearest it while the goal is set (a pull on the prediction alone did
  not hold: the next draw followed the motion past the goal).

Then the drawable step: ``object-layers`` can only show captured poses, so
each group of related slots (``relations.groups``) is drawn from the one
captured frame whose poses and velocities of *all* its members are nearest
the prediction (a carried ball comes from a frame where its carrier is in
the same pose), each independent slot from its own nearest frame; among
equal frames the one that continues the current one wins. The model
continues from ``draw_pull`` (DRAW_PULL, 1) of the way from its prediction
to the drawn captured state (pose and velocity); ``draw_pull = 0`` runs free
(to measure drift). ``poses`` in the state are the predicted world matrices.

Free poses (``free_poses``, for a generator that draws any pose: see
``drawing.py``): no snapping; after the controls each group of related slots
keeps the relative placement of its nearest captured joint frame
(``drawing.keep_relations``), the model continues from its own prediction,
``poses`` are what is drawn and ``sources`` each slot's nearest captured
sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import AliveError
from ...stepping import StepControls, StepState
from .drawing import FREE_ANCHOR, FREE_PULL, keep_relations, within_reach
from .goals import GoalPlanner
from .state import pose_features, renormalize, world_from_features

ACC_LIMIT = 4.0    # a draw's acceleration is kept within this many of the shot's RMS accelerations
SPEED_LIMIT = 1.5  # and each slot's speed within this many times its fastest captured speed (a wall, as
                   # the embedding models have: what the model has never seen, it may not rush into)
NOVELTY_SLACK = 1.5  # cost (squared observed steps per member) a group may give up to show a new arrangement
MOTION_SLACK = 4.0  # cost (as NOVELTY_SLACK) a group may give up to go on with its captured motion instead of
                   # stepping back (a hold stays allowed: it is how variations of a smooth shot part ways)
DRAW_PULL = 1.0    # share of the way from the prediction to the drawn state the model continues from


@dataclass
class RelationalMemory:
    pose: np.ndarray          # (M, 12) the state the model continues from
    vel: np.ndarray           # (M, 12)
    hidden: object            # torch (1, M, H): the slots' GRU state
    frames: np.ndarray        # (M,) index into the real frames of what each slot shows
    generator: object         # torch.Generator: the variation's random stream


class RelationalStepper:
    def __init__(self, behavior, draw_pull: float = DRAW_PULL, history: int = 8, free_poses: bool = False):
        self.beh = behavior
        # free poses (drawing.py): the drawn pose is the prediction, so the model runs on it (no pull)
        self.free_poses = bool(free_poses)
        self.draw_pull = FREE_PULL if self.free_poses else float(draw_pull)
        self.history = int(history)
        self.object_names = list(behavior.object_names)
        self.planner = GoalPlanner(behavior, self._costs)
        self._torch()

    def _torch(self):
        import torch
        self.torch = torch

    # -- the interface

    def start(self, frame: int, seed: int) -> StepState:
        torch = self.torch
        beh = self.beh
        F, M = beh.poses.shape[:2]
        if not 0 <= int(frame) < F:
            raise AliveError(f"start frame {frame} is outside the {F} captured frames", f"pick 0..{F - 1}")
        gen = torch.Generator().manual_seed(int(seed))
        hidden = beh.net.initial(1)
        with torch.no_grad():   # fill the memory with the frames that led up to the start
            for i in range(max(0, frame - self.history), frame):
                _, hidden = beh.net(*self._t(beh.poses[i], beh.vels[i]), hidden)
        frames = np.full(M, int(frame))
        mem = RelationalMemory(beh.poses[frame].copy(), beh.vels[frame].copy(), hidden, frames, gen)
        return StepState(sources=beh.frames[frames], poses=beh.world[frame].copy(), memory=mem, step=0)

    def step(self, state: StepState, controls: StepControls) -> StepState:
        torch = self.torch
        beh, mem = self.beh, state.memory
        if not isinstance(mem, RelationalMemory):
            raise AliveError("this state was not made by the relational stepper", "start it with start()")
        M = len(self.object_names)
        with torch.no_grad():
            params, hidden = beh.net(*self._t(mem.pose, mem.vel), mem.hidden)
            from .mixture import mixture_sample
            draw = mixture_sample(params, max(float(controls.temperature), 0.0), mem.generator)[0].double().numpy()
        draw = np.clip(draw, -ACC_LIMIT, ACC_LIMIT)
        vel = self._limit(mem.vel + draw * beh.net.acc_std.double().numpy())
        pred = mem.pose + vel
        held = sorted(int(m) for m in controls.held)
        for m in held:
            self._slot(m, M, "held")
            pred[m] = mem.pose[m]
        if controls.loop_target is not None and controls.loop_weight > 0:
            target = pose_features(controls.loop_target.poses)
            pred = pred + min(1.0, controls.loop_weight) * (target - pred)
        anchor = 1.0 if controls.ground else min(1.0, max(0.0, float(controls.anchor)))
        if self.free_poses:
            anchor = max(anchor, FREE_ANCHOR)
        if anchor > 0:
            nearest = self._nearest_joint(pred, pred - mem.pose)
            pred = pred + anchor * (beh.poses[nearest] - pred)
        pred = renormalize(pred)
        goal_frames = self._goals(controls, mem, held)
        for m, f in goal_frames.items():   # the goal's group shows (and continues from) its planned frame
            pred[m], vel[m] = beh.poses[f, m], beh.vels[f, m]
        novel = not (controls.ground or (controls.loop_target is not None and controls.loop_weight > 0))
        if self.free_poses:   # drawn as predicted: the relations hold it together; states: the nearest samples
            pred = keep_relations(within_reach(pred, beh), pred - mem.pose, beh, self._costs, held)
            for m, f in goal_frames.items():   # a goal's group is drawn as planned (captured: within reach)
                pred[m] = beh.poses[f, m]
            novel = False
        frames = self._draw(pred, mem, held, novel, goal_frames)
        # continue from draw_pull of the way from the prediction to the drawn captured state (pose and
        # velocity): at 1 the model always starts from a state the capture has (it stays in what it
        # was trained on, so nothing drifts); at 0 it runs free
        slots = np.arange(M)
        nxt = renormalize(pred + self.draw_pull * (beh.poses[frames, slots] - pred))
        nvel = vel + self.draw_pull * (beh.vels[frames, slots] - vel)
        if self.free_poses and self.draw_pull == 0:   # the step it made, controls and relations included
            nvel = nxt - mem.pose
        new = RelationalMemory(nxt, nvel, hidden, frames, mem.generator)
        return StepState(sources=beh.frames[frames], poses=world_from_features(pred), memory=new,
                         step=state.step + 1)

    # -- helpers

    def _t(self, pose, vel):
        torch = self.torch
        return (torch.as_tensor(pose, dtype=torch.float32)[None], torch.as_tensor(vel, dtype=torch.float32)[None])

    def _limit(self, vel: np.ndarray) -> np.ndarray:
        top = SPEED_LIMIT * self.beh.top_speed + 1e-9
        speed = np.linalg.norm(vel, axis=-1)
        return vel * np.minimum(1.0, top / np.maximum(speed, 1e-12))[:, None]

    @staticmethod
    def _slot(m, M, what):
        if not 0 <= m < M:
            raise AliveError(f"{what} names object slot {m}; there are {M}", f"use 0..{M - 1}")

    def _costs(self, pred, vel, slots) -> np.ndarray:
        """(F,) cost of drawing ``slots`` from each captured frame: pose + velocity distance in steps."""
        beh = self.beh
        s = beh.step_size[slots]
        dp = np.linalg.norm(beh.poses[:, slots] - pred[slots], axis=-1) / s
        dv = np.linalg.norm(beh.vels[:, slots] - vel[slots], axis=-1) / s
        return (dp ** 2 + dv ** 2).sum(-1)

    def _nearest_joint(self, pred, vel) -> int:
        return int(np.argmin(self._costs(pred, vel, np.arange(len(self.object_names)))))

    def _goals(self, controls, mem, held) -> dict:
        """{slot: captured frame} for every free slot of a group with a goal (goals.py); a goal decides
        with chance ``goal_strength`` per step, and the first goal of a group decides it."""
        M = len(self.object_names)
        out = {}
        for m, goal in sorted((controls.goals or {}).items()):
            self._slot(int(m), M, "goal")
            g = np.asarray(goal, np.float64).reshape(3)
            group = next(gr for gr in self.beh.groups if int(m) in gr)
            strength = min(1.0, max(0.0, float(controls.goal_strength)))
            if int(m) in held or any(s in out for s in group) or strength <= 0 or \
                    (strength < 1 and float(self.torch.rand(1, generator=mem.generator)) >= strength):
                continue
            f = self.planner.next_frame(group, int(m), int(mem.frames[int(m)]), g)
            if f is not None:
                out.update({s: f for s in group if s not in held})
        return out

    def _draw(self, pred, mem, held, novel: bool = True, fixed=None) -> np.ndarray:
        """The captured frame each slot is drawn from: one per group of related slots. Where that
        shows an arrangement the capture has, one group (in order) is drawn instead from its best
        frame within NOVELTY_SLACK that makes a new one (the walk's novelty preference: a hold or a
        skip of one group), unless ``novel`` is off (a loop closing, grounding, free poses). With ``novel``
        a group whose nearest frame is neither a hold nor a step of its captured motion goes on with
        the motion instead where that costs at most MOTION_SLACK more (a collision learned from one
        shot steps back at the hit otherwise). ``fixed`` ({slot: frame}: a
        goal's plan) draws those slots from their frames."""
        beh = self.beh
        F = len(beh.poses)
        vel = pred - mem.pose
        out = mem.frames.copy()
        options = []
        fixed = fixed or {}
        for m, f in fixed.items():
            out[m] = f
        for group in beh.groups:
            free = [m for m in group if m not in held and m not in fixed]
            if not free:
                continue
            cost = self._costs(pred, vel, np.asarray(group))
            cont = (int(mem.frames[free[0]]) + 1) % F
            cost = cost + 1e-6 * (np.arange(F) != cont)    # among equal frames: the one that continues
            best = int(np.argmin(cost))
            near = np.flatnonzero(cost <= cost[best] + NOVELTY_SLACK * len(group))
            near = near[np.argsort(cost[near])]
            if novel:   # no step back where the captured motion is within MOTION_SLACK; the novelty's
                # alternatives: the motion's steps first, then a hold, then the rest
                cur = int(mem.frames[free[0]])
                moves = self.planner.options(tuple(group))[cur][1:]
                holds = (beh.pose_class[:, group] == beh.pose_class[cur, group]).all(1)
                if best not in moves and not holds[best] and \
                        cost[moves].min() <= cost[best] + MOTION_SLACK * len(group):
                    best = int(moves[np.argmin(cost[moves])])
                    near = np.flatnonzero(cost <= cost[best] + NOVELTY_SLACK * len(group))
                    near = near[np.argsort(cost[near])]
                rank = np.where(np.isin(near, moves), 0, np.where(holds[near], 1, 2))
                near = near[np.argsort(rank, kind="stable")]
            out[free] = best
            options.append((free, near))
        if novel and len(beh.groups) > 1 and self._arrangement(out) in beh.captured:
            for free, near in options:
                for f in near:
                    trial = out.copy()
                    trial[free] = f
                    if self._arrangement(trial) not in beh.captured:
                        return trial
        return out

    def _arrangement(self, frames) -> tuple:
        return tuple(int(self.beh.pose_class[f, m]) for m, f in enumerate(frames))


def rollout_relational(beh, observed: np.ndarray, cfg, reporter=None, draw_pull: float = DRAW_PULL,
                       free_poses: bool = False):
    """(states (K, N+1, M) capture sample indices, poses (K, N+1, M, 4, 4)) for a RolloutConfig ``cfg``
    (``free_poses``: see drawing.py)."""
    from ...rollout import curve, resolve_start
    frames = beh.frames
    start_idx, start = resolve_start(np.asarray(observed, np.float32), cfg.start)
    if start_idx is None:
        obs = np.asarray(observed, np.float32)[frames]
        start_idx = int(frames[np.argmax(obs @ start)])
    start_frame = int(np.argmin(np.abs(frames - start_idx)))
    N, K = int(cfg.steps), int(cfg.count)
    temps = curve(cfg.temperature, N, "temperature")
    anchors = curve(cfg.anchor, N, "anchor", 0.0, 1.0)
    loop_steps = int(cfg.loop_steps) or max(4, N // 4)
    if reporter is not None and cfg.prompt:
        reporter.warning("relational: a text prompt steers the rollout's embeddings (the composed frames "
                         "as encoded), not the object poses")
    from ...device import torch_threads
    with torch_threads(1, "cpu"):   # tiny ops: intra-op threads only add synchronisation (see device.py)
        return _rollout(beh, cfg, start_frame, N, K, temps, anchors, loop_steps, draw_pull, reporter, free_poses)


def _rollout(beh, cfg, start_frame, N, K, temps, anchors, loop_steps, draw_pull, reporter, free_poses=False):
    frames = beh.frames
    stepper = RelationalStepper(beh, draw_pull=draw_pull, history=cfg.history, free_poses=free_poses)
    M = len(beh.object_names)
    states = np.empty((K, N + 1, M), np.int64)
    poses = np.empty((K, N + 1, M, 4, 4), np.float64)
    for k in range(K):
        seed = int(np.random.SeedSequence([int(cfg.seed), k]).generate_state(1)[0])
        st = stepper.start(start_frame, seed)
        target = None
        if cfg.loop:
            tf = start_frame if cfg.loop_target is None else int(np.argmin(np.abs(frames - int(cfg.loop_target))))
            target = stepper.start(tf, 0)
        states[k, 0], poses[k, 0] = st.sources, st.poses
        for t in range(1, N + 1):
            if reporter is not None and t % 64 == 0:
                reporter.check_cancel()
            w = float(np.clip((t - (N - loop_steps)) / loop_steps, 0.0, 1.0)) if target is not None else 0.0
            st = stepper.step(st, StepControls(temperature=float(temps[t]), anchor=float(anchors[t]),
                                               loop_target=target, loop_weight=w))
            states[k, t], poses[k, t] = st.sources, st.poses
    return states, poses
