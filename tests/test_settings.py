"""One settings schema (core/settings.py): every default once, strict keys, and
the CLI, the panel and a batch converting into it alike."""

from __future__ import annotations

import argparse
import json

import pytest

from alive_blender.core.errors import AliveError
from alive_blender.core.settings import FLAT, FLAT_DEFAULTS, RunSettings


def parse(command: str, *argv):
    """``alive COMMAND ARGV`` through the real CLI parser."""
    from alive_blender.cli import build_parser
    return build_parser().parse_args([command, *map(str, argv)])


def test_strict_from_dict_names_the_unknown_key():
    with pytest.raises(AliveError, match="'generator_stepz'"):
        RunSettings.from_flat({"generator_stepz": 10})
    with pytest.raises(AliveError, match="unknown capture setting.*'engin'"):
        RunSettings.from_dict({"capture": {"engin": "CYCLES"}})
    with pytest.raises(AliveError, match="unknown run setting.*'extra'"):
        RunSettings.from_dict({"extra": 1})
    from alive_blender.core.models.behavior import BehaviorConfig
    from alive_blender.core.models.encoder import EncoderSpec
    from alive_blender.core.models.generator import GeneratorConfig
    from alive_blender.core.rollout import RolloutConfig
    for cls in (GeneratorConfig, BehaviorConfig, RolloutConfig, EncoderSpec):
        with pytest.raises(AliveError, match="'no_such_key'"):
            cls.from_dict({"no_such_key": 1})
    settings = RunSettings.from_flat({"generator_steps": 7, "rollout_frames": 5, "seed": 3})
    assert RunSettings.from_dict(settings.to_dict()) == settings   # round trip
    assert (settings.generator.seed, settings.behavior.seed, settings.rollout.seed) == (3, 3, 3)  # one seed


def test_train_and_run_train_the_same_number_of_steps():
    run = parse("run", "s.blend", "--out", "w")
    train = parse("train", "w")
    demo = parse("demo")
    from alive_blender.cli.run_args import settings_from_args
    r, t, d = (settings_from_args(a) for a in (run, train, demo))
    assert r.generator == t.generator == d.generator and r.behavior == t.behavior == d.behavior
    assert r.generator.steps == FLAT_DEFAULTS["generator_steps"] == 500
    # and a flag means the same to both
    r2 = settings_from_args(parse("run", "s.blend", "--out", "w", "--generator-steps", "40", "--seed", "2"))
    t2 = settings_from_args(parse("train", "w", "--generator-steps", "40", "--seed", "2"))
    assert r2.generator == t2.generator and r2.generator.steps == 40


def test_capture_and_run_render_with_the_same_settings():
    from alive_blender.cli.run_args import settings_from_args
    cap = settings_from_args(parse("capture", "s.blend", "--out", "w")).capture
    run = settings_from_args(parse("run", "s.blend", "--out", "w")).capture
    assert cap == run
    assert (run.engine, run.samples, run.width, run.height) == ("CYCLES", 8, 64, 48)
    pct = settings_from_args(parse("capture", "s.blend", "--out", "w", "--percent", "50")).capture
    assert (pct.width, pct.height, pct.percent) == (0, 0, 50)


def test_every_flat_setting_maps_to_a_schema_field():
    run = RunSettings()
    for key, (section, name) in FLAT.items():
        owner = run if section is None else getattr(run, section)
        assert hasattr(owner, name), key


def _shots(tmp_path, text):
    path = tmp_path / "shots.toml"
    path.write_text(text)
    (tmp_path / "a.blend").write_bytes(b"")
    return path


@pytest.mark.parametrize("body, words", [
    ('generator_stepz = 10', ["shot 1", "unknown setting 'generator_stepz'"]),
    ('generator_steps = "many"', ["shot 1", "'a'", "generator-steps", "many"]),
    ('engine = "POVRAY"', ["shot 1", "engine", "POVRAY"]),
    ('generator_steps = 0', ["shot 1", "generator-steps must be at least 1"]),
    ('moving_camera = "sideways"', ["shot 1", "moving-camera", "sideways"]),
])
def test_a_batch_key_or_value_that_run_does_not_know_is_an_error_naming_it(tmp_path, body, words):
    from alive_blender.cli.cmd_batch import check_shot, run_flags
    from alive_blender.core.run.batch import load_shots
    path = _shots(tmp_path, f'[[shot]]\nname = "a"\nblend = "a.blend"\n{body}\n')
    with pytest.raises(AliveError) as err:
        load_shots(path, run_flags(), check=check_shot)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_a_good_batch_shot_converts_to_the_same_settings_as_its_run_flags(tmp_path):
    from alive_blender.cli.cmd_batch import check_shot, run_flags
    from alive_blender.cli.run_args import settings_from_args
    from alive_blender.core.run.batch import load_shots
    path = _shots(tmp_path, '[defaults]\nresolution = "32x24"\ngenerator_steps = 90\n'
                            '[[shot]]\nname = "a"\nblend = "a.blend"\nseed = 4\n')
    shot, = load_shots(path, run_flags(), check=check_shot)
    via_toml = settings_from_args(parse(*shot.argv(tmp_path)))
    via_flags = settings_from_args(parse("run", "a.blend", "--out", "w", "--resolution", "32x24",
                                         "--generator-steps", "90", "--seed", "4", "--name", "a"))
    assert via_toml == via_flags


@pytest.mark.bpy
def test_panel_defaults_are_the_schemas(fresh_bpy):
    import alive_blender
    from alive_blender.blender.ui.settings import flat_settings
    alive_blender.register()
    try:
        scene = fresh_bpy.context.scene
        flat = flat_settings(scene)
        assert flat.pop("behavior") is None   # "Match Generator": the schema's rule, as without --behavior
        for key, value in flat.items():
            if key in ("temperature", "anchor", "steer_strength"):
                value = float(value)
            assert value == pytest.approx(FLAT_DEFAULTS[key]) if isinstance(value, float) else \
                value == FLAT_DEFAULTS[key], key
    finally:
        alive_blender.unregister()


@pytest.mark.bpy
def test_panel_behavior_follows_the_generator_like_the_cli(fresh_bpy):
    """The panel's default behavior is the one the CLI picks for the chosen generator;
    a behavior picked by name stays."""
    import alive_blender
    from alive_blender.blender.ui.settings import run_settings
    from alive_blender.cli.run_args import settings_from_args
    alive_blender.register()
    try:
        s = fresh_bpy.context.scene.alive
        for generator in ("object-layers", "grid-siren"):
            s.generator = generator
            cli = settings_from_args(parse("run", "a.blend", "--out", "w", "--generator", generator))
            assert run_settings(fresh_bpy.context.scene).behavior.arch == cli.behavior.arch
        assert run_settings(fresh_bpy.context.scene).behavior.arch == "mdn-window"   # grid-siren's
        s.behavior = "mdn-gru"
        assert run_settings(fresh_bpy.context.scene).behavior.arch == "mdn-gru"
    finally:
        alive_blender.unregister()


@pytest.mark.bpy
@pytest.mark.slow
def test_capture_then_run_renders_nothing(tiny_blend, tmp_path):
    from conftest import run_cli
    work = tmp_path / "w"
    res = run_cli("--json", "capture", tiny_blend, "--out", work)
    assert res.returncode == 0, res.stderr[-2000:]
    captured = json.loads(res.stdout)
    assert captured["rendered"] == captured["samples"] == 6 and captured["engine"] == "CYCLES"
    assert "with Cycles, 8 samples; the scene's own engine is" in res.stderr   # said up front, with the fast path
    res = run_cli("--json", "run", tiny_blend, "--out", work, "--until", "encode")
    assert res.returncode == 0, res.stderr[-2000:]
    ran = json.loads(res.stdout)
    assert ran["capture"]["rendered"] == 0 and ran["capture"]["skipped"], ran["capture"]
    assert "capture: up to date (6 samples)" in res.stderr
