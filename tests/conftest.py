"""Shared test helpers. Tests run inside real Blender: the bpy module."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def run_cli(*args, cwd=None, timeout=600, env=None) -> subprocess.CompletedProcess:
    """``python -m alive_blender ARGS`` in a fresh process, like a user would."""
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", "alive_blender", *map(str, args)], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout, env=full_env)


def run_python(code: str, *args, timeout=300) -> subprocess.CompletedProcess:
    """A fresh interpreter (plain bpy, add-on not enabled unless the code does it)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


@pytest.fixture
def fresh_bpy():
    """An empty Blender session for in-process tests."""
    import bpy
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield bpy
    bpy.ops.wm.read_factory_settings(use_empty=True)


def save_tiny_scene(path: Path, frames: int = 6, camera: bool = True) -> Path:
    """The demo scene, short and small, saved as a .blend (built in a subprocess
    so the test process's Blender session stays untouched)."""
    code = f"""
import bpy, sys
from alive_blender.blender.demo_scene import build_demo_scene
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = build_demo_scene(frames={frames}, width=64, height=48)
for s in [s for s in bpy.data.scenes if s != scene]:
    bpy.data.scenes.remove(s)
if not {camera}:
    cam = scene.camera
    scene.camera = None
    bpy.data.objects.remove(cam)
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
"""
    res = run_python(code, path)
    assert res.returncode == 0, res.stderr
    return path


@pytest.fixture(scope="session")
def tiny_blend(tmp_path_factory) -> Path:
    return save_tiny_scene(tmp_path_factory.mktemp("scene") / "tiny.blend")


# settings that keep a full CLI run to seconds
# (the trained models, not the default object layers: these runs test training, resuming and cancelling)
TINY_RUN = ["--frames", "1-6", "--resolution", "24x16", "--rollout-frames", "5", "--generator-steps", "60",
            "--behavior-epochs", "5", "--samples", "2", "--generator", "grid-siren", "--behavior", "mdn-window"]


def blob_shot(n: int = 10, h: int = 12, w: int = 16, dim: int = 32):
    """A tiny shot for model tests: a blob moving across a gradient, with depth
    and a masked background; returns (embeddings, rgb, depth)."""
    import numpy as np

    from alive_blender.core.models.encoder import DeterministicEncoder
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.zeros((n, h, w, 3), np.float32)
    depth = np.full((n, h, w), 4.0, np.float32)
    for i in range(n):
        blob = np.exp(-((xx - 3 - i) ** 2 + (yy - 6) ** 2) / 6.0)
        rgb[i, ..., 0] = blob
        rgb[i, ..., 1] = yy / h
        rgb[i, ..., 2] = 0.3
        depth[i] -= blob
    depth[:, :2] = np.inf
    return DeterministicEncoder(dim).encode_images(rgb), rgb, depth
