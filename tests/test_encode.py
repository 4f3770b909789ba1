"""Encoders: the deterministic offline default and real open_clip loading."""

import json

import numpy as np
import pytest

from alive_blender.core.models.encoder import DETERMINISTIC_LABEL, DeterministicEncoder, EncoderSpec, make_encoder
from alive_blender.core.errors import AliveError

TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def test_deterministic_encoder_is_unit_repeatable_and_smooth():
    rng = np.random.default_rng(0)
    imgs = rng.uniform(0, 1, (3, 24, 32, 3)).astype(np.float32)
    imgs[1] = np.clip(imgs[0] + 0.02, 0, 1)      # a near copy of image 0
    a = DeterministicEncoder(64).encode_images(imgs)
    b = DeterministicEncoder(64).encode_images(imgs)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a, b)
    assert a[0] @ a[1] > a[0] @ a[2]
    assert "NON-SEMANTIC" in make_encoder(EncoderSpec()).label


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A tiny open_clip model made here, saved as a local weights file."""
    import open_clip
    import torch
    d = tmp_path_factory.mktemp("clip")
    cfg = d / "alive-test-tiny.json"
    cfg.write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(cfg)
    torch.manual_seed(0)
    model = open_clip.create_model("alive-test-tiny")
    weights = d / "tiny.pt"
    torch.save(model.state_dict(), weights)
    return cfg, weights


def test_open_clip_loads_local_weights_file(tiny_clip):
    cfg, weights = tiny_clip
    spec = EncoderSpec(kind="open_clip", model="alive-test-tiny", pretrained=str(weights), config=str(cfg))
    enc = make_encoder(spec)
    assert enc.semantic and "alive-test-tiny" in enc.label
    imgs = np.random.default_rng(0).integers(0, 255, (3, 40, 56, 3), dtype=np.uint8)
    emb = enc.encode_images(imgs)
    assert emb.shape == (3, 32)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    txt = enc.encode_text(["a cube", "a sphere"])
    assert txt.shape == (2, 32) and not np.allclose(txt[0], txt[1])
    # same weights, same embeddings
    assert np.allclose(make_encoder(spec).encode_images(imgs), emb, atol=1e-6)


def test_missing_weights_file_is_a_clear_error(tiny_clip):
    cfg, _ = tiny_clip
    spec = EncoderSpec(kind="open_clip", model="alive-test-tiny", pretrained="/nonexistent/w.pt", config=str(cfg))
    with pytest.raises(AliveError, match="weights file not found"):
        make_encoder(spec)


def test_pretrained_tag_without_download_says_how_to_supply_weights():
    spec = EncoderSpec(kind="open_clip", model="ViT-B-32", pretrained="laion2b_s34b_b79k", allow_download=False)
    with pytest.raises(AliveError) as err:
        make_encoder(spec)
    assert "downloads are off" in str(err.value) and "file path" in str(err.value)


def test_unknown_model_name():
    with pytest.raises(AliveError, match="unknown open_clip model"):
        make_encoder(EncoderSpec(kind="open_clip", model="No-Such-Model"))
