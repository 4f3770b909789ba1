"""The relational behavior on synthetic poses (pure core, no Blender): relations, controls, drift.

The poses are the carried scene's (``blender/interaction_scenes.build_carried_scene``) written out
as formulas: a platform rising and falling, a ball rolling along its top in step with it, a cube
spinning beside them on a coprime period; and the collision scene's (``build_collision_scene``): a ball
falls onto a box, glances off it and pushes it away, every 12 frames.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alive_blender.core.errors import AliveError
from alive_blender.core.models.behavior import BehaviorConfig
from alive_blender.core.models.relational.model import RelationalBehavior
from alive_blender.core.models.relational.relations import (contact_pairs, contact_violations, edge_types,
                                                            event_pairs, groups, stated_pairs, sustained_pairs,
                                                            touching)
from alive_blender.core.models.relational.state import pose_features, world_from_features
from alive_blender.core.models.relational.stepper import RelationalStepper
from alive_blender.core.models.relational.train import fit_simulator, reversible
from alive_blender.core.stepping import StepControls

BOUNDS = np.array([[[-1.3, -.6, -.125], [1.3, .6, .125]], [[-.32] * 3, [.32] * 3], [[-.4] * 3, [.4] * 3]])
NAMES = ["Platform", "Ball", "Spinner"]
torch.set_num_threads(1)   # tiny ops on a shared machine (as the rollout stage does)


def carried(frames, p1=12, p2=17):
    W = np.tile(np.eye(4), (frames, 3, 1, 1))
    for t in range(frames):
        a, b = 2 * math.pi * (t % p1) / p1, 2 * math.pi * (t % p2) / p2
        pz, along = 0.55 + 0.4 * math.sin(a), 0.85 * math.sin(a + math.pi / 3)
        W[t, 0, :3, 3] = (-0.5, 1, pz)
        th = along / 0.32
        W[t, 1, :3, :3] = [[math.cos(th), 0, math.sin(th)], [0, 1, 0], [-math.sin(th), 0, math.cos(th)]]
        W[t, 1, :3, 3] = (-0.5 + along, 1, pz + 0.125 + 0.32)
        W[t, 2, :3, :3] = [[math.cos(b), -math.sin(b), 0], [math.sin(b), math.cos(b), 0], [0, 0, 1]]
        W[t, 2, :3, 3] = (1.9, 0.2, 0.7)
    return W


def collision(frames, p1=12, p2=17):
    """Box, ball, spinner: the ball falls (gravity) onto the box's edge at phase 5, then rolls off to the
    right while the box slides left, slowing down; the ball touches the box only at phases 5 and 6."""
    W = np.tile(np.eye(4), (frames, 3, 1, 1))
    for t in range(frames):
        p, b = t % p1, 2 * math.pi * (t % p2) / p2
        after = max(0, p - 5)
        W[t, 0, :3, 3] = (-0.6 - 0.12 * after + 0.006 * after ** 2, 1, 0.49)
        W[t, 1, :3, 3] = ((-0.05, 1, 2.1 - 0.034 * p ** 2) if p <= 5 else
                          (-0.05 + 0.1 * after, 1, max(0.33, 1.25 - 0.2 * after)))
        W[t, 2, :3, :3] = [[math.cos(b), -math.sin(b), 0], [math.sin(b), math.cos(b), 0], [0, 0, 1]]
        W[t, 2, :3, 3] = (1.9, 0.2, 0.7)
    return W


COLLISION_BOUNDS = np.array([[[-.45] * 3, [.45] * 3], [[-.32] * 3, [.32] * 3], [[-.4] * 3, [.4] * 3]])


def behavior(frames=36, epochs=30, noise=None, seed=0, scene=carried, bounds=BOUNDS):
    W = scene(frames)
    contact = contact_pairs(W, bounds)
    types = edge_types(np.zeros((3, 3), bool), np.zeros((3, 3), bool), contact)
    cfg = BehaviorConfig(arch="relational", epochs=epochs, seed=seed, bidirectional=reversible(W, bounds))
    net, info = fit_simulator(W, types, cfg, input_noise=noise)
    return RelationalBehavior(cfg, 8, net, W, np.arange(frames), [1, 2, 3], NAMES, groups(contact), contact,
                              bounds, info)


@pytest.fixture(scope="module")
def beh():
    return behavior()


def run(beh, steps, seed=0, start=None, draw_pull=1.0, **controls):
    st = RelationalStepper(beh, draw_pull=draw_pull)
    s = st.start(len(beh.poses) - 1 if start is None else start, seed)
    out = [s]
    for _ in range(steps):
        s = st.step(s, StepControls(**controls))
        out.append(s)
    return out


def drawn_world(beh, states):
    """The captured world matrices of what is shown: each slot from its source sample."""
    idx = {int(f): i for i, f in enumerate(beh.frames)}
    return np.stack([[beh.world[idx[int(f)], m] for m, f in enumerate(s.sources)] for s in states])


def test_pose_features_round_trip():
    W = carried(20)
    assert np.allclose(world_from_features(pose_features(W)), W, atol=1e-9)


def test_relations_contact_and_stated():
    W = carried(24)
    contact = contact_pairs(W, BOUNDS)
    assert contact[0, 1] and contact[1, 0] and not contact[0, 2] and not contact[1, 2]
    assert groups(contact) == [[0, 1], [2]]
    parent, constraint = stated_pairs([{"Ball": {"parent": "Platform", "constraints": ["COPY_ROTATION"]}}], NAMES)
    assert parent[0, 1] and parent[1, 0] and not parent[0, 2]
    assert constraint[1].any() and not constraint[1, 1]


def test_a_brief_collision_relates_and_passing_close_by_does_not():
    W = collision(36)
    touch = touching(W, COLLISION_BOUNDS)[:12, 0, 1]
    assert touch.sum() == 2                                  # touching only at the hit: no sustained contact
    assert not sustained_pairs(W, COLLISION_BOUNDS).any()
    assert event_pairs(W, COLLISION_BOUNDS)[0, 1] and groups(contact_pairs(W, COLLISION_BOUNDS)) == [[0, 1], [2]]
    # two objects on their own smooth loops whose boxes touch where one turns: no event, independent
    passing = carried(36)
    passing[:, 1, :3, :3] = np.eye(3)
    passing[:, 1, :3, 3] = (0.5, 1.0, 0.55 - 0.4 - 0.125 - 0.32)      # under the platform's lowest point
    assert touching(passing, BOUNDS)[:, 0, 1].any()
    assert groups(contact_pairs(passing, BOUNDS)) == [[0], [1], [2]]


def test_contact_metric_on_a_collision():
    W = collision(36)
    contact = contact_pairs(W, COLLISION_BOUNDS)
    assert not contact_violations(W, W, COLLISION_BOUNDS, contact).any()      # the capture itself is valid
    cycle = W.copy()
    cycle[:, 1] = W[(np.arange(36) + 12) % 36, 1]        # the ball from another drop, in step: still valid
    assert not contact_violations(cycle, W, COLLISION_BOUNDS, contact).any()
    late = W.copy()
    late[:, 1] = W[(np.arange(36) + 3) % 36, 1]          # the ball three frames ahead of the box
    off = contact_violations(late, W, COLLISION_BOUNDS, contact)
    assert off.mean() > 0.5
    # still falling onto a resting box: valid; glancing off a box that was never pushed: not
    assert not off[:3].any() and off[3:5].all()


def test_colliding_objects_are_drawn_together(monkeypatch):
    beh = behavior(frames=36, scene=collision, bounds=COLLISION_BOUNDS)
    assert beh.groups == [[0, 1], [2]]
    states = run(beh, 200)
    assert all(s.sources[0] == s.sources[1] for s in states)     # ball and box from one captured sample
    assert not contact_violations(drawn_world(beh, states), beh.world, COLLISION_BOUNDS, beh.contact).any()
    assert len({(int(s.sources[0]) % 12, int(s.sources[2]) % 17) for s in states}) > 36   # new arrangements
    # along the collision's own motion: it is not learned backwards, and the draw prefers going on with
    # it (this small model still holds or steps back often: on the bench's 64-frame shot it goes on in
    # about 80 % of its steps)
    assert not reversible(beh.world, COLLISION_BOUNDS) and reversible(carried(36), BOUNDS)

    def steps(states):
        phase = np.array([int(s.sources[0]) % 12 for s in states])
        return np.bincount((phase[1:] - phase[:-1]) % 12, minlength=12)
    on = steps(states)
    monkeypatch.setattr("alive_blender.core.models.relational.stepper.MOTION_SLACK", 0.0)
    off = steps(run(beh, 200))
    assert on[1] > 1.5 * off[1] and on[1] > 2.5 * on[11], (on, off)   # measured: 68 against 41; 19 back


def test_contact_metric_flags_a_ball_out_of_step():
    W = carried(24)
    assert not contact_violations(W, W, BOUNDS, contact_pairs(W, BOUNDS)).any()   # the capture itself is valid
    shuffled = W.copy()
    shuffled[:, 1] = W[(np.arange(24) + 3) % 24, 1]      # the ball three frames out of step with its platform
    assert contact_violations(shuffled, W, BOUNDS, contact_pairs(W, BOUNDS)).mean() > 0.5


def test_carried_object_stays_on_its_carrier_for_500_steps(beh):
    states = run(beh, 500)
    world = drawn_world(beh, states)
    assert not contact_violations(world, beh.world, BOUNDS, beh.contact).any()
    assert all(s.sources[0] == s.sources[1] for s in states)   # drawn jointly: from one captured sample
    # and it moves: the platform is not held in place
    assert len({int(s.sources[0]) for s in states}) >= 10


def test_temperature_scales_the_randomness(beh):
    def spread(T):
        runs = [np.array([s.sources for s in run(beh, 40, seed=k, temperature=T)]) for k in range(4)]
        return np.mean([(runs[0] != r).mean() for r in runs[1:]])
    cold, warm = spread(0.0), spread(1.5)
    assert cold == 0.0 and warm > 0.1


def test_seeds_reproduce(beh):
    a = [s.sources.tolist() for s in run(beh, 30, seed=7)]
    b = [s.sources.tolist() for s in run(beh, 30, seed=7)]
    c = [s.sources.tolist() for s in run(beh, 30, seed=8)]
    assert a == b and a != c


def test_anchor_one_keeps_to_captured_joint_states(beh):
    states = run(beh, 40, anchor=1.0)
    feats = pose_features(beh.world)
    for s in states[1:]:
        pred = pose_features(s.poses)
        assert np.abs(feats - pred).max((1, 2)).min() < 1e-6       # the predicted state is a captured one
    free = run(beh, 40, anchor=0.0, temperature=1.0)
    off = [np.abs(feats - pose_features(s.poses)).max((1, 2)).min() for s in free[1:]]
    assert max(off) > 1e-3


def test_loop_returns_to_the_start(beh):
    st = RelationalStepper(beh)
    start = st.start(5, 0)
    target = st.start(5, 1)
    s, n = start, 24
    for t in range(1, n + 1):
        s = st.step(s, StepControls(loop_target=target, loop_weight=max(0.0, (t - 18) / 6)))
    assert np.array_equal(s.sources, start.sources)
    assert np.allclose(s.poses, start.poses, atol=1e-6)


@pytest.mark.parametrize("free", [False, True])
def test_a_goal_is_reached_within_48_steps_and_held(beh, free):
    """A dragged object heads for its goal along its captured motion and stays there while the goal
    is set: at least halfway within 48 steps, and within that distance for the rest of 96 steps."""
    z = beh.world[:, 0, 2, 3]
    start = int(np.argmin(z))
    goal = beh.world[int(np.argmax(z)), 0, :3, 3]        # the platform's highest captured point: on its path
    top_step = np.linalg.norm(np.diff(beh.world[:, 0, :3, 3], axis=0), axis=1).max()
    st = RelationalStepper(beh, free_poses=free)
    for seed in range(3):
        s = st.start(start, seed)
        states = [s]
        for _ in range(96):
            s = st.step(s, StepControls(temperature=1.0, goals={0: goal}))
            states.append(s)
        world = np.stack([x.poses for x in states]) if free else drawn_world(beh, states)
        d = np.linalg.norm(world[:, 0, :3, 3] - goal, axis=1)
        half = 0.5 * d[0]
        arrived = int(np.flatnonzero(d <= half)[0])
        assert arrived <= 48 and (d[arrived:] <= half).all(), (seed, d.round(2))
        assert d[-1] < 0.05 * d[0]                           # and it ends at the goal (it lies on the path)
        # along its motion: no step longer than the capture's own
        assert np.linalg.norm(np.diff(world[:, 0, :3, 3], axis=0), axis=1).max() <= top_step + 1e-6
        # its carried ball goes with it
        assert not contact_violations(world, beh.world, BOUNDS, beh.contact).any()
    # without the goal (same seed) the platform does not stay at the top
    free_run = run(beh, 96, start=start, temperature=1.0)
    d = np.linalg.norm(drawn_world(beh, free_run)[48:, 0, :3, 3] - goal, axis=1)
    assert d.max() > 0.5 * np.linalg.norm(beh.world[start, 0, :3, 3] - goal)


def test_goal_strength_zero_leaves_the_rollout_alone(beh):
    a = [s.sources.tolist() for s in run(beh, 20, seed=2)]
    b = [s.sources.tolist() for s in run(beh, 20, seed=2, goals={0: (0.0, 0.0, 0.0)}, goal_strength=0.0)]
    assert a == b


def test_held_objects_hold_still(beh):
    states = run(beh, 20, held=frozenset({2}), temperature=1.0)
    assert len({int(s.sources[2]) for s in states}) == 1
    assert len({int(s.sources[0]) for s in states}) > 3


def test_bad_controls_are_refused(beh):
    st = RelationalStepper(beh)
    s = st.start(0, 0)
    with pytest.raises(AliveError):
        st.step(s, StepControls(goals={5: (0, 0, 0)}))
    with pytest.raises(AliveError):
        st.start(10_000, 0)


def test_saved_and_loaded_behavior_rolls_out_the_same(beh, tmp_path):
    from alive_blender.core.models.behavior import Behavior
    beh.save(tmp_path / "behavior.safetensors")
    back = Behavior.load(tmp_path / "behavior.safetensors")
    assert isinstance(back, RelationalBehavior)
    a = [s.sources.tolist() for s in run(beh, 20, seed=3)]
    b = [s.sources.tolist() for s in run(back, 20, seed=3)]
    assert a == b


def test_noise_trained_model_drifts_less_over_1000_steps():
    """GNS's finding, on this model: trained with input noise, its own free rollout stays nearer the
    captured states. Free running (nothing drawn feeds back: draw_pull 0), T = 0, with the seed's
    anchor 0.1 (without any anchor both leave the captured region entirely on a shot this short);
    distance to the nearest captured joint state (in observed steps) over the last 100 of 1000
    steps, summed over three training seeds (measured: 18.5/18.6/18.3 with noise, 18.6/19.8/23.0
    without)."""
    def drift(noise, seed):
        beh = behavior(frames=36, epochs=40, noise=noise, seed=seed)
        states = run(beh, 1000, draw_pull=0.0, anchor=0.1, temperature=0.0)
        d = [np.sqrt((((np.linalg.norm(beh.poses - s.memory.pose, axis=-1) / beh.step_size) ** 2).sum(-1)).min())
             for s in states[-100:]]
        return float(np.mean(d))
    noisy = sum(drift(0.5, seed) for seed in (0, 1, 2))
    clean = sum(drift(0.0, seed) for seed in (0, 1, 2))
    assert noisy < clean


def test_free_pose_relations_and_reach():
    """drawing.keep_relations places a group as in its nearest captured joint frame relative to its
    carrier, wherever the carrier is; within_reach keeps positions inside the grown captured box."""
    from types import SimpleNamespace
    from alive_blender.core.models.relational.drawing import REACH, keep_relations, within_reach
    rng = np.random.default_rng(0)
    F = 10
    poses = np.zeros((F, 3, 12))
    poses[:, 1, 2] = np.linspace(0.0, 1.0, F)                       # a carrier rising
    poses[:, 0, 0] = np.linspace(-1.0, 1.0, F)                      # its load rolling along it (and more spread)
    poses[:, 0, 2] = poses[:, 1, 2] + 0.5
    poses[:, 2, 0] = 3.0                                            # an independent slot
    beh = SimpleNamespace(poses=poses, groups=[[0, 1], [2]])
    costs = lambda pred, vel, g: ((poses[:, g, :3] - pred[g, :3]) ** 2).sum((1, 2))   # noqa: E731
    pred = poses[4] + rng.normal(0, 0.05, (3, 12))
    pred[1, 2] += 0.03                                              # the carrier at a height never captured
    out = keep_relations(pred, np.zeros_like(pred), beh, costs)
    assert np.allclose(out[1, :3], pred[1, :3])                      # the carrier stays where predicted
    assert np.allclose(out[0, :3] - out[1, :3], poses[4, 0, :3] - poses[4, 1, :3])   # the load on it as captured
    assert np.allclose(out[2], pred[2]) and np.allclose(out[:, 3:], pred[:, 3:])     # the rest untouched
    held = keep_relations(pred, np.zeros_like(pred), beh, costs, held={0})
    assert np.allclose(held[0], pred[0]) and np.allclose(held[1, :3] - held[0, :3], poses[4, 1, :3] - poses[4, 0, :3])
    far = pred.copy()
    far[1, 2] = 5.0
    assert np.isclose(within_reach(far, beh)[1, 2], 1.0 + REACH * 1.0)
