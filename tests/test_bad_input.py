"""Bad input through the CLI, as a user or a farm would give it: each case
exits 2 with one line naming the problem and what to do, writes nothing, and
leaves the input .blend byte-identical."""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, TINY_RUN, run_cli, run_python

pytestmark = pytest.mark.timeout(600)


def sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def files_under(path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


def assert_refused(res, words, *, absent=(), unchanged=None, tree=None):
    """exit 2, one 'alive: error:' line holding ``words`` (and a hint in
    parentheses), no traceback; ``absent`` paths not made; ``unchanged``:
    {path: sha256} still equal; ``tree``: (folder, listing) still equal."""
    assert res.returncode == 2, res.stderr[-2000:]
    errors = [line for line in res.stderr.splitlines() if line.startswith("alive: error:")]
    assert len(errors) == 1, res.stderr[-2000:]
    line = errors[0]
    for w in words:
        assert w in line, line
    assert line.rstrip().endswith(")"), f"no hint: {line}"
    assert "Traceback" not in res.stderr
    for p in absent:
        assert not os.path.exists(p), f"{p} was written"
    for p, digest in (unchanged or {}).items():
        assert sha(p) == digest, f"{p} changed"
    if tree is not None:
        assert files_under(tree[0]) == tree[1], f"{tree[0]} changed"


@pytest.fixture(scope="module")
def trained(tiny_blend, tmp_path_factory):
    """A finished tiny run: a work directory with a model and a rollout."""
    work = tmp_path_factory.mktemp("trained") / "work"
    res = run_cli("run", tiny_blend, "--out", work, *TINY_RUN)
    assert res.returncode == 0, res.stderr[-3000:]
    return work


# -- scene files -------------------------------------------------------------

SAVE_PLAIN = """
import bpy, sys
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[2], compress=False, copy=True)
"""


def newer_blends(tiny_blend, folder):
    """Two .blend files 'from Blender 6.0', made by patching a saved file:
    one whose header version is newer (Blender itself would open it with
    'expect loss of data'), one whose minimum version is newer (Blender refuses)."""
    plain = folder / "plain.blend"
    res = run_python(SAVE_PLAIN, tiny_blend, plain)
    assert res.returncode == 0, res.stderr
    data = bytearray(plain.read_bytes())
    # two header formats: 5.x 'BLENDER17-01v0500' (block headers of 32 bytes),
    # 4.x 'BLENDER-v402' (64-bit pointers: block headers of 24 bytes)
    if data.startswith(b"BLENDER17-01v"):
        version, newer, bhead = slice(13, 17), b"0600", 32
    else:
        assert data[:7] == b"BLENDER" and data[7:9] in (b"-v", b"_v"), data[:12]
        version, newer, bhead = slice(9, 12), b"600", 24 if data[7:8] == b"-" else 20
    assert data[version].isdigit() and int(data[version]) < 600, data[:17]
    header_newer = bytearray(data)
    header_newer[version] = newer
    glob = data.find(b"GLOB") + bhead       # FileGlobal: subvstr[4], subversion, minversion, minsubversion
    min_newer = bytearray(data)
    assert struct.unpack_from("<h", data, glob + 6)[0] < 600
    struct.pack_into("<h", min_newer, glob + 6, 600)
    (folder / "header6.blend").write_bytes(header_newer)
    (folder / "min6.blend").write_bytes(min_newer)
    return folder / "header6.blend", folder / "min6.blend"


def test_corrupt_truncated_and_newer_blend_files(tiny_blend, tmp_path):
    data = tiny_blend.read_bytes()
    cases = {"truncated.blend": (data[:len(data) // 3], ["truncated or corrupt"]),
             "tail_cut.blend": (data[:-4096], ["truncated or corrupt"]),
             "garbage.blend": (b"this is not a blend file\n" * 40, ["not a .blend file"]),
             "empty.blend": (b"", ["not a .blend file", "empty"])}
    paths = {}
    for name, (blob, words) in cases.items():
        (tmp_path / name).write_bytes(blob)
        paths[name] = (tmp_path / name, words)
    header6, min6 = newer_blends(tiny_blend, tmp_path)
    paths["header6"] = (header6, ["saved by Blender 6.0", "newer than this Blender"])
    paths["min6"] = (min6, ["newer Blender", "6.0"])
    for path, words in paths.values():
        before = sha(path)
        work, save = tmp_path / "w", tmp_path / "out.blend"
        res = run_cli("run", path, "--out", work, *TINY_RUN, "--save", save)
        assert_refused(res, [str(path), *words], absent=[work, save], unchanged={path: before})
    # bake reads the scene file the same way
    res = run_cli("bake", min6, tmp_path, "--save", tmp_path / "b.blend")
    assert res.returncode == 2


# -- malformed numbers ---------------------------------------------------------

HUGE = "would need about"


@pytest.mark.parametrize("flag,value,words", [
    ("--frames", "abc", ["bad frame range 'abc'", "START-END"]),
    ("--frames", "-5", ["bad frame range '-5'"]),
    ("--frames", "10-", ["bad frame range '10-'"]),
    ("--frames", "1-99999999", ["outside Blender's frames"]),
    ("--resolution", "abc", ["bad --resolution 'abc'", "WIDTHxHEIGHT"]),
    ("--resolution", "0x0", ["bad --resolution '0x0'"]),
    ("--resolution", "-5", ["bad --resolution '-5'"]),
    ("--resolution", "10-", ["bad --resolution '10-'"]),
    ("--resolution", "100000x100000", ["larger than Blender renders", "GiB per frame"]),
])
def test_malformed_run_flags(tiny_blend, tmp_path, flag, value, words):
    before = sha(tiny_blend)
    args = [a for a in TINY_RUN]
    i = args.index(flag)
    args[i + 1] = value
    res = run_cli("run", tiny_blend, "--out", tmp_path / "w", *args, "--save", tmp_path / "o.blend")
    assert_refused(res, words, absent=[tmp_path / "w", tmp_path / "o.blend"], unchanged={tiny_blend: before})


def test_capture_too_big_for_memory_is_refused_before_rendering(tiny_blend, tmp_path):
    """Every frame fits Blender, all of them together do not fit in memory: refused with
    the memory they need, before the first render (the work directory is never made)."""
    from alive_blender.core.device import BYTES_PER_PIXEL, available_memory
    side = 8192
    frames = 2 * available_memory() // (side * side * BYTES_PER_PIXEL) + 2   # twice what there is: no doubt
    res = run_cli("run", tiny_blend, "--out", tmp_path / "w", "--frames", f"1-{frames}",
                  "--resolution", f"{side}x{side}", "--save", tmp_path / "o.blend")
    assert_refused(res, [f"{frames} frames", HUGE, "GiB of memory", "available"],
                   absent=[tmp_path / "w", tmp_path / "o.blend"])


@pytest.mark.parametrize("value,words", [
    ("abc", ["bad --size 'abc'"]), ("0x0", ["bad --size '0x0'"]), ("-5", ["bad --size '-5'"]),
    ("10-", ["bad --size '10-'"]), ("70000x70000", ["larger than Blender renders"]),
])
def test_malformed_decode_size(tmp_path, value, words):
    emb = tmp_path / "e.npy"
    np.save(emb, np.ones((2, 8), np.float32))
    res = run_cli("decode", tmp_path, "--embeddings", emb, "--out", tmp_path / "d", "--size", value)
    assert_refused(res, words, absent=[tmp_path / "d"])


def test_decode_size_too_big_for_memory(trained, tmp_path):
    from alive_blender.core.device import BYTES_PER_PIXEL, available_memory
    side = int((2 * available_memory() / BYTES_PER_PIXEL / 5) ** 0.5)   # 5 frames need twice what there is
    assert side <= 65536
    res = run_cli("decode", trained, "--embeddings", trained / "rollout" / "rollout.npy", "--out", tmp_path / "d",
                  "--size", f"{side}x{side}")
    assert_refused(res, [HUGE, "GiB of memory"], absent=[tmp_path / "d"])


# -- devices -------------------------------------------------------------------

def test_absent_and_unknown_devices(tiny_blend, tmp_path):
    import torch
    before = sha(tiny_blend)
    absent = [f"cuda:{torch.cuda.device_count()}"]          # one past the last GPU, on any machine
    if not torch.cuda.is_available():
        absent.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is None or not mps.is_available():
        absent.append("mps")
    for device in absent:
        res = run_cli("run", tiny_blend, "--out", tmp_path / "w", *TINY_RUN, "--device", device,
                      "--save", tmp_path / "o.blend")
        assert_refused(res, [f"device '{device}' asked for"], absent=[tmp_path / "w", tmp_path / "o.blend"],
                       unchanged={tiny_blend: before})
    for device in ("tpu", "cuda0", "gpu"):
        res = run_cli("run", tiny_blend, "--out", tmp_path / "w", *TINY_RUN, "--device", device,
                      "--save", tmp_path / "o.blend")
        assert_refused(res, [f"unknown device '{device}'", "auto"], absent=[tmp_path / "w"])


def test_pick_device_in_process():
    import torch

    from alive_blender.core.device import pick_device
    from alive_blender.core.errors import AliveError
    assert pick_device("cpu") == "cpu" and pick_device("auto") in ("cpu", "cuda", "mps")
    with pytest.raises(AliveError, match="unknown device"):
        pick_device("vulkan")
    if torch.cuda.is_available():
        assert pick_device("cuda:0") == "cuda:0"
    else:
        with pytest.raises(AliveError, match="no CUDA GPU"):
            pick_device("cuda")


# -- rollouts that do not fit the model, NaN / Inf ---------------------------------

def test_rollout_of_another_size_or_with_nan_is_refused(trained, tiny_blend, tmp_path):
    good = np.load(trained / "rollout" / "rollout.npy")
    dim = good.shape[-1]
    bad = {"dim16": (np.zeros((1, 5, 16), np.float32), ["size 16", f"model's are {dim}"])}
    for kind, value in (("nan", np.nan), ("inf", np.inf), ("neginf", -np.inf)):
        arr = good.copy()
        arr[0, 2, 3] = value
        bad[kind] = (arr, ["NaN or infinite", "(0, 2, 3)"])
    work_before = files_under(trained)
    scene_before = sha(tiny_blend)
    for name, (arr, words) in bad.items():
        path = tmp_path / f"{name}.npy"
        np.save(path, arr)
        res = run_cli("bake", tiny_blend, trained, "--rollout", path, "--save", tmp_path / "b.blend")
        assert_refused(res, ["rollout", *words], absent=[tmp_path / "b.blend", tmp_path / "alive_alive"],
                       unchanged={tiny_blend: scene_before}, tree=(trained, work_before))
        res = run_cli("decode", trained, "--embeddings", path, "--out", tmp_path / "d")
        assert_refused(res, ["embeddings file", *words], absent=[tmp_path / "d"], tree=(trained, work_before))


@pytest.mark.parametrize("flag,value,words", [
    ("--temperature", "nan", ["temperature", "NaN or infinite"]),
    ("--temperature", "inf", ["temperature", "NaN or infinite"]),
    ("--anchor", "-inf", ["anchor", "NaN or infinite"]),
    ("--anchor", "2", ["anchor must be within 0.0..1.0"]),
])
def test_non_finite_controls_refused_before_rendering(tiny_blend, tmp_path, flag, value, words):
    res = run_cli("run", tiny_blend, "--out", tmp_path / "w", *TINY_RUN, f"{flag}={value}",
                  "--save", tmp_path / "o.blend")
    assert_refused(res, words, absent=[tmp_path / "w", tmp_path / "o.blend"])


def test_non_finite_control_curves_in_process():
    from alive_blender.core.errors import AliveError
    from alive_blender.core.rollout import RolloutConfig, check_config, curve
    for bad in ([1.0, np.nan, 1.0, 1.0], [0.5, 0.5, np.inf, 0.5], np.array([1.0, 1.0, 1.0, -np.inf])):
        with pytest.raises(AliveError, match="NaN or infinite"):
            curve(bad, 4, "temperature")
        with pytest.raises(AliveError, match="NaN or infinite"):
            check_config(RolloutConfig(steps=4, temperature=list(bad)))
    assert curve([1.0, 0.5, 0.25, 0.1], 4, "temperature").shape == (5,)


def test_rollout_command_refuses_nan_temperature(trained, tmp_path):
    res = run_cli("rollout", trained, "--steps", "4", "--count", "1", "--out", tmp_path / "r.npy",
                  "--temperature=nan")
    assert_refused(res, ["temperature", "NaN"], absent=[tmp_path / "r.npy"])


# -- where things are written -------------------------------------------------------

def test_read_only_work_directory(trained, tiny_blend, tmp_path):
    """An existing work directory marked read-only (refused even for root, who could write)."""
    work = tmp_path / "ro"
    shutil.copytree(trained, work)
    listing = files_under(work)
    digests = {p: sha(p) for p in work.rglob("*") if p.is_file()}
    for p in [work, *work.rglob("*")]:
        p.chmod(p.stat().st_mode & ~0o222)
    try:
        res = run_cli("run", tiny_blend, "--out", work, *TINY_RUN, "--force", "rollout")
        assert_refused(res, ["cannot write", str(work), "read-only"], unchanged=digests, tree=(work, listing))
        res = run_cli("capture", tiny_blend, "--out", work, "--frames", "1-2", "--resolution", "8x6")
        assert_refused(res, ["cannot write", "read-only"], tree=(work, listing))
    finally:
        for p in [work, *work.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)


def _limit_file_size(limit: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def run_cli_with_file_limit(limit: int, *args) -> subprocess.CompletedProcess:
    """The CLI in a process that cannot write a file over ``limit`` bytes: a full
    disk without root (writes fail with EFBIG, as with ENOSPC)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "alive_blender", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=env, preexec_fn=_limit_file_size(limit))


def leftovers(*folders) -> list:
    return [p for f in folders for p in f.rglob(".*") if ".tmp" in p.name or ".old-" in p.name]


def test_save_on_a_full_disk_keeps_the_earlier_file(trained, tiny_blend, tmp_path):
    out = tmp_path / "out.blend"
    out.write_bytes(b"an earlier save" * 10)
    before, scene_before = sha(out), sha(tiny_blend)
    res = run_cli_with_file_limit(200_000, "bake", tiny_blend, trained, "--save", out)
    assert_refused(res, ["cannot save", str(out), "file-size limit"], unchanged={out: before, tiny_blend: scene_before})
    assert leftovers(tmp_path, trained) == []


def test_full_disk_during_a_run_then_a_run_with_room_finishes(tiny_blend, tmp_path):
    work = tmp_path / "w"
    for limit in (4_000, 40_000):      # fails in capture, then in training
        res = run_cli_with_file_limit(limit, "run", tiny_blend, "--out", work, *TINY_RUN)
        assert_refused(res, ["cannot write", "file size limit reached", "earlier artifacts are kept"])
        assert leftovers(work) == []
    res = run_cli("run", tiny_blend, "--out", work, *TINY_RUN)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (work / "alive.blend").exists() and leftovers(work) == []
