"""scripts/build_extension.py: the linux-x64 zip passes Blender's validator and
installs and enables in the bpy module (in a throw-away user folder). The full
torch wheel set is far too big for a test; this builds the code-only zip and,
when PyPI is reachable, the `--torch external` zip (pillow only)."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import bpy
import pytest

from conftest import ROOT

BLENDER_EXT = Path(bpy.utils.resource_path("LOCAL")) / "scripts" / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"

INSTALL = r"""
import json, sys, pathlib
import bpy
zip_path = sys.argv[1]
bpy.ops.extensions.package_install_files(filepath=zip_path, repo='user_default', enable_on_install=True)
mod = 'bl_ext.user_default.alive_blender'
enabled = mod in bpy.context.preferences.addons
import importlib
pkg = importlib.import_module(mod)
cli = importlib.import_module(mod + '.alive_blender.blender.addon')
# the function registered as `blender -c alive`: same commands, same exit codes
code_help = cli._cli_execute(['--version'])
code_bad = cli._cli_execute(['info', sys.argv[2]])
site = [str(p) for p in pathlib.Path(bpy.utils.user_resource('EXTENSIONS')).rglob('PIL') if p.is_dir()]
print('RESULT' + json.dumps({'enabled': enabled, 'prop': hasattr(bpy.types.Scene, 'alive'),
                            'file': pkg.__file__, 'help': code_help, 'bad': code_bad, 'pil': site}))
"""


def build(*args, out):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--out", str(out), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


def install(zip_path, tmp_path):
    user = tmp_path / "user"
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(user))
    env.pop("PYTHONPATH", None)  # the installed copy, not the work tree
    res = subprocess.run([sys.executable, "-c", INSTALL, str(zip_path), str(tmp_path / "no-such-workdir")],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert "RESULT" in res.stdout, res.stdout + res.stderr
    return json.loads(res.stdout.split("RESULT", 1)[1].splitlines()[0]), user


def test_code_only_zip_validates_installs_and_enables(tmp_path):
    res = build("--no-wheels", "--platform", "linux-x64", out=tmp_path / "dist")
    assert res.returncode == 0, res.stderr
    (zip_path,) = list((tmp_path / "dist").glob("*.zip"))
    assert zip_path.name == "alive_blender-0.1.0-linux_x64.zip"
    names = zipfile.ZipFile(zip_path).namelist()
    assert "blender_manifest.toml" in names and "alive_blender/cli/__init__.py" in names
    assert not any(n.startswith(("tests/", "scripts/", ".git")) for n in names)
    check = subprocess.run([sys.executable, str(BLENDER_EXT), "validate", str(zip_path)], capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    result, user = install(zip_path, tmp_path)
    assert result["enabled"] and result["prop"]
    assert result["file"].startswith(str(user))
    assert result["help"] == 0 and result["bad"] == 2
    # the repository's manifest was not touched by the build
    assert "wheels" not in (ROOT / "blender_manifest.toml").read_text()


def test_reduced_wheel_set_zip(tmp_path):
    """--torch external: only pillow is bundled (numpy comes with Blender)."""
    res = build("--torch", "external", "--platform", "linux-x64", "--wheels-dir", str(tmp_path / "wheels"),
                out=tmp_path / "dist")
    if res.returncode != 0 and "pip download failed" in res.stderr:
        pytest.skip("PyPI not reachable: " + res.stderr[-300:])
    assert res.returncode == 0, res.stderr
    (zip_path,) = list((tmp_path / "dist").glob("*.zip"))
    wheels = [n for n in zipfile.ZipFile(zip_path).namelist() if n.endswith(".whl")]
    assert len(wheels) == 1 and wheels[0].startswith("wheels/pillow-") and "x86_64" in wheels[0]
    assert not any("numpy" in n for n in zipfile.ZipFile(zip_path).namelist())
    result, _ = install(zip_path, tmp_path)
    assert result["enabled"] and result["pil"], result
