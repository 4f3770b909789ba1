"""The static scene in world space: every sample's pixels that no moving object covers.

Unprojected through each sample's own camera, so a camera anywhere along the
shot's path sees what any sample saw, including ground a moving object hid in
one frame and uncovered in another. De-duplicated on a voxel grid of the finest
footprint (``clouds.voxel_dedupe``), each point with the median colour of its voxel over
the samples (an object's shadow, seen in some samples only, is not the static scene). Pixels with no depth (the world
background, "sky") are not points: their colour is kept as one ``sky`` value
(median), for what no point covers.
"""

from __future__ import annotations

import numpy as np

from .clouds import Cloud, sample_points, view_directions, voxel_dedupe


def background_cloud(rgb, depth, ids, moving: list, Ks, cameras, voxel_scale: float = 1.0) -> Cloud:
    """The world-space cloud of all samples' pixels whose id is not a moving object."""
    from scipy.ndimage import binary_dilation
    pts, cols, sizes, views = [], [], [], []
    for i in range(len(rgb)):
        # next to a moving object a pixel is anti-aliased with it: not the static scene's colour
        still = ~binary_dilation(np.isin(ids[i], moving)) if ids is not None else np.ones(depth[i].shape, bool)
        world, col, size = sample_points(rgb[i], depth[i], still, Ks[i], cameras[i])
        pts.append(world)
        cols.append(col)
        sizes.append(size)
        views.append(view_directions(world, cameras[i]))
    p, c, s = np.concatenate(pts), np.concatenate(cols), np.concatenate(sizes)
    if not len(p):
        return Cloud.empty()
    # median colour per voxel: the static scene without the shadows objects cast in some samples
    return voxel_dedupe(p, c, s, np.concatenate(views), voxel_scale * float(np.percentile(s, 5)), median_color=True)


def sky_color(rgb, depth) -> np.ndarray:
    """Median sRGB colour (3,) float32 of the pixels with no depth (0 when there are none)."""
    sky = ~np.isfinite(depth)
    if not sky.any():
        return np.zeros(3, np.float32)
    return np.median(rgb[sky].reshape(-1, 3), axis=0).astype(np.float32)
