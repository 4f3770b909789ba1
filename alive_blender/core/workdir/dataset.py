"""The captured training set on disk (``WORKDIR/capture``) and in memory.

A capture is a list of samples (real frames and optional subframes), each
with RGB, planar depth (or none, for footage), an alpha/coverage mask and the
camera that saw it. ``meta.json`` describes the whole set::

    {
      "format": 3, "source": "render" | "footage",
      "scene": ..., "blender_version": ..., "engine": ..., "view_transform": ...,
      "width": W, "height": H, "has_depth": bool, "key": <content key>,
      "camera_known": bool (false for footage), "fps": ...,
      "has_ids": bool, "object_ids": {"1": object name, ...}   (renders: what each id is),
      "samples": [ {"file": "000001.npz", "frame": 1, "subframe": 0.0, "real_frame": true,
                    "K": 3x3, "world_from_camera": 4x4, "camera": {...},
                    "objects": {"1": 4x4 world matrix, ...}, "deformation": {"1": digest, ...},
                    "key": ...}, ... ]
    }

Samples are stored as ``samples/NNNNNN.npz`` (rgb uint8 HxWx3 sRGB, depth
float32 HxW with +inf for background, alpha float32 HxW, and for renders ids
uint16 HxW: the object id of each pixel, 0 = none) plus a PNG of the RGB in
``images/`` for people and for image encoders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .artifacts import CAPTURE, atomic_path, read_json, write_json
from ..errors import AliveError

META = "meta.json"


class _SampleRecords:
    """What the per-sample records of meta.json say (``self.samples``)."""
    samples: list

    def object_matrices(self, object_id: int) -> np.ndarray:
        """(N, 4, 4) world matrices of one object over the samples."""
        return np.array([s["objects"][str(object_id)] for s in self.samples], np.float64)

    @property
    def frames(self) -> np.ndarray:
        return np.array([s["frame"] + s.get("subframe", 0.0) for s in self.samples], np.float64)

    @property
    def is_real_frame(self) -> np.ndarray:
        # "real_frame" (format 2) also marks in-between samples that land on a whole frame (step > 1)
        return np.array([bool(s.get("real_frame", s.get("subframe", 0.0) == 0.0)) for s in self.samples])

    def K(self, i: int) -> np.ndarray:
        return np.asarray(self.samples[i]["K"], np.float64)

    def world_from_camera(self, i: int) -> np.ndarray:
        return np.asarray(self.samples[i]["world_from_camera"], np.float64)


@dataclass
class Capture(_SampleRecords):
    rgb: np.ndarray                     # (N, H, W, 3) uint8
    depth: Optional[np.ndarray]         # (N, H, W) float32, inf = background; None for footage
    alpha: np.ndarray                   # (N, H, W) float32
    meta: dict
    samples: list = field(default_factory=list)
    ids: Optional[np.ndarray] = None    # (N, H, W) uint16 object ids, 0 = none; None when not captured


@dataclass
class CaptureInfo(_SampleRecords):
    """A capture without its pixels: cameras, poses, size (what a bake needs)."""
    meta: dict
    samples: list

    @property
    def width(self) -> int:
        return int(self.meta["width"])

    @property
    def height(self) -> int:
        return int(self.meta["height"])

    @property
    def has_depth(self) -> bool:
        return bool(self.meta.get("has_depth", True))


def load_capture_info(workdir: Path) -> CaptureInfo:
    """meta.json alone: no sample file is opened."""
    capture_dir = Path(workdir) / CAPTURE
    meta = read_json(capture_dir / META, "capture metadata")
    if not meta.get("samples"):
        raise AliveError(f"the capture in '{capture_dir}' holds no frames", "run capture again")
    return CaptureInfo(meta, meta["samples"])


def sample_name(index: int) -> str:
    return f"{index:06d}"


def write_sample(capture_dir: Path, name: str, rgb: np.ndarray, depth: Optional[np.ndarray],
                 alpha: np.ndarray) -> None:
    """Write one sample's arrays (atomically) and its PNG."""
    (capture_dir / "samples").mkdir(parents=True, exist_ok=True)
    arrays = {"rgb": np.asarray(rgb, np.uint8), "alpha": np.asarray(alpha, np.float32)}
    if depth is not None:
        arrays["depth"] = np.asarray(depth, np.float32)
    with atomic_path(capture_dir / "samples" / f"{name}.npz", ".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    from .images import write_png
    write_png(capture_dir / "images" / f"{name}.png", rgb)


def write_meta(capture_dir: Path, meta: dict) -> None:
    write_json(capture_dir / META, meta)


def load_capture(workdir: Path, size: Optional[tuple] = None) -> Capture:
    """Every sample in memory; ``size`` (W, H) reads them reduced to a working
    size (area-averaged, frame by frame, so the full-size frames are never all
    held). Stages that touch full-size frames use ``open_capture`` instead."""
    return open_capture(workdir).load(size)


def area_resize(rgb: np.ndarray, depth: Optional[np.ndarray], alpha: np.ndarray, width: int, height: int):
    """One sample reduced to (width, height) by area averaging. Depth averages
    only the covered pixels under each output pixel (the background's inf must
    not leak in); an output pixel with none stays background (inf)."""
    from PIL import Image
    H, W = alpha.shape
    if (W, H) == (width, height):
        return rgb, depth, alpha
    if width > W or height > H:
        raise AliveError(f"cannot reduce a {W}x{H} capture to {width}x{height}",
                         f"use a working size of at most {W}x{H}")
    box = Image.Resampling.BOX

    def plane(a):
        return np.asarray(Image.fromarray(np.ascontiguousarray(a, np.float32), mode="F").resize((width, height), box))

    rgb_small = np.asarray(Image.fromarray(np.ascontiguousarray(rgb, np.uint8)).resize((width, height), box))
    alpha_small = plane(alpha)
    depth_small = None
    if depth is not None:
        fg = np.isfinite(depth) & (depth > 0) & (depth < 1e9)
        cover = plane(fg.astype(np.float32))
        total = plane(np.where(fg, depth, 0.0))
        depth_small = np.where(cover > 1e-6, total / np.maximum(cover, 1e-6), np.inf).astype(np.float32)
    return rgb_small, depth_small, alpha_small.astype(np.float32)


class CaptureReader:
    """A capture opened lazily: the metadata now, the frames when asked, one
    sample or one chunk at a time (a 1280x720 sample is ~10 MB; a shot of them
    must never be loaded whole by a stage that only walks through it).

    ``frames_held`` is the most frames one call ever returned at once (what the
    streaming tests check); ``frames_read`` counts every sample read."""

    def __init__(self, workdir: Path):
        self.dir = Path(workdir) / CAPTURE
        self.meta = read_json(self.dir / META, "capture metadata")
        self.samples = self.meta.get("samples", [])
        if not self.samples:
            raise AliveError(f"the capture in '{self.dir}' holds no frames", "run capture again")
        self.frames_held = 0
        self.frames_read = 0
        first = self._read_raw(0)
        self.height, self.width = first[2].shape
        self.has_depth = first[1] is not None

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    frames = Capture.frames
    is_real_frame = Capture.is_real_frame
    K = Capture.K
    world_from_camera = Capture.world_from_camera

    def _read_raw(self, i: int):
        path = self.dir / "samples" / self.samples[i]["file"]
        try:
            with np.load(path, allow_pickle=False) as z:
                rgb, alpha = z["rgb"], z["alpha"]
                depth = z["depth"] if "depth" in z.files else None
        except FileNotFoundError:
            raise AliveError(f"capture sample missing: '{path}'", "run capture again") from None
        except (ValueError, OSError, KeyError, EOFError) as err:
            raise AliveError(f"corrupt capture sample '{path}': {err}", "run capture again") from None
        self.frames_read += 1
        return rgb, depth, alpha

    def check_size(self, size: Optional[tuple]) -> tuple[int, int]:
        """(W, H) to read at: ``size`` or the capture's own; larger than the capture is refused."""
        if not size or not size[0] or not size[1]:
            return self.size
        w, h = int(size[0]), int(size[1])
        if w > self.width or h > self.height or w < 1 or h < 1:
            raise AliveError(f"working size {w}x{h} does not fit the {self.width}x{self.height} capture",
                             f"use a working size of at most {self.width}x{self.height}, or capture larger")
        return w, h

    def read(self, i: int, size: Optional[tuple] = None):
        """Sample ``i`` as (rgb uint8 (H, W, 3), depth float32 (H, W) or None, alpha float32 (H, W))."""
        w, h = self.check_size(size)
        self.frames_held = max(self.frames_held, 1)
        return area_resize(*self._read_raw(i), w, h)

    def chunks(self, chunk: int = 16, size: Optional[tuple] = None, indices=None):
        """Yield (first position, rgb (n, H, W, 3), depth (n, H, W) or None, alpha (n, H, W)) for
        at most ``chunk`` samples at a time, in order (``indices``: a subset, default all)."""
        w, h = self.check_size(size)
        indices = list(range(len(self))) if indices is None else [int(i) for i in indices]
        chunk = max(1, int(chunk))
        for p0 in range(0, len(indices), chunk):
            part = [area_resize(*self._read_raw(i), w, h) for i in indices[p0:p0 + chunk]]
            self.frames_held = max(self.frames_held, len(part))
            depth = None if any(d is None for _, d, _ in part) else np.stack([d for _, d, _ in part])
            yield p0, np.stack([r for r, _, _ in part]), depth, np.stack([a for _, _, a in part])

    def load(self, size: Optional[tuple] = None) -> Capture:
        """Every sample at ``size`` (default the capture's) in one Capture, read one by one."""
        w, h = self.check_size(size)
        n = len(self)
        rgb = np.empty((n, h, w, 3), np.uint8)
        alpha = np.empty((n, h, w), np.float32)
        depth = np.empty((n, h, w), np.float32) if self.has_depth else None
        for i in range(n):
            r, d, a = self.read(i, (w, h))
            rgb[i], alpha[i] = r, a
            if depth is not None:
                if d is None:
                    depth = None
                else:
                    depth[i] = d
        meta = self.meta if (w, h) == self.size else {**self.meta, "width": w, "height": h,
                                                      "captured_size": [self.width, self.height]}
        return Capture(rgb, depth, alpha, meta, self.samples, self.load_ids((w, h)))

    def load_ids(self, size: Optional[tuple] = None) -> Optional[np.ndarray]:
        """(N, H, W) uint16 object ids at ``size`` (nearest sample: ids are labels, never
        averaged), or None when the capture has none (footage, an older capture)."""
        if not all("objects" in s for s in self.samples):
            return None
        from PIL import Image
        w, h = self.check_size(size)
        out = np.empty((len(self), h, w), np.uint16)
        for i, s in enumerate(self.samples):
            path = self.dir / "samples" / s["file"]
            try:
                with np.load(path, allow_pickle=False) as z:
                    if "ids" not in z.files:
                        return None
                    ids = z["ids"]
            except (ValueError, OSError, KeyError, EOFError) as err:
                raise AliveError(f"corrupt capture sample '{path}': {err}", "run capture again") from None
            if ids.shape != (h, w):
                ids = np.asarray(Image.fromarray(ids.astype(np.int32), mode="I").resize((w, h), Image.Resampling.NEAREST))
            out[i] = ids
        return out


def open_capture(workdir: Path) -> CaptureReader:
    return CaptureReader(workdir)
