"""The packed-atlas layout of the bake's texture, without Blender: frames as
tiles of one image, and where each tile sits in UV."""

from __future__ import annotations

import math

import numpy as np

from .errors import AliveError

MAX_ATLAS_SIDE = 16384


def atlas_layout(n: int, width: int, height: int) -> tuple[int, int]:
    """(columns, rows) of a roughly square atlas for n tiles of width x height."""
    cols = max(1, math.ceil(math.sqrt(n * height / width)))
    rows = math.ceil(n / cols)
    return cols, rows


def atlas_pixels(rgb: np.ndarray, cols: int, rows: int) -> np.ndarray:
    """(rows*H, cols*W, 4) float32 RGBA in 0..1 in Blender's bottom-up row order.
    Tile k sits at column k % cols, row k // cols counted from the top.
    Laid out in uint8 first: one float conversion of the whole atlas at the end."""
    N, H, W = rgb.shape[:3]
    tiles = np.asarray(rgb)[..., :3]
    if tiles.dtype != np.uint8:
        tiles = (np.clip(tiles, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    grid = np.zeros((rows * cols, H, W, 3), np.uint8)
    grid[:N] = tiles
    top = grid.reshape(rows, cols, H, W, 3).transpose(0, 2, 1, 3, 4).reshape(rows * H, cols * W, 3)
    out = np.ones((rows * H, cols * W, 4), np.float32)
    np.multiply(top[::-1], np.float32(1.0 / 255.0), out=out[..., :3], casting="unsafe")
    return out


def tile_offsets(n: int, cols: int, rows: int) -> np.ndarray:
    """UV of each tile's lower-left corner, (n, 2)."""
    k = np.arange(n)
    return np.stack([(k % cols) / cols, (rows - 1 - k // cols) / rows], axis=1)


def check_atlas_size(n: int, width: int, height: int) -> tuple[int, int]:
    cols, rows = atlas_layout(n, width, height)
    if cols * width > MAX_ATLAS_SIDE or rows * height > MAX_ATLAS_SIDE:
        raise AliveError(f"an atlas of {n} frames at {width}x{height} would be {cols * width}x{rows * height} "
                         f"pixels (more than {MAX_ATLAS_SIDE})",
                         "bake fewer frames, a lower density, or --texture sequence")
    return cols, rows
