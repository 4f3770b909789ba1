"""The object walk's anchor (the seed's pull toward the nearest observed state): the chance per
step to return to an arrangement a captured frame shows. Pure core, synthetic poses."""

from __future__ import annotations

import numpy as np


def two_object_walk(frames=24):
    from alive_blender.core.models.object_walk import ObjectWalk, ObjectWalkConfig
    t = np.arange(frames)
    # two objects on their own cycles (periods 4 and 6): x position and a constant, as pose features
    poses = np.stack([np.stack([t % 4, np.zeros(frames)], 1), np.stack([t % 6, np.ones(frames)], 1)]).astype(float)
    return ObjectWalk(ObjectWalkConfig(), 8, poses, t, [1, 2])


def captured_share(walk, states):
    flat = states.reshape(-1, states.shape[-1])
    return np.mean([walk._arrangement(s) in walk.captured for s in flat])


def test_anchor_one_keeps_to_captured_arrangements_and_zero_invents():
    walk = two_object_walk()
    free = walk.walk(0, 200, 4, seed=3, temperature=1.0, anchor=0.0)
    held = walk.walk(0, 200, 4, seed=3, temperature=1.0, anchor=1.0)
    assert captured_share(walk, held) == 1.0
    assert captured_share(walk, free) < 0.5          # the novelty preference leaves the captured ones
    some = walk.walk(0, 200, 4, seed=3, temperature=1.0, anchor=0.3)
    assert captured_share(walk, free) < captured_share(walk, some) < 1.0


def test_no_anchor_keeps_the_walks_random_stream():
    walk = two_object_walk()
    a = walk.walk(0, 50, 2, seed=5, temperature=1.0)
    b = walk.walk(0, 50, 2, seed=5, temperature=1.0, anchor=0.0)
    assert np.array_equal(a, b)
