"""Object clouds: each moving object's pixels from every sample, in its own frame.

A pixel of object o in sample i is unprojected through that sample's camera
(``camera.unproject``: planar depth, K, world_from_camera) and moved into the
object's frame with the inverse of its captured world matrix. A rigid object
then has every side any sample saw in one cloud; drawing it at a world matrix
P is ``P @ point``. Points are de-duplicated on a voxel grid (the size of the
finest pixel footprint that saw the object), keeping, per voxel, the point
seen closest up (the sharpest colour). Every point keeps its footprint (the
width in scene units of the pixel it came from) so the composer can size its
splat in another camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..camera import unproject_masked


@dataclass
class Cloud:
    """A coloured point cloud: positions (P, 3) float32 (object frame for an object
    cloud, world for the background), sRGB colours (P, 3) uint8, footprints (P,)
    float32 (scene units: the point's patch of surface, what its splat covers),
    views (P, 3) float32: the unit direction from the point to the camera that saw
    it (in the cloud's frame; shading such as Workbench's studio light depends on
    it, so the composer prefers points seen from a direction near its own);
    rim (P,) bool: the point came from the rim of its object's mask (a pixel only
    partly covered: its patch reaches past the silhouette, so it is drawn smaller);
    seen (P,) bool: a sample saw it (False: added from the object's surface where no
    sample looked, ``world/completion.py``)."""
    points: np.ndarray
    colors: np.ndarray
    sizes: np.ndarray
    views: np.ndarray
    rim: np.ndarray = None
    seen: np.ndarray = None

    def __post_init__(self):
        if self.rim is None:
            self.rim = np.zeros(len(self.points), bool)
        if self.seen is None:
            self.seen = np.ones(len(self.points), bool)

    def __len__(self) -> int:
        return len(self.points)

    @staticmethod
    def empty() -> "Cloud":
        return Cloud(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8), np.zeros(0, np.float32),
                     np.zeros((0, 3), np.float32), np.zeros(0, bool))

    def patches(self, scale: float) -> np.ndarray:
        """Per point its cell (an index) on a grid ``scale`` times the cloud's finest footprint: the
        points of one small patch of surface, whichever directions they were seen from (kept)."""
        cache = self.__dict__.setdefault("_patches", {})
        if scale not in cache:
            if not len(self.points):
                cache[scale] = np.zeros(0, np.int64)
            else:
                cell = np.floor(self.points / max(float(self.sizes.min()) * scale, 1e-9)).astype(np.int64)
                cell -= cell.min(0)
                span = cell.max(0) + 1
                if float(np.prod(span.astype(np.float64))) < 2.0 ** 62:   # one integer a cell: rows sort slowly
                    cell = np.ravel_multi_index(cell.T, span)
                cache[scale] = np.unique(cell, axis=0 if cell.ndim == 2 else None,
                                         return_inverse=True)[1].reshape(-1)
        return cache[scale]

    def transformed(self, matrix: np.ndarray) -> np.ndarray:
        """World positions (P, 3) of the points under a 4x4 world matrix."""
        m = np.asarray(matrix, np.float64)
        return (self.points.astype(np.float64) @ m[:3, :3].T + m[:3, 3]).astype(np.float32)

    def transformed_views(self, matrix: np.ndarray, which=None) -> np.ndarray:
        """View directions (P, 3) under a 4x4 world matrix (rotation only, renormalised); ``which``:
        of those points only."""
        v = (self.views if which is None else self.views[which]).astype(np.float64) @ \
            np.asarray(matrix, np.float64)[:3, :3].T
        return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def scaled_sizes(self, matrix: np.ndarray) -> np.ndarray:
        """Footprints under a world matrix (object scale makes patches larger)."""
        m = np.asarray(matrix, np.float64)
        return (self.sizes * float(np.cbrt(abs(np.linalg.det(m[:3, :3]))) or 1.0)).astype(np.float32)


def pixel_footprints(depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Width in scene units of each pixel's patch at its depth (planar depth / focal length)."""
    return (np.asarray(depth, np.float64) / float(np.sqrt(K[0, 0] * K[1, 1]))).astype(np.float32)


VIEW_BINS = 4   # view directions are told apart on a grid of 1 / VIEW_BINS (about 15 degrees)


def direction_bins(views: np.ndarray) -> np.ndarray:
    """A bin per view direction (unit vectors on a grid of 1 / VIEW_BINS, as one integer): a point
    seen from clearly different directions keeps a colour for each (specular and Fresnel
    shading, Workbench's studio light), and the composer picks the nearest."""
    q = np.round(np.asarray(views, np.float64) * VIEW_BINS).astype(np.int64) + VIEW_BINS
    return (q[:, 0] * (2 * VIEW_BINS + 1) + q[:, 1]) * (2 * VIEW_BINS + 1) + q[:, 2]


def voxel_dedupe(points, colors, sizes, views, voxel: float, rim=None, median_color: bool = False) -> Cloud:
    """One point per voxel of edge ``voxel`` and view direction (``direction_bins``): an interior point before
    a rim point, then the one with the smallest footprint (seen closest). A surface seen from
    opposite sides keeps a point for each. ``median_color``: the kept point takes the colour of
    median brightness among all that fell in its voxel (a shadow seen in a few samples goes)."""
    if len(points) == 0:
        return Cloud.empty()
    rim = np.zeros(len(points), bool) if rim is None else np.asarray(rim, bool)
    order = np.lexsort((sizes, rim))
    keys = np.floor(points[order] / max(float(voxel), 1e-9)).astype(np.int64)
    keys = np.concatenate([keys, direction_bins(views[order])[:, None]], 1)
    keys -= keys.min(0)
    span = keys.max(0) + 1
    if float(np.prod(span.astype(np.float64))) < 2.0 ** 62:
        # one integer per key: np.unique on rows (axis=0) sorts them as raw bytes, ~20x slower at
        # 1280x720; the kept points are the same (the result is put in ``first`` order below)
        keys = np.ravel_multi_index(keys.T, span)
    _, first, inverse = np.unique(keys, axis=0 if keys.ndim == 2 else None, return_index=True,
                                  return_inverse=True)
    keep = order[first]
    cols = colors[keep].astype(np.uint8)
    if median_color:
        inverse = inverse.reshape(-1)
        lum = colors[order].astype(np.float32).sum(1)
        by = np.lexsort((lum, inverse))                       # grouped by voxel, darkest first
        start = np.searchsorted(inverse[by], np.arange(len(first)))
        count = np.bincount(inverse, minlength=len(first))
        cols = colors[order][by[start + count // 2]].astype(np.uint8)
    srt = np.argsort(first)
    keep, cols = keep[srt], cols[srt]
    return Cloud(points[keep].astype(np.float32), cols, sizes[keep].astype(np.float32),
                 views[keep].astype(np.float32), rim[keep])


def view_directions(world: np.ndarray, world_from_camera: np.ndarray) -> np.ndarray:
    """Unit vectors from world points (P, 3) to the camera centre."""
    d = np.asarray(world_from_camera, np.float64)[:3, 3] - world
    return d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)


def sample_points(rgb, depth, mask, K, world_from_camera):
    """World positions, colours and footprints of the pixels of one sample under ``mask``."""
    keep = mask & np.isfinite(depth) & (depth > 0)
    if not keep.any():
        return np.zeros((0, 3)), np.zeros((0, 3), np.uint8), np.zeros(0, np.float32)
    world = unproject_masked(depth, keep, K, world_from_camera)
    return world, rgb[keep], pixel_footprints(depth[keep], K)


def interior_colors(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """rgb with the mask's rim pixels coloured like the nearest interior pixel: a rim pixel
    is anti-aliased with what lies behind it, a colour that is wrong from any other view."""
    from scipy.ndimage import binary_erosion, distance_transform_edt
    inner = binary_erosion(mask)
    if not inner.any() or inner.sum() == mask.sum():
        return rgb
    # within the mask's box and a pixel around it (the whole 1280x720 frame per object and sample was slow)
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    box = (slice(max(rows[0] - 1, 0), rows[-1] + 2), slice(max(cols[0] - 1, 0), cols[-1] + 2))
    _, (iy, ix) = distance_transform_edt(~inner[box], return_indices=True)
    out = rgb.copy()
    rim = (mask & ~inner)[box]
    out[box][rim] = rgb[box][iy[rim], ix[rim]]
    return out


def object_cloud(rgb, depth, ids, oid: int, Ks, cameras, matrices, samples=None, voxel_scale: float = 1.0) -> Cloud:
    """The fused cloud of object ``oid`` in its own frame.

    rgb (N, H, W, 3) uint8, depth (N, H, W), ids (N, H, W); Ks (N, 3, 3),
    cameras (N, 4, 4) world_from_camera, matrices (N, 4, 4) the object's world
    matrix per sample; ``samples``: which samples to fuse (default all)."""
    from scipy.ndimage import binary_erosion
    pts, cols, sizes, views, rims = [], [], [], [], []
    for i in (range(len(rgb)) if samples is None else samples):
        mask = ids[i] == oid
        world, col, size = sample_points(interior_colors(rgb[i], mask), depth[i], mask, Ks[i], cameras[i])
        if not len(world):
            continue
        rims.append((mask & ~binary_erosion(mask))[mask & np.isfinite(depth[i]) & (depth[i] > 0)])
        local = np.linalg.inv(np.asarray(matrices[i], np.float64))
        pts.append(world @ local[:3, :3].T + local[:3, 3])
        v = view_directions(world, cameras[i]) @ local[:3, :3].T
        views.append(v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12))
        cols.append(col)
        # footprints move into the object's frame with its scale
        sizes.append(size / float(np.cbrt(abs(np.linalg.det(np.asarray(matrices[i])[:3, :3]))) or 1.0))
    if not pts:
        return Cloud.empty()
    p, c, s = np.concatenate(pts), np.concatenate(cols), np.concatenate(sizes)
    return voxel_dedupe(p, c, s, np.concatenate(views), voxel_scale * float(np.min(s)), np.concatenate(rims))

