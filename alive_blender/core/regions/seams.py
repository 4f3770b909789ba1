"""Seams between regions: gradient-domain (Poisson) blending, and a seam metric.

**Blending.** Where two labels meet, the composite jumps from one source frame
to another. ``SeamBlender`` re-solves the pixels in a band of ``band`` pixels
around every border so that their gradients match a guidance field: inside a
label its own source's gradient, across a border the mean of both sources'
gradients (so neither side's edge is imposed on the other), with the pixels
outside the band fixed. The masks are fixed for a whole footage, so the
sparse system is factorized once (scipy ``splu``) and each frame is one
back-substitution. Real pixels outside the band are untouched; inside it the
mismatch between the sources is spread smoothly instead of shown as an edge.

**Metric.** The spatio-temporal consistency of Liao, Joshi, Hoppe (2013), in
the gradient domain as in Liao, Finch, Hoppe (2015): for a composed sequence,

* spatial: for every pair of 4-neighbour pixels (p, q) on a border between
  labels a and b, || grad_pq V_a - grad_pq V_b ||^2, where V_a is the frame
  label a shows (the plate for the background): zero when both sources agree
  there, so the border cannot be seen in the gradients;
* temporal: for every pixel whose source frame s goes to s' between two
  output frames, || grad V(s + 1) - grad V(s') ||^2 (zero when it plays on):
  what a jump or hold shows in time;

summed per output frame and divided by the pixel count (RGB in 0..1). A
whole-frame walk has only the temporal term; a region walk has both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BAND = 3   # pixels either side of a border that the blend re-solves


def _pairs(labels: np.ndarray):
    """4-neighbour pairs (flat p, flat q) in both directions (right, down)."""
    H, W = labels.shape
    idx = np.arange(H * W).reshape(H, W)
    p = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    q = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    return p, q


def border_pairs(labels: np.ndarray):
    """Neighbour pairs (p, q) whose labels differ."""
    p, q = _pairs(labels)
    lab = labels.ravel()
    cross = lab[p] != lab[q]
    return p[cross], q[cross]


class SeamBlender:
    """Gradient-domain blend of a composite across the borders of a fixed label image."""

    def __init__(self, labels: np.ndarray, band: int = BAND):
        from scipy import ndimage, sparse
        from scipy.sparse.linalg import splu
        self.labels = np.asarray(labels, np.int64)
        H, W = self.labels.shape
        self.shape = (H, W)
        bp, bq = border_pairs(self.labels)
        near = np.zeros(H * W, bool)
        near[bp] = near[bq] = True
        if band > 1 and near.any():
            near = ndimage.binary_dilation(near.reshape(H, W), np.ones((3, 3), bool), band - 1).ravel()
        self.unknown = np.flatnonzero(near)
        self.lu = None
        if not len(self.unknown):
            return
        pos = np.full(H * W, -1, np.int64)
        pos[self.unknown] = np.arange(len(self.unknown))
        self.pos = pos
        p, q = _pairs(self.labels)
        # every pair touching the band, oriented both ways: row p gets (I_p - I_q) = g_pq
        p, q = np.concatenate([p, q]), np.concatenate([q, p])
        use = pos[p] >= 0
        self.p, self.q = p[use], q[use]
        n = len(self.unknown)
        deg = np.bincount(pos[self.p], minlength=n).astype(np.float64)
        inner = pos[self.q] >= 0
        A = sparse.coo_matrix((np.concatenate([deg, -np.ones(inner.sum())]),
                               (np.concatenate([np.arange(n), pos[self.p][inner]]),
                                np.concatenate([np.arange(n), pos[self.q][inner]]))), shape=(n, n)).tocsc()
        self.lu = splu(A)
        self.inner = inner
        lab = self.labels.ravel()
        self.lp, self.lq = lab[self.p], lab[self.q]

    def blend(self, layers: np.ndarray, composite: np.ndarray) -> np.ndarray:
        """``layers`` (L, H, W, C): the frame each label shows (index = label, 0 = the plate);
        ``composite`` (H, W, C) their composition. Returns the blended frame (float32)."""
        if self.lu is None:
            return np.asarray(composite, np.float32)
        H, W = self.shape
        C = composite.shape[-1]
        flat = np.asarray(layers, np.float64).reshape(len(layers), H * W, C)
        comp = np.asarray(composite, np.float64).reshape(H * W, C)
        ga = flat[self.lp, self.p] - flat[self.lp, self.q]
        gb = flat[self.lq, self.p] - flat[self.lq, self.q]
        g = 0.5 * (ga + gb)   # same label: ga == gb, its own gradient
        rhs = np.zeros((len(self.unknown), C))
        np.add.at(rhs, self.pos[self.p], g)
        outer = ~self.inner
        np.add.at(rhs, self.pos[self.p[outer]], comp[self.q[outer]])
        out = comp.copy()
        out[self.unknown] = self.lu.solve(rhs)
        return out.reshape(H, W, C).astype(np.float32)


@dataclass
class SeamCost:
    spatial: float    # mean per output frame, per pixel
    temporal: float

    @property
    def total(self) -> float:
        return self.spatial + self.temporal

    def to_dict(self) -> dict:
        return {"spatial": self.spatial, "temporal": self.temporal, "total": self.total}


def _grad(x: np.ndarray) -> np.ndarray:
    """(..., H, W, C) -> (..., H, W, 2C) forward differences (0 at the far edge)."""
    gx = np.zeros_like(x)
    gy = np.zeros_like(x)
    gx[..., :, :-1, :] = x[..., :, 1:, :] - x[..., :, :-1, :]
    gy[..., :-1, :, :] = x[..., 1:, :, :] - x[..., :-1, :, :]
    return np.concatenate([gx, gy], -1)


def seam_cost(frames: np.ndarray, plate: np.ndarray, shown: np.ndarray, sources: np.ndarray) -> SeamCost:
    """The consistency cost of a composed sequence: output frame t shows, per pixel, label shown[t]
    (0 = the plate, r = the frame sources[t, r - 1]). ``frames`` (N, H, W, 3) uint8 or 0..1, ``plate``
    likewise; ``shown`` (T, H, W) or one (H, W) for all. A whole-frame walk: shown all 1, sources (T, 1)."""
    x = np.asarray(frames)
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    x = x.astype(np.float32) / scale
    pl = np.asarray(plate, np.float32) / scale
    sources = np.asarray(sources, np.int64)
    T, R = sources.shape
    N, H, W = x.shape[:3]
    shown = np.broadcast_to(np.asarray(shown, np.int64), (T, H, W))
    flat = x.reshape(N, H * W, -1)
    plate_flat = pl.reshape(H * W, -1)
    grads = _grad(x).reshape(N, H * W, -1)
    spatial = temporal = 0.0
    for t in range(T):
        bp, bq = border_pairs(shown[t])
        if len(bp):
            lab = shown[t].ravel()
            la, lb = lab[bp], lab[bq]
            layers = np.concatenate([plate_flat[None], flat[sources[t]]])
            da = layers[la, bp] - layers[la, bq]
            db = layers[lb, bp] - layers[lb, bq]
            spatial += float(((da - db) ** 2).sum())
        if t + 1 < T:
            for r in range(R):
                s, s2 = int(sources[t, r]), int(sources[t + 1, r])
                expect = min(s + 1, N - 1)
                if s2 == expect:
                    continue
                m = ((shown[t] == r + 1) | (shown[t + 1] == r + 1)).ravel()
                temporal += float(((grads[expect, m] - grads[s2, m]) ** 2).sum())
    return SeamCost(spatial / (T * H * W), temporal / (max(T - 1, 1) * H * W))
