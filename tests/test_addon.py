"""The add-on inside real Blender (the bpy module): registration, settings,
operators through bpy.ops with their reports, poll messages, and control curves.

Operator reports: INFO/WARNING reports of an operator called from Python are
printed as "Info: ..." / "Warning: ..." (read with capfd); an ERROR report
raises RuntimeError carrying the message."""

from __future__ import annotations

import numpy as np
import pytest

import alive_blender


def _enable(bpy):
    """Register as Blender would for an enabled add-on, preferences included."""
    entry = bpy.context.preferences.addons.new()
    entry.module = "alive_blender"
    alive_blender.register()
    return entry


def _disable(bpy):
    alive_blender.unregister()
    entry = bpy.context.preferences.addons.get("alive_blender")  # gone if the test reset the preferences
    if entry is not None:
        bpy.context.preferences.addons.remove(entry)


@pytest.fixture(autouse=True)
def one_thread_workers(monkeypatch):
    """Workers inherit the environment: one torch thread each keeps them quick on a
    small shared CI machine (many threads on two busy cores spin instead of working)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture
def addon(fresh_bpy):
    _enable(fresh_bpy)
    yield fresh_bpy
    _disable(fresh_bpy)


def tiny_scene(bpy, workdir, frames=4):
    from alive_blender.blender.demo_scene import build_demo_scene
    scene = build_demo_scene(frames=frames, width=48, height=32)
    s = scene.alive
    s.width, s.height, s.samples = 16, 12, 1
    s.generator_steps, s.generator_width, s.behavior_epochs, s.rollout_frames = 20, 16, 3, 3
    s.generator, s.behavior = "grid-siren", "mdn-window"   # trained models: the tests watch their steps
    s.workdir = str(workdir)
    return scene


def our_classes():
    from alive_blender.blender import addon
    return [cls for mod in addon.MODULES for cls in mod.CLASSES]


def test_register_unregister_register_leaves_nothing(fresh_bpy):
    bpy = fresh_bpy
    from alive_blender.blender import addon as addon_mod
    from alive_blender.blender.ui.jobs import poll_active_job
    handlers_before = {name: len(getattr(bpy.app.handlers, name)) for name in dir(bpy.app.handlers)
                       if isinstance(getattr(bpy.app.handlers, name), list)}
    for _ in range(2):
        alive_blender.register()
        assert hasattr(bpy.types.Scene, "alive")
        assert addon_mod._stop_jobs_on_load in bpy.app.handlers.load_pre
        for cls in our_classes():
            assert cls.is_registered, cls.__name__
        bpy.app.timers.register(poll_active_job, first_interval=10)  # as a running job leaves it
        alive_blender.unregister()
        assert not hasattr(bpy.types.Scene, "alive")
        for cls in our_classes():
            assert not cls.is_registered, cls.__name__
        for base in (bpy.types.Panel, bpy.types.Operator, bpy.types.PropertyGroup, bpy.types.AddonPreferences):
            for cls in our_classes():
                assert base.bl_rna_get_subclass_py(cls.__name__) is None
        assert not bpy.app.timers.is_registered(poll_active_job)
        handlers_after = {name: len(getattr(bpy.app.handlers, name)) for name in handlers_before}
        assert handlers_after == handlers_before
        assert addon_mod._CLI["handle"] is None
    with pytest.raises(KeyError):
        bpy.ops.alive.train.get_rna_type()  # the operator type is gone from Blender


def test_settings_and_curves_survive_save_and_reload(addon, tmp_path):
    bpy = addon
    from alive_blender.blender.ui.props import sample_control_curves
    scene = bpy.context.scene
    s = scene.alive
    s.rollout_frames, s.bake_name, s.prompt, s.engine, s.loop = 33, "shot7", "waves", "WORKBENCH", True
    s.temperature = 0.5
    s.keyframe_insert("temperature", frame=2)
    s.temperature = 2.5
    s.keyframe_insert("temperature", frame=6)
    s.steer_strength = 0.8
    s.keyframe_insert("steer_strength", frame=1)
    s.anchor = 0.3
    before = sample_control_curves(scene, 1, 8)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "s.blend"))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert bpy.context.scene.alive.rollout_frames == 48
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "s.blend"))
    scene = bpy.context.scene
    s = scene.alive
    assert (s.rollout_frames, s.bake_name, s.prompt, s.engine, s.loop) == (33, "shot7", "waves", "WORKBENCH", True)
    after = sample_control_curves(scene, 1, 8)
    for key in ("temperature", "anchor", "steer_strength"):
        np.testing.assert_allclose(after[key], before[key], atol=1e-6)
    t = after["temperature"]
    assert t[0] == pytest.approx(0.5) and t[1] == pytest.approx(0.5) and t[5] == pytest.approx(2.5)
    assert 0.5 < t[3] < 2.5  # interpolated between the keys
    np.testing.assert_allclose(after["anchor"], 0.3, atol=1e-6)  # not animated: the property's value
    np.testing.assert_allclose(after["steer_strength"], 0.8, atol=1e-6)


def test_rollout_settings_carry_per_step_curves(addon):
    bpy = addon
    from alive_blender.blender.ui.operators import rollout_settings
    scene = bpy.context.scene
    scene.frame_start = 10
    s = scene.alive
    s.rollout_frames = 5
    s.temperature = 0.0
    s.keyframe_insert("temperature", frame=11)
    s.temperature = 3.0
    s.keyframe_insert("temperature", frame=14)
    from alive_blender.blender import compat
    for fc in compat.action_fcurves(scene.animation_data):
        for kp in fc.keyframe_points:
            kp.interpolation = "LINEAR"
    r = rollout_settings(scene)
    # step k is baked at frame_start + k: steps 1..4 -> frames 11..14
    assert r["steps"] == 4
    assert r["temperature"] == pytest.approx([0.0, 1.0, 2.0, 3.0])
    # not animated: the property's value, the schema's default (the seed's anchor 0.1)
    assert r["anchor"] == pytest.approx(0.1) and r["steer_strength"] == 0.0


def test_every_property_has_a_description(addon):
    from alive_blender.blender.ui.operators import CLASSES as OPERATORS
    from alive_blender.blender.ui.preferences import AlivePreferences
    from alive_blender.blender.ui.props import AliveSettings
    checked = 0
    bpy = addon
    op_rna = [getattr(bpy.ops.alive, cls.bl_idname.split(".")[1]).get_rna_type() for cls in OPERATORS]
    for cls, rna in [(AliveSettings, AliveSettings.bl_rna), (AlivePreferences, AlivePreferences.bl_rna),
                     *zip(OPERATORS, op_rna)]:
        for prop in rna.properties:
            if prop.identifier in ("rna_type", "name", "bl_idname"):
                continue
            assert prop.description, f"{cls.__name__}.{prop.identifier} has no description"
            checked += 1
        if issubclass(cls, bpy.types.Operator):
            assert cls.bl_description, cls.__name__
    assert checked > 35


def test_poll_messages_say_why(addon, tmp_path):
    bpy = addon
    assert bpy.context.scene.camera is None
    for op, why in ((bpy.ops.alive.make_alive, "no active camera"), (bpy.ops.alive.capture, "no active camera"),
                    (bpy.ops.alive.cancel, "No Alive job is running"),
                    (bpy.ops.alive.show_preview, "No preview yet")):
        assert not op.poll()
        with pytest.raises(RuntimeError, match=why):
            op()
    scene = tiny_scene(bpy, tmp_path / "w")
    with bpy.context.temp_override(scene=scene):
        assert bpy.ops.alive.capture.poll() and bpy.ops.alive.make_alive.poll()
        for op, why in ((bpy.ops.alive.train, "Nothing captured yet"), (bpy.ops.alive.rollout, "No trained model"),
                        (bpy.ops.alive.bake, "No rolled-out frames")):
            assert not op.poll()
            with pytest.raises(RuntimeError, match=why):
                op()


def test_every_stage_operator_and_its_report(addon, tmp_path, capfd):
    """Capture, Train, Roll Out, Bake, Show Preview, Make Alive through bpy.ops on a tiny scene."""
    bpy = addon
    scene = tiny_scene(bpy, tmp_path / "w")
    wd = tmp_path / "w"
    with bpy.context.temp_override(scene=scene):
        capfd.readouterr()
        assert bpy.ops.alive.capture() == {"FINISHED"}
        assert "Info: Alive: captured 4 frames at 16x12 from 'Camera'" in capfd.readouterr().out
        assert (wd / "capture" / "meta.json").exists() and bpy.ops.alive.train.poll()

        assert bpy.ops.alive.train() == {"FINISHED"}
        out = capfd.readouterr()
        from alive_blender.core.models import behavior, generator
        assert "Info: Alive: trained 'grid-siren' + 'mdn-window' (PSNR" in out.out
        assert "Warning: encoder in use is deterministic" in out.out  # the worker's warning, as a report
        assert "generator step 20" in out.err  # the worker's progress lines on the terminal
        assert (wd / "model" / "manifest.json").exists() and scene.alive.train_psnr > 0

        assert bpy.ops.alive.rollout() == {"FINISHED"}
        assert "Info: Alive: rolled out 3 frames (see the image 'Alive Preview')" in capfd.readouterr().out
        img = bpy.data.images["Alive Preview"]
        assert tuple(img.size) != (0, 0)

        assert bpy.ops.alive.bake() == {"FINISHED"}
        assert "Info: Alive: baked 'alive' (frames 1-3)" in capfd.readouterr().out
        assert any(o.name.startswith("Alive Points") for o in scene.objects)

        assert bpy.ops.alive.show_preview() == {"FINISHED"}
        assert "Info: Alive: preview 'Alive Preview'" in capfd.readouterr().out

        # Make Alive: everything again (capture, one worker job for the rest, bake), replacing the bake
        n_objects = len(bpy.data.objects)
        scene.alive.seed = 1
        assert bpy.ops.alive.make_alive() == {"FINISHED"}
        assert "Info: Alive: baked 'alive' (frames 1-3)" in capfd.readouterr().out
        assert len(bpy.data.objects) == n_objects


def test_operator_errors_are_reports(addon, tmp_path):
    bpy = addon
    scene = tiny_scene(bpy, tmp_path / "w")
    scene.alive.frame_start, scene.alive.frame_end, scene.alive.use_scene_range = 5, 2, False
    with bpy.context.temp_override(scene=scene):
        with pytest.raises(RuntimeError, match="Error: .*empty frame range 5-2"):
            bpy.ops.alive.capture()
    assert not (tmp_path / "w" / "capture").exists()
    # an external worker interpreter that does not exist: said before anything runs
    from alive_blender.blender.ui.preferences import get_prefs
    scene.alive.use_scene_range = True
    with bpy.context.temp_override(scene=scene):
        bpy.ops.alive.capture()
        get_prefs().python_path = str(tmp_path / "no" / "python")
        with pytest.raises(RuntimeError, match="could not start the worker with .*no/python.*Worker Python"):
            bpy.ops.alive.train()
    from alive_blender.blender.ui.jobs import RUNNER
    assert not RUNNER.busy


def test_offline_clip_without_weights_is_refused_with_a_hint(addon, tmp_path):
    bpy = addon
    from alive_blender.blender.ui.preferences import encoder_spec, get_prefs
    from alive_blender.core.errors import AliveError
    prefs = get_prefs()
    assert prefs is not None and not bpy.app.online_access
    assert encoder_spec(prefs).kind == "deterministic"
    prefs.clip_model, prefs.clip_pretrained = "ViT-B-32", "laion2b_s34b_b79k"
    with pytest.raises(AliveError) as err:
        encoder_spec(prefs)
    assert "offline" in err.value.hint and "Weights File" in err.value.hint
    spec = encoder_spec(prefs, online=True)
    assert spec.allow_download and spec.pretrained == "laion2b_s34b_b79k"
    weights = tmp_path / "open_clip_model.bin"
    weights.write_bytes(b"x")
    prefs.clip_weights = str(weights)
    spec = encoder_spec(prefs)  # offline with a local file: fine, no download
    assert spec.pretrained == str(weights) and not spec.allow_download
    # the operator refuses before rendering anything
    prefs.clip_weights = ""
    scene = tiny_scene(bpy, tmp_path / "w")
    with bpy.context.temp_override(scene=scene):
        with pytest.raises(RuntimeError, match="needs its weights"):
            bpy.ops.alive.capture()
    assert not (tmp_path / "w").exists()


def test_work_folder_locations(addon, tmp_path):
    bpy = addon
    from alive_blender.blender.ui.preferences import get_prefs, resolve_workdir, user_folder
    prefs = get_prefs()
    scene = bpy.context.scene
    assert resolve_workdir(scene) == user_folder() / "alive_unsaved" / bpy.path.clean_name(scene.name)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"))
    scene = bpy.context.scene
    assert resolve_workdir(scene) == tmp_path / "alive_shot" / bpy.path.clean_name(scene.name)
    prefs.workdir_location, prefs.workdir = "CUSTOM", str(tmp_path / "root")
    assert resolve_workdir(scene) == tmp_path / "root" / "alive_shot" / bpy.path.clean_name(scene.name)
    prefs.workdir_location = "USER"
    assert resolve_workdir(scene).parent.parent == user_folder()
    scene.alive.workdir = str(tmp_path / "mine")
    assert resolve_workdir(scene) == tmp_path / "mine"


def test_modal_capture_steps_one_frame_at_a_time_and_esc_restores_the_scene(addon, tmp_path):
    """What the modal Capture operator does per timer event (next) and on Esc (close);
    modal operators themselves never run in the bpy module (no event loop)."""
    bpy = addon
    from alive_blender.blender.capture.render import capture_steps
    from alive_blender.blender.ui.operators import run_settings
    from alive_blender.core.run.protocol import Reporter
    scene = tiny_scene(bpy, tmp_path / "w")
    r = scene.render
    before = (r.engine, r.resolution_x, r.resolution_y, r.filepath, r.image_settings.file_format,
              scene.frame_current)
    seen = []
    steps = capture_steps(scene, tmp_path / "w", run_settings(scene).capture,
                          Reporter(lambda m: m["type"] == "progress" and seen.append(m["fraction"])))
    next(steps)
    assert seen == [0.25]  # one frame per step
    next(steps)
    assert seen == [0.25, 0.5]
    steps.close()  # Esc
    assert (r.engine, r.resolution_x, r.resolution_y, r.filepath, r.image_settings.file_format,
            scene.frame_current) == before
    assert not (tmp_path / "w" / "capture" / "meta.json").exists()  # no capture to trust
