"""Which pixels of a sample are a moving object's shading (its shadow, contact darkening).

In a sample, a static-scene pixel that differs from the shadow-free
background (the plate: per pixel the median of the samples through that
sample's camera that saw the static scene free there; the background cloud
only where none did) by more than ``SHADE_THRESHOLD`` and lies near a
moving object is that object's shading (its shadow, contact darkening,
bounce light), as in ``models/layers.py``: the ratio frame / plate, given to
the nearest moving object. An object drawn at a new pose takes the shading of
the sample it is warped from, moved over the static surface with it
(``shadow_warp.py``; how the light would change it under rotation is not
modelled)."""

from __future__ import annotations

import numpy as np


SHADE_THRESHOLD = 0.04   # ratio to the plate beyond 1 +- this is an object's shading (layers.py's rule)
EDGE_GROW = 0.02         # fraction of the frame's larger side: how far a shadow's faint edge is followed
REACH = 0.2              # fraction of the frame's larger side: how far from an object its shading may lie
SURFACE_TOLERANCE = 0.03  # relative depth: a moved shadow darkens only the surface the sample saw it on


def shading_owner(rgb: np.ndarray, plate: np.ndarray, ids: np.ndarray, hole: np.ndarray, depth: np.ndarray,
                  exact=None):
    """(ratio (H, W, 3) float32, owner (H, W) int32: the moving object id whose shading each pixel is, 0 none).
    ``exact`` (H, W): where the plate is a render's own pixels through this camera (not splatted)."""
    from scipy.ndimage import binary_dilation, binary_opening, distance_transform_edt, median_filter
    # a splatted plate has speckles (neighbouring points seen from other views): a shadow is larger;
    # a render's own pixels are kept as they are (filtered, a floor's checker edges would read as shading)
    plate = np.asarray(plate, np.float32)
    smooth_at = ~np.asarray(hole, bool) if exact is None else ~np.asarray(exact, bool) & ~np.asarray(hole, bool)
    if smooth_at.any():   # only the box round where it is read (a 1280x720 plate's filter took 0.15 s a sample)
        rows, cols = np.flatnonzero(smooth_at.any(1)), np.flatnonzero(smooth_at.any(0))
        y0, y1 = max(0, rows[0] - 1), min(plate.shape[0], rows[-1] + 2)
        x0, x1 = max(0, cols[0] - 1), min(plate.shape[1], cols[-1] + 2)
        smooth = median_filter(plate[y0:y1, x0:x1], size=(3, 3, 1))
        plate = plate.copy()
        box = plate[y0:y1, x0:x1]
        sel = smooth_at[y0:y1, x0:x1]
        box[sel] = smooth[sel]
    ratio = (rgb.astype(np.float32) + 1.0) / (plate + 1.0)
    owner = np.zeros(ids.shape, np.int32)
    covered = ids > 0
    if not covered.any():
        return ratio, owner
    dist, (iy, ix) = distance_transform_edt(~covered, return_indices=True)
    off = np.abs(ratio - 1.0).max(-1)
    near = ~hole & np.isfinite(depth) & (dist <= REACH * max(ids.shape))
    differs = (off > SHADE_THRESHOLD) & near
    # a shadow is a blob beside its object; isolated specks are the plate's own noise, not shading
    differs = binary_opening(differs, structure=np.ones((2, 2), bool))
    # a soft shadow fades out under the threshold at its edge: grown from the shadow into the pixels
    # still off the plate by a quarter of it, a few pixels at most (the penumbra: left out, it stayed
    # in the frame as a faint ring where the object had moved away); only where the plate is a
    # render's own pixels through this camera (against the splatted cloud, or through Cycles' noise
    # from other views, a quarter of the threshold is everywhere: the Cycles pan fell from 87 to 74 %)
    grow = max(2, round(EDGE_GROW * max(ids.shape)))
    if differs.any() and exact is not None:
        differs = binary_dilation(differs, iterations=grow,
                                  mask=near & (off > SHADE_THRESHOLD / 4) & np.asarray(exact, bool))
    owner[differs] = _blob_owners(differs, ids, covered, ids[iy, ix])[differs]
    return ratio, owner


def _blob_owners(differs: np.ndarray, ids: np.ndarray, covered: np.ndarray, nearest: np.ndarray) -> np.ndarray:
    """Whose shading each pixel of ``differs`` is: a connected blob that touches exactly one object
    is that object's (a contact shadow lies against its object: by the nearest object, the far end
    of a ball's shadow went to a cube it reached nearer, and was carried along as a ghost when the cube
    moved); any other blob pixel goes to its ``nearest`` object."""
    from scipy.ndimage import binary_dilation, label
    blobs, n = label(differs)
    out = nearest.copy()
    if n == 0:
        return out
    touch = differs & binary_dilation(covered, iterations=2)
    pairs = np.unique(np.stack([blobs[touch], nearest[touch]], 1), axis=0)   # (blob, object) that touch
    if not len(pairs):
        return out
    blob_ids, counts = np.unique(pairs[:, 0], return_counts=True)
    single = blob_ids[counts == 1]
    to = np.zeros(n + 1, ids.dtype)
    alone = pairs[np.isin(pairs[:, 0], single)]
    to[alone[:, 0]] = alone[:, 1]
    one = to[blobs] > 0
    out[one] = to[blobs][one]
    return out


def nearest_pose_sample(matrices: np.ndarray, pose: np.ndarray) -> int:
    """The sample whose world matrix (rotation first, then position) is nearest ``pose``."""
    m = np.asarray(matrices, np.float64)
    rot = np.abs(m[:, :3, :3] - np.asarray(pose)[:3, :3]).reshape(len(m), -1).max(1)
    pos = np.linalg.norm(m[:, :3, 3] - np.asarray(pose)[:3, 3], axis=1)
    return int(np.lexsort((pos, np.round(rot, 3)))[0])
