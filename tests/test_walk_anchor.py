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


def test_moving_camera_novelty_counts_the_camera(tmp_path):
    """With a moving camera an arrangement is new unless captured through that frame's camera: the
    walk then reaches (almost) every never-captured (arrangement, camera) pair; counting objects alone
    it keeps to the arrangements the capture lacked under any camera. Survives save and load."""
    from alive_blender.core.models.object_walk import ObjectWalk, ObjectWalkConfig
    from alive_blender.core.workdir.checkpoint import load_model
    from alive_blender.core.world.camera_path import CameraPath
    frames = 24
    t = np.arange(frames)
    poses = two_object_walk(frames).poses
    path = CameraPath(t + 1, t, "cyclic", 5)     # the camera repeats every 5 frames: 5 camera classes

    def new_pairs(walk):
        st = walk.walk(0, 200, 4, seed=3, temperature=1.0)
        cams = path.sample_for(np.arange(201)) % 5
        seen = {(walk._arrangement(st[k, i]), int(cams[i])) for k in range(4) for i in range(1, 201)}
        return seen - {(walk._arrangement([i, i]), i % 5) for i in range(frames)}

    blind = ObjectWalk(ObjectWalkConfig(), 8, poses, t, [1, 2])
    aware = ObjectWalk(ObjectWalkConfig(), 8, poses, t, [1, 2], camera_path=path, camera_class=t % 5)
    never = 12 * 2 * 5 - frames    # 24 arrangements (2 x 12 phases) x 5 cameras, 24 captured
    assert len(new_pairs(aware)) >= 0.9 * never > len(new_pairs(blind))
    aware.save(tmp_path / "behavior.safetensors")
    back = ObjectWalk.from_state(*load_model(tmp_path / "behavior.safetensors", "behavior"))
    assert back.camera_path.rule == "cyclic" and back.camera_path.period == 5
    assert np.array_equal(back.walk(0, 50, 2, seed=1, temperature=1.0), aware.walk(0, 50, 2, seed=1, temperature=1.0))
