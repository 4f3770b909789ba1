"""The CLI's ``run`` on a tiny scene, the saved .blend reopened without the add-on,
and bad input: clear one-line errors, exit code 2, nothing half-written."""

import json
import os

import pytest

from conftest import TINY_RUN, run_cli, run_script, save_tiny_scene



def test_run_then_reopen_without_addon(tiny_blend, tmp_path):
    work, save = tmp_path / "work", tmp_path / "baked" / "out.blend"
    res = run_cli("--json", "run", tiny_blend, "--out", work, *TINY_RUN, "--save", save)
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert "NON-SEMANTIC" in result["encode"]["label"] and "NON-SEMANTIC" in res.stderr
    assert save.exists() and (work / "preview.png").exists()
    per_frame = result["bake"]["points_per_frame"]
    # the default point bake is the 3-D one where it can be made; a SIREN draws no captured objects
    assert "per-frame depth points: no 3-D bake, the generator 'grid-siren' does not draw captured objects" \
        in res.stderr
    first, last = result["bake"]["frames"]
    assert last - first + 1 == 5 == len(per_frame)
    check = run_script("check_run_blend.py", save, first, last)
    assert check.returncode == 0, check.stderr
    data = json.loads(check.stdout.split("RESULT", 1)[1].splitlines()[0])
    assert data[str(first)]["count"] == per_frame[0] > 0
    assert data[str(last)]["count"] == per_frame[-1] > 0
    assert data[str(first)]["mean"] != data[str(last)]["mean"]
    assert data["offset_keys"] == [5]
    assert data["image"] == ["//alive_alive/frame_00001.png", "SEQUENCE"]
    assert (save.parent / "alive_alive" / "frame_00005.png").exists()
    # no temporary files left anywhere
    leftovers = [p for p in list(work.rglob(".*tmp*")) + list(save.parent.glob(".*tmp*"))]
    assert leftovers == []


def _assert_clean_failure(res, words, *paths):
    assert res.returncode == 2, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("alive: error:")
    for w in words:
        assert w in last
    assert "Traceback" not in res.stderr
    for p in paths:
        assert not os.path.exists(p), f"{p} was written"


def test_no_active_camera(tmp_path):
    blend = save_tiny_scene(tmp_path / "nocam.blend", frames=3, camera=False)
    res = run_cli("run", blend, "--out", tmp_path / "w", "--save", tmp_path / "o.blend")
    _assert_clean_failure(res, ["no active camera"], tmp_path / "w", tmp_path / "o.blend")


def test_empty_frame_range(tiny_blend, tmp_path):
    res = run_cli("run", tiny_blend, "--out", tmp_path / "w", "--frames", "5-3", "--save", tmp_path / "o.blend")
    _assert_clean_failure(res, ["empty frame range 5-3"], tmp_path / "w", tmp_path / "o.blend")


def test_unwritable_output_folder(tiny_blend, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    res = run_cli("run", tiny_blend, "--out", blocker / "w", *TINY_RUN, "--save", tmp_path / "o.blend")
    _assert_clean_failure(res, ["cannot write", "work directory"], tmp_path / "o.blend")
    res = run_cli("run", tiny_blend, "--out", tmp_path / "w", *TINY_RUN, "--save", blocker / "o.blend")
    _assert_clean_failure(res, ["cannot write"], tmp_path / "w")


def test_missing_weights_file(tiny_blend, tmp_path):
    res = run_cli("run", tiny_blend, "--out", tmp_path / "w", "--clip-model", "ViT-B-32",
                  "--clip-pretrained", tmp_path / "missing.safetensors", "--save", tmp_path / "o.blend")
    _assert_clean_failure(res, ["weights file not found", "missing.safetensors"], tmp_path / "w", tmp_path / "o.blend")


def test_missing_scene_file(tmp_path):
    res = run_cli("run", tmp_path / "nope.blend", "--out", tmp_path / "w")
    _assert_clean_failure(res, ["scene file not found"], tmp_path / "w")


def test_help_lists_commands():
    res = run_cli("--help")
    assert res.returncode == 0 and "run" in res.stdout and "demo" in res.stdout
