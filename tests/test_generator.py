"""Generator: real torch training at tiny sizes (training, save/load, resume, determinism, bad checkpoints)."""

import json

import numpy as np
import pytest

from conftest import blob_shot

from alive_blender.core.models.encoder import DeterministicEncoder
from alive_blender.core.errors import AliveError, Cancelled
from alive_blender.core.models.generator import (ARCHITECTURES, DEFAULT_ARCH, LAYER_ARCHS, Generator,
                                                 GeneratorConfig, psnr, resolve_config, train_generator)
from alive_blender.core.run.protocol import Reporter


@pytest.fixture(scope="module")
def shot():
    return blob_shot(12)


TINY = dict(arch="grid-siren", channels=16, grid_min=8, stages=2, latent=32, pcs=8, static_channels=4, head_hidden=16,
            frames_per_batch=4, threads=1, hidden=32, layers=2, pixels_per_frame=128)


def cfg(**kw):
    return GeneratorConfig(**{**TINY, **kw})


def test_default_is_object_layers_and_the_sirens_stay_available():
    assert DEFAULT_ARCH == "object-layers"
    assert "grid-siren" in ARCHITECTURES
    assert "original-siren" in ARCHITECTURES and "film-siren" in ARCHITECTURES


@pytest.mark.parametrize("arch", ["grid-siren", "original-siren"])
def test_training_reduces_error(shot, arch):
    emb, rgb, depth = shot
    c = resolve_config(cfg(arch=arch, steps=200), 16, 12)
    untrained = Generator(c, emb.shape[1], 4.0)
    before = psnr(untrained.decode(emb, 16, 12)["rgb"], rgb)
    gen = train_generator(emb, rgb, depth, None, c)
    out = gen.decode(emb, 16, 12)
    assert gen.steps_done == 200
    assert psnr(out["rgb"], rgb) > before + 5
    fg = np.isfinite(depth)
    assert np.abs(out["depth"][fg] - depth[fg]).mean() < 0.5
    assert out["alpha"][:, :2].mean() < 0.5 < out["alpha"][:, 4:].mean()


def test_decode_at_any_size_in_bounded_chunks(shot):
    emb, rgb, depth = shot
    gen = train_generator(emb, rgb, depth, None, cfg(steps=30))
    big = gen.decode(emb[:5], 32, 24)                           # 2x the training size
    assert big["rgb"].shape == (5, 24, 32, 3) and big["depth"].shape == (5, 24, 32)
    chunked = gen.decode(emb[:5], 32, 24, max_batch_pixels=100)  # tiny chunks: same pixels
    for k in big:
        np.testing.assert_allclose(big[k], chunked[k], rtol=1e-5, atol=1e-5)
    odd = gen.decode(emb[:2], 7, 5)
    assert odd["rgb"].shape == (2, 5, 7, 3) and np.isfinite(odd["rgb"]).all()


def test_save_load_roundtrip_decodes_identically(shot, tmp_path):
    emb, rgb, depth = shot
    for arch in [a for a in ARCHITECTURES if a not in LAYER_ARCHS]:   # object-layers: test_object_layers.py
        gen = train_generator(emb, rgb, depth, None, cfg(arch=arch, steps=10))
        gen.save(tmp_path / f"{arch}.safetensors")
        back = Generator.load(tmp_path / f"{arch}.safetensors", expect_dim=32, expect_arch=arch)
        assert back.cfg == gen.cfg and back.depth_scale == gen.depth_scale
        a, b = gen.decode(emb[:3], 20, 10), back.decode(emb[:3], 20, 10)
        assert all(np.array_equal(a[k], b[k]) for k in a), arch


def test_mismatched_or_corrupt_checkpoints_give_clear_errors(shot, tmp_path):
    emb, rgb, depth = shot
    gen = train_generator(emb, rgb, depth, None, cfg(steps=5))
    path = tmp_path / "g.safetensors"
    gen.save(path)
    with pytest.raises(AliveError, match="size 32, the encoder gives 512"):
        Generator.load(path, expect_dim=512)
    with pytest.raises(AliveError, match="is a 'grid-siren', not a 'original-siren'"):
        Generator.load(path, expect_arch="original-siren")
    with pytest.raises(AliveError, match="do not fit"):
        gen.decode(np.zeros((1, 7), np.float32), 4, 4)
    # weights of one architecture under the header of another
    header = json.loads(path.with_suffix(".json").read_text())
    header["config"]["arch"] = "original-siren"
    path.with_suffix(".json").write_text(json.dumps(header))
    with pytest.raises(AliveError, match="does not match architecture 'original-siren'"):
        Generator.load(path)
    header["config"]["arch"] = "no-such-net"
    path.with_suffix(".json").write_text(json.dumps(header))
    with pytest.raises(AliveError, match="unknown architecture 'no-such-net'"):
        Generator.load(path)
    # weights trained for another embedding size under this header
    other = train_generator(DeterministicEncoder(24).encode_images(rgb), rgb, depth, None, cfg(steps=2))
    other.save(tmp_path / "o.safetensors")
    header["config"]["arch"] = "grid-siren"
    (tmp_path / "o.json").write_text(json.dumps(header))
    with pytest.raises(AliveError, match="does not match architecture"):
        Generator.load(tmp_path / "o.safetensors")
    path.write_bytes(b"garbage" * 10)
    with pytest.raises(AliveError, match="corrupt"):
        Generator.load(path)
    state = tmp_path / "state.pt"
    state.write_bytes(b"not a torch file")
    with pytest.raises(AliveError, match="corrupt"):
        train_generator(emb, rgb, depth, None, cfg(steps=5), state_path=state)


def test_cpu_training_is_deterministic_for_a_seed(shot):
    emb, rgb, depth = shot
    c = cfg(steps=15, seed=3)
    a = train_generator(emb, rgb, depth, None, c).decode(emb[:2], 8, 6)["rgb"]
    b = train_generator(emb, rgb, depth, None, c).decode(emb[:2], 8, 6)["rgb"]
    assert np.array_equal(a, b)
    other = train_generator(emb, rgb, depth, None, cfg(steps=15, seed=4)).decode(emb[:2], 8, 6)["rgb"]
    assert not np.array_equal(a, other)


class _CancelAfter:
    """Asks to stop after ``n`` safe points (what the UI's cancel does)."""

    def __init__(self, n):
        self.n = n

    def __call__(self):
        self.n -= 1
        return self.n < 0


def test_stopped_run_resumes_from_its_checkpoint(shot, tmp_path):
    emb, rgb, depth = shot
    c = cfg(steps=24, checkpoint_every=5, seed=1)
    state = tmp_path / "gen.train.pt"
    with pytest.raises(Cancelled):
        train_generator(emb, rgb, depth, None, c, Reporter(should_stop=_CancelAfter(13)), state_path=state)
    assert state.exists()                        # saved when stopped, not only every 5 steps
    messages = []
    resumed = train_generator(emb, rgb, depth, None, c, Reporter(messages.append), state_path=state)
    assert any("resuming generator training at step 13" in m.get("message", "") for m in messages)
    assert resumed.steps_done == 24
    straight = train_generator(emb, rgb, depth, None, c)
    a, b = resumed.decode(emb, 16, 12), straight.decode(emb, 16, 12)
    assert all(np.array_equal(a[k], b[k]) for k in a)   # stop + resume == one uninterrupted run
    # a state made with other settings is not trusted: start over, say so
    messages.clear()
    again = train_generator(emb, rgb, depth, None, cfg(steps=3, seed=2), Reporter(messages.append), state_path=state)
    assert again.steps_done == 3
    assert any(m.get("type") == "warning" and "starting over" in m.get("message", "") for m in messages)


def test_interpolated_pairs_are_optional_and_bad_input_is_refused(shot):
    emb, rgb, depth = shot
    a = train_generator(emb, rgb, depth, None, cfg(steps=5), interpolate=False)
    b = train_generator(emb, rgb, depth, None, cfg(steps=5, interp_fraction=0.0))
    assert all(np.array_equal(a.decode(emb[:2], 8, 6)[k], b.decode(emb[:2], 8, 6)[k]) for k in ("rgb", "depth"))
    with pytest.raises(AliveError, match="one image per embedding"):
        train_generator(emb[:3], rgb, depth, None, cfg(steps=2))
