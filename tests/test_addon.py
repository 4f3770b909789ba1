"""The add-on inside real Blender: registration, settings, operators, panel, worker jobs."""

import time

import numpy as np
import pytest

import alive_blender


@pytest.fixture
def addon(fresh_bpy):
    alive_blender.register()
    yield fresh_bpy
    alive_blender.unregister()


def test_register_unregister_register_leaves_nothing(fresh_bpy):
    bpy = fresh_bpy
    alive_blender.register()
    alive_blender.unregister()
    assert not hasattr(bpy.types.Scene, "alive")
    alive_blender.register()
    assert hasattr(bpy.types.Scene, "alive")
    assert bpy.types.Panel.bl_rna_get_subclass_py("ALIVE_PT_main") is not None
    alive_blender.unregister()
    assert bpy.types.Panel.bl_rna_get_subclass_py("ALIVE_PT_main") is None
    assert bpy.types.Operator.bl_rna_get_subclass_py("ALIVE_OT_make_alive") is None


def test_settings_survive_save_and_reload(addon, tmp_path):
    bpy = addon
    scene = bpy.context.scene
    scene.alive.temperature = 1.7
    scene.alive.rollout_frames = 33
    scene.alive.bake_name = "shot7"
    scene.alive.keyframe_insert("anchor", frame=5)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "s.blend"))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "s.blend"))
    s = bpy.context.scene.alive
    assert (round(s.temperature, 4), s.rollout_frames, s.bake_name) == (1.7, 33, "shot7")
    assert bpy.context.scene.animation_data.action is not None


def test_every_property_has_a_description(addon):
    from alive_blender.blender.preferences import AlivePreferences
    from alive_blender.blender.props import AliveSettings
    for cls in (AliveSettings, AlivePreferences):
        for prop in cls.bl_rna.properties:
            if prop.identifier in ("rna_type", "name", "bl_idname"):
                continue
            assert prop.description, f"{cls.__name__}.{prop.identifier} has no description"


def test_make_alive_poll_says_why_without_camera(addon):
    bpy = addon
    assert bpy.context.scene.camera is None
    assert not bpy.ops.alive.make_alive.poll()


def test_make_alive_operator_in_background(addon, tmp_path):
    bpy = addon
    from alive_blender.blender.demo_scene import build_demo_scene
    scene = build_demo_scene(frames=4, width=48, height=32)
    s = scene.alive
    s.width, s.height, s.samples = 16, 12, 1
    s.generator_steps, s.behavior_epochs, s.rollout_frames = 20, 3, 3
    s.workdir = str(tmp_path / "w")
    with bpy.context.temp_override(scene=scene):
        assert bpy.ops.alive.make_alive() == {"FINISHED"}
    assert (tmp_path / "w" / "model" / "manifest.json").exists()
    assert any(o.name.startswith("Alive Points") for o in scene.objects)


def test_worker_job_runs_and_cancels(tmp_path):
    """A real worker process, advanced by the same poll function the UI timer calls."""
    from alive_blender.blender.jobs import Job
    from alive_blender.core.dataset import write_meta, write_sample
    cap = tmp_path / "capture"
    rng = np.random.default_rng(0)
    samples = []
    for i in range(6):
        write_sample(cap, f"{i:06d}", rng.integers(0, 255, (12, 16, 3), dtype=np.uint8),
                     np.full((12, 16), 3.0, np.float32), np.ones((12, 16), np.float32))
        samples.append({"file": f"{i:06d}.npz", "frame": i + 1, "subframe": 0.0,
                        "K": np.eye(3).tolist(), "world_from_camera": np.eye(4).tolist()})
    write_meta(cap, {"format": 1, "samples": samples, "key": "k", "width": 16, "height": 12})
    w = str(tmp_path)
    job = Job({"stage": "encode", "workdir": w, "spec": {"dim": 16}, "device": "cpu"}).start()
    job.wait(timeout=120)
    assert job.error is None and job.result["dim"] == 16 and job.fraction == 1.0
    # a long training run, cancelled: stops within a second and leaves a loadable checkpoint
    job = Job({"stage": "train", "workdir": w, "device": "cpu",
               "generator": {"steps": 100000, "hidden": 32, "layers": 2, "checkpoint_every": 20},
               "behavior": {"epochs": 2}}).start()
    t0 = time.monotonic()
    while job.poll() and job.fraction == 0.0:
        assert time.monotonic() - t0 < 120
        time.sleep(0.05)
    t1 = time.monotonic()
    job.cancel(timeout=5.0)
    assert time.monotonic() - t1 < 1.5
    assert not job.running and job.returncode == 3 and "cancelled" in job.error
    from alive_blender.core.checkpoint import load_training_state
    state = load_training_state(tmp_path / "model" / "generator.train.pt")
    assert state["step"] > 0
    assert not (tmp_path / "model" / "generator.safetensors").exists()
