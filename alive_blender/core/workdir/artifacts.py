"""Artifact I/O: the work directory's layout, atomic writes, content keys.

Layout of a work directory (see docs/workdir.md)::

    WORKDIR/
      alive.json               which stages ran, with the key of their inputs
      capture/
        meta.json              frames, subframes, resolution, engine, colour
                               management, scene, Blender version, cameras
        samples/NNNNNN.npz     one per rendered sample: rgb uint8 HxWx3 (sRGB),
                               depth float32 HxW (planar, inf = background),
                               alpha float32 HxW
        images/NNNNNN.png      the RGB as PNG, for people and for encoders
      embed/
        embeddings.npy         float32 (N, D), unit rows, in capture order
        encoder.json           which encoder made them (identity, semantic or not)
      model/
        generator.safetensors  + generator.json (architecture, settings, stats)
        behavior.safetensors   + behavior.json
        manifest.json          versions and checksums of the weight files
      rollout/
        rollout.npy            float32 (K, N+1, D) rolled-out embeddings
        rollout.json           the settings that made it
      preview.png              contact sheet: captured frames over rolled-out ones

Every file is written to a temporary name in the same folder and renamed into
place when complete, so a crash or cancel never leaves a half-written artifact
that a later stage would trust.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from ..errors import AliveError

CAPTURE = "capture"
EMBED = "embed"
MODEL = "model"
ROLLOUT = "rollout"
STATE_FILE = "alive.json"


def ensure_writable_dir(path: os.PathLike | str, what: str = "output folder") -> Path:
    """Create ``path`` if needed and prove we can write there, or raise AliveError."""
    path = Path(path).expanduser().absolute()
    if path.is_dir() and not path.stat().st_mode & 0o222:
        # root may write anywhere; a folder someone marked read-only is still not ours to fill
        raise AliveError(f"cannot write to the {what} '{path}': it is read-only",
                         "choose a folder you can write to, or make it writable (chmod u+w)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".alive-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise AliveError(f"cannot write to the {what} '{path}': {err.strerror or err}",
                         "choose a folder you can write to") from None
    return path


# errors that mean "the disk (or this process's file-size limit) is full"
DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def disk_full_error(err: OSError, path: os.PathLike | str) -> AliveError:
    path = Path(path).absolute()
    try:
        free = f"{shutil.disk_usage(path.parent).free / 2 ** 20:.0f} MiB free"
    except OSError:
        free = "free space unknown"
    reason = "file size limit reached" if err.errno == errno.EFBIG else "disk full"
    return AliveError(f"cannot write '{path}': {reason} ({free}; earlier artifacts are kept)",
                      "free some disk space (or raise the limit) and run again: finished stages are not redone")


@contextlib.contextmanager
def atomic_path(final: os.PathLike | str, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it onto ``final`` on
    success, delete it on any error. Works for files and folders."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}-{os.urandom(3).hex()}{suffix}"
    try:
        yield tmp
        if final.is_dir() and not final.is_symlink():
            old = final.parent / f".{final.name}.old-{os.getpid()}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException as err:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
        if isinstance(err, OSError) and err.errno in DISK_FULL:
            raise disk_full_error(err, final) from None
        raise


def write_json(path: os.PathLike | str, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default))


def read_json(path: os.PathLike | str, what: str = "") -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise AliveError(f"missing {what or path.name}: '{path}'",
                         "run the stage that makes it first") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AliveError(f"corrupt {what or path.name}: '{path}' ({err})",
                         "delete it and re-run the stage that makes it") from None


def save_npy(path: os.PathLike | str, array) -> None:
    import numpy as np
    with atomic_path(path, ".npy") as tmp:
        np.save(tmp, array)


def load_npy(path: os.PathLike | str, what: str = ""):
    import numpy as np
    path = Path(path)
    if not path.exists():
        raise AliveError(f"missing {what or path.name}: '{path}'", "run the stage that makes it first")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise AliveError(f"corrupt {what or path.name}: '{path}' ({err})",
                         "delete it and re-run the stage that makes it") from None


def _json_default(obj):
    import numpy as np
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def content_key(*parts: Any) -> str:
    """A stable hash of JSON-able parts (settings, scene state, file hashes)."""
    blob = json.dumps(parts, sort_keys=True, default=_json_default, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def file_sha256(path: os.PathLike | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class WorkDir:
    """Paths and stage bookkeeping of one work directory."""

    def __init__(self, root: os.PathLike | str):
        self.root = Path(root).expanduser().absolute()

    def __truediv__(self, part: str) -> Path:
        return self.root / part

    def stage_dir(self, stage: str) -> Path:
        return self.root / stage

    # stage bookkeeping: alive.json {"stages": {name: {"key": ..., "result": ...}}}
    def state(self) -> dict:
        path = self.root / STATE_FILE
        if not path.exists():
            return {"stages": {}}
        try:
            return json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {"stages": {}}

    def stage_key(self, stage: str) -> str | None:
        return self.state()["stages"].get(stage, {}).get("key")

    def stage_info(self, stage: str) -> dict:
        return dict(self.state()["stages"].get(stage, {}))

    def is_current(self, stage: str, key: str, *outputs: os.PathLike | str, force: bool = False) -> bool:
        """True when ``stage`` last ran with inputs ``key`` and its outputs are
        all still there: a re-run may skip it. ``force`` always says no."""
        if force or self.stage_key(stage) != key:
            return False
        return all(Path(p).exists() for p in outputs)

    def mark_done(self, stage: str, key: str, **info: Any) -> None:
        state = self.state()
        state["stages"][stage] = {"key": key, **info}
        # each stage's key folds in the keys of the stages it reads, so a
        # changed capture invalidates everything after it without extra care
        write_json(self.root / STATE_FILE, state)

    def annotate(self, stage: str, **info: Any) -> None:
        """Add facts to a finished stage's entry (keeps its key)."""
        state = self.state()
        if stage in state["stages"]:
            state["stages"][stage].update(info)
            write_json(self.root / STATE_FILE, state)

    def forget(self, stage: str) -> None:
        state = self.state()
        if state["stages"].pop(stage, None) is not None:
            write_json(self.root / STATE_FILE, state)


# atomic_path's temporary names (.NAME.tmp-PID-XXXXXX, .NAME.old-PID) and the .blend
# save's (.STEM.tmp-PID.blend): the PID says whose they are
_TEMP_NAME = re.compile(r"^\..+\.(?:tmp|old)-(\d+)(?:[-.].*)?$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != 0


def remove_dead_temps(root: os.PathLike | str) -> list[Path]:
    """Remove the temporary files and folders of processes that are gone (a
    run killed with -9 never reaches its cleanup). Their final names were
    never written, so nothing a stage trusts goes with them."""
    root = Path(root)
    found = [p for p in root.rglob(".*") if (m := _TEMP_NAME.match(p.name)) and not _pid_alive(int(m.group(1)))]
    removed = []
    for p in sorted(found, key=lambda p: len(p.parts)):
        if any(parent in removed for parent in p.parents):
            continue
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)
        removed.append(p)
    return removed
