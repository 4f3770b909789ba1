"""The built extension zip installs and enables in the bpy module, and works installed.

Blender's own builder makes the zip (what scripts/build_extension.py wraps).
A fresh interpreter with a temporary BLENDER_USER_RESOURCES (set before bpy
is imported) and without this checkout on its path installs it with
``bpy.ops.extensions.package_install_files``; there the add-on's panels,
operators and preferences must be registered, the worker must import the
*installed* package (bl_ext.user_default.alive_blender holds our code in its
inner ``alive_blender``), and a capture + train through the operators must run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]

INSTALLED = r"""
import json, os, subprocess, sys
from pathlib import Path
import bpy

zip_path, out_path = sys.argv[1], sys.argv[2]
res = {"online_access": bpy.app.online_access}
assert not any(Path(p).resolve() == Path(os.environ["ALIVE_CHECKOUT"]) for p in sys.path if p)
res["install"] = sorted(bpy.ops.extensions.package_install_files(
    filepath=zip_path, repo="user_default", enable_on_install=True))
addon_id = "bl_ext.user_default.alive_blender"
res["enabled"] = addon_id in bpy.context.preferences.addons
pkg = sys.modules[addon_id + ".alive_blender"]
res["package_file"] = pkg.__file__
res["panels"] = [c for c in ("ALIVE_PT_main", "ALIVE_PT_capture", "ALIVE_PT_train", "ALIVE_PT_rollout",
                             "ALIVE_PT_bake", "ALIVE_PT_preview") if bpy.types.Panel.bl_rna_get_subclass_py(c)]
res["operators"] = [n for n in ("capture", "train", "rollout", "bake", "make_alive", "cancel", "show_preview")
                    if getattr(bpy.ops.alive, n).get_rna_type() is not None]
res["scene_settings"] = hasattr(bpy.types.Scene, "alive")
prefs_mod = sys.modules[addon_id + ".alive_blender.blender.ui.preferences"]
prefs = prefs_mod.get_prefs()
res["prefs"] = prefs is not None and prefs.bl_rna.identifier
res["workdir_unsaved"] = str(prefs_mod.resolve_workdir(bpy.context.scene))

jobs = sys.modules[addon_id + ".alive_blender.blender.ui.jobs"]
res["package_parent"], res["package_name"] = jobs.PACKAGE_PARENT, jobs.PACKAGE_NAME
probe = subprocess.run([jobs.worker_python(), "-c", "import alive_blender.core.run.worker as w; print(w.__file__)"],
                       env=jobs.worker_env(), capture_output=True, text=True, cwd=os.path.dirname(out_path))
res["worker_imports"] = probe.stdout.strip() or probe.stderr[-500:]

demo = sys.modules.get(addon_id + ".alive_blender.blender.demo_scene")
if demo is None:
    import importlib
    demo = importlib.import_module(addon_id + ".alive_blender.blender.demo_scene")
scene = demo.build_demo_scene(frames=3, width=32, height=24)
s = scene.alive
s.width, s.height, s.samples, s.generator_steps, s.generator_width, s.behavior_epochs = 16, 12, 1, 10, 16, 2
s.workdir = os.path.join(os.path.dirname(out_path), "work")
with bpy.context.temp_override(scene=scene):
    res["capture"] = sorted(bpy.ops.alive.capture())
    res["train"] = sorted(bpy.ops.alive.train())
res["model"] = os.path.exists(os.path.join(s.workdir, "model", "manifest.json"))

bpy.ops.preferences.addon_disable(module=addon_id)
res["after_disable"] = [bpy.types.Panel.bl_rna_get_subclass_py("ALIVE_PT_main") is None,
                        not hasattr(bpy.types.Scene, "alive")]
Path(out_path).write_text(json.dumps(res))
"""


def build_zip(out_dir: Path) -> Path:
    import bpy
    out_dir.mkdir(parents=True, exist_ok=True)
    builder = Path(bpy.utils.resource_path("LOCAL")) / "scripts/addons_core/bl_pkg/cli/blender_ext.py"
    res = subprocess.run([sys.executable, str(builder), "build", "--source-dir", str(ROOT),
                          "--output-dir", str(out_dir)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    zips = list(out_dir.glob("alive_blender-*.zip"))
    assert len(zips) == 1, res.stdout
    return zips[0]


def test_built_zip_installs_enables_and_works(tmp_path):
    dist = tmp_path / "dist"
    zip_path = build_zip(dist)
    import zipfile
    names = zipfile.ZipFile(zip_path).namelist()
    assert "blender_manifest.toml" in names and "alive_blender/blender/ui/jobs.py" in names
    assert not [n for n in names if n.startswith(("tests/", "scripts/", ".git/"))]

    user = tmp_path / "user"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env.update(BLENDER_USER_RESOURCES=str(user), ALIVE_CHECKOUT=str(ROOT), PYTHONUNBUFFERED="1")
    out = tmp_path / "run" / "result.json"
    out.parent.mkdir()
    proc = subprocess.run([sys.executable, "-c", INSTALLED, str(zip_path), str(out)], env=env, cwd=out.parent,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and out.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(out.read_text())

    ext_dir = user / "extensions" / "user_default" / "alive_blender"
    assert res["install"] == ["FINISHED"] and res["enabled"]
    assert Path(res["package_file"]).is_relative_to(ext_dir)
    assert len(res["panels"]) == 6 and len(res["operators"]) == 7 and res["scene_settings"]
    assert res["prefs"] == "AlivePreferences"
    # the worker imports the installed copy, not this checkout
    assert Path(res["package_parent"]) == ext_dir and res["package_name"] == "alive_blender"
    assert Path(res["worker_imports"]).is_relative_to(ext_dir), res["worker_imports"]
    # unsaved file: work folders go to Blender's per-user extension storage
    assert Path(res["workdir_unsaved"]).is_relative_to(user), res["workdir_unsaved"]
    assert res["capture"] == ["FINISHED"] and res["train"] == ["FINISHED"] and res["model"]
    assert res["after_disable"] == [True, True]
