"""One writer per work directory.

``with workdir_lock(root):`` holds an exclusive lock on ``root/.alive.lock``
for as long as a run writes there. A second run on the same folder refuses at
once with a message naming the holder (pid, host, start time, command), or
waits up to ``wait`` seconds (``ALIVE_LOCK_WAIT``) for it to finish.

The lock is a kernel lock (``flock``) on the file, not the file's existence:
the kernel drops it when its process dies, kill -9 included, so a killed run
can never leave the folder locked. The file itself stays (deleting it would
let two processes lock two different inodes); what it holds is only the
holder's description for the message. Where a filesystem has no ``flock``
the lock falls back to creating the file exclusively, and a holder that is
gone (same host, its pid dead or reused: the recorded process start time
differs) is detected as stale and cleared.

Re-entrant within one process: ``run`` takes it around the stages and the
save, and the pipeline inside takes it again at no cost.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Iterator, Optional

from ..errors import AliveError

LOCK_FILE = ".alive.lock"
_held: dict[Path, int] = {}   # root -> nesting depth, for this process


def _process_start(pid: int) -> Optional[str]:
    """The kernel's start time of ``pid`` (clock ticks since boot), or None
    when it is not running: together with the pid it names one process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "?"  # alive, start time unknown (no /proc)


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def _me() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "boot": _boot_id(),
            "process_start": _process_start(os.getpid()), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join(["alive"] + sys.argv[1:])[:200]}


def read_holder(root: os.PathLike | str) -> Optional[dict]:
    """What the lock file says about its last holder (None: empty or unreadable)."""
    try:
        info = json.loads((Path(root) / LOCK_FILE).read_text() or "null")
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def is_stale(info: Optional[dict]) -> bool:
    """True when the recorded holder is certainly gone: same host and its pid
    is dead, reused by another process, or from before a reboot. A holder on
    another host cannot be checked and counts as alive."""
    if not info or "pid" not in info:
        return True
    if info.get("host") != socket.gethostname():
        return False
    if info.get("boot") and info["boot"] != _boot_id():
        return True
    start = _process_start(int(info["pid"]))
    return start is None or (start != "?" and info.get("process_start") not in (None, "?", start))


def _describe(info: Optional[dict]) -> str:
    if not info:
        return "another alive run"
    return (f"another alive run (pid {info.get('pid')} on {info.get('host')}, started {info.get('started')}: "
            f"{info.get('command', '?')})")


def _busy(root: Path, info: Optional[dict]) -> AliveError:
    return AliveError(f"work directory '{root}' is in use by {_describe(info)}",
                      "wait for it to finish or use another --out (ALIVE_LOCK_WAIT=SECONDS waits for it); "
                      "a killed run's lock clears by itself")


def _default_wait() -> float:
    try:
        return max(0.0, float(os.environ.get("ALIVE_LOCK_WAIT", "0") or 0))
    except ValueError:
        return 0.0


@contextlib.contextmanager
def workdir_lock(root: os.PathLike | str, wait: Optional[float] = None, poll: float = 0.2) -> Iterator[Path]:
    """Hold the work directory's writer lock (see the module's docstring)."""
    root = Path(root).expanduser().absolute()
    if root in _held:
        _held[root] += 1
        try:
            yield root / LOCK_FILE
        finally:
            _held[root] -= 1
        return
    from .artifacts import ensure_writable_dir
    wait = _default_wait() if wait is None else wait
    created = not root.exists()
    ensure_writable_dir(root, "work directory")
    try:
        release = _acquire(root, time.monotonic() + wait, poll)
    except BaseException:
        _remove_if_only_lock(root, created)
        raise
    _held[root] = 1
    from .artifacts import remove_dead_temps
    remove_dead_temps(root)  # what a killed writer left behind, now that no other writer can be at work
    ok = False
    try:
        yield root / LOCK_FILE
        ok = True
    finally:
        del _held[root]
        release()
        if not ok:  # bad input found inside: a folder this lock made holds nothing else, so it goes again
            _remove_if_only_lock(root, created)


def _remove_if_only_lock(root: Path, created: bool) -> None:
    if created:
        with contextlib.suppress(OSError):
            if [p.name for p in root.iterdir()] == [LOCK_FILE]:
                (root / LOCK_FILE).unlink()
                root.rmdir()


def _acquire(root: Path, deadline: float, poll: float):
    import fcntl
    path = root / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _busy(root, read_holder(root)) from None
                time.sleep(poll)
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            return _acquire_exclusive_file(root, deadline, poll)
        raise
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(_me()).encode(), 0)

    def release():
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # free: nothing to name in a later message
        os.close(fd)             # closing drops the flock
    return release


def _acquire_exclusive_file(root: Path, deadline: float, poll: float):
    """Fallback without flock: the lock is the file's existence, created with
    O_EXCL; a stale one (holder gone) is moved aside and removed."""
    path = root / (LOCK_FILE + ".pid")
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            break
        except FileExistsError:
            try:
                info = json.loads(path.read_text() or "null")
            except (OSError, ValueError):
                info = None
            try:
                half_written = info is None and time.time() - path.stat().st_mtime > 10
            except OSError:
                continue  # removed meanwhile: try again
            if half_written or (info is not None and is_stale(info)):
                aside = path.with_name(f"{path.name}.stale-{os.getpid()}")
                with contextlib.suppress(OSError):   # another waiter may have cleared it first
                    os.replace(path, aside)
                    os.unlink(aside)
                continue
            if time.monotonic() >= deadline:
                raise _busy(root, info) from None
            time.sleep(poll)
    with os.fdopen(fd, "w") as f:
        json.dump(_me(), f)

    def release():
        with contextlib.suppress(OSError):
            path.unlink()
    return release
