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
                    "objects": {"1": 4x4 world matrix, ...}, "key": ...}, ... ]
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


def load_capture(workdir: Path) -> Capture:
    capture_dir = Path(workdir) / CAPTURE
    meta = read_json(capture_dir / META, "capture metadata")
    samples = meta.get("samples", [])
    if not samples:
        raise AliveError(f"the capture in '{capture_dir}' holds no frames", "run capture again")
    rgbs, depths, alphas, ids = [], [], [], []
    for s in samples:
        path = capture_dir / "samples" / s["file"]
        try:
            with np.load(path, allow_pickle=False) as z:
                rgbs.append(z["rgb"])
                alphas.append(z["alpha"])
                depths.append(z["depth"] if "depth" in z.files else None)
                ids.append(z["ids"] if "ids" in z.files else None)
        except FileNotFoundError:
            raise AliveError(f"capture sample missing: '{path}'", "run capture again") from None
        except (ValueError, OSError, KeyError, EOFError) as err:
            raise AliveError(f"corrupt capture sample '{path}': {err}", "run capture again") from None
    depth = None if any(d is None for d in depths) else np.stack(depths)
    id_images = None if any(i is None for i in ids) or not all("objects" in s for s in samples) else np.stack(ids)
    return Capture(np.stack(rgbs), depth, np.stack(alphas), meta, samples, id_images)
