"""A re-bake whose .blend save fails leaves the old .blend and its frames
folder consistent (issue 22, item 3): the new frames are written beside the
old ones and switched in only after the save succeeded. The save is made to
fail with a file-size limit on the CLI's process (a full disk without root:
the small PNGs fit, the .blend does not)."""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import sys

import pytest

from conftest import ROOT, run_cli, run_python

pytestmark = pytest.mark.slow


def digests(folder) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def leftovers(folder) -> list:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def bake_with_file_limit(limit: int, *args) -> subprocess.CompletedProcess:
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "alive_blender", "bake", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=env, preexec_fn=apply)


def test_a_failed_save_keeps_the_old_blend_and_its_frames_together(tiny_blend, tiny_workdir, tmp_path):
    out = tmp_path / "shot.blend"
    frames = tmp_path / "alive_alive"
    res = run_cli("bake", tiny_blend, tiny_workdir, "--texture", "sequence", "--save", out, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    old_blend, old_frames = out.read_bytes(), digests(frames)
    assert old_frames and leftovers(tmp_path) == []

    # the re-bake (other frames: half the size) cannot save its .blend
    res = bake_with_file_limit(200_000, tiny_blend, tiny_workdir, "--texture", "sequence", "--density", "0.5",
                               "--save", out)
    assert res.returncode == 2 and "cannot save" in res.stderr, res.stderr[-2000:]
    assert out.read_bytes() == old_blend
    assert digests(frames) == old_frames, "the old .blend's frames folder holds the failed bake's frames"
    assert leftovers(tmp_path) == []     # the new frames written beside the old ones are gone again

    # with room, the same re-bake switches the frames in, with the .blend
    res = run_cli("bake", tiny_blend, tiny_workdir, "--texture", "sequence", "--density", "0.5", "--save", out,
                  timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    new_frames = digests(frames)
    assert out.read_bytes() != old_blend and new_frames.keys() == old_frames.keys() and new_frames != old_frames
    assert leftovers(tmp_path) == []
    res = run_python("import bpy, sys; bpy.ops.wm.open_mainfile(filepath=sys.argv[1]); "
                     "print('PATHS', [i.filepath for i in bpy.data.images if i.source == 'SEQUENCE'])", out)
    assert "PATHS ['//alive_alive/frame_00001.png']" in res.stdout, res.stdout + res.stderr
