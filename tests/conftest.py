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
SCRIPTS = Path(__file__).resolve().parent / "scripts"   # Blender scripts the tests run in fresh processes

# Markers (registered in pyproject.toml): `bpy` needs Blender (the bpy module), `slow` renders,
# trains or runs the CLI end to end. `-m "not bpy"` runs the pure-core tests without Blender.
# Said here for whole files, so the test files stay about what they test.
BPY_FILES = {"test_addon.py", "test_addon_panel.py", "test_bake.py", "test_batch.py", "test_build_extension.py",
             "test_camera.py", "test_capture.py", "test_cli_pipeline.py", "test_cli_run.py",
             "test_generator_cli.py", "test_install_extension.py", "test_jobs.py", "test_manifest.py",
             "test_pipeline_bugs.py", "test_pipeline_resume.py", "test_regions_cli.py",
             "test_world.py", "test_relational_scene.py", "test_relational_world.py", "test_collision_scene.py"}
SLOW_FILES = {"test_batch.py", "test_build_extension.py", "test_cli_pipeline.py", "test_cli_run.py",
              "test_install_extension.py", "test_jobs.py", "test_pipeline_resume.py", "test_generator_cli.py",
              "test_regions_cli.py", "test_relational_scene.py",
              "test_relational_world.py"}
BPY_FIXTURES = {"fresh_bpy", "tiny_blend", "tiny_workdir"}
try:
    import bpy  # noqa: F401
except ImportError:   # no Blender here: files that import bpy at their top cannot even be collected
    collect_ignore = sorted(f for f in BPY_FILES if "\nimport bpy" in (Path(__file__).parent / f).read_text())


def pytest_collection_modifyitems(config, items):
    for item in items:
        name = Path(str(item.fspath)).name
        if name in BPY_FILES or BPY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.bpy)
        if name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)


def run_script(name: str, *args, timeout=300) -> subprocess.CompletedProcess:
    """A script from tests/scripts/ in a fresh interpreter (plain bpy, add-on not enabled unless it does it)."""
    return run_python((SCRIPTS / name).read_text(), *args, timeout=timeout)


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
    res = run_script("save_tiny_scene.py", path, frames, "camera" if camera else "no-camera")
    assert res.returncode == 0, res.stderr
    return path


@pytest.fixture(scope="session")
def tiny_blend(tmp_path_factory) -> Path:
    return save_tiny_scene(tmp_path_factory.mktemp("scene") / "tiny.blend")



@pytest.fixture(scope="session")
def tiny_workdir(tiny_blend, tmp_path_factory):
    """A real work directory (captured, encoded, trained a little, rolled out),
    made in this process without the slow parts of ``run``."""
    import bpy

    from alive_blender.blender.capture.render import CaptureSettings, capture
    from alive_blender.core.run import stages
    from alive_blender.core.models.encoder import EncoderSpec
    work = tmp_path_factory.mktemp("bakework") / "work"
    bpy.ops.wm.open_mainfile(filepath=str(tiny_blend))
    try:
        capture(bpy.context.scene, work, CaptureSettings(frame_start=1, frame_end=4, width=24, height=16, samples=1))
    finally:
        bpy.ops.wm.read_factory_settings(use_empty=True)
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is faster on a shared 2-core machine
    try:
        stages.encode(work, EncoderSpec(), "cpu")
        stages.train(work, {"steps": 20, "seed": 0}, {"epochs": 2, "seed": 0}, "cpu")
        stages.rollout(work, {"steps": 4, "count": 2, "seed": 0}, device="cpu")
    finally:
        torch.set_num_threads(threads)
    return work


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


def side_iou(root, baked, keyed, frame, objects) -> dict:
    """Silhouette IoU per object: the bake's cloud against the real mesh keyed at the same pose, both
    rendered alone from a side camera no sample had, in a plain Blender (no add-on). A deforming
    object's cloud is the state shown at ``frame`` (side_render.py). Masks: root/side_*_FRAME/I.png."""
    import json
    import numpy as np
    from PIL import Image
    masks = {}
    for what, path, names in (("clouds", baked, [f"Alive Cloud alive {n}" for n in objects]), ("mesh", keyed, objects)):
        out = root / f"side_{what}_{frame}"
        out.mkdir()
        res = run_script("side_render.py", path, out, frame, json.dumps(names))
        assert res.returncode == 0, res.stderr[-2000:]
        masks[what] = [np.asarray(Image.open(out / f"{i}.png").convert("RGBA"))[..., 3] > 127 for i in range(len(names))]
    out = {}
    for n, a, b in zip(objects, masks["clouds"], masks["mesh"]):
        assert b.sum() > 40
        out[n] = float((a & b).sum() / (a | b).sum())
    return out
