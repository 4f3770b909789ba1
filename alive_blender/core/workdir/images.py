"""Reading and writing ordinary image files, and the preview contact sheet."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .artifacts import atomic_path
from ..errors import AliveError


def to_uint8(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_png(path: Path, img: np.ndarray) -> None:
    from PIL import Image
    arr = to_uint8(img)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, ".png") as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 sRGB."""
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise AliveError(f"image not found: '{path}'", "check the path") from None
    except (UnidentifiedImageError, OSError) as err:
        raise AliveError(f"cannot read image '{path}': {err}", "convert it to PNG or JPEG") from None


def resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image
    return np.asarray(Image.fromarray(to_uint8(img)).resize((width, height), Image.BILINEAR))


def contact_sheet(rows: list[tuple[str, np.ndarray]], columns: int = 8, pad: int = 2) -> np.ndarray:
    """Stack labelled rows of frames (each (N, H, W, 3)) into one image.

    Each row shows ``columns`` frames evenly picked from its sequence; a thin
    coloured bar on the left tells rows apart (captured = grey, rolled out =
    orange) since there is no font to print labels with."""
    tiles = []
    for label, frames in rows:
        frames = to_uint8(frames)
        n = len(frames)
        idx = np.linspace(0, n - 1, min(columns, n)).round().astype(int)
        H, W = frames.shape[1:3]
        row = np.full((H + 2 * pad, 6 + columns * (W + pad) + pad, 3), 24, np.uint8)
        row[:, :4] = (160, 160, 160) if label.startswith("captured") else (255, 140, 0)
        for j, i in enumerate(idx):
            x = 6 + pad + j * (W + pad)
            row[pad:pad + H, x:x + W] = frames[i]
        tiles.append(row)
    width = max(t.shape[1] for t in tiles)
    tiles = [np.pad(t, ((0, 0), (0, width - t.shape[1]), (0, 0)), constant_values=24) for t in tiles]
    return np.concatenate(tiles, axis=0)
