"""Existing footage (an image sequence, or a movie's frames) as a capture.

Footage has no depth (``has_depth`` false, samples store no depth array) and
no known camera: each sample gets a nominal pinhole camera (50 mm lens on a
36 mm sensor, at the origin looking down -Z) and ``meta["camera_known"]`` is
false, so later stages can place a camera-facing card instead of a point
cloud. Alpha is the image's own alpha channel, or 1 everywhere.

Image files are read with PIL (PNG, JPEG, TIFF, BMP, WebP, ...); movies are
decoded by Blender (blender/footage.py) and handed to ``capture_frames``.
"""

from __future__ import annotations

import glob
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

import numpy as np

from .artifacts import content_key
from ..camera import CameraParams, intrinsics
from ..config import Config
from .capture_store import CaptureStore
from ..errors import AliveError
from ..run.protocol import Reporter

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".tga"}
# scene-linear / film formats PIL cannot read: Blender's own image loader reads them (blender/footage.py)
BLENDER_SUFFIXES = {".exr", ".hdr", ".dpx", ".cin"}


@dataclass
class FootageSettings(Config):
    WHAT = "footage"
    frame_start: Optional[int] = None   # footage frame numbers (1 = first frame); None = all
    frame_end: Optional[int] = None
    step: int = 1
    width: int = 0                      # 0 = the footage's own size (or percent of it)
    height: int = 0
    percent: int = 0


def _natural(path: Path):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def list_images(spec: str, suffixes=IMAGE_SUFFIXES) -> list[Path]:
    """Image files named by a folder, a glob pattern, or one file; in natural order."""
    text = os.path.expanduser(str(spec))
    path = Path(text)
    if any(c in text for c in "*?["):
        files = [Path(p) for p in glob.glob(text)]
        if not files:
            raise AliveError(f"no files match '{text}'", "check the pattern, e.g. 'plates/shot_*.png'")
    elif path.is_dir():
        files = [p for p in path.iterdir() if p.suffix.lower() in suffixes and not p.name.startswith(".")]
        if not files:
            raise AliveError(f"no image files in '{path}'",
                             f"put {', '.join(sorted(suffixes))} files there or give a glob pattern")
    elif path.is_file():
        files = [path]
    else:
        raise AliveError(f"image sequence not found: '{text}'", "give a folder of frames or a glob pattern")
    return sorted((p.absolute() for p in files if p.is_file()), key=_natural)


def frame_number(path: Path, index: int) -> int:
    """The frame number in the file name (last group of digits), else 1-based position."""
    digits = re.findall(r"\d+", path.stem)
    return int(digits[-1]) if digits else index + 1


def read_frame(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(rgb uint8 HxWx3 sRGB, alpha float32 HxW) of an image file."""
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = np.asarray(im.convert("RGBA"))
                return np.ascontiguousarray(rgba[..., :3]), rgba[..., 3].astype(np.float32) / 255.0
            rgb = np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise AliveError(f"image not found: '{path}'", "check the path") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise AliveError(f"cannot read image '{path}': {err}",
                         "replace or remove the file, or convert it to PNG or JPEG") from None
    return rgb, np.ones(rgb.shape[:2], np.float32)


def target_size(width: int, height: int, s: FootageSettings) -> tuple[int, int]:
    if s.width or s.height:
        if not (s.width > 0 and s.height > 0):
            raise AliveError(f"bad resolution {s.width}x{s.height}", "give both width and height, e.g. 128x96")
        return s.width, s.height
    pct = s.percent or 100
    if not 1 <= pct <= 1000:
        raise AliveError(f"bad resolution percentage {pct}", "use a percentage between 1 and 1000")
    return max(1, width * pct // 100), max(1, height * pct // 100)


def resize(rgb: np.ndarray, alpha: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    if (rgb.shape[1], rgb.shape[0]) == tuple(size):
        return rgb, alpha
    from PIL import Image
    rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))
    a = Image.fromarray(alpha.astype(np.float32), mode="F").resize(size, Image.Resampling.BILINEAR)
    return rgb, np.clip(np.asarray(a), 0.0, 1.0).astype(np.float32)


def select(numbers: list[int], s: FootageSettings) -> list[int]:
    """Indices into ``numbers`` (frame numbers of the footage) that the settings pick."""
    if s.step < 1:
        raise AliveError(f"frame step must be at least 1, got {s.step}", "use --step 1 or more")
    lo = numbers[0] if s.frame_start is None else s.frame_start
    hi = numbers[-1] if s.frame_end is None else s.frame_end
    if hi < lo:
        raise AliveError(f"empty frame range {lo}-{hi} (the end is before the start)",
                         "give a range whose end is not before its start")
    picked = [i for i, n in enumerate(numbers) if lo <= n <= hi]
    if not picked:
        raise AliveError(f"the footage has no frames in {lo}-{hi} (it has {numbers[0]}-{numbers[-1]})",
                         "pick a range inside the footage")
    return picked[::s.step]


def nominal_camera(width: int, height: int) -> CameraParams:
    return CameraParams(lens=50.0, sensor_width=36.0, sensor_height=24.0, sensor_fit="AUTO", shift_x=0.0,
                        shift_y=0.0, width=width, height=height)


def capture_frames(workdir, frames: Iterable[tuple[int, str, Callable[[], tuple[np.ndarray, np.ndarray]]]],
                   count: int, size_of: Callable[[int, int], tuple[int, int]], meta: dict,
                   reporter: Optional[Reporter] = None) -> dict:
    """Store footage frames as the capture. ``frames`` yields (frame number,
    content key of the source frame, reader returning (rgb, alpha)); readers run
    only for frames not already stored. ``size_of(w, h)``: output size."""
    rep = reporter or Reporter()
    t0 = time.perf_counter()
    size = None
    with CaptureStore(workdir) as store:
        for i, (number, source_key, read) in enumerate(frames):
            rep.check_cancel()
            key = content_key("footage", source_key, meta.get("settings"))
            record = {"frame": int(number), "subframe": 0.0, "time": float(number), "real_frame": True}
            old = store.previous(key)
            if old is not None:
                record.update(K=old["K"], world_from_camera=old["world_from_camera"], camera=old["camera"])
                size = size or (old["camera"]["width"], old["camera"]["height"])
                store.reuse(i, key, record)
                rep.progress((i + 1) / count, f"frame {number} (unchanged)")
                continue
            rgb, alpha = read()
            out = size_of(rgb.shape[1], rgb.shape[0])
            if size is not None and tuple(out) != tuple(size):
                raise AliveError(f"frame {number} is {rgb.shape[1]}x{rgb.shape[0]}, unlike the frames before it",
                                 "give footage whose frames all have one size, or set --resolution")
            size = tuple(out)
            rgb, alpha = resize(rgb, alpha, size)
            cam = nominal_camera(*size)
            record.update(K=intrinsics(cam).tolist(), world_from_camera=np.eye(4).tolist(), camera=cam.to_dict())
            store.add(i, key, record, rgb, None, alpha)
            rep.progress((i + 1) / count, f"frame {number}")
        if size is None:
            raise AliveError("the footage holds no frames", "check the file or folder")
        meta = store.commit({**meta, "source": "footage", "has_depth": False, "camera_known": False,
                             "width": size[0], "height": size[1],
                             "view_transform": "as stored in the footage (assumed sRGB)"})
        rendered, reused = store.rendered, store.reused
    seconds = time.perf_counter() - t0
    rep.status(f"capture: {rendered} footage frames read, {reused} unchanged, {seconds:.1f} s")
    return {"samples": len(meta["samples"]), "read": rendered, "rendered": 0, "reused": reused,
            "up_to_date": rendered == 0, "width": size[0], "height": size[1], "has_depth": False,
            "dir": str(store.dir), "key": meta["key"], "seconds": round(seconds, 3)}


def capture_images(spec: str, workdir, settings: Optional[FootageSettings] = None,
                   reporter: Optional[Reporter] = None, files: Optional[list] = None,
                   reader: Callable[[Path], tuple[np.ndarray, np.ndarray]] = read_frame) -> dict:
    """An image sequence (folder, glob, or one file) as the capture. ``files``/``reader``:
    an already listed sequence and how to read one file (default: PIL)."""
    s = settings or FootageSettings()
    rep = reporter or Reporter()
    files = files if files is not None else list_images(spec)
    numbers = [frame_number(p, i) for i, p in enumerate(files)]
    if len(set(numbers)) != len(numbers):   # names without a usable frame number: use positions
        numbers = list(range(1, len(files) + 1))
    picked = select(numbers, s)
    target_size(1, 1, s)  # bad sizes fail before anything is written
    rep.status(f"capture: {len(picked)} frames from the image sequence '{spec}'")

    def frames():
        for i in picked:
            p = files[i]
            st = p.stat()
            yield numbers[i], content_key("image", str(p), st.st_size, st.st_mtime_ns), (lambda p=p: reader(p))

    meta = {"footage": {"kind": "images", "spec": str(spec), "files": [str(files[i]) for i in picked]},
            "settings": s.to_dict(), "scene": "", "camera": "", "engine": "", "fps": None}
    return capture_frames(workdir, frames(), len(picked), lambda w, h: target_size(w, h, s), meta, rep)
