"""Opening and saving .blend files safely for the CLI and pipelines."""

from __future__ import annotations

import os
from pathlib import Path

import bpy

from ..core.workdir.artifacts import ensure_writable_dir
from ..core.errors import AliveError
from .bake.tags import TAG


def open_blend(path) -> None:
    path = Path(path).expanduser().absolute()
    if not path.is_file():
        raise AliveError(f"scene file not found: '{path}'", "give the path of an existing .blend")
    try:
        bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
    except RuntimeError as err:
        raise AliveError(f"cannot open '{path}': {str(err).strip().splitlines()[-1]}",
                         "check that it is a .blend saved by Blender 4.2 or newer") from None


def check_save_target(out) -> Path:
    out = Path(out).expanduser().absolute()
    if out.suffix.lower() != ".blend":
        raise AliveError(f"output file '{out}' does not end in .blend", "name the output something.blend")
    ensure_writable_dir(out.parent, "folder for the output .blend")
    return out


def save_blend(out) -> Path:
    """Save the current file as ``out`` atomically (temporary name, then rename).

    The bake writes image sequences with absolute paths; make those relative
    to where the file will live so that the folder can move as a whole."""
    out = check_save_target(out)
    current = bpy.data.filepath
    for img in bpy.data.images:
        if img.get(TAG) is None or img.packed_file is not None:
            continue
        absolute = bpy.path.abspath(img.filepath)
        if current:
            img.filepath = bpy.path.relpath(absolute)            # remapped by the save below
        else:
            img.filepath = "//" + os.path.relpath(absolute, out.parent).replace(os.sep, "/")
    tmp = out.parent / f".{out.stem}.tmp-{os.getpid()}.blend"
    try:
        # copy=True: the session keeps its own file name (not the temporary one)
        bpy.ops.wm.save_as_mainfile(filepath=str(tmp), relative_remap=bool(current), compress=False, copy=True)
        os.replace(tmp, out)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
    return out
