"""Shadows and other shading carried with an object, in 3-D.

In a sample, a static-scene pixel that differs from the shadow-free
background (the plate: the background cloud with median colours, seen from
that sample's camera) by more than ``SHADE_THRESHOLD`` and lies near a
moving object is that object's shading (its shadow, contact darkening,
bounce light), as in ``models/layers.py``: stored as the ratio frame / plate
and given to the nearest moving object. Moved into the object's own frame
(the pixel's world point under the inverse of the object's matrix), it
travels with the object: an object drawn at a new pose darkens the surface
where its carried shadow lands (a translation over a floor moves the shadow
with it; how the light would change it under rotation is not modelled).
"""

from __future__ import annotations

import numpy as np

from ..camera import unproject_masked
from .clouds import pixel_footprints

SHADE_THRESHOLD = 0.04   # ratio to the plate beyond 1 +- this is an object's shading (layers.py's rule)
REACH = 0.2              # fraction of the frame's larger side: how far from an object its shading may lie
SURFACE_TOLERANCE = 0.03  # relative depth: a carried shadow point darkens only the surface it lies on


def shading_owner(rgb: np.ndarray, plate: np.ndarray, ids: np.ndarray, hole: np.ndarray, depth: np.ndarray):
    """(ratio (H, W, 3) float32, owner (H, W) int32: the moving object id whose shading each pixel is, 0 none)."""
    from scipy.ndimage import binary_opening, distance_transform_edt, median_filter
    # the splatted plate has speckles (neighbouring points seen from other views): a shadow is larger
    plate = median_filter(np.asarray(plate, np.float32), size=(3, 3, 1))
    ratio = (rgb.astype(np.float32) + 1.0) / (plate + 1.0)
    owner = np.zeros(ids.shape, np.int32)
    covered = ids > 0
    if not covered.any():
        return ratio, owner
    dist, (iy, ix) = distance_transform_edt(~covered, return_indices=True)
    differs = (np.abs(ratio - 1.0).max(-1) > SHADE_THRESHOLD) & ~hole & np.isfinite(depth)
    differs &= dist <= REACH * max(ids.shape)
    # a shadow is a blob beside its object; isolated specks are the plate's own noise, not shading
    differs = binary_opening(differs, structure=np.ones((2, 2), bool))
    owner[differs] = ids[iy, ix][differs]
    return ratio, owner


def shade_points(ratios, owners, depth, oid: int, Ks, cameras, matrices):
    """The shading of object ``oid`` in each sample, in its own frame: (points (P, 3), ratios (P, 3)
    darkening only, footprints (P,), sample (P,)). Kept per sample, not fused: the shadow of a
    turning object turns with the light, not with the object, so a new frame takes the shading
    of the sample whose pose is nearest."""
    pts, rat, sizes, sample = [], [], [], []
    for i in range(len(owners)):
        sel = owners[i] == oid
        if not sel.any():
            continue
        world = unproject_masked(depth[i], sel, Ks[i], cameras[i])
        local = np.linalg.inv(np.asarray(matrices[i], np.float64))
        pts.append(world @ local[:3, :3].T + local[:3, 3])
        rat.append(np.minimum(ratios[i][sel], 1.0))   # darkening only (a brighter pixel is plate noise)
        sizes.append(pixel_footprints(depth[i][sel], Ks[i]))
        sample.append(np.full(int(sel.sum()), i, np.int32))
    if not pts:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32)
    return (np.concatenate(pts).astype(np.float32), np.concatenate(rat).astype(np.float32),
            np.concatenate(sizes).astype(np.float32), np.concatenate(sample))


def nearest_pose_sample(matrices: np.ndarray, pose: np.ndarray) -> int:
    """The sample whose world matrix (rotation first, then position) is nearest ``pose``."""
    m = np.asarray(matrices, np.float64)
    rot = np.abs(m[:, :3, :3] - np.asarray(pose)[:3, :3]).reshape(len(m), -1).max(1)
    pos = np.linalg.norm(m[:, :3, 3] - np.asarray(pose)[:3, 3], axis=1)
    return int(np.lexsort((pos, np.round(rot, 3)))[0])


def apply_shade(img: np.ndarray, z: np.ndarray, ratio: np.ndarray, ratio_depth: np.ndarray) -> None:
    """Multiply ``img`` by a splatted shading image where it lies on the surface (in place)."""
    on = np.isfinite(ratio_depth) & np.isfinite(z)
    on[on] = np.abs(ratio_depth[on] - z[on]) <= SURFACE_TOLERANCE * z[on]
    img[on] *= ratio[on]
