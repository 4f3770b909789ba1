"""train / encode / decode commands on a tiny footage-style work directory (no render needed)."""

import json

import numpy as np
import pytest
from PIL import Image

from alive_blender.core.workdir.dataset import write_meta, write_sample
from conftest import run_cli


def make_capture(workdir, n=8, w=16, h=12):
    """A footage-like capture (no depth): a bright square sliding over a gradient."""
    cap = workdir / "capture"
    yy, xx = np.mgrid[0:h, 0:w]
    samples = []
    for i in range(n):
        rgb = np.zeros((h, w, 3), np.uint8)
        rgb[..., 1] = (yy * 255 // h).astype(np.uint8)
        rgb[3:8, i:i + 5, 0] = 255
        name = f"{i + 1:06d}"
        write_sample(cap, name, rgb, None, np.ones((h, w), np.float32))
        samples.append({"file": f"{name}.npz", "image": f"{name}.png", "frame": i + 1, "subframe": 0.0,
                        "K": np.eye(3).tolist(), "world_from_camera": np.eye(4).tolist(), "key": name})
    write_meta(cap, {"format": 1, "source": "footage", "width": w, "height": h, "has_depth": False,
                     "samples": samples, "key": "tiny-footage"})
    return workdir


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    wd = make_capture(tmp_path_factory.mktemp("gencli") / "work")
    res = run_cli("--json", "train", wd, "--generator", "grid-siren", "--generator-steps", "40",
                  "--behavior-epochs", "2", "--device", "cpu", "--seed", "1")
    assert res.returncode == 0, res.stderr
    return wd, json.loads(res.stdout)


def test_train_encodes_first_and_reports(trained):
    wd, info = trained
    assert (wd / "embed" / "embeddings.npy").exists()          # encode ran because it was needed
    assert info["generator"] == "grid-siren" and info["generator_steps"] == 40
    assert info["width"] == 16 and info["height"] == 12 and info["train_psnr"] > 10
    assert (wd / "model" / "generator.safetensors").exists()
    assert not (wd / "model" / "generator.train.pt").exists()   # finished: no stale resume state


def test_encode_then_decode_any_size(trained, tmp_path):
    wd, _ = trained
    emb_file = tmp_path / "emb.npy"
    res = run_cli("--json", "encode", str(wd / "capture" / "images" / "*.png"), "--model", wd, "--out", emb_file)
    assert res.returncode == 0, res.stderr
    emb = np.load(emb_file)
    assert emb.shape == (8, 512)
    np.testing.assert_allclose(emb, np.load(wd / "embed" / "embeddings.npy"), atol=1e-5)  # same encoder
    out = tmp_path / "decoded"
    res = run_cli("--json", "decode", wd, "--embeddings", emb_file, "--out", out, "--size", "32x24")
    assert res.returncode == 0, res.stderr
    frames = sorted(p.name for p in out.glob("*.png"))
    assert frames == [f"frame_{i:05d}.png" for i in range(1, 9)]
    assert Image.open(out / frames[0]).size == (32, 24)
    assert sorted(p.name for p in (out / "depth").glob("*.png")) == frames
    assert np.load(out / "depth" / "depth.npy").shape == (8, 24, 32)
    # decoding again into the same folder replaces the earlier decode
    res = run_cli("decode", wd, "--embeddings", emb_file, "--out", out)
    assert res.returncode == 0, res.stderr
    assert Image.open(out / frames[0]).size == (16, 12)


def test_bad_inputs_fail_clearly(trained, tmp_path):
    wd, _ = trained
    res = run_cli("encode", str(tmp_path / "nothing-here" / "*.png"), "--model", wd, "--out", tmp_path / "e.npy")
    assert res.returncode == 2 and "no images found" in res.stderr
    np.save(tmp_path / "wrong.npy", np.zeros((2, 7), np.float32))
    res = run_cli("decode", wd, "--embeddings", tmp_path / "wrong.npy", "--out", tmp_path / "d")
    assert res.returncode == 2 and "embeddings of size 7" in res.stderr and not (tmp_path / "d").exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    np.save(tmp_path / "ok.npy", np.load(wd / "embed" / "embeddings.npy")[:2])
    res = run_cli("decode", wd, "--embeddings", tmp_path / "ok.npy", "--out", busy)
    assert res.returncode == 2 and "holds other files" in res.stderr and (busy / "notes.txt").exists()
    res = run_cli("train", tmp_path / "empty")
    assert res.returncode == 2 and "no capture" in res.stderr
