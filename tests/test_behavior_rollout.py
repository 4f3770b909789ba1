"""Behavior models as feedback loops: reproducibility, loop closure, text
steering, control curves, video texture, and the rollout/evaluate CLI.
Real torch training at tiny sizes."""

import json

import numpy as np
import pytest

from alive_blender.core.models.behavior import ARCHITECTURES, DEFAULT_ARCH, Behavior, BehaviorConfig, train_behavior
from alive_blender.core.models.encoder import DeterministicEncoder
from alive_blender.core.errors import AliveError
from alive_blender.core.rollout import RolloutConfig, curve, rollout, video_texture_walk
from alive_blender.core.sphere import angle, normalize, slerp
from alive_blender.core.models.steering import text_direction

DIM = 32


def blob_shot(n=30):
    """A blob that travels right and back over a gradient, encoded offline."""
    H, W = 12, 16
    yy, xx = np.mgrid[0:H, 0:W]
    rgb = np.zeros((n, H, W, 3), np.float32)
    for i in range(n):
        x = 2 + 12 * (0.5 - 0.5 * np.cos(2 * np.pi * i / n))
        blob = np.exp(-((xx - x) ** 2 + (yy - 6 - 2 * np.sin(4 * np.pi * i / n)) ** 2) / 6.0)
        rgb[i, ..., 0] = blob
        rgb[i, ..., 1] = yy / H
        rgb[i, ..., 2] = 0.3 + 0.2 * blob
    return DeterministicEncoder(DIM).encode_images(rgb)


def median_step(obs):
    return float(np.median(angle(obs[1:], obs[:-1])))


@pytest.fixture(scope="module")
def shot():
    return blob_shot()


@pytest.fixture(scope="module")
def models(shot):
    small = dict(epochs=25, hidden=32, mixtures=2, batch_size=32)
    return {arch: train_behavior(shot, BehaviorConfig(arch=arch, seed=1, **small))
            for arch in ("mdn-window", "mdn-gru")}


def test_default_is_the_relational_behavior_and_the_models_stay():
    assert DEFAULT_ARCH == "relational" and "object-walk" in ARCHITECTURES and "mdn-window" in ARCHITECTURES
    assert "original-vae" in ARCHITECTURES and "mdn-gru" in ARCHITECTURES


@pytest.mark.parametrize("arch", ["mdn-window", "mdn-gru"])
def test_rollouts_are_reproducible_for_a_seed(shot, models, tmp_path, arch):
    beh = models[arch]
    cfg = RolloutConfig(steps=30, count=3, seed=5)
    a, b = rollout(beh, shot, cfg), rollout(beh, shot, cfg)
    assert a.shape == (3, 31, DIM)
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=-1), 1.0, atol=1e-5)
    assert np.allclose(a[:, 0], shot[-1])
    assert not np.array_equal(a, rollout(beh, shot, RolloutConfig(steps=30, count=3, seed=6)))
    # the variations differ from each other, and the walk moves
    assert angle(a[0, -1], a[1, -1]) > 1e-4
    assert np.median(angle(a[:, 1:], a[:, :-1])) > 0.2 * median_step(shot)
    beh.save(tmp_path / "b.safetensors")
    back = Behavior.load(tmp_path / "b.safetensors")
    assert back.cfg.arch == arch and back.cfg.components == beh.cfg.components
    assert np.array_equal(a, rollout(back, shot, cfg))


def test_start_as_frame_or_embedding(shot, models):
    beh = models["mdn-window"]
    r = rollout(beh, shot, RolloutConfig(steps=4, count=2, start=3))
    assert np.allclose(r[:, 0], shot[3])
    e = normalize(shot[7] + 0.01)
    r = rollout(beh, shot, RolloutConfig(steps=4, count=2, start=e.tolist()))
    assert np.allclose(r[:, 0], e, atol=1e-6)
    with pytest.raises(AliveError, match="outside"):
        rollout(beh, shot, RolloutConfig(start=99))
    with pytest.raises(AliveError, match="start embedding"):
        rollout(beh, shot, RolloutConfig(start=[0.0] * 5))


@pytest.mark.parametrize("target", [None, 5])
def test_loop_closure_ends_within_one_observed_step_of_its_target(shot, models, target):
    beh = models["mdn-window"]
    r = rollout(beh, shot, RolloutConfig(steps=40, count=4, seed=2, start=12, loop=True, loop_target=target))
    goal = shot[12] if target is None else shot[target]
    end = angle(r[:, -1], np.broadcast_to(goal, r[:, -1].shape))
    assert (end <= median_step(shot) + 1e-6).all()
    free = rollout(beh, shot, RolloutConfig(steps=40, count=4, seed=2, start=12))
    assert np.array_equal(free[:, :20], r[:, :20])  # only the closing steps are pulled
    # closing does not jump: its steps stay within the observed range of step sizes (plus margin)
    steps = angle(r[:, 1:], r[:, :-1])
    assert steps.max() < 4 * float(np.max(angle(shot[1:], shot[:-1])))


def test_text_steering_moves_toward_the_prompt_as_strength_rises(shot, models):
    enc = DeterministicEncoder(DIM)
    d = text_direction(enc, "a red ball", "a blue ball")
    assert np.isclose(np.linalg.norm(d), 1.0, atol=1e-6)
    beh = models["mdn-window"]
    base = rollout(beh, shot, RolloutConfig(steps=20, count=2, seed=3))
    closeness = []
    for s in (0.0, 0.1, 0.3, 0.6, 0.9):
        r = rollout(beh, shot, RolloutConfig(steps=20, count=2, seed=3, steer_strength=s), steer_direction=d)
        closeness.append(float((r[:, 1:] @ d).mean()))
        if s == 0.0:
            assert np.array_equal(r, base)
    assert all(b > a for a, b in zip(closeness, closeness[1:])), closeness
    with pytest.raises(AliveError, match="no steering direction"):
        rollout(beh, shot, RolloutConfig(steps=3, steer_strength=0.5))
    with pytest.raises(AliveError, match="empty"):
        text_direction(enc, "  ")


class RecordingBehavior:
    """The stepping interface with a fixed small motion that records the
    temperature it was asked for at each step (to test the rollout loop)."""

    device = "cpu"

    def __init__(self, dim):
        rng = np.random.default_rng(0)
        self.push = normalize(rng.standard_normal(dim)) * 0.02
        self.temps = []

    def init_state(self, e, history=None):
        return None

    def motion(self, e, state, temperature, generator):
        import torch
        self.temps.append(temperature)
        return torch.from_numpy(np.broadcast_to(self.push * temperature, e.shape).copy()), state


def test_control_curves_are_honoured_step_by_step(shot):
    steps = 12
    temps = np.linspace(0.5, 2.0, steps)
    anchors = np.zeros(steps)
    anchors[[2, 4]] = 1.0                                       # steps 3 and 5, before steering starts
    strengths = np.zeros(steps)
    strengths[5:] = np.linspace(0.1, 0.8, steps - 5)
    d = text_direction(DeterministicEncoder(DIM), "up")
    beh = RecordingBehavior(DIM)
    cfg = RolloutConfig(steps=steps, count=2, temperature=temps.tolist(), anchor=anchors.tolist(),
                        steer_strength=strengths.tolist())
    r = rollout(beh, shot, cfg, steer_direction=d)
    assert np.allclose(beh.temps, temps)                        # temperature curve, one value per step
    for t in (3, 5):                                            # anchor 1 = an observed frame exactly
        nearest = shot[np.argmax(r[:, t] @ shot.T, axis=1)]
        assert np.allclose(r[:, t], nearest, atol=1e-5)
    unsteered = rollout(RecordingBehavior(DIM), shot, RolloutConfig(steps=steps, count=2, temperature=temps,
                                                                    anchor=anchors))
    for t in range(1, steps + 1):                               # steering strength at each step
        want = unsteered[:, t] if strengths[t - 1] == 0 else slerp(unsteered[:, t], np.broadcast_to(
            d, unsteered[:, t].shape), strengths[t - 1])
        assert np.allclose(r[:, t], want, atol=1e-5), t
    with pytest.raises(AliveError, match="curve has 5 values"):
        curve([1.0] * 5, steps, "temperature")
    with pytest.raises(AliveError, match="anchor must be within"):
        rollout(beh, shot, RolloutConfig(steps=3, anchor=1.5))


def test_temperature_raises_step_size(shot, models):
    beh = models["mdn-window"]
    sizes = [float(np.median(angle(r[:, 1:], r[:, :-1]))) for r in
             (rollout(beh, shot, RolloutConfig(steps=60, count=4, seed=1, temperature=t)) for t in (0.5, 1.0, 2.0))]
    assert sizes[0] < sizes[1] < sizes[2]


def test_video_texture_walks_observed_frames(shot):
    r = rollout(None, shot, RolloutConfig(steps=50, count=3, seed=4, mode="video-texture"))
    assert r.shape == (3, 51, DIM)
    obs = normalize(shot)
    assert np.allclose((r[:, 1:] @ obs.T).max(-1), 1.0, atol=1e-5)  # every step is an observed frame
    assert np.array_equal(r, rollout(None, shot, RolloutConfig(steps=50, count=3, seed=4, mode="video-texture")))
    walk = video_texture_walk(shot, 200, 2, 0, len(shot) - 1)
    idx = np.argmax(walk @ obs.T, axis=-1)
    assert len(np.unique(idx)) > 5  # it does not get stuck at the last frame


def test_rollout_and_evaluate_cli(shot, models, tmp_path):
    from alive_blender.core.workdir.artifacts import EMBED, MODEL, save_npy, write_json
    from alive_blender.core.workdir.checkpoint import write_manifest
    from alive_blender.core.models.encoder import EncoderSpec
    from tests.conftest import run_cli
    wd = tmp_path / "wd"
    spec = EncoderSpec(dim=DIM)
    save_npy(wd / EMBED / "embeddings.npy", shot)
    write_json(wd / EMBED / "encoder.json", {"label": "deterministic", "semantic": False, "dim": DIM,
                                             "spec": spec.to_dict(), "identity": spec.identity()})
    (wd / MODEL).mkdir(parents=True)
    models["mdn-window"].save(wd / MODEL / "behavior.safetensors")
    write_manifest(wd / MODEL, ["behavior.safetensors"], {"dim": DIM})
    out = tmp_path / "r.npy"
    res = run_cli("--json", "rollout", wd, "--steps", 25, "--count", 3, "--seed", 2, "--start", 4,
                  "--prompt", "a red ball", "--loop", "--out", out)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    r = np.load(out)
    assert r.shape == (3, 26, DIM) and info["shape"] == [3, 26, DIM]
    assert "no meaning" in res.stderr  # steering with the offline encoder says so
    res = run_cli("evaluate", wd, out)
    assert res.returncode == 0, res.stderr
    metrics = json.loads(res.stdout)
    for key in ("realism", "coverage", "diversity_10", "diversity_100", "diversity_last", "smoothness_ratio",
                "jump_rate", "freeze_share", "min_nearest_cos", "novelty"):
        assert isinstance(metrics[key], float), key
    res = run_cli("rollout", wd, "--steps", 5, "--start", 99, "--out", out)
    assert res.returncode == 2 and "outside" in res.stderr
