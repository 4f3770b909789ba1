"""Find independently moving regions in footage (no object ids, a still camera).

Footage larger than about 48 pixels on its short side is first reduced (box
average) to that, so every size gives the same regions (and noise averages
out); the labels are then scaled back.

1. **Activity**: per pixel, how far it strays from its temporal median (the
   97th percentile over frames of the largest channel difference: a place a
   thing visits in 3 % of the frames still moves). Pixels above a threshold
   (a floor, or a few times the noise of the quietest pixels) move; the rest
   is the static background.
2. **Cells**: a coarse grid (24 cells across the short side); a cell is
   active when enough of its pixels are.
3. **Correlation**: neighbouring active cells belong together when their
   temporal signals agree in a phase-free way: the magnitude spectrum of each
   cell's pixels over time (a thing looping every 12 frames gives every cell
   it crosses the same harmonics, whatever its phase there; another looping
   every 17 frames gives others). Connected components of that graph, then
   touching components with alike mean spectra merged, most alike first;
   slivers (under a tenth of the largest) where two sweeps meet join the
   touching one they are most like. So two things whose sweeps touch are
   still told apart. Components whose self-similarity matrices (the
   distance between a component's pixels in every pair of frames) correlate
   above ``merge_correlation`` are one thing: an object and a shadow cast a
   little apart. A shadow touching its object moves with it and is in its
   component.
4. **Tiny regions** (under ``min_cells`` cells) join the nearest region.
5. **Masks** are fixed: each region's mask is its cells, grown by ``margin``
   pixels into the background, so it covers all its motion and shadow sweep.
   Where sweeps overlap, ``sprites.py`` decides per frame which region a
   moving pixel shows.

The result is a label image (0 = background, 1..R = regions, a partition of
the frame) and each region's activity (mean temporal deviation), which
``dynamism`` ranks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTIVE_FLOOR = 0.05         # a pixel straying less than 5 % of full scale from its median is still
NOISE_FACTOR = 4.0          # ... or less than this many times the noise of the quietest fifth of pixels
CELL_ACTIVE_SHARE = 0.15    # a cell moves when this share of its pixels does
MERGE_CORRELATION = 0.9     # self-similarity correlation above which two components are one thing
SPECTRUM_CORRELATION = 0.9  # neighbouring cells with magnitude spectra correlating above this move together
SPECTRUM_MERGE = 0.8        # touching components whose mean spectra correlate above this are merged
MINOR_SHARE = 0.1           # a component under this share of the largest joins the touching one it is most like
MIN_CELLS = 3               # components smaller than this join the nearest region
CELLS_ACROSS = 24           # grid cells across the short side of the frame
SEGMENT_SHORT_SIDE = 48     # larger footage is reduced (box average) to about this short side to be split


@dataclass
class Regions:
    labels: np.ndarray      # (H, W) int32: 0 = static background, 1..R = regions
    activity: np.ndarray    # (R,) mean temporal deviation of each region's pixels (0..1)
    cell: int               # grid cell size in pixels
    threshold: float        # the activity threshold used

    @property
    def count(self) -> int:
        return int(len(self.activity))

    def mask(self, r: int) -> np.ndarray:
        """(H, W) bool mask of region r (1-based)."""
        return self.labels == r


def pixel_activity(rgb: np.ndarray) -> np.ndarray:
    """(H, W): the 97th percentile over frames of |frame - temporal median| (largest channel), 0..1."""
    x = np.asarray(rgb, np.float32) / 255.0 if np.asarray(rgb).dtype == np.uint8 else np.asarray(rgb, np.float32)
    med = np.median(x, axis=0)
    dev = np.abs(x - med[None]).max(-1)
    return np.percentile(dev, 97, axis=0).astype(np.float32)


def _self_similarity(x: np.ndarray, mask: np.ndarray, max_pixels: int = 2048) -> np.ndarray:
    """Upper triangle of the (N, N) distance matrix between frames, over mask's pixels."""
    pix = np.flatnonzero(mask.ravel())
    if len(pix) > max_pixels:
        pix = pix[np.linspace(0, len(pix) - 1, max_pixels).astype(int)]
    v = x.reshape(len(x), -1, x.shape[-1])[:, pix].reshape(len(x), -1).astype(np.float64)
    sq = (v * v).sum(1)
    d = np.sqrt(np.maximum(sq[:, None] + sq[None] - 2.0 * v @ v.T, 0.0))
    return d[np.triu_indices(len(x), 1)]


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 1e-12 else 0.0


def _cell_spectra(x: np.ndarray, cell: int, gh: int, gw: int) -> np.ndarray:
    """(cells, F) unit-norm, mean-free magnitude spectra of each cell's pixels over time (phase-free)."""
    N, H, W, C = x.shape
    pad = np.zeros((N, gh * cell, gw * cell, C), np.float32)
    pad[:, :H, :W] = x
    sig = pad.reshape(N, gh, cell, gw, cell, C).transpose(1, 3, 0, 2, 4, 5).reshape(gh * gw, N, -1)
    sig = sig - sig.mean(1, keepdims=True)
    spec = np.sqrt((np.abs(np.fft.rfft(sig, axis=1)) ** 2).sum(-1)[:, 1:])
    spec -= spec.mean(1, keepdims=True)
    return spec / np.maximum(np.linalg.norm(spec, axis=1, keepdims=True), 1e-12)


def _spectral_components(x, active, cell, gh, gw, threshold):
    """Components of active cells joined (8-neighbours) where their spectra correlate >= threshold."""
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components
    spec = _cell_spectra(x, cell, gh, gw)
    idx = np.arange(gh * gw).reshape(gh, gw)
    on = active.ravel()
    rows, cols = [], []
    for a, b in ((idx[:, :-1], idx[:, 1:]), (idx[:-1], idx[1:]), (idx[:-1, :-1], idx[1:, 1:]),
                 (idx[:-1, 1:], idx[1:, :-1])):
        a, b = a.ravel(), b.ravel()
        ok = on[a] & on[b] & ((spec[a] * spec[b]).sum(1) >= threshold)
        rows.append(a[ok])
        cols.append(b[ok])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    graph = sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(gh * gw, gh * gw))
    _, lab = connected_components(graph, directed=False)
    lab = np.where(on, lab + 1, 0)
    used = np.unique(lab[on])
    lut = np.zeros(int(lab.max()) + 1, np.int32)
    lut[used] = np.arange(1, len(used) + 1)   # inactive cells stay 0, components 1..n
    return lut[lab].reshape(gh, gw), int(len(used)), spec


def _agglomerate(comp: np.ndarray, n: int, spec: np.ndarray, threshold: float, minor_share: float):
    """Merge touching components, most alike first, while their mean spectra correlate >= threshold;
    then components under ``minor_share`` of the largest join the touching one they are most like
    (the strip where two things' sweeps meet has a spectrum of both)."""
    labels = comp.copy()
    flat = labels.ravel()
    sums = {c: spec[flat == c].sum(0) for c in range(1, n + 1)}
    size = {c: int((flat == c).sum()) for c in range(1, n + 1)}

    def touching():
        pairs = set()
        for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1], labels[1:]), (labels[:-1, :-1], labels[1:, 1:]),
                     (labels[:-1, 1:], labels[1:, :-1])):
            ok = (a > 0) & (b > 0) & (a != b)
            pairs |= {(min(u, v), max(u, v)) for u, v in zip(a[ok].tolist(), b[ok].tolist())}
        return pairs

    def like(a, b):
        u, v = sums[a], sums[b]
        return float(u @ v / max(np.linalg.norm(u) * np.linalg.norm(v), 1e-12))

    def merge(a, b):
        labels[labels == b] = a
        sums[a] = sums[a] + sums.pop(b)
        size[a] += size.pop(b)

    while True:
        pairs = touching()
        best = max(pairs, key=lambda p: like(*p), default=None)
        if best is None or like(*best) < threshold:
            break
        merge(*best)
    while len(size) > 1:
        largest = max(size.values())
        minor = [c for c in size if size[c] < minor_share * largest]
        pairs = [p for p in touching() if p[0] in minor or p[1] in minor]
        if not pairs:
            break
        a, b = max(pairs, key=lambda p: like(*p))
        small, other = (a, b) if size[a] <= size[b] else (b, a)
        merge(other, small)
    used = sorted(size)
    lut = np.zeros(int(labels.max()) + 1, np.int32)
    lut[used] = np.arange(1, len(used) + 1)
    return lut[labels], len(used)


def find_regions(rgb: np.ndarray, cell: int = 0, margin: int = -1, merge_correlation: float = MERGE_CORRELATION,
                 min_cells: int = MIN_CELLS, spectrum_correlation: float = SPECTRUM_CORRELATION) -> Regions:
    """Regions of frames rgb (N, H, W, 3) (uint8 or float in [0, 1]); see the module docstring.
    ``cell`` 0 = automatic; ``margin`` -1 = one cell."""
    from scipy import ndimage
    x = np.asarray(rgb)
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    N, H, W = x.shape[:3]
    factor = max(1, min(H, W) // SEGMENT_SHORT_SIDE)
    if factor > 1:   # found at about 48 pixels on the short side, whatever the size: the same regions
        h, w = H // factor, W // factor
        small = x[:, :h * factor, :w * factor].reshape(N, h, factor, w, factor, -1).mean((2, 4))
        found = find_regions(small, cell, -1 if margin < 0 else max(0, margin // factor), merge_correlation,
                             min_cells, spectrum_correlation)
        up = np.kron(found.labels, np.ones((factor, factor), np.int32))
        labels = np.pad(up, ((0, H - up.shape[0]), (0, W - up.shape[1])), mode="edge")   # rows the reduction dropped
        return Regions(labels, found.activity, found.cell * factor, found.threshold)
    act = pixel_activity(x)
    noise = float(np.percentile(act, 20))
    thr = max(ACTIVE_FLOOR, NOISE_FACTOR * noise)
    cell = int(cell) or max(1, min(H, W) // CELLS_ACROSS)
    margin = cell if margin < 0 else int(margin)
    gh, gw = -(-H // cell), -(-W // cell)
    pad = np.zeros((gh * cell, gw * cell), np.float32)
    pad[:H, :W] = act > thr
    share = pad.reshape(gh, cell, gw, cell).mean((1, 3))
    active = share >= CELL_ACTIVE_SHARE
    closed = ndimage.binary_closing(active, np.ones((3, 3), bool)) & ~active   # gaps: joined below
    comp, n, spec = _spectral_components(x, active, cell, gh, gw, spectrum_correlation)
    comp, n = _agglomerate(comp, n, spec, SPECTRUM_MERGE, MINOR_SHARE)
    sizes = np.bincount(comp.ravel(), minlength=n + 1)
    to_pixels = lambda g: np.kron(g, np.ones((cell, cell), g.dtype))[:H, :W]   # noqa: E731
    # correlated components are one thing (an object and its detached shadow)
    big = [c for c in range(1, n + 1) if sizes[c] >= min_cells]
    parent = {c: c for c in big}
    if N >= 3 and len(big) > 1:
        sims = {c: _self_similarity(x, to_pixels(comp == c)) for c in big}
        for i, a in enumerate(big):
            for b in big[i + 1:]:
                if _correlation(sims[a], sims[b]) >= merge_correlation:
                    ra, rb = parent[a], parent[b]
                    while parent[ra] != ra:
                        ra = parent[ra]
                    while parent[rb] != rb:
                        rb = parent[rb]
                    parent[max(ra, rb)] = min(ra, rb)

    def root(c):
        while parent[c] != c:
            c = parent[c]
        return c

    grid = np.zeros((gh, gw), np.int32)
    for c in big:
        grid[comp == c] = root(c)
    if big:   # tiny components and closed gaps join the nearest region
        small = ((comp > 0) | closed) & (grid == 0)
        if small.any():
            _, (iy, ix) = ndimage.distance_transform_edt(grid == 0, return_indices=True)
            grid[small] = grid[iy, ix][small]
    roots = sorted(set(np.unique(grid).tolist()) - {0})
    relabel = np.zeros(max(roots, default=0) + 1, np.int32)
    for r, c in enumerate(roots, 1):
        relabel[c] = r
    labels = to_pixels(relabel[grid])
    if margin > 0 and roots:   # grow into the background only: masks stay a partition
        dist, (iy, ix) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
        grow = (labels == 0) & (dist <= margin)
        labels[grow] = labels[iy, ix][grow]
    dev_mean = np.abs(x - np.median(x, 0)[None]).max(-1).mean(0)
    activity = np.array([float(dev_mean[labels == r].mean()) for r in range(1, len(roots) + 1)], np.float32)
    return Regions(labels.astype(np.int32), activity, cell, thr)
