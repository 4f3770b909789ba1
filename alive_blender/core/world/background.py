"""The static scene in world space: every sample's pixels that no moving object covers.

Unprojected through each sample's own camera, so a camera anywhere along the
shot's path sees what any sample saw (samples through one and the same camera,
all of a still camera's, give each static pixel once: its median over them), including ground a moving object hid in
one frame and uncovered in another. De-duplicated on a voxel grid of the finest
footprint (``clouds.voxel_dedupe``), each point with the median colour of its voxel over
the samples (an object's shadow, seen in some samples only, is not the static scene). Pixels with no depth (the world
background, "sky") are not points: their colour is kept as one ``sky`` value
(median), for what no point covers.
"""

from __future__ import annotations

import numpy as np

from .camera_path import POSE_TOLERANCE
from .clouds import Cloud, sample_points, view_directions, voxel_dedupe


def background_cloud(rgb, depth, ids, moving: list, Ks, cameras, voxel_scale: float = 1.0, owner=None) -> Cloud:
    """The world-space cloud of all samples' pixels whose id is not a moving object (and, given the
    generator's ``owner`` (N, H, W), that are no object's shading: a shadow most of a camera's samples
    had was otherwise its median, and the bake's floor kept it)."""
    from scipy.ndimage import binary_dilation
    pts, cols, sizes, views = [], [], [], []
    for group in camera_groups(Ks, cameras):
        # next to a moving object a pixel is anti-aliased with it: not the static scene's colour
        still = np.stack([(~binary_dilation(np.isin(ids[i], moving)) if ids is not None
                           else np.ones(depth[i].shape, bool)) & (True if owner is None else owner[i] == 0)
                          for i in group])
        i = group[0]
        if len(group) == 1:
            col, dep, keep = rgb[i], depth[i], still[0]
        else:   # one camera, many samples: each static pixel once, its median over them
            col, dep, keep = _pixel_medians(rgb, depth, group, still)
        world, col, size = sample_points(col, dep, keep, Ks[i], cameras[i])
        pts.append(world)
        cols.append(col)
        sizes.append(size)
        views.append(view_directions(world, cameras[i]))
    p, c, s = np.concatenate(pts), np.concatenate(cols), np.concatenate(sizes)
    if not len(p):
        return Cloud.empty()
    # median colour per voxel: the static scene without the shadows objects cast in some samples
    return voxel_dedupe(p, c, s, np.concatenate(views), voxel_scale * float(np.percentile(s, 5)), median_color=True)


def camera_groups(Ks, cameras) -> list[list[int]]:
    """Samples grouped by camera (the same K and pose): a still camera is one group."""
    flat = np.concatenate([np.asarray(Ks, np.float64).reshape(len(Ks), -1),
                           np.asarray(cameras, np.float64).reshape(len(cameras), -1)], 1)
    groups: dict[int, list[int]] = {}
    for i in range(len(flat)):
        first = int(np.flatnonzero(np.abs(flat[: i + 1] - flat[i]).max(1) <= POSE_TOLERANCE)[0])
        groups.setdefault(first, []).append(i)
    return list(groups.values())


def _pixel_medians(rgb, depth, group: list[int], still: np.ndarray, rows: int = 64):
    """(colour uint8, depth, seen) per pixel: the median over the group's samples where ``still``,
    a band of rows at a time. A 1280x720 shot from a still camera was 48 copies of every static
    point, de-duplicated only at the end (11 GB and most of the build's time)."""
    H, W = depth.shape[1:3]
    col = np.zeros((H, W, 3), np.uint8)
    dep = np.full((H, W), np.inf, np.float32)
    seen = np.zeros((H, W), bool)
    for y in range(0, H, rows):
        band = slice(y, y + rows)
        keep = still[:, band]
        count = keep.sum(0)
        lo, hi = np.maximum(count - 1, 0) // 2, count // 2      # the middle one or two of the kept values

        def median(v):   # left out: +inf, sorted last
            v = np.sort(np.where(keep.reshape(keep.shape + (1,) * (v.ndim - 3)), v, np.inf), axis=0)
            pick = lambda k: np.take_along_axis(v, k.reshape((1,) + k.shape + (1,) * (v.ndim - 3)), 0)[0]  # noqa: E731
            return 0.5 * (pick(lo) + pick(hi))
        c = median(rgb[group, band].astype(np.float32))
        d = median(np.where(np.isfinite(depth[group, band]), depth[group, band], 1e30).astype(np.float64))
        ok = count > 0
        seen[band] = ok
        col[band][ok] = np.clip(np.round(c[ok]), 0, 255).astype(np.uint8)
        dep[band][ok] = np.where(d[ok] >= 1e29, np.inf, d[ok])
    return col, dep, seen


def sky_color(rgb, depth) -> np.ndarray:
    """Median sRGB colour (3,) float32 of the pixels with no depth (0 when there are none)."""
    sky = ~np.isfinite(depth)
    if not sky.any():
        return np.zeros(3, np.float32)
    return np.median(rgb[sky].reshape(-1, 3), axis=0).astype(np.float32)


def static_free(ids: np.ndarray, owner: np.ndarray | None) -> np.ndarray:
    """Where one sample saw the static scene free: no moving object, its anti-aliased rim (a pixel
    next to it) or its shading (``owner`` 0; None: not known yet)."""
    from scipy.ndimage import binary_dilation
    free = ~binary_dilation(ids > 0)
    return free if owner is None else free & (owner == 0)


def shadow_free_plate(rgb, depth, ids, owner, group: list[int]):
    """(colour float32 0..255, seen, depth) of the static scene through one captured camera for telling what
    is an object's shading there: per pixel the median over the samples through it where the pixel is
    free (as ``camera_plate``). A median, so one sample's shadow that its owners missed (part of a soft
    edge) does not become the plate, as ``camera_plate``'s one picked sample can; through one camera
    Cycles' fixed seed gives the free samples the same noise, so the median keeps it."""
    still = np.stack([static_free(ids[i], None if owner is None else owner[i]) for i in group])
    col, dep, seen = _pixel_medians(rgb, depth, group, still)
    return col.astype(np.float32), seen, dep


def camera_plate(rgb, depth, ids, owner, group: list[int]):
    """The static scene through one captured camera from its own samples (``group``, all through it):
    (colour float32 0..255, depth, seen) per pixel. A pixel is free in a sample where no moving object
    covers it or its anti-aliased rim and it is no object's shading (``owner`` 0); it takes **one**
    sample's value, the sample where it lies farthest from anything not free (an object's indirect
    light fades with distance), never a mean or median: a renderer with a fixed seed (Cycles) gives
    every render through that camera the same noise on the static scene, which one sample keeps."""
    from scipy.ndimage import distance_transform_edt
    H, W = depth.shape[1:3]
    best = np.full((H, W), -1.0)
    pick = np.full((H, W), -1, np.int64)
    for i in group:
        free = static_free(ids[i], owner[i])
        if not free.any():
            continue
        dist = distance_transform_edt(free) if not free.all() else np.full((H, W), np.inf)
        better = free & (dist > best)
        best[better] = dist[better]
        pick[better] = i
    seen = pick >= 0
    idx = np.where(seen, pick, group[0])
    yy, xx = np.mgrid[0:H, 0:W]
    col = np.asarray(rgb)[idx, yy, xx].astype(np.float32)
    dep = np.where(seen, np.asarray(depth)[idx, yy, xx], np.inf).astype(np.float32)
    return col, dep, seen


SURFACE = 0.03   # relative depth: a sample's pixel shows the wanted world point when its depth agrees this well


def reprojected_median(want, depth, K, world_from_camera, samples) -> tuple[np.ndarray, np.ndarray]:
    """(colour (H, W, 3) float32, got (H, W)) for the pixels ``want`` of a camera (K, world_from_camera)
    whose static surface lies at planar ``depth``: each world point looked up in every sample that saw
    it free (``samples``: (K, world_from_camera, rgb, depth, free) each; bilinear over the neighbours
    that saw the same surface), the median over them (a shadow some samples had there, which their
    shading masks missed, is not the static scene). Per pixel, not splatted: the background cloud's
    points from many views interleave, and their view-dependent shading reads as hatching."""
    from ..camera import project, unproject_masked
    H, W = want.shape
    out = np.zeros((H, W, 3), np.float32)
    todo = want & np.isfinite(depth)
    if not todo.any():
        return out, todo
    world = unproject_masked(depth, todo, np.asarray(K, np.float64), world_from_camera)
    values = np.full((len(samples), len(world), 3), np.nan, np.float32)
    for j, (Ks, cam, rgb, dep, free) in enumerate(samples):
        h, w = dep.shape
        uv, z = project(world, np.asarray(Ks, np.float64), cam)
        x, y = uv[:, 0] - 0.5, uv[:, 1] - 0.5          # pixel i's centre is at i + 0.5
        x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
        acc = np.zeros((len(z), 3))
        wsum = np.zeros(len(z))
        for dy in (0, 1):
            for dx in (0, 1):
                xi, yi = x0 + dx, y0 + dy
                wt = (1 - np.abs(x - xi)) * (1 - np.abs(y - yi))
                inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h) & (z > 0)
                xi, yi = np.clip(xi, 0, w - 1), np.clip(yi, 0, h - 1)
                ok = inside & free[yi, xi] & (np.abs(dep[yi, xi] - z) <= SURFACE * z)
                acc += np.where(ok, wt, 0.0)[:, None] * rgb[yi, xi]
                wsum += np.where(ok, wt, 0.0)
        hit = wsum > 0.25    # most of the bilinear footprint on the same, free surface
        values[j, hit] = acc[hit] / wsum[hit, None]
    seen = np.isfinite(values[..., 0]).any(0)
    rows, cols = np.nonzero(todo)
    got = np.zeros((H, W), bool)
    if seen.any():
        out[rows[seen], cols[seen]] = np.nanmedian(values[:, seen], axis=0)
        got[rows[seen], cols[seen]] = True
    return out, got
