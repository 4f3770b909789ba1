"""A walk's embeddings (issue 22, item 2): a state that is one captured frame
takes its embedding from embed/embeddings.npy; composed frames are encoded in
batches, each distinct one once; nothing is encoded when nothing downstream
needs it, and R.json says so, so evaluate and the trajectory bake encode on
demand (and refuse when they cannot). Pure core: synthetic captures, the
deterministic encoder, the real object-layers generator and object walk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from alive_blender.core.errors import AliveError

ROOT = Path(__file__).resolve().parents[1]


def two_object_capture(workdir, n=12, w=32, h=24):
    """Two squares, each on its own cycle (periods 4 and 6): many arrangements a walk can recombine."""
    from alive_blender.core.workdir.capture_store import CaptureStore
    K = [[w, 0, w / 2], [0, w, h / 2], [0, 0, 1]]
    with CaptureStore(workdir) as store:
        for i in range(n):
            rgb = np.zeros((h, w, 3), np.uint8)
            rgb[..., 1] = 60
            ids = np.zeros((h, w), np.uint16)
            depth = np.full((h, w), 5.0, np.float32)
            objects = {}
            for oid, (period, row, colour) in enumerate([(4, 3, (230, 40, 40)), (6, 14, (40, 40, 230))], 1):
                x = 2 + 6 * (i % period)
                rgb[row:row + 6, x:x + 5] = colour
                ids[row:row + 6, x:x + 5] = oid
                depth[row:row + 6, x:x + 5] = 3.0
                m = np.eye(4)
                m[0, 3] = float(i % period)
                objects[str(oid)] = m.tolist()
            store.add(i, f"k{i}", {"frame": i + 1, "subframe": 0.0, "real_frame": True, "K": K,
                                   "world_from_camera": np.eye(4).tolist(), "objects": objects},
                      rgb, depth, np.ones((h, w), np.float32), ids=ids)
        store.commit({"source": "render", "width": w, "height": h, "has_depth": True, "has_ids": True,
                      "object_ids": {"1": "Red", "2": "Blue"}})
    return workdir


def footage_capture(workdir, frames=16):
    from alive_blender.core.workdir.footage import FootageSettings, capture_images
    capture_images(str(ROOT / "tests" / "data" / "pedestrians"), workdir,
                   FootageSettings(frame_end=frames, width=32, height=24))
    return workdir


def trained(workdir, **generator):
    from alive_blender.core.run import stages
    stages.encode(workdir, {"kind": "deterministic", "dim": 32}, device="cpu")
    # object-layers + object-walk (the walk these tests are about; the default behavior is relational)
    stages.train(workdir, {"seed": 0, **generator}, {"seed": 0, "arch": "object-walk"}, device="cpu")
    return workdir


class CountingEncoder:
    """The work directory's own encoder, counting what it is asked to encode."""

    def __init__(self, inner):
        self.inner, self.calls, self.images = inner, [], 0
        self.dim, self.semantic, self.label = inner.dim, inner.semantic, inner.label

    def encode_images(self, images, *a, **k):
        self.calls.append(len(images))
        self.images += len(images)
        return self.inner.encode_images(images, *a, **k)

    def encode_text(self, texts):
        return self.inner.encode_text(texts)


@pytest.fixture
def counting(monkeypatch):
    from alive_blender.core.models import steering
    made = []
    real = steering.workdir_encoder

    def counted(workdir, device="cpu"):
        made.append(CountingEncoder(real(workdir, device)))
        return made[-1]
    monkeypatch.setattr(steering, "workdir_encoder", counted)
    return made


def brute_force(workdir, states):
    """What the walk's embeddings are: every state composed and encoded, one by one."""
    from alive_blender.core.models.steering import workdir_encoder
    from alive_blender.core.run import stages
    gen = stages.load_generator(workdir, "cpu")
    enc = workdir_encoder(workdir, "cpu")
    flat = states.reshape(-1, states.shape[-1])
    out = np.stack([enc.encode_images((gen.compose(s[None])["rgb"] * 255 + 0.5).astype(np.uint8))[0] for s in flat])
    return out.reshape(*states.shape[:2], -1)


def test_a_walk_on_footage_encodes_nothing_its_frames_are_captured(tmp_path, counting):
    from alive_blender.core.run import stages
    # whole frames (footage_regions off): a video-texture walk, whose every state is a captured frame
    wd = trained(footage_capture(tmp_path / "wd"), footage_regions=False)
    info = stages.rollout(wd, {"steps": 60, "count": 3, "seed": 1, "prompt": "people walking", "steer_strength": 0.3}, device="cpu")
    assert sum(c.images for c in counting) == 0   # even steering needs no encode: every state is a captured frame
    traj = np.load(wd / "rollout" / "rollout.npy")
    states = np.load(wd / "rollout" / "rollout.states.npy")
    assert np.isfinite(traj).all()
    assert info["embeddings"]["from_capture"] == 3 * 61 and info["embeddings"]["encoded"] == 0
    # unsteered at the start frame; the observed embedding of the state's frame there
    emb = np.load(wd / "embed" / "embeddings.npy")
    np.testing.assert_allclose(traj[:, 0], emb[states[:, 0, 0]], atol=1e-6)


def test_each_composed_state_is_encoded_once_in_batches_and_matches_encoding_each_frame(tmp_path, counting):
    from alive_blender.core.run import stages
    from alive_blender.core.walk_encoding import walk_embeddings
    wd = trained(two_object_capture(tmp_path / "wd"))
    from alive_blender.core.models.encoder import DeterministicEncoder
    from alive_blender.core.models.object_walk import rollout_states
    from alive_blender.core.rollout import RolloutConfig
    gen = stages.load_generator(wd, "cpu")
    walk = stages.load_behavior(wd, "cpu")
    states = rollout_states(walk, np.load(wd / "embed" / "embeddings.npy"), RolloutConfig(steps=40, count=4, seed=3))
    enc = CountingEncoder(DeterministicEncoder(32))
    out, stats = walk_embeddings(gen, states, np.load(wd / "embed" / "embeddings.npy"), enc.encode_images, batch=8)
    keys = gen.composition_keys(states.reshape(-1, 2))
    distinct = len(np.unique(keys, axis=0))
    assert stats["composed"] > 0 and stats["from_capture"] > 0          # the walk made new arrangements
    assert enc.images == stats["encoded"] == stats["composed"] < distinct < states.shape[0] * states.shape[1]
    assert max(enc.calls) <= 8 and len(enc.calls) == -(-stats["encoded"] // 8)   # in batches of 8
    # composed rows: what encoding each composed frame gives; a state composing as a captured frame
    # (every object as in one sample, up to equal poses): that sample's row of embeddings.npy
    truth = brute_force(wd, states).reshape(-1, 32)
    flat = states.reshape(-1, 2)
    captured = {}
    for sample in np.unique(flat):
        captured.setdefault(tuple(gen.composition_keys(np.array([[sample, sample]]))[0]), sample)
    is_captured = np.array([tuple(k) in captured for k in keys])
    assert is_captured.sum() >= (flat[:, 0] == flat[:, 1]).sum()
    emb = np.load(wd / "embed" / "embeddings.npy")
    out = out.reshape(-1, 32)
    np.testing.assert_allclose(out[~is_captured], truth[~is_captured], atol=1e-5)
    np.testing.assert_allclose(out[is_captured], emb[[captured[tuple(k)] for k in keys[is_captured]]], atol=1e-6)


def test_nothing_downstream_needs_them_nothing_is_encoded_and_readers_encode_on_demand(tmp_path, counting):
    from alive_blender.core.rollout import check_embeddings
    from alive_blender.core.run import stages
    wd = trained(two_object_capture(tmp_path / "wd"))
    info = stages.rollout(wd, {"steps": 40, "count": 2, "seed": 3}, device="cpu")
    assert sum(c.images for c in counting) == 0
    record = json.loads((wd / "rollout" / "rollout.json").read_text())["embeddings"]
    traj = np.load(wd / "rollout" / "rollout.npy")
    missing = np.isnan(traj).all(-1)
    assert record["encoded"] == 0 and record["not_encoded"] == int(missing.sum()) > 0
    assert record == info["embeddings"] and "on demand" in record["note"]
    assert np.isfinite(traj[~missing]).all()            # never a wrong embedding: NaN where not encoded
    with pytest.raises(AliveError, match="not encoded"):
        check_embeddings(traj, 32)                      # a reader that cannot encode says why
    # decode needs only the states
    res = stages.decode_rollout(wd, out_dir=tmp_path / "dec", device="cpu")
    assert res["frames"] == 41
    # evaluate encodes the missing rows on demand, each distinct state once
    metrics = stages.evaluate(wd, wd / "rollout" / "rollout.npy")
    assert sum(c.images for c in counting) == record["composed"]
    full = stages.rollout_embeddings(wd, wd / "rollout" / "rollout.npy", "cpu")
    assert np.isfinite(full).all()
    states = np.load(wd / "rollout" / "rollout.states.npy")
    np.testing.assert_allclose(full[missing], brute_force(wd, states)[missing], atol=1e-5)
    from alive_blender.core.metrics import evaluate
    assert metrics["realism"] == pytest.approx(evaluate(full, np.load(wd / "embed" / "embeddings.npy"))["realism"])
    # encoded again with another encoder, the missing rows cannot be encoded honestly: refused
    stages.encode(wd, {"kind": "deterministic", "dim": 16}, device="cpu")
    with pytest.raises(AliveError, match="roll out again"):
        stages.rollout_embeddings(wd, wd / "rollout" / "rollout.npy", "cpu")


def test_a_steered_walk_encodes_everything_it_steers(tmp_path, counting):
    from alive_blender.core.run import stages
    wd = trained(two_object_capture(tmp_path / "wd"))
    info = stages.rollout(wd, {"steps": 30, "count": 2, "seed": 3, "prompt": "a red square", "steer_strength": 0.3}, device="cpu")
    traj = np.load(wd / "rollout" / "rollout.npy")
    assert np.isfinite(traj).all()
    assert info["embeddings"]["not_encoded"] == 0 and info["embeddings"]["encoded"] == info["embeddings"]["composed"]
    assert sum(c.images for c in counting) == info["embeddings"]["encoded"] > 0
