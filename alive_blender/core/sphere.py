"""Geometry on the unit hypersphere where embeddings live (numpy)."""

from __future__ import annotations

import numpy as np


def normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def slerp(a: np.ndarray, b: np.ndarray, t) -> np.ndarray:
    """Spherical interpolation between unit vectors (broadcasts over t)."""
    a, b = normalize(a), normalize(b)
    t = np.asarray(t, np.float32)[..., None] if np.ndim(t) else np.float32(t)
    dot = np.clip(np.sum(a * b, axis=-1, keepdims=True), -1.0, 1.0)
    omega = np.arccos(dot)
    so = np.sin(omega)
    small = so < 1e-6
    safe = np.where(small, 1.0, so)
    wa = np.where(small, 1.0 - t, np.sin((1.0 - t) * omega) / safe)
    wb = np.where(small, t, np.sin(t * omega) / safe)
    return normalize(wa * a + wb * b)


def densify(embeddings: np.ndarray, factor: int) -> np.ndarray:
    """Insert ``factor - 1`` slerped embeddings between consecutive ones."""
    e = normalize(embeddings)
    if factor <= 1 or len(e) < 2:
        return e
    ts = np.arange(factor, dtype=np.float32) / factor
    out = [slerp(e[i][None], e[i + 1][None], ts[:, None][:, 0]) for i in range(len(e) - 1)]
    return np.concatenate(out + [e[-1:]], axis=0)


def angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in radians between unit vectors (broadcasts)."""
    return np.arccos(np.clip(np.sum(normalize(a) * normalize(b), axis=-1), -1.0, 1.0))
