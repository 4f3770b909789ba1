"""A sequence bake's frames folder, switched in only after the .blend that
shows it was saved. Within ``switched_on_save()`` (the CLI's bake and run) a
bake writes its frames beside the old folder (``.alive_NAME.tmp-incoming-PID``);
``save_blend`` points the images at the real folder, saves, and only then
swaps the folders. A save that fails (disk full, killed) leaves the old .blend
with its own frames; the new ones are removed. Outside it (the panel, which
saves nothing) a bake swaps the folder at once, as before."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

from ...core.workdir.artifacts import atomic_path

# (incoming folder, the folder it replaces, the name of the image showing it), while deferred
_pending: Optional[list[tuple[Path, Path, str]]] = None


@contextmanager
def switched_on_save() -> Iterator[None]:
    global _pending
    outer, _pending = _pending, []
    try:
        yield
    finally:
        for incoming, _, _ in _pending:   # never switched: the save failed or never came
            shutil.rmtree(incoming, ignore_errors=True)
        _pending = outer


def write_frames(folder: Path, fill: Callable[[Path], None]) -> Path:
    """``fill(path)`` writes the frames; returns the folder holding them now
    (``folder`` itself, or the incoming one while switching waits for a save)."""
    folder = Path(folder)
    if _pending is None:
        with atomic_path(folder) as tmp:  # a re-bake swaps the whole folder, never half of it
            tmp.mkdir(parents=True)
            fill(tmp)
        return folder
    incoming = folder.parent / f".{folder.name}.tmp-incoming-{os.getpid()}-{len(_pending)}"
    shutil.rmtree(incoming, ignore_errors=True)
    incoming.mkdir(parents=True)
    _pending.append((incoming, folder, ""))
    try:
        fill(incoming)
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        _pending.pop()
        raise
    return incoming


def shown_by(incoming: Path, image_name: str) -> None:
    """Record which image shows an incoming folder (pointed at the real one before the save)."""
    if _pending is None:
        return
    for i, (inc, final, _) in enumerate(_pending):
        if inc == incoming:
            _pending[i] = (inc, final, image_name)


def point_at_final(images) -> None:
    """Before the save: every image showing an incoming folder shows the real one."""
    for incoming, final, image_name in _pending or []:
        img = images.get(image_name)
        if img is not None:
            img.filepath = str(final / Path(img.filepath).name)


def switch_saved() -> None:
    """After the save succeeded: each incoming folder replaces its real one."""
    global _pending
    if not _pending:
        return
    for incoming, final, _ in _pending:
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        if final.is_dir() and not final.is_symlink():
            os.replace(final, old)
        os.replace(incoming, final)
        shutil.rmtree(old, ignore_errors=True)
    _pending.clear()
