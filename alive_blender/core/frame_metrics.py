"""Pixel-space metrics of invented frames against the real renders of a scene.

The embedding-space metrics (``core/metrics.py``) cannot tell a sharp new
arrangement from a ghostly blend of two training frames. These can: every
invented frame is matched to its nearest real *configuration* (PSNR over the
whole frame) and called *real* when it is at least as close to it as real
configurations are to one another.

Terms:

* configuration: one distinct look of the scene. Frames whose renders are
  (near-)identical (symmetric paths, a period that repeats) are grouped into
  one configuration (``group_configurations``).
* tau: the median, over configurations, of the PSNR to the nearest *other*
  configuration. A frame at least tau dB from its match is as close to it as a
  typical real configuration is to its neighbour: it looks like a render.
* real: PSNR to the nearest configuration >= tau.
* novel-real: real, and the matched configuration was not in the capture.
* reached / new reached: distinct configurations matched by real frames /
  by novel-real frames.
* depth error: for real frames, the median over pixels (finite in both) of
  |decoded - real| / real depth of the matched configuration; the summary
  gives the median over frames.

Pure numpy; PSNRs of many frames against many configurations are computed
as chunked matrix products (``|a|^2 + |b|^2 - 2 a.b``), the winning pair is
then recomputed exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

# renders closer than this are one configuration (8-bit renders of the same state are bit-identical;
# 50 dB is an RMS error of 0.8 of one 8-bit level, well above float noise, well below any real motion)
SAME_CONFIGURATION_PSNR = 50.0
PSNR_CAP = 100.0  # the PSNR of identical images (instead of +inf), so means and medians stay finite


def as_float_frames(frames) -> np.ndarray:
    """(N, H, W, 3) uint8 or float in [0, 1] -> float32 in [0, 1]."""
    a = np.asarray(frames)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"frames must be (N, H, W, 3), got {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    a = a.astype(np.float32)
    if a.size and float(a.max()) > 1.0 + 1e-3:
        raise ValueError("float frames must be in [0, 1] (8-bit frames: pass them as uint8)")
    return np.clip(a, 0.0, 1.0)


def psnr_from_mse(mse) -> np.ndarray:
    mse = np.asarray(mse, np.float64)
    with np.errstate(divide="ignore"):
        out = -10.0 * np.log10(np.maximum(mse, 0.0))
    return np.minimum(out, PSNR_CAP)


def nearest(queries, references, chunk: int = 256, exclude_self: bool = False):
    """For each query frame its nearest reference frame by whole-frame MSE.

    queries (N, H, W, 3), references (C, H, W, 3); returns (index (N,), psnr (N,)).
    ``exclude_self``: queries and references are the same set; a frame may not
    match itself (its nearest *other* frame). Memory stays at chunk x C.
    """
    q = as_float_frames(queries)
    q = q.reshape(len(q), -1)
    r = as_float_frames(references)
    r = r.reshape(len(r), -1)
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"queries and references differ in size: {np.shape(queries)[1:]} vs "
                         f"{np.shape(references)[1:]}")
    if exclude_self and len(r) < 2:
        raise ValueError("need at least two frames to find a nearest other one")
    r_sq = np.einsum("ij,ij->i", r, r, dtype=np.float64)
    index = np.empty(len(q), np.int64)
    for s in range(0, len(q), chunk):
        block = q[s:s + chunk]
        d = np.einsum("ij,ij->i", block, block, dtype=np.float64)[:, None] + r_sq[None, :] \
            - 2.0 * (block @ r.T).astype(np.float64)
        if exclude_self:
            rows = np.arange(len(block))
            d[rows, s + rows] = np.inf
        index[s:s + chunk] = np.argmin(d, axis=1)
    # the winning pair exactly (the expansion loses precision for near-identical frames)
    mse = np.array([np.mean((q[i] - r[j]) ** 2, dtype=np.float64) for i, j in enumerate(index)])
    return index, psnr_from_mse(mse)


def group_configurations(renders, same_psnr: float = SAME_CONFIGURATION_PSNR, chunk: int = 256) -> np.ndarray:
    """Configuration label (0..C-1, in order of first appearance) of each render: renders
    closer than ``same_psnr`` dB to one another (transitively) share a label."""
    x = as_float_frames(renders)
    x = x.reshape(len(x), -1)
    n = len(x)
    parent = np.arange(n)

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    sq = np.einsum("ij,ij->i", x, x, dtype=np.float64)
    limit = x.shape[1] * 10.0 ** (-same_psnr / 10.0)  # the summed squared error at same_psnr
    for s in range(0, n, chunk):
        block = x[s:s + chunk]
        d = sq[s:s + chunk, None] + sq[None, :] - 2.0 * (block @ x.T).astype(np.float64)
        for a, b in zip(*np.nonzero(d <= limit * 4.0)):  # candidates; confirmed exactly below
            i, j = s + int(a), int(b)
            if j <= i:
                continue
            if np.sum((x[i] - x[j]) ** 2, dtype=np.float64) <= limit:
                ri, rj = find(i), find(j)
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
    roots = np.array([find(i) for i in range(n)])
    _, first, labels = np.unique(roots, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))  # relabel by first appearance
    return order[labels].astype(np.int64)


@dataclass
class Configurations:
    """The real configurations of a scene: one representative render each."""
    rgb: np.ndarray                     # (C, H, W, 3) uint8 or float
    depth: Optional[np.ndarray]         # (C, H, W) float, inf = background; None when unknown
    captured: np.ndarray                # (C,) bool: the configuration is in the capture
    frames: list = field(default_factory=list)  # per configuration: the frame numbers that show it

    @classmethod
    def from_renders(cls, rgb, depth, frames, captured_frames, same_psnr: float = SAME_CONFIGURATION_PSNR):
        """Group the renders of every frame of the full cycle into configurations;
        ``captured_frames``: the frame numbers the capture holds."""
        labels = group_configurations(rgb, same_psnr)
        count = int(labels.max()) + 1
        first = np.array([int(np.flatnonzero(labels == c)[0]) for c in range(count)])
        frames = np.asarray(frames)
        captured_set = set(np.asarray(captured_frames).tolist())
        members = [frames[labels == c].tolist() for c in range(count)]
        captured = np.array([any(f in captured_set for f in m) for m in members])
        return cls(np.asarray(rgb)[first], None if depth is None else np.asarray(depth)[first], captured, members)

    def __len__(self) -> int:
        return len(self.rgb)


def tau(configurations) -> float:
    """Median over configurations of the PSNR to the nearest other configuration."""
    rgb = configurations.rgb if isinstance(configurations, Configurations) else configurations
    _, p = nearest(rgb, rgb, exclude_self=True)
    return float(np.median(p))


def depth_relative_error(decoded, real) -> float:
    """Median over pixels finite (and positive) in both of |decoded - real| / real; nan when none."""
    d, r = np.asarray(decoded, np.float64), np.asarray(real, np.float64)
    ok = np.isfinite(d) & np.isfinite(r) & (r > 0)
    if not ok.any():
        return float("nan")
    return float(np.median(np.abs(d[ok] - r[ok]) / r[ok]))


@dataclass
class FrameScores:
    """Per invented frame, and the summary of a set."""
    match: np.ndarray            # (N,) index of the nearest configuration
    psnr: np.ndarray             # (N,) PSNR to it
    real: np.ndarray             # (N,) bool
    novel_real: np.ndarray       # (N,) bool
    depth_error: np.ndarray      # (N,) relative depth error (nan: not real, or no depth)
    tau: float
    configurations: int
    captured: int

    def summary(self) -> dict:
        n = len(self.psnr)
        reached = set(self.match[self.real].tolist())
        new = set(self.match[self.novel_real].tolist())
        uncaptured = self.configurations - self.captured
        de = self.depth_error[np.isfinite(self.depth_error)]
        return {"frames": n, "tau": round(self.tau, 2),
                "real": float(self.real.mean()) if n else 0.0,
                "novel_real": float(self.novel_real.mean()) if n else 0.0,
                "psnr_median": float(np.median(self.psnr)) if n else float("nan"),
                "configurations": self.configurations, "captured_configurations": self.captured,
                "reached": len(reached), "new_reached": len(new),
                "new_reached_share": len(new) / uncaptured if uncaptured else float("nan"),
                "depth_error": float(np.median(de)) if len(de) else float("nan")}

    def to_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}


def score_frames(invented_rgb, configurations: Configurations, invented_depth=None,
                 tau_db: Optional[float] = None, chunk: int = 256) -> FrameScores:
    """Match every invented frame (N, H, W, 3) to its nearest configuration and score it."""
    t = tau(configurations) if tau_db is None else float(tau_db)
    match, p = nearest(invented_rgb, configurations.rgb, chunk=chunk)
    real = p >= t
    novel = real & ~configurations.captured[match]
    err = np.full(len(match), np.nan)
    if invented_depth is not None and configurations.depth is not None:
        for i in np.flatnonzero(real):
            err[i] = depth_relative_error(invented_depth[i], configurations.depth[match[i]])
    return FrameScores(match, p, real, novel, err, t, len(configurations), int(configurations.captured.sum()))


def score_footage(invented_rgb, real_frames, chunk: int = 256) -> dict:
    """Footage has no configurations: the whole-frame PSNR of each invented frame to its
    nearest real frame, against tau computed among the real frames themselves (each to
    its nearest other frame). Neighbouring video frames are close, so this tau is strict."""
    t = float(np.median(nearest(real_frames, real_frames, chunk=chunk, exclude_self=True)[1]))
    match, p = nearest(invented_rgb, real_frames, chunk=chunk)
    return {"frames": len(p), "tau": round(t, 2), "real": float(np.mean(p >= t)) if len(p) else 0.0,
            "psnr_median": float(np.median(p)) if len(p) else float("nan"),
            "reached": int(len(set(match[p >= t].tolist())))}


def cross_fades(frames, count: int, seed: int = 0, labels=None) -> np.ndarray:
    """``count`` 50/50 blends of two different frames (of different configurations
    when ``labels`` are given): what a ghosting generator produces."""
    x = as_float_frames(frames)
    if len(x) < 2 or (labels is not None and len(set(np.asarray(labels).tolist())) < 2):
        raise ValueError("cross-fades need at least two different frames")
    rng = np.random.default_rng(seed)
    out = np.empty((count,) + x.shape[1:], np.float32)
    for k in range(count):
        while True:
            i, j = rng.choice(len(x), 2, replace=False)
            if labels is None or labels[i] != labels[j]:
                break
        out[k] = 0.5 * (x[i] + x[j])
    return np.round(out * 255.0) / 255.0  # 8-bit, like a decoded PNG
