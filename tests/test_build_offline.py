"""scripts/build_extension.py offline (issue 22, item 6): with PyTorch's CPU
index unreachable, the default build (CPU torch bundled) stops at once with one
line saying what failed and what to do, instead of pip's "No matching
distribution" after minutes of retries. The index is a local URL nothing
listens on, so the test does not depend on this machine's network."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

from conftest import ROOT


def unreachable_url() -> str:
    with socket.socket() as s:       # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/whl/cpu"


def test_an_unreachable_torch_index_stops_the_build_with_one_line_saying_what_to_do(tmp_path):
    url = unreachable_url()
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--out", str(tmp_path / "dist"),
                          "--wheels-dir", str(tmp_path / "wheels"), "--torch-index", url, "--python", "3.11",
                          "--blender-ext", str(tmp_path / "no-blender_ext.py")],   # no bpy needed
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    seconds = time.monotonic() - t0
    assert res.returncode != 0
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    line = lines[0]
    assert url in line and "cannot be reached" in line, line
    assert "--torch external" in line and "--torch-index" in line, line
    assert "No matching distribution" not in res.stderr + res.stdout
    assert not list((tmp_path / "wheels").glob("*.whl")) and not (tmp_path / "dist").exists()
    assert seconds < 60, seconds   # checked first, not after pip's retries
