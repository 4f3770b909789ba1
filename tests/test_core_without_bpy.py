"""alive_blender.core must import and work where there is no bpy."""

import pkgutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

CORE = ROOT / "alive_blender" / "core"


def test_core_imports_with_bpy_hidden():
    code = """
import sys, importlib, pkgutil
sys.modules['bpy'] = None          # any 'import bpy' now raises ImportError
import alive_blender.core as core
names = [m.name for m in pkgutil.walk_packages(core.__path__, 'alive_blender.core.')]
for name in names:
    importlib.import_module(name)
import numpy as np
from alive_blender.core.models.encoder import DeterministicEncoder
emb = DeterministicEncoder(16).encode_images(np.zeros((2, 8, 8, 3), np.float32))
assert emb.shape == (2, 16)
print('ok', len(names))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("ok")
    assert int(res.stdout.split()[1]) >= 10


def test_no_bpy_import_in_core_sources():
    offenders = [str(p) for p in CORE.rglob("*.py")
                 if any(line.strip().startswith(("import bpy", "from bpy")) for line in p.read_text().splitlines())]
    assert offenders == []


def test_importing_the_package_does_not_import_bpy():
    code = "import sys; import alive_blender, alive_blender.core.run.stages; print('bpy' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False"
