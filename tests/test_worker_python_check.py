"""Preferences > Worker Python > Check: the interpreter workers will use is run
with the workers' environment and reports Python, torch (version, device),
open_clip and whether it imports this add-on's worker; one that lacks torch is
refused with the reason, and the preferences show the result."""

from __future__ import annotations

import subprocess
import sys

import pytest

from test_addon import _disable, _enable
from test_addon_panel import CheckedLayout, PanelSelf


@pytest.fixture
def addon(fresh_bpy):
    _enable(fresh_bpy)
    yield fresh_bpy
    _disable(fresh_bpy)


@pytest.mark.timeout(300)
def test_check_of_a_python_with_torch(addon):
    import torch
    from alive_blender.blender.ui.preferences import check_summary, check_worker_python
    result = check_worker_python(sys.executable)
    ok, lines = check_summary(result)
    assert ok, lines
    assert result["torch"] == torch.__version__ and result["device"] in ("cpu", "cuda", "mps")
    assert result["python"] == sys.version.split()[0]
    assert result["worker"].endswith("worker.py")


@pytest.mark.timeout(300)
def test_check_of_a_python_without_torch_says_what_is_missing(addon, tmp_path):
    from alive_blender.blender.ui.preferences import check_summary, check_worker_python
    # a bare venv of the same base interpreter: no torch, no open_clip
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True,
                   timeout=120)
    bare = tmp_path / "bare" / "bin" / "python"
    result = check_worker_python(str(bare))
    ok, lines = check_summary(result)
    assert not ok
    assert "torch_error" in result and any(line.startswith("torch missing") for line in lines)
    assert "open_clip_error" in result
    # it still found this add-on's code: only the packages are missing
    assert result.get("worker", "").endswith("worker.py") or "worker_error" in result

    missing = check_worker_python(str(tmp_path / "no-such-python"))
    assert check_summary(missing) == (False, [f"Worker Python: no such file: {tmp_path / 'no-such-python'}"])


@pytest.mark.timeout(300)
def test_check_button_reports_and_preferences_show_the_result(addon, tmp_path):
    bpy = addon
    from alive_blender.blender.ui.preferences import AlivePreferences, get_prefs
    prefs = get_prefs()
    prefs.python_path = sys.executable
    assert bpy.ops.alive.check_worker_python() == {"FINISHED"}
    log = []
    AlivePreferences.draw(PanelSelf(AlivePreferences, CheckedLayout(log), prefs), bpy.context)
    text = " ".join(b["text"] for name, b in log if name == "label")
    assert "torch: " in text and "Alive worker: imports" in text
    assert ("operator", {"operator": "alive.check_worker_python", "icon": "CONSOLE"}) in log
    prefs.python_path = str(tmp_path / "missing-python")
    with pytest.raises(RuntimeError, match="no such file"):
        bpy.ops.alive.check_worker_python()
