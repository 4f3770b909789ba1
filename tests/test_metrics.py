"""Rollout metrics return known values on hand-made sequences."""

import numpy as np
import pytest

from alive_blender.core.errors import AliveError
from alive_blender.core.metrics import calibrate, check_targets, evaluate
from alive_blender.core.rollout import copy_last, random_walk
from alive_blender.core.sphere import angle, normalize


@pytest.fixture(scope="module")
def observed():
    """A smooth closed path on the sphere with uneven speed (D=16, 60 frames)."""
    t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    t = t + 0.15 * np.sin(3 * t)
    base = np.zeros((60, 16))
    base[:, 0] = 4.0
    base[:, 1] = np.cos(t)
    base[:, 2] = np.sin(t)
    base[:, 3] = 0.3 * np.sin(2 * t)
    return normalize(base)


def test_calibration_from_the_observed_sequence(observed):
    cal = calibrate(observed)
    steps = angle(observed[1:], observed[:-1])
    assert cal.step_median == pytest.approx(np.median(steps), rel=1e-3)  # float32 vs float64 arccos
    assert cal.step_p99 == pytest.approx(np.percentile(steps, 99), rel=1e-3)
    assert cal.replay_angle == 0.5 * cal.step_median
    # leave-one-out nearest neighbour excludes +-2 frames: the 5th percentile is farther than 2 steps
    assert np.arccos(cal.real_cos) > 2 * steps.min()
    with pytest.raises(AliveError, match="at least"):
        calibrate(observed[:4])


def test_frozen_sequence(observed):
    m = evaluate(copy_last(observed, 200, 4, 10), observed)
    assert m["freeze_share"] == 1.0
    assert m["smoothness_ratio"] == 0.0 and m["jump_rate"] == 0.0
    assert m["novelty"] == 0.0 and m["realism"] == 1.0
    assert m["diversity_10"] == m["diversity_last"] == 0.0
    # only the start frame and the frames as close to it as observed neighbours are covered
    cal = calibrate(observed)
    assert m["coverage"] == pytest.approx(np.mean(observed @ observed[10] >= cal.real_cos))
    assert m["coverage"] < 0.25
    assert not check_targets(m)["freeze_share"]


def test_replay_of_the_observed_sequence(observed):
    replay = np.stack([observed, np.roll(observed, 20, axis=0), np.roll(observed, 40, axis=0)])
    m = evaluate(replay, observed)
    assert m["realism"] == 1.0 and m["coverage"] == 1.0
    assert m["novelty"] == 0.0 and m["freeze_share"] == 0.0
    assert m["min_nearest_cos"] == pytest.approx(1.0, abs=1e-6)
    cal = calibrate(observed)
    assert m["smoothness_ratio"] == pytest.approx(1.0, rel=1e-3)  # the observed steps, in another order
    r64 = replay.astype(np.float64)
    steps = np.arccos(np.clip(np.sum(r64[:, 1:] * r64[:, :-1], -1), -1, 1))
    assert m["jump_rate"] == pytest.approx(np.mean(steps > cal.step_p99))
    assert m["jump_rate"] < 0.05  # only the top observed step (and the roll's seam) exceed the 99th percentile
    # three frames 20 apart on a closed path: their pairwise angle over the mean pairwise angle
    last = replay[:, -1]
    pair = np.mean([angle(last[0], last[1]), angle(last[0], last[2]), angle(last[1], last[2])])
    assert m["diversity_last"] == pytest.approx(pair / cal.spread, rel=1e-3)


def test_drifting_random_walk(observed):
    cal = calibrate(observed)
    walk = random_walk(observed, 300, 4, seed=0, start=0, step_angle=5 * cal.step_median)
    m = evaluate(walk, observed)
    assert m["smoothness_ratio"] == pytest.approx(5.0, rel=1e-3)
    assert m["jump_rate"] == 1.0
    assert m["novelty"] == 1.0
    assert m["realism"] < 0.05
    assert m["min_nearest_cos"] < cal.real_cos
    assert m["freeze_share"] == 0.0
    assert m["diversity_last"] > 1.0  # scattered far beyond the scene's own spread


def test_bad_rollouts_are_refused(observed):
    with pytest.raises(AliveError, match="size"):
        evaluate(np.zeros((2, 5, 7), np.float32), observed)
    bad = copy_last(observed, 5, 2, 0)
    bad[0, 2, 0] = np.nan
    with pytest.raises(AliveError, match="NaN"):
        evaluate(bad, observed)


def test_diversity_mean_averages_every_step_from_ten(observed):
    cal = calibrate(observed)
    replay = np.stack([observed, np.roll(observed, 30, axis=0)])
    m = evaluate(replay, observed)
    want = np.mean([np.arccos(np.clip(replay[0, t] @ replay[1, t], -1, 1)) for t in range(10, 60)]) / cal.spread
    assert m["diversity_mean"] == pytest.approx(want, rel=1e-4)
