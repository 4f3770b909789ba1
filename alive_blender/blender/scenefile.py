"""Opening and saving .blend files safely for the CLI and pipelines."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import bpy

from ..core.workdir.artifacts import ensure_writable_dir
from ..core.errors import AliveError
from .bake import frame_folders
from .bake.tags import TAG


BLEND_MAGICS = (b"BLENDER", b"\x28\xb5\x2f\xfd", b"\x1f\x8b")  # plain, zstd, gzip


def open_blend(path) -> None:
    """Open a .blend or raise AliveError naming what is wrong with it: not a
    .blend, truncated or corrupt, or saved by a newer Blender (refused even
    where Blender would open it with 'expect loss of data'). The file is only
    read."""
    path = Path(path).expanduser().absolute()
    if not path.is_file():
        raise AliveError(f"scene file not found: '{path}'", "give the path of an existing .blend")
    with open(path, "rb") as f:
        head = f.read(12)
    if not head.startswith(BLEND_MAGICS):
        raise AliveError(f"'{path}' is not a .blend file" + (" (it is empty)" if not head else ""),
                         "give a .blend saved by Blender")
    try:
        bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
    except RuntimeError as err:
        raise _open_error(path, str(err)) from None
    saved_by, running = tuple(bpy.data.version[:2]), tuple(bpy.app.version[:2])
    if saved_by > running:
        raise AliveError(f"'{path}' was saved by Blender {saved_by[0]}.{saved_by[1]}, newer than this Blender "
                         f"{bpy.app.version_string} (its data would be read incompletely)",
                         f"re-save it from Blender {running[0]}.{running[1]}, or run alive in a newer Blender")


def _open_error(path: Path, message: str) -> AliveError:
    last = message.strip().splitlines()[-1] if message.strip() else "unknown error"
    detail = last.split("failed: ", 1)[-1].removeprefix("Error: ")
    if "newer version" in last:
        return AliveError(f"'{path}' was saved by a newer Blender than this {bpy.app.version_string}: {detail}",
                          "re-save it from this Blender's version, or run alive in a newer Blender")
    if "Missing DNA" in last or "Failed to read" in last or "truncated" in last.lower():
        return AliveError(f"'{path}' is truncated or corrupt ({detail})",
                          "re-save the scene from Blender, or restore it from a backup")
    if "not supported" in last:
        return AliveError(f"'{path}' is not a .blend file Blender can read ({detail})",
                          "give a .blend saved by Blender 4.2 or newer")
    return AliveError(f"cannot open '{path}': {detail}", "check that it is a .blend saved by Blender 4.2 or newer")


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
    frame_folders.point_at_final(bpy.data.images)   # frames waiting beside the old ones: saved as switched
    for img in bpy.data.images:
        if img.get(TAG) is None or img.packed_file is not None:
            continue
        absolute = bpy.path.abspath(img.filepath)
        if current:
            img.filepath = bpy.path.relpath(absolute)            # remapped by the save below
        else:
            img.filepath = "//" + os.path.relpath(absolute, out.parent).replace(os.sep, "/")
    for img in [i for i in bpy.data.images if i.type == "RENDER_RESULT"]:
        # the capture's renders leave an empty 'Render Result' image (no saved content); without
        # this the saved file would depend on whether this session rendered or reused the capture
        bpy.data.images.remove(img)
    tmp = out.parent / f".{out.stem}.tmp-{os.getpid()}.blend"
    try:
        # copy=True: the session keeps its own file name (not the temporary one)
        bpy.ops.wm.save_as_mainfile(filepath=str(tmp), relative_remap=bool(current), compress=False, copy=True)
        if not tmp.is_file():  # Blender reports some write failures only as a log line
            raise RuntimeError("Blender wrote nothing")
        os.replace(tmp, out)
        frame_folders.switch_saved()   # only now: a failed save keeps the old .blend with its own frames
    except RuntimeError as err:
        raise AliveError(f"cannot save '{out}': Blender's write failed ({_room_left(out.parent)}; an earlier file "
                         f"of that name is untouched; Blender said: {str(err).strip().splitlines()[-1]})",
                         "free some disk space or save somewhere else") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return out


def _room_left(folder: Path) -> str:
    """Free space there, and this process's file-size limit if it has one (a
    failed write rarely says which of the two ran out)."""
    import resource
    text = f"{shutil.disk_usage(folder).free / 2 ** 20:.0f} MiB free there"
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY:
        text += f", file-size limit {limit / 2 ** 20:.1f} MiB"
    return text
