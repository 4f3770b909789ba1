"""Batched, cached encoding of a walk's states (see the package docstring)."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ..sphere import normalize

BATCH = 32   # composed frames per encoder call: one CLIP batch


def walk_embeddings(gen, states: np.ndarray, observed: np.ndarray,
                    encode_images: Optional[Callable[[np.ndarray], np.ndarray]] = None, batch: int = BATCH,
                    check_cancel: Callable[[], None] = lambda: None, frames=None) -> tuple[np.ndarray, dict]:
    """Embeddings (K, N, D) of states (K, N, M) and what it took. ``observed``:
    embed/embeddings.npy (one row per capture sample). Without
    ``encode_images`` composed states are left NaN (not encoded). ``frames``
    (K, N): each state's invented-frame index (default 0..N-1), which picks the
    camera of a generator that draws through a moving one."""
    states = np.asarray(states, np.int64)
    shape = states.shape[:-1]
    flat = states.reshape(-1, states.shape[-1])
    keys = gen.composition_keys(flat)
    samples = np.unique(flat)
    sample_keys = gen.composition_keys(np.repeat(samples[:, None], flat.shape[1], 1))
    moving = bool(getattr(gen, "moving_camera", False))
    if moving:   # a moving camera (object-world): what a frame shows depends on its camera too
        when = (np.asarray(frames, np.int64).reshape(-1) if frames is not None
                else np.broadcast_to(np.arange(shape[-1]), shape).reshape(-1))
        keys = np.concatenate([keys, gen.camera_samples(when)[:, None]], 1)
        sample_keys = np.concatenate([sample_keys, samples[:, None]], 1)   # sample s through its own camera
    uniq, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    # the captured frames' own compositions: sample s drawn whole is state (s, ..., s)
    captured: dict[tuple, int] = {}
    for sample, key in zip(samples, sample_keys):
        captured.setdefault(tuple(key.tolist()), int(sample))
    observed = np.asarray(observed, np.float32)
    out = np.full((len(uniq), observed.shape[1]), np.nan, np.float32)
    composed = []
    for u, key in enumerate(uniq):
        sample = captured.get(tuple(key.tolist()))
        if sample is None:
            composed.append(u)
        else:
            out[u] = observed[sample]
    encoded = 0
    if encode_images is not None:
        for b in range(0, len(composed), batch):
            check_cancel()
            idx = composed[b:b + batch]
            frames = (gen.compose(flat[first[idx]], frames=when[first[idx]]) if moving
                      else gen.compose(flat[first[idx]]))["rgb"]
            out[idx] = normalize(np.asarray(encode_images((frames * 255 + 0.5).astype(np.uint8)), np.float32))
            encoded += len(idx)
    rows = out[inverse].reshape(*shape, -1)
    from_capture = int(np.isin(inverse, np.setdiff1d(np.arange(len(uniq)), composed)).sum())
    stats = {"rows": int(len(flat)), "from_capture": from_capture, "composed": len(composed), "encoded": encoded,
             "not_encoded": int(len(flat) - from_capture) if encode_images is None else 0}
    return rows, stats


def fill_missing(traj: np.ndarray, states: np.ndarray, gen, observed: np.ndarray,
                 encode_images: Callable[[np.ndarray], np.ndarray], batch: int = BATCH,
                 check_cancel: Callable[[], None] = lambda: None) -> tuple[np.ndarray, dict]:
    """``traj`` with its NaN rows (states not encoded) encoded now; the rest as it is."""
    from .record import missing_rows
    traj = np.array(traj, np.float32)
    missing = missing_rows(traj)
    if not missing.any():
        return traj, {"encoded": 0}
    rows, stats = walk_embeddings(gen, np.asarray(states)[missing][None], observed, encode_images, batch,
                                  check_cancel, frames=np.nonzero(missing)[-1][None])
    traj[missing] = rows[0]
    return traj, stats
