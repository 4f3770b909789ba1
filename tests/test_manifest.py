"""Blender's own extension validator accepts the manifest (and rejects a broken one)."""

import shutil
import subprocess
import sys
from pathlib import Path

import bpy

from conftest import ROOT

BLENDER_EXT = Path(bpy.utils.resource_path("LOCAL")) / "scripts" / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"


def validate(path):
    return subprocess.run([sys.executable, str(BLENDER_EXT), "validate", str(path)], capture_output=True, text=True)


def test_manifest_validates():
    assert BLENDER_EXT.exists()
    res = validate(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr


def test_manifest_fields():
    import tomllib
    m = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    assert m["schema_version"] == "1.0.0" and m["id"] == "alive_blender"
    assert m["blender_version_min"] == "4.2.0"
    # exclusive: the first version not run (scripts/test_matrix.sh passes on 4.2, 4.5, 5.1, 5.2 and 5.3)
    assert m["blender_version_max"] == "5.4.0"
    assert set(m["permissions"]) == {"files", "network"} and m["license"] and m["platforms"]


def test_build_generations_cover_the_manifest_range():
    """The per-Python zips together span exactly what the manifest claims, without gaps."""
    import importlib.util
    import tomllib
    spec = importlib.util.spec_from_file_location("build_extension", ROOT / "scripts" / "build_extension.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    m = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    spans = [mod.GENERATIONS[py] for py in mod.PYTHONS]
    assert spans[0][0] == m["blender_version_min"] and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    # the manifest's maximum falls on a generation boundary: no zip claims a part of a generation
    assert m["blender_version_max"] in {s[1] for s in spans}


def test_broken_manifest_is_rejected(tmp_path):
    text = (ROOT / "blender_manifest.toml").read_text().replace('id = "alive_blender"', 'id = "alive blender!"')
    (tmp_path / "blender_manifest.toml").write_text(text)
    shutil.copy(ROOT / "__init__.py", tmp_path / "__init__.py")
    res = validate(tmp_path)
    assert res.returncode != 0
