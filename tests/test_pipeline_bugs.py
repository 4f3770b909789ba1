"""Bugs that hid behind settings and bake paths written several times (issue 11),
each checked the way a user meets it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import alive_blender

pytestmark = pytest.mark.bpy


@pytest.fixture
def addon_on_tiny_blend(fresh_bpy, tiny_blend):
    """The tiny shot opened with the add-on enabled (preferences included)."""
    bpy = fresh_bpy
    entry = bpy.context.preferences.addons.new()
    entry.module = "alive_blender"
    alive_blender.register()
    bpy.ops.wm.open_mainfile(filepath=str(tiny_blend))
    yield bpy
    alive_blender.unregister()
    entry = bpy.context.preferences.addons.get("alive_blender")
    if entry is not None:
        bpy.context.preferences.addons.remove(entry)


def _work_copy(tiny_workdir, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(tiny_workdir, work)
    return work


def test_bake_with_options_uses_the_scenes_work_folder_when_none_is_given(addon_on_tiny_blend, tiny_workdir,
                                                                          tmp_path):
    # was: AttributeError ('Context' has no 'alive') whenever Work Folder was empty, the default
    bpy = addon_on_tiny_blend
    scene = bpy.context.scene
    scene.alive.workdir = str(_work_copy(tiny_workdir, tmp_path))
    assert bpy.ops.alive.bake_options(name="opt", workdir="", texture_mode="ATLAS") == {"FINISHED"}
    assert "Alive opt" in bpy.data.collections


def test_bake_after_a_rollout_started_from_an_embedding(fresh_bpy, tiny_blend, tiny_workdir, tmp_path):
    # was: TypeError (int() of a list) in the bake after `alive rollout --start E.npy`
    from alive_blender.blender.bake.from_workdir import bake_from_workdir
    from alive_blender.blender.bake.points import BakeSettings
    from alive_blender.core.run import stages
    work = _work_copy(tiny_workdir, tmp_path)
    emb = np.load(work / "embed" / "embeddings.npy")
    out = tmp_path / "r.npy"
    info = stages.rollout(work, {"steps": 3, "start": emb[1].tolist()}, out=out, device="cpu")
    assert info["start_frame"] == 1  # the nearest observed frame: the camera the frames are seen through
    fresh_bpy.ops.wm.open_mainfile(filepath=str(tiny_blend))
    res = bake_from_workdir(fresh_bpy.context.scene, work, BakeSettings(name="emb", texture=False),
                            rollout_file=out, device="cpu")
    assert res["frames"][1] - res["frames"][0] == 3


def test_panel_bake_needs_no_encoder_while_offline(addon_on_tiny_blend, tiny_workdir, tmp_path):
    # was: "CLIP model 'ViT-B-32' needs its weights": Bake built the whole run's settings, encoder included
    from alive_blender.blender.ui.preferences import get_prefs
    from alive_blender.core.run import stages
    bpy = addon_on_tiny_blend
    work = _work_copy(tiny_workdir, tmp_path)
    stages.decode_rollout(work, device="cpu")  # what the panel's Roll Out leaves behind
    prefs = get_prefs()
    prefs.clip_model, prefs.clip_pretrained = "ViT-B-32", "laion2b_s34b_b79k"
    assert not bpy.app.online_access
    scene = bpy.context.scene
    scene.alive.workdir = str(work)
    assert bpy.ops.alive.bake() == {"FINISHED"}
    assert f"Alive {scene.alive.bake_name}" in bpy.data.collections


def test_capture_says_when_a_material_or_light_change_renders_everything(fresh_bpy, tmp_path):
    # the README promised this message; the capture key sees materials and lights
    from alive_blender.blender.capture.render import CaptureSettings, capture
    from alive_blender.blender.demo_scene import build_demo_scene
    from alive_blender.core.run.protocol import Reporter
    scene = build_demo_scene(frames=2, width=16, height=12)
    settings = CaptureSettings(width=8, height=6, samples=1)
    said = []
    rep = Reporter(lambda m: said.append(m.get("message", "")))
    assert capture(scene, tmp_path, settings, rep)["rendered"] == 2
    assert capture(scene, tmp_path, settings, rep)["rendered"] == 0
    assert not any("changed since the last capture" in m for m in said)
    for change in (lambda: setattr(next(iter(fresh_bpy.data.lights)), "energy", 123.0),
                   lambda: setattr(fresh_bpy.data.materials[0], "diffuse_color", (1, 0, 0, 1))):
        change()
        said.clear()
        assert capture(scene, tmp_path, settings, rep)["rendered"] == 2
        assert any("scene file changed since the last capture" in m for m in said), said


def test_bake_links_the_decoded_frames_and_reads_no_captured_pixels(fresh_bpy, tiny_blend, tiny_workdir, tmp_path,
                                                                    monkeypatch):
    # read once, compute once: the image sequence is the decode's own PNGs, and the bake
    # reads the capture's cameras from meta.json without opening a sample
    import alive_blender.core.workdir.dataset as dataset
    from alive_blender.blender.bake.from_workdir import bake_from_workdir
    from alive_blender.blender.bake.points import BakeSettings
    work = _work_copy(tiny_workdir, tmp_path)
    monkeypatch.setattr(dataset, "load_capture", lambda *a: pytest.fail("the bake loaded the captured pixels"))
    fresh_bpy.ops.wm.open_mainfile(filepath=str(tiny_blend))
    # the per-frame points: the 3-D bake builds its clouds from the captured pixels by design
    res = bake_from_workdir(fresh_bpy.context.scene, work, BakeSettings(name="seq", point_bake="per-frame"),
                            blend_dir=tmp_path / "b",
                            device="cpu")
    decoded = sorted(Path(res["decoded_dir"]).glob("frame_*.png"))
    baked = sorted((tmp_path / "b" / "alive_seq").glob("frame_*.png"))
    assert len(baked) == len(decoded) == 5
    assert all(b.samefile(d) for b, d in zip(baked, decoded))   # hard links, not a second encode
