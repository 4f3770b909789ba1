"""Generator, behavior model and rollout: real torch training at tiny sizes."""

import numpy as np
import pytest

from conftest import blob_shot

from alive_blender.core.models.behavior import Behavior, BehaviorConfig, train_behavior
from alive_blender.core.errors import AliveError
from alive_blender.core.models.generator import Generator, GeneratorConfig, psnr, train_generator
from alive_blender.core.rollout import RolloutConfig, rollout


@pytest.fixture(scope="module")
def tiny_shot():
    return blob_shot(10)


SMALL = dict(hidden=32, layers=2, frames_per_batch=4, pixels_per_frame=128)


@pytest.mark.parametrize("arch", ["film-siren", "original-siren"])
def test_generator_training_reduces_error(tiny_shot, arch):
    emb, rgb, depth = tiny_shot
    untrained = Generator(GeneratorConfig(arch=arch, **SMALL), emb.shape[1], 4.0)
    before = psnr(untrained.decode(emb, 16, 12)["rgb"], rgb)
    gen = train_generator(emb, rgb, depth, None, GeneratorConfig(arch=arch, steps=150, **SMALL))
    out = gen.decode(emb, 16, 12)
    assert psnr(out["rgb"], rgb) > before + 3
    fg = np.isfinite(depth)
    assert np.abs(out["depth"][fg] - depth[fg]).mean() < 1.0
    assert out["alpha"][:, :2].mean() < out["alpha"][:, 4:].mean()


def test_generator_save_load_roundtrip_and_errors(tiny_shot, tmp_path):
    emb, rgb, depth = tiny_shot
    gen = train_generator(emb, rgb, depth, None, GeneratorConfig(arch="grid-siren", steps=20, **SMALL))
    gen.save(tmp_path / "g.safetensors")
    back = Generator.load(tmp_path / "g.safetensors")
    a, b = gen.decode(emb[:3], 20, 10), back.decode(emb[:3], 20, 10)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    with pytest.raises(AliveError, match="size 32"):
        Generator.load(tmp_path / "g.safetensors", expect_dim=512)
    with pytest.raises(AliveError, match="do not fit"):
        back.decode(np.zeros((1, 7), np.float32), 4, 4)
    (tmp_path / "g.safetensors").write_bytes(b"garbage" * 10)
    with pytest.raises(AliveError, match="corrupt"):
        Generator.load(tmp_path / "g.safetensors")


def test_generator_training_is_deterministic_on_cpu(tiny_shot):
    emb, rgb, depth = tiny_shot
    cfg = GeneratorConfig(arch="grid-siren", steps=15, seed=3, **SMALL)
    a = train_generator(emb, rgb, depth, None, cfg).decode(emb[:2], 8, 6)["rgb"]
    b = train_generator(emb, rgb, depth, None, cfg).decode(emb[:2], 8, 6)["rgb"]
    assert np.array_equal(a, b)


def test_behavior_and_rollout_are_reproducible(tiny_shot, tmp_path):
    emb = tiny_shot[0]
    beh = train_behavior(emb, BehaviorConfig(arch="mdn-window", epochs=5))
    cfg = RolloutConfig(steps=12, count=3, seed=7)
    a, b = rollout(beh, emb, cfg), rollout(beh, emb, cfg)
    assert a.shape == (3, 13, emb.shape[1])
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=-1), 1.0, atol=1e-5)
    assert np.allclose(a[:, 0], emb[-1])
    assert not np.array_equal(a, rollout(beh, emb, RolloutConfig(steps=12, count=3, seed=8)))
    beh.save(tmp_path / "b.safetensors")
    again = rollout(Behavior.load(tmp_path / "b.safetensors"), emb, cfg)
    assert np.array_equal(a, again)
    with pytest.raises(AliveError, match="outside"):
        rollout(beh, emb, RolloutConfig(start=99))
