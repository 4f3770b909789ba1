"""Compose a frame from one source frame per region over a static background plate.

A *state* is one source frame index per region (R entries). The background
is the plate: the per-pixel temporal median, which is what a static pixel
shows. Each region, far to near (``sprites.painting_order``), is drawn from
its source frame where that frame's pixels belong to it (``sprites.ownership``:
its thing and the shadow the thing casts, wherever they reach). Every pixel is
a captured pixel; the borders are blended by ``seams.SeamBlender``.
"""

from __future__ import annotations

import numpy as np


def background_plate(frames: np.ndarray) -> np.ndarray:
    """Per-pixel temporal median of frames (N, H, W[, C]) as float32 (in the frames' units)."""
    return np.median(np.asarray(frames, np.float32), axis=0).astype(np.float32)


def source_map(owner: np.ndarray, order: np.ndarray, sources) -> np.ndarray:
    """(H, W) the region each pixel shows (0 = the plate) when region r shows frame sources[r - 1]."""
    shown = np.zeros(owner.shape[1:], np.int64)
    for r in order:
        shown[owner[int(sources[r - 1])] == r] = r
    return shown


def gather(frames: np.ndarray, plate: np.ndarray, shown: np.ndarray, sources) -> np.ndarray:
    """Pixels of ``frames`` (N, H, W[, C]) by a source map: region r's from frame sources[r - 1],
    0 from ``plate``; float32."""
    frame_of = np.concatenate([[-1], np.asarray(sources, np.int64)])[shown]
    H, W = shown.shape
    yy, xx = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    out = np.asarray(frames)[np.maximum(frame_of, 0), yy, xx].astype(np.float32)
    bg = frame_of < 0
    out[bg] = np.asarray(plate, np.float32)[bg]
    return out


def region_layers(frames: np.ndarray, plate: np.ndarray, owner: np.ndarray, sources) -> np.ndarray:
    """(R + 1, H, W, C): the plate, then each region alone over it (its own pixels of its source frame):
    what seams blend between, so another thing in a region's source frame never guides a border."""
    plate = np.asarray(plate, np.float32)
    out = np.repeat(plate[None], len(sources) + 1, 0)
    for r, s in enumerate(np.asarray(sources, np.int64), 1):
        mine = owner[s] == r
        out[r][mine] = np.asarray(frames)[s][mine]
    return out
