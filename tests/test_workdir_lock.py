"""The work directory's writer lock: a second writer refuses (or waits), a
killed holder never leaves it stuck, and two `alive run` never write at once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import ROOT, TINY_RUN, run_cli

pytestmark = pytest.mark.timeout(300)

HOLD = """
import sys, time
from alive_blender.core.workdir.lock import workdir_lock
with workdir_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
print("released", flush=True)
"""


def hold_lock(root, seconds: float = 120) -> subprocess.Popen:
    """Another process holding the lock on ``root`` (returns once it holds it)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(root), str(seconds)], stdout=subprocess.PIPE, text=True,
                            env=env)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_writer_refused_with_the_holder_named(tmp_path):
    from alive_blender.core.errors import AliveError
    from alive_blender.core.workdir.lock import read_holder, workdir_lock
    holder = hold_lock(tmp_path / "wd")
    try:
        info = read_holder(tmp_path / "wd")
        assert info["pid"] == holder.pid and info["host"] == socket.gethostname()
        t0 = time.monotonic()
        with pytest.raises(AliveError, match=f"in use by another alive run \\(pid {holder.pid} on"):
            with workdir_lock(tmp_path / "wd", wait=0):
                pytest.fail("two writers")
        assert time.monotonic() - t0 < 5
        with pytest.raises(AliveError, match="in use"):   # waiting has a limit
            with workdir_lock(tmp_path / "wd", wait=0.5):
                pytest.fail("two writers")
    finally:
        holder.kill()
        holder.wait()


def test_waiting_writer_gets_the_lock_when_the_holder_finishes(tmp_path):
    from alive_blender.core.workdir.lock import read_holder, workdir_lock
    holder = hold_lock(tmp_path / "wd", seconds=1.0)
    t0 = time.monotonic()
    with workdir_lock(tmp_path / "wd", wait=60):
        assert holder.poll() is not None or holder.wait(5) == 0   # the holder had finished
        assert read_holder(tmp_path / "wd")["pid"] == os.getpid()
    assert 0.3 < time.monotonic() - t0 < 30
    assert read_holder(tmp_path / "wd") is None                 # released: nobody named


def test_lock_of_a_killed_holder_is_not_stuck(tmp_path):
    """kill -9 skips every cleanup: the lock file stays, naming the dead holder,
    and the next writer still gets the lock at once."""
    from alive_blender.core.workdir.lock import LOCK_FILE, is_stale, read_holder, workdir_lock
    holder = hold_lock(tmp_path / "wd")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    left = read_holder(tmp_path / "wd")
    assert left["pid"] == holder.pid and is_stale(left)
    assert (tmp_path / "wd" / LOCK_FILE).exists()
    with workdir_lock(tmp_path / "wd", wait=0):
        assert read_holder(tmp_path / "wd")["pid"] == os.getpid()


def test_stale_detection_and_the_exclusive_file_fallback(tmp_path):
    """Where flock is missing the lock is an O_EXCL file: a holder that is gone
    (dead pid, a reused pid, another boot) is cleared; a live one is not."""
    from alive_blender.core.errors import AliveError
    from alive_blender.core.workdir.lock import LOCK_FILE, _acquire_exclusive_file, _me, is_stale
    me = _me()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert not is_stale(me)
    assert is_stale({**me, "pid": dead.pid})
    assert is_stale({**me, "process_start": "1"})                   # same pid, another process
    assert is_stale({**me, "boot": "another-boot"})
    assert not is_stale({**me, "pid": dead.pid, "host": "elsewhere"})  # cannot tell: assume alive
    wd = tmp_path / "wd"
    wd.mkdir()
    pidfile = wd / (LOCK_FILE + ".pid")
    pidfile.write_text(json.dumps({**me, "pid": dead.pid}))
    release = _acquire_exclusive_file(wd, time.monotonic(), 0.05)
    assert json.loads(pidfile.read_text())["pid"] == os.getpid()
    with pytest.raises(AliveError, match="in use"):
        _acquire_exclusive_file(wd, time.monotonic() + 0.2, 0.05)  # held by a live process (this one)
    release()
    assert not pidfile.exists()


def test_reentrant_in_one_process_and_gone_after_bad_input(tmp_path):
    from alive_blender.core.errors import AliveError
    from alive_blender.core.workdir.lock import workdir_lock
    with workdir_lock(tmp_path / "wd", wait=0):
        with workdir_lock(tmp_path / "wd", wait=0):   # run_all inside run's lock
            pass
    # a folder the lock made for a command that then failed holds nothing afterwards
    with pytest.raises(AliveError):
        with workdir_lock(tmp_path / "new", wait=0):
            raise AliveError("bad input")
    assert not (tmp_path / "new").exists()


def test_dead_writers_temp_files_are_swept(tmp_path):
    from alive_blender.core.workdir.lock import workdir_lock
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    wd = tmp_path / "wd"
    (wd / "model").mkdir(parents=True)
    junk = [wd / "model" / f".generator.safetensors.tmp-{dead.pid}-a1b2c3.safetensors",
            wd / f".alive.tmp-{dead.pid}.blend", wd / f".capture.tmp-{dead.pid}-0f0f0f"]
    for p in junk[:2]:
        p.write_bytes(b"half")
    junk[2].mkdir()
    (junk[2] / "samples").mkdir()
    mine = wd / f".rollout.npy.tmp-{os.getpid()}-abcdef.npy"       # a live writer's: kept
    mine.write_bytes(b"in progress")
    with workdir_lock(wd, wait=0):
        assert [p.exists() for p in junk] == [False] * 3 and mine.exists()


def test_two_concurrent_runs_on_one_work_directory(tiny_blend, tmp_path):
    """The second `alive run` refuses at once with exit 2, naming the first; the
    first finishes; the lock is free afterwards."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    work = tmp_path / "w"
    longer = list(TINY_RUN)
    longer[longer.index("--generator-steps") + 1] = "800"   # the first is still at work when the second starts
    first = subprocess.Popen([sys.executable, "-m", "alive_blender", "run", str(tiny_blend), "--out", str(work),
                              *longer], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                             cwd=ROOT)
    lock = work / ".alive.lock"
    deadline = time.monotonic() + 120
    while not (lock.exists() and lock.stat().st_size) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    second = run_cli("run", tiny_blend, "--out", work, *TINY_RUN)
    err = first.communicate(timeout=300)[1]
    assert first.returncode == 0, err[-2000:]
    assert second.returncode == 2, second.stderr[-2000:]
    line = second.stderr.strip().splitlines()[-1]
    assert "is in use by another alive run" in line and f"pid {first.pid}" in line, line
    again = run_cli("run", tiny_blend, "--out", work, *TINY_RUN)
    assert again.returncode == 0, again.stderr[-2000:]
