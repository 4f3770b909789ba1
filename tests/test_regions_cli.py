"""Footage comes alive end to end: PNGs -> capture --images -> train -> rollout -> decode (CLI processes)."""

from __future__ import annotations

import json

import numpy as np

from alive_blender.core import frame_metrics as fm
from conftest import run_cli, run_python
from test_regions import FRAMES, clip, truth


def test_footage_with_two_regions_comes_alive(tmp_path):
    from PIL import Image
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, img in enumerate(clip()):
        Image.fromarray(img).save(frames / f"clip_{i + 1:04d}.png")
    wd = tmp_path / "wd"
    res = run_cli("capture", "--images", frames, "--out", wd, timeout=120)
    assert res.returncode == 0, res.stderr
    res = run_cli("--json", "train", wd, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "region-layers: 2 independently moving regions" in res.stderr
    assert json.loads(res.stdout)["generator"] == "region-layers"
    ro = tmp_path / "r.npy"
    res = run_cli("rollout", wd, "--steps", 40, "--count", 2, "--out", ro, timeout=120)
    assert res.returncode == 0, res.stderr
    states = np.load(ro.with_suffix(".states.npy"))
    assert states.shape == (2, 41, 2)
    flat = tmp_path / "inv.npy"
    np.save(flat, np.load(ro)[:, 1:].reshape(-1, np.load(ro).shape[-1]))
    np.save(flat.with_suffix(".states.npy"), states[:, 1:])
    res = run_cli("decode", wd, "--embeddings", flat, "--states", flat.with_suffix(".states.npy"),
                  "--out", tmp_path / "dec", timeout=120)
    assert res.returncode == 0, res.stderr
    names = sorted((tmp_path / "dec").glob("frame_*.png"))
    assert len(names) == 80
    rgb = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in names])
    s = fm.score_frames(rgb, truth()).summary()
    assert s["real"] >= 0.9 and s["novel_real"] >= 0.3 and s["new_reached"] >= 3, s
    # dynamism 0: a still frame (every region holds the start's source frame)
    still = tmp_path / "still.npy"
    res = run_cli("rollout", wd, "--steps", 10, "--dynamism", 0, "--out", still, timeout=120)
    assert res.returncode == 0, res.stderr
    held = np.load(still.with_suffix(".states.npy"))
    assert (held == held[:, :1]).all() and held[0, 0].tolist() == [FRAMES - 1, FRAMES - 1]
    # the bake is unchanged: the composed frames on a card (footage has no depth)
    empty = tmp_path / "empty.blend"
    made = run_python("import bpy, sys; bpy.ops.wm.read_factory_settings(use_empty=True); "
                      "bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])", empty, timeout=60)
    assert made.returncode == 0, made.stderr
    res = run_cli("bake", empty, wd, "--rollout", ro, "--texture", "sequence", "--card", "--save",
                  tmp_path / "out.blend", timeout=120)
    assert res.returncode == 0, res.stderr
    assert "41 frames" in res.stderr and (tmp_path / "out.blend").is_file()
