"""Blender's own render engine identifiers (scene.render.engine values) are
accepted as aliases of the schema's engine names, in any case, by the CLI, a
batch's TOML and the panel's settings conversion (issue 22, item 1)."""

from __future__ import annotations

import pytest

from alive_blender.core.settings import CaptureSettings, RunSettings, engine_name

ALIASES = [("BLENDER_WORKBENCH", "WORKBENCH"), ("blender_workbench", "WORKBENCH"), ("BLENDER_EEVEE", "EEVEE"),
           ("BLENDER_EEVEE_NEXT", "EEVEE"), ("Blender_Eevee_Next", "EEVEE"), ("cycles", "CYCLES"),
           ("workbench", "WORKBENCH"), ("scene", "SCENE")]


def parse(*argv):
    from alive_blender.cli import build_parser
    return build_parser().parse_args([*map(str, argv)])


@pytest.mark.parametrize("given, name", ALIASES)
def test_the_cli_accepts_blenders_engine_names_in_any_case(given, name):
    from alive_blender.cli.run_args import settings_from_args
    for command in (["capture", "scene.blend", "--out", "w"], ["run", "scene.blend", "--out", "w"]):
        args = parse(*command, "--engine", given)
        assert args.engine == name
        assert settings_from_args(args).capture.engine == name


def test_cli_help_lists_both_spellings(capsys):
    with pytest.raises(SystemExit):
        parse("capture", "--help")
    out = " ".join(capsys.readouterr().out.split())
    for spelling in ("CYCLES", "WORKBENCH", "EEVEE", "SCENE", "BLENDER_WORKBENCH", "BLENDER_EEVEE",
                     "BLENDER_EEVEE_NEXT"):
        assert spelling in out


def test_the_cli_still_refuses_an_unknown_engine(capsys):
    with pytest.raises(SystemExit) as err:
        parse("capture", "scene.blend", "--out", "w", "--engine", "POVRAY")
    assert err.value.code == 2
    assert "BLENDER_WORKBENCH" in capsys.readouterr().err   # the choices offered name both spellings


@pytest.mark.parametrize("given, name", ALIASES)
def test_a_batch_toml_accepts_blenders_engine_names(tmp_path, given, name):
    from alive_blender.cli.cmd_batch import check_shot, run_flags
    from alive_blender.cli.run_args import settings_from_args
    from alive_blender.core.run.batch import load_shots
    path = tmp_path / "SHOTS.toml"
    path.write_text(f'[defaults]\nengine = "{given}"\n[[shot]]\nname = "a"\nblend = "a.blend"\n')
    shot, = load_shots(path, run_flags(), check=check_shot)
    assert settings_from_args(parse(*shot.argv(tmp_path))).capture.engine == name


@pytest.mark.parametrize("given, name", ALIASES)
def test_the_panels_settings_conversion_and_the_schema_accept_them(given, name):
    # the panel's converter (blender/ui/settings.py) goes through from_flat; a
    # settings.json or a script through from_dict / the dataclass
    assert RunSettings.from_flat({"engine": given}).capture.engine == name
    assert RunSettings.from_dict({"capture": {"engine": given}}).capture.engine == name
    assert CaptureSettings(engine=given).engine == name
    assert engine_name(given) == name
    RunSettings.from_flat({"engine": given}).check()
