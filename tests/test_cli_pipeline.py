"""The shared CLI machinery: --help on every command with the exit codes,
--json before or after the command, machine-readable failures, --version, and
the same result through the function registered as `blender -c alive`."""

import json

from conftest import run_cli, run_script


def test_every_command_has_help():
    from alive_blender.cli import COMMANDS
    top = run_cli("--help")
    assert top.returncode == 0
    assert "3  cancelled or interrupted" in top.stdout and "blender -c alive" in top.stdout
    for name in COMMANDS:
        assert name in top.stdout
        res = run_cli(name, "--help")
        assert res.returncode == 0, (name, res.stderr)
        assert "exit code" in res.stdout and "--json" in res.stdout, name
    assert "--force STAGE" in run_cli("run", "--help").stdout
    assert "[[shot]]" in run_cli("batch", "--help").stdout


def test_version_and_usage_errors():
    res = run_cli("--version")
    assert res.returncode == 0 and res.stdout.startswith("alive_blender ")
    assert run_cli("no-such-command").returncode == 2
    assert run_cli("run").returncode == 2  # missing arguments: argparse's usage error


def test_json_failure_is_machine_readable_either_position(tmp_path):
    for args in (["--json", "info", tmp_path / "nope"], ["info", tmp_path / "nope", "--json"]):
        res = run_cli(*args)
        assert res.returncode == 2
        out = json.loads(res.stdout)
        assert out["ok"] is False and out["exit_code"] == 2 and "not found" in out["error"]
        assert res.stderr.strip().splitlines()[-1].startswith("alive: error: work directory not found")


def test_info_refuses_a_folder_that_is_not_a_work_directory(tmp_path):
    res = run_cli("info", tmp_path)
    assert res.returncode == 2 and "not an alive work directory" in res.stderr




def test_registered_cli_command_matches_python_m(tmp_path):
    wd = tmp_path / "w"
    wd.mkdir()
    (wd / "alive.json").write_text(json.dumps({"stages": {"capture": {"key": "abc"}}}))
    direct = run_cli("info", wd)
    assert direct.returncode == 0, direct.stderr
    res = run_script("registered_cli_info.py", wd)
    assert "RESULT" in res.stdout, res.stderr
    got = json.loads(res.stdout.split("RESULT", 1)[1].splitlines()[0])
    assert got["code"] == 0 and got["out"] == direct.stdout
    assert "capture done" in direct.stdout and "train -" in direct.stdout
