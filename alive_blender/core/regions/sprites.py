"""Which region each moving pixel of each captured frame belongs to: regions as layered sprites.

Region masks (``segment.py``) are a partition of the frame, but two things'
sweeps may overlap (a sphere swinging in front of a cube's path, the cube's
shadow falling where the sphere passes). So a region is not its mask: in
frame s, region r is the *foreground* (pixels that differ from the plate,
grown by a pixel) whose connected blob lies mostly in r's mask, wherever the
blob reaches. A blob shared by two regions (the things touch or overlap in
that frame) is split along the masks and the frame is marked *shared* for
them; the composer then shows such a region from another frame with the same
pose where it stands alone, when there is one (like object layers' pose
representatives). A thing's shadow is part of its blob: it moves with it.

The painting order is far to near: a region lower in the frame stands nearer
(things on a ground plane), so it is drawn last.
"""

from __future__ import annotations

import numpy as np

FOREGROUND = 0.04   # max-channel difference from the plate (0..1) above which a pixel shows a thing
SHARED = 0.2        # a blob with at least this share in a second region's mask may be shared ...
MERGED = 1.4        # ... when it is this much larger than its region's usual blob (two things touching)
GROW = 1            # foreground grown by this many pixels (anti-aliased edges, soft shadow borders)
POSE_TOLERANCE = 1e-4
CLAIM = 0.5         # share of a looping region's period-multiples that must agree to claim a pixel
PERIODIC = 0.35     # a region loops when it repeats this much better at its period than on average


def region_periods(frames: np.ndarray, labels: np.ndarray, max_share: float = PERIODIC) -> np.ndarray:
    """(R,) each region's loop period in frames (0 = it does not loop): the lag (2 .. N/2) at which
    its mask's pixels repeat best, when their mean difference there is under ``max_share`` of the
    mean over all lags (the per-pixel loop period of Liao et al. 2013, per region)."""
    x = np.asarray(frames)
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    N = len(x)
    out = np.zeros(int(labels.max()), np.int64)
    if N < 6:
        return out
    for r in range(1, len(out) + 1):
        v = x[:, labels == r].reshape(N, -1)
        lags = np.arange(2, N // 2 + 1)
        diff = np.array([np.abs(v[p:] - v[:-p]).mean() for p in lags])
        # the shortest lag that repeats (nearly) as well as the best: 12, not its multiple 24
        best = int(np.flatnonzero(diff <= diff.min() * 1.25 + 1e-6)[0])
        if diff[best] < max_share * max(float(diff.mean()), 1e-12):
            out[r - 1] = int(lags[best])
    return out


def ownership(frames: np.ndarray, plate: np.ndarray, labels: np.ndarray, foreground: float = FOREGROUND):
    """(owner (N, H, W) uint8: the region each pixel of each frame shows, 0 = the plate;
    shared (N, R) bool: the region touches another in that frame (its blob was split, or their pixels
    meet); periods (R,): each region's loop period, 0 = none, see ``region_periods``).

    A blob belongs to the region holding most of it. It is *shared* (the things of two regions touch
    in that frame) when it is much larger than that region's usual blob (MERGED x the median of its
    largest blob per frame) and at least SHARED of it lies in another region's mask: then it is split
    along the masks."""
    from scipy import ndimage
    x = np.asarray(frames)
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    pl = np.asarray(plate, np.float32) / scale
    N = len(x)
    R = int(labels.max())
    inside = labels > 0
    found = []
    for s in range(N):
        raw = (np.abs(x[s].astype(np.float32) / scale - pl).max(-1) > foreground) & inside
        fg = ndimage.binary_dilation(raw, np.ones((3, 3), bool), GROW) & inside if GROW else raw
        blobs, n = ndimage.label(fg, np.ones((3, 3), int))
        counts = np.bincount(blobs.ravel() * (R + 1) + labels.ravel(), minlength=(n + 1) * (R + 1)).reshape(n + 1, R + 1)
        counts[:, 0] = 0
        found.append((blobs, counts, raw))
    periods = region_periods(x, labels)
    largest = [[] for _ in range(R + 1)]
    for blobs, counts, _ in found:
        sizes, main = counts.sum(1), counts.argmax(1)
        for r in range(1, R + 1):
            mine = sizes[1:][main[1:] == r]
            if len(mine):
                largest[r].append(mine.max())
    usual = np.array([np.median(v) if v else np.inf for v in largest])
    owner = np.zeros((N,) + labels.shape, np.uint8)
    shared = np.zeros((N, R), bool)
    for s, (blobs, counts, raw) in enumerate(found):
        sizes, main = counts.sum(1), counts.argmax(1)
        share = counts / np.maximum(sizes[:, None], 1)
        split = (sizes > MERGED * usual[main]) & ((share >= SHARED).sum(1) >= 2)
        split[0] = False
        lut = main.astype(np.uint8)
        lut[0] = 0
        own = lut[blobs]
        cut = split[blobs]
        own[cut] = labels[cut]
        if periods.any():   # looping regions: a moving pixel is theirs where it repeats one period away
            own = _claim_by_period(x, s, periods, labels, raw, own, foreground)
        ring = (own > 0) & ~raw   # the grown border goes with the thing it borders, not a claim of its own
        if ring.any() and raw.any():
            _, (iy, ix) = ndimage.distance_transform_edt(~raw, return_indices=True)
            own[ring] = own[iy, ix][ring]
        owner[s] = own
        for b in np.flatnonzero(split):
            shared[s, np.flatnonzero(share[b, 1:] >= SHARED)] = True
        for a, b in ((own[:, :-1], own[:, 1:]), (own[:-1], own[1:])):   # two regions' pixels touch
            touch = (a > 0) & (b > 0) & (a != b)
            shared[s, np.unique(np.concatenate([a[touch], b[touch]])).astype(int) - 1] = True
    return owner, shared, periods


def _claim_by_period(x, s, periods, labels, moving, own, threshold):
    """Owner of frame s's moving pixels for looping regions: region r's claim on a pixel is the share of
    the frames a whole number of its periods away that show it the same (its thing comes back there;
    another thing, on its own period, is elsewhere then). A pixel goes to the strongest claim of at
    least CLAIM; pixels no looping region claims keep ``own``."""
    N = len(x)
    frame = x[s].astype(np.float32)
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    score = np.zeros((len(periods),) + labels.shape, np.float32)
    for r, p in enumerate(periods, 1):
        if not p:
            continue
        others = [t for t in range(s % p, N, p) if t != s]
        for t in others:
            score[r - 1] += np.abs(frame - x[t].astype(np.float32)).max(-1) / scale <= threshold
        score[r - 1] /= max(len(others), 2)   # one other frame alone is no evidence
    best = score.max(0)
    claimed = moving & (best >= CLAIM)
    out = own.copy()
    out[claimed] = (np.argmax(score, 0) + 1)[claimed]
    return out


def painting_order(labels: np.ndarray) -> np.ndarray:
    """Region numbers (1..R) far to near: by the mean row of their masks, top first."""
    R = int(labels.max())
    rows = np.arange(labels.shape[0])[:, None]
    mean_row = [float((rows * (labels == r)).sum() / max((labels == r).sum(), 1)) for r in range(1, R + 1)]
    return np.argsort(mean_row, kind="stable").astype(np.int64) + 1


def representatives(features: np.ndarray, shared: np.ndarray, periods=None) -> np.ndarray:
    """(N, R): for each frame and region, a frame with the same pose where the region stands alone (not
    ``shared``), when there is one; else the frame itself. Same pose: a whole number of the region's
    loop period away (``periods``), or for a region that does not loop, equal features (R, N, P)."""
    R, N, _ = features.shape
    rep = np.tile(np.arange(N)[:, None], (1, R))
    for r in range(R):
        p = int(periods[r]) if periods is not None else 0
        for s in np.flatnonzero(shared[:, r]):
            if p:
                same = np.arange(s % p, N, p)
            else:
                same = np.flatnonzero(np.abs(features[r] - features[r, s]).max(1) <= POSE_TOLERANCE)
            clean = same[~shared[same, r]]
            if len(clean):
                rep[s, r] = clean[np.argmin(np.abs(clean - s))]
    return rep
