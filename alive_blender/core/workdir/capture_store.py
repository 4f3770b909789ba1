"""Staging, caching and committing a capture (``WORKDIR/capture``), for renders and footage alike.

A capture is rebuilt in a hidden staging folder beside ``capture/`` and swapped
into place only when every sample is written, so a crash or cancel leaves the
previous capture intact and nothing half-written. Every sample carries a
content key (what a render of it depends on, or which footage file/frame it
came from); a sample whose key is already in the previous capture is reused
(hard-linked) instead of being rendered again.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Optional

import numpy as np

from .artifacts import CAPTURE, DISK_FULL, WorkDir, disk_full_error, atomic_path, content_key, ensure_writable_dir
from .dataset import META, sample_name
from ..errors import AliveError

FORMAT = 3   # bump when the way samples are made changes: old caches then re-render (3: object ids)


def link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _write_meta(path: Path, meta: dict) -> None:
    """meta.json with one sample per line: readable, and written by json's C encoder
    (``indent`` for the whole file falls back to the slow pure-Python one)."""
    import json
    head = json.dumps({k: v for k, v in meta.items() if k != "samples"}, indent=2, sort_keys=True)
    lines = ",\n".join("    " + json.dumps(r, sort_keys=True) for r in meta["samples"])
    with atomic_path(path) as tmp:
        tmp.write_text(f'{head[:-2]},\n  "samples": [\n{lines}\n  ]\n}}\n')


class CaptureStore:
    """Build one capture: ``reuse(key)`` or ``add(...)`` per sample, then ``commit(meta)``.

    Use as a context manager: leaving it without ``commit`` (an error, a
    cancel) removes the staging folder and keeps the previous capture."""

    def __init__(self, workdir, what: str = "work directory"):
        self.wd = WorkDir(ensure_writable_dir(workdir, what))
        self.dir = self.wd / CAPTURE
        self.previous_meta: Optional[dict] = None
        self._previous: dict[str, dict] = {}
        self._load_previous()
        self.staged = self.wd.root / f".capture.tmp-{os.getpid()}-{os.urandom(3).hex()}"
        self._records: dict[int, dict] = {}   # by sample index: samples may be finished out of order
        self.rendered = 0
        self.reused = 0

    def _load_previous(self) -> None:
        meta_path = self.dir / META
        if not meta_path.is_file():
            return
        try:
            import json
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return  # unreadable: nothing to reuse, it will be replaced
        if meta.get("format") != FORMAT:
            return
        self.previous_meta = meta
        for rec in meta.get("samples", []):
            key = rec.get("key")
            if key and (self.dir / "samples" / rec.get("file", "")).is_file():
                self._previous[key] = rec

    def __enter__(self) -> "CaptureStore":
        shutil.rmtree(self.staged, ignore_errors=True)
        (self.staged / "samples").mkdir(parents=True)
        (self.staged / "images").mkdir()
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.staged, ignore_errors=True)

    @property
    def records(self) -> list[dict]:
        return [self._records[i] for i in sorted(self._records)]

    def has(self, key: str) -> bool:
        return key in self._previous

    def previous(self, key: str) -> Optional[dict]:
        return self._previous.get(key)

    def reuse(self, index: int, key: str, record: dict) -> bool:
        """Link the previous capture's sample with this key as sample ``index``
        (0-based). ``record`` holds this sample's metadata (frame, camera, ...)."""
        old = self._previous.get(key)
        if old is None:
            return False
        name = sample_name(index + 1)
        link_or_copy(self.dir / "samples" / old["file"], self.staged / "samples" / f"{name}.npz")
        old_png = self.dir / "images" / old.get("image", "")
        if old.get("image") and old_png.is_file():
            link_or_copy(old_png, self.staged / "images" / f"{name}.png")
        else:
            from .images import write_png
            with np.load(self.staged / "samples" / f"{name}.npz") as z:
                write_png(self.staged / "images" / f"{name}.png", z["rgb"])
        self._records[index] = {**record, "file": f"{name}.npz", "image": f"{name}.png", "key": key}
        self.reused += 1
        return True

    def add(self, index: int, key: str, record: dict, rgb: np.ndarray, depth: Optional[np.ndarray],
            alpha: np.ndarray, png: Optional[Path] = None, ids: Optional[np.ndarray] = None) -> None:
        """Store a newly made sample as sample ``index`` (0-based). ``png``: an existing
        PNG of exactly ``rgb`` to move into place (saves re-encoding what the renderer wrote).
        ``ids``: the object-id image (uint16, 0 = no object), when the capture knows its objects."""
        name = sample_name(index + 1)
        arrays = {"rgb": np.ascontiguousarray(rgb, np.uint8), "alpha": np.asarray(alpha, np.float32)}
        if depth is not None:
            arrays["depth"] = np.asarray(depth, np.float32)
        if ids is not None:
            arrays["ids"] = np.asarray(ids, np.uint16)
        buffer = io.BytesIO()  # a full disk then fails in one plain write, with its errno
        np.savez(buffer, **arrays)
        path = self.staged / "samples" / f"{name}.npz"
        try:
            path.write_bytes(buffer.getbuffer())
        except OSError as err:
            raise (disk_full_error(err, path) if err.errno in DISK_FULL else err) from None
        if png is not None:
            shutil.move(str(png), self.staged / "images" / f"{name}.png")
        else:
            from .images import write_png
            write_png(self.staged / "images" / f"{name}.png", rgb)
        self._records[index] = {**record, "file": f"{name}.npz", "image": f"{name}.png", "key": key}
        self.rendered += 1

    def up_to_date(self, key: str) -> bool:
        """The previous capture is exactly what this one would be."""
        return (self.rendered == 0 and self.previous_meta is not None and self.previous_meta.get("key") == key
                and len(self.previous_meta.get("samples", [])) == len(self._records))

    def commit(self, meta: dict) -> dict:
        """Write meta.json, swap the staged folder in and record the stage.
        With nothing new (same key, nothing rendered) the old capture stays as it is."""
        records = self.records
        if not records or sorted(self._records) != list(range(len(records))):
            raise AliveError("the capture produced no samples", "check the frame range or the footage")
        meta = {**meta, "format": FORMAT, "samples": records}
        meta["key"] = content_key(meta.get("source"), [r["key"] for r in records],
                                  {k: v for k, v in meta.items() if k not in ("samples", "key", "stats")})
        if self.up_to_date(meta["key"]):
            return self.previous_meta
        _write_meta(self.staged / META, meta)
        with atomic_path(self.dir) as final_tmp:
            os.replace(self.staged, final_tmp)
        self.wd.mark_done("capture", meta["key"], samples=len(records), source=meta.get("source"))
        return meta
