"""A studio repository: ``scripts/build_extension.py --repo DIR`` writes the
static index Blender's Remote Repositories read; Blender (the bpy module, a
throw-away user folder, not this checkout) adds it as a file:// remote
repository, syncs, installs and enables the extension from it, gets the wheel
that matches its own Python, and runs ``alive run`` on a tiny scene through
the installed copy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, TINY_RUN
from test_build_extension import build, probe_wheels

INSTALL_FROM_INDEX = r"""
import json, os, sys
from pathlib import Path
import bpy

index, blend, out_dir, result_path = sys.argv[1:5]
res = {"online_before": bool(bpy.app.online_access)}
assert not any(Path(p).resolve() == Path(os.environ["ALIVE_CHECKOUT"]) for p in sys.path if p)
# installing from a remote repository needs online access; nothing else here downloads
bpy.context.preferences.system.use_online_access = True
repos = bpy.context.preferences.extensions.repos
repo = repos.new(name="Studio", module="studio", remote_url=Path(index).as_uri(), source="USER")
i = list(repos).index(repo)
res["sync"] = sorted(bpy.ops.extensions.repo_sync(repo_directory=repo.directory, repo_index=i))
res["install"] = sorted(bpy.ops.extensions.package_install(repo_directory=repo.directory, repo_index=i,
                                                           pkg_id="alive_blender", enable_on_install=True))
bpy.context.preferences.system.use_online_access = False
addon_id = "bl_ext.studio.alive_blender"
res["enabled"] = addon_id in bpy.context.preferences.addons
import importlib
res["package_file"] = importlib.import_module(addon_id).__file__
import alive_probe   # the bundled wheel Blender picked for its Python
res["wheel_tag"], res["probe_file"] = alive_probe.WHEEL_TAG, alive_probe.__file__
res["python"] = "cp%d%d" % sys.version_info[:2]
cli = importlib.import_module(addon_id + ".alive_blender.blender.addon")
res["run"] = cli._cli_execute(["run", blend, "--out", out_dir, *json.loads(os.environ["TINY_RUN"]),
                               "--save", os.path.join(out_dir, "alive.blend")])
Path(result_path).write_text(json.dumps(res))
"""


@pytest.mark.timeout(900)
def test_install_from_generated_index_enable_and_run(tmp_path, tiny_blend):
    wheels = probe_wheels(tmp_path / "local-wheels")
    repo = tmp_path / "repo"
    res = build("--torch", "external", "--packages", "alive_probe", "--find-links", str(wheels), "--no-index",
                "--wheels-dir", str(tmp_path / "wheel-cache"), "--platform", "linux-x64", "--repo", str(repo),
                out=tmp_path / "dist")
    assert res.returncode == 0, res.stderr
    index = json.loads((repo / "index.json").read_text())
    (entry,) = index["data"]
    assert entry["id"] == "alive_blender" and entry["platforms"] == ["linux-x64"]
    assert (entry["blender_version_min"], entry["blender_version_max"]) == ("4.2.0", "5.4.0")
    assert entry["python_versions"] == ["3.11", "3.13"]
    assert entry["archive_url"] == "./alive_blender-0.1.0-linux_x64.zip" and (repo / entry["archive_url"]).is_file()
    assert entry["permissions"]["network"] and (repo / "index.html").is_file()

    user, out_dir = tmp_path / "user", tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}   # the installed copy, not this checkout
    env.update(BLENDER_USER_RESOURCES=str(user), ALIVE_CHECKOUT=str(ROOT), TINY_RUN=json.dumps(TINY_RUN),
               OMP_NUM_THREADS="1")
    result = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, "-c", INSTALL_FROM_INDEX, str(repo / "index.json"), str(tiny_blend),
                           str(out_dir), str(result)], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=800)
    assert proc.returncode == 0 and result.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    r = json.loads(result.read_text())
    assert not r["online_before"]
    assert r["sync"] == ["FINISHED"] and r["install"] == ["FINISHED"] and r["enabled"]
    ext_dir = user / "extensions" / "studio" / "alive_blender"
    assert Path(r["package_file"]).is_relative_to(ext_dir)
    assert r["wheel_tag"].startswith(f"{r['python']}-") and Path(r["probe_file"]).is_relative_to(user)
    assert r["run"] == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (out_dir / "alive.blend").is_file()


PICK = r"""
import json, sys, tomllib
from pathlib import Path
import bpy
bpy.context.preferences.system.use_online_access = True
repos = bpy.context.preferences.extensions.repos
repo = repos.new(name="Studio", module="studio", remote_url=Path(sys.argv[1]).as_uri(), source="USER")
i = list(repos).index(repo)
bpy.ops.extensions.repo_sync(repo_directory=repo.directory, repo_index=i)
res = {"install": sorted(bpy.ops.extensions.package_install(repo_directory=repo.directory, repo_index=i,
                                                            pkg_id="alive_blender", enable_on_install=True))}
import alive_probe
manifest = tomllib.loads((Path(repo.directory) / "alive_blender" / "blender_manifest.toml").read_text())
res.update(tag=alive_probe.WHEEL_TAG, python="cp%d%d" % sys.version_info[:2],
           range=[manifest["blender_version_min"], manifest["blender_version_max"]])
print("RESULT" + json.dumps(res))
"""


@pytest.mark.timeout(600)
def test_per_python_repository_gives_blender_the_zip_for_its_python(tmp_path):
    """The CPU-torch layout: two zips per platform in one index; Blender installs the one for its Python."""
    wheels = probe_wheels(tmp_path / "local-wheels")
    repo = tmp_path / "repo"
    res = build("--torch", "external", "--packages", "alive_probe", "--find-links", str(wheels), "--no-index",
                "--wheels-dir", str(tmp_path / "wheel-cache"), "--platform", "linux-x64", "--layout", "per-python",
                "--repo", str(repo), out=tmp_path / "dist")
    assert res.returncode == 0, res.stderr
    entries = json.loads((repo / "index.json").read_text())["data"]
    assert sorted((e["python_versions"], e["blender_version_min"], e["blender_version_max"]) for e in entries) == [
        (["3.11"], "4.2.0", "5.1.0"), (["3.13"], "5.1.0", "5.4.0")]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    proc = subprocess.run([sys.executable, "-c", PICK, str(repo / "index.json")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=500)
    assert "RESULT" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    r = json.loads(proc.stdout.split("RESULT", 1)[1].splitlines()[0])
    assert r["install"] == ["FINISHED"] and r["tag"].startswith(r["python"] + "-")
    assert r["range"] == (["4.2.0", "5.1.0"] if r["python"] == "cp311" else ["5.1.0", "5.4.0"])
