"""Compose a frame from one source frame per region over a static background plate.

A *state* is one source frame index per region (R entries). Region r's pixels
(inside its fixed mask, ``segment.Regions.labels == r``) come from its source
frame; the background (label 0) comes from the plate: the per-pixel temporal
median, which is what a static pixel shows. Every pixel is a captured pixel;
the borders are blended by ``seams.SeamBlender``.
"""

from __future__ import annotations

import numpy as np


def background_plate(frames: np.ndarray) -> np.ndarray:
    """Per-pixel temporal median of frames (N, H, W[, C]) as float32 (in the frames' units)."""
    return np.median(np.asarray(frames, np.float32), axis=0).astype(np.float32)


def source_map(labels: np.ndarray, states: np.ndarray) -> np.ndarray:
    """(F, H, W) source frame of every pixel for states (F, R); -1 = the plate."""
    states = np.asarray(states, np.int64)
    if states.ndim == 1:
        states = states[None]
    lut = np.concatenate([np.full((len(states), 1), -1, np.int64), states], 1)   # label 0 -> plate
    return np.take_along_axis(lut, np.broadcast_to(labels.ravel(), (len(states), labels.size)), 1).reshape(
        (len(states),) + labels.shape)


def compose_regions(frames: np.ndarray, plate: np.ndarray, labels: np.ndarray, states: np.ndarray) -> np.ndarray:
    """Frames (F, H, W[, C]) float32 for states (F, R): each region from its source frame in ``frames``
    (N, H, W[, C]), the background from ``plate`` (H, W[, C])."""
    src = source_map(labels, states)
    H, W = labels.shape
    yy, xx = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    out = np.asarray(frames)[np.maximum(src, 0), yy[None], xx[None]].astype(np.float32)
    bg = src < 0
    if bg.any():
        out[bg] = np.broadcast_to(plate, out.shape)[bg]
    return out


def region_layers(frames: np.ndarray, plate: np.ndarray, state) -> np.ndarray:
    """(R + 1, H, W, C): the plate, then each region's whole source frame (what seams blend between)."""
    return np.concatenate([np.asarray(plate, np.float32)[None],
                           np.asarray(frames)[np.asarray(state, np.int64)].astype(np.float32)])
