"""An object's shading at a never-captured pose: the chosen sample's shading image warped over the
static surface (issues 19 and 20).

The shading cloud (``shading.py``) splats a sample's shadow pixels as points: at the new place the
splats leave grey specks and a blotchy edge where a render has one soft shadow. The sample's own
shading image (its pixels over the shadow-free plate, ``ratio``) already is that soft shadow. A
shadow lies on the static surface (floor, platform), so it is moved over that surface: a pixel of
the new frame is a world point on the surface (its depth); the same point less the object's move
along the ground (the light does not move: a shadow keeps its place beside the object) is looked up
in the sample, bilinearly, where the sample saw that same surface. Rotation and a move up or down
change the shadow as the light would, which is not modelled (as with the cloud).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_dilation, map_coordinates

from ..camera import unproject, unproject_masked
from .compose import project_points
from .shading import SURFACE_TOLERANCE

UP = 2   # Blender's world z: a shadow moves with the object's move in x and y only


def shade_image(ratio, owner, ids, oid: int) -> np.ndarray:
    """Object ``oid``'s shading in one sample (H, W, 3), 1 elsewhere: darkening only (a brighter
    pixel is plate noise), continued under the object and its anti-aliased rim from the nearest
    static pixel (a moved object uncovers floor it hid, still in its shadow)."""
    from ..models.layers import _fill_nearest   # lazy: models import world
    r = np.where((owner == oid)[..., None], np.minimum(np.asarray(ratio, np.float32), 1.0), 1.0).astype(np.float32)
    mask = ids == oid
    if not mask.any():
        return r
    # only the object's box and two pixels round it (its dilation, then a ring of pixels that are not
    # hidden: the nearest of those to a hidden pixel lies in it); the whole 1280x720 frame's distance
    # transform per object and sample was a large part of a decode
    ys, xs = np.nonzero(mask)
    box = (slice(max(int(ys.min()) - 2, 0), int(ys.max()) + 3), slice(max(int(xs.min()) - 2, 0), int(xs.max()) + 3))
    hidden = binary_dilation(mask[box])
    # the rim is the object's own edge (a warped object brings it), never its shadow
    r[box] = _fill_nearest(np.where(hidden[..., None], 1.0, r[box]), ~hidden)
    return r


def shade_points(shade, surface, K, camera) -> np.ndarray:
    """World points (P, 3) of the static surface under ``shade``'s darkened pixels (one sample's;
    the same for every pose it is moved to, so worth keeping)."""
    dark = (shade < 1.0).any(-1) & np.isfinite(surface)
    if not dark.any():
        return np.zeros((0, 3))
    return unproject_masked(surface, dark, np.asarray(K, np.float64), np.asarray(camera, np.float64))


def warp_shade(shade, surface, K, camera, shift, z, view, points=None):
    """``shade`` (one sample's shading image, its static ``surface`` depth, camera K and
    world_from_camera) moved by ``shift`` (world, along the ground) onto the static surface of depth
    ``z`` seen through ``view``: (H, W, 3) ratios of the view, 1 where none lands."""
    out = np.ones((*z.shape, 3), np.float32)
    got = warp_shade_box(shade, surface, K, camera, shift, z, view, points)
    if got is not None:
        y0, x0, ratio = got
        out[y0:y0 + ratio.shape[0], x0:x0 + ratio.shape[1]] = ratio
    return out


def warp_shade_box(shade, surface, K, camera, shift, z, view, points=None):
    """As ``warp_shade``, only the box where the shadow can land: (y0, x0, ratios (h, w, 3)), or None
    when it lands nowhere (a frame's ratios are 1 outside it). ``points``: ``shade_points``, kept."""
    H, W = z.shape
    from .compose import View
    src = View(np.asarray(K, np.float64), np.asarray(camera, np.float64), shade.shape[1], shade.shape[0])
    # only the box where the shadow can land: its pixels' world points moved, seen through the view
    pts = (shade_points(shade, surface, K, camera) if points is None else points) + shift
    if not len(pts):
        return None
    uv, d = project_points(pts, view)
    uv = uv[(d > 1e-6) & np.isfinite(uv).all(1)]
    if not len(uv):
        return None
    x0, x1 = max(int(np.floor(uv[:, 0].min())) - 2, 0), min(int(np.ceil(uv[:, 0].max())) + 2, W)
    y0, y1 = max(int(np.floor(uv[:, 1].min())) - 2, 0), min(int(np.ceil(uv[:, 1].max())) + 2, H)
    if x1 <= x0 or y1 <= y0:
        return None
    zb = np.asarray(z, np.float64)[y0:y1, x0:x1]
    ok = np.isfinite(zb)
    world = unproject(np.where(ok, zb, 1.0), np.asarray(view.K, np.float64),
                      np.asarray(view.world_from_camera, np.float64), x0, y0) - shift
    suv, sd = project_points(world.reshape(-1, 3), src)
    coords = [suv[:, 1] - 0.5, suv[:, 0] - 0.5]
    # the sample saw this same surface there (not a nearer or farther one): its shading applies
    seen = map_coordinates(np.where(np.isfinite(surface), surface, 0.0), coords, order=0, mode="constant", cval=0.0)
    ok &= (np.abs(seen - sd) <= SURFACE_TOLERANCE * sd).reshape(ok.shape)
    got = np.stack([map_coordinates(shade[..., c], coords, order=1, mode="constant", cval=1.0)
                    for c in range(3)], -1).reshape(*ok.shape, 3)
    return y0, x0, np.where(ok[..., None], got, 1.0).astype(np.float32)


def ground_shift(pose, matrix) -> np.ndarray:
    """The move along the ground from the sample's object matrix to ``pose`` (world)."""
    d = np.asarray(pose, np.float64)[:3, 3] - np.asarray(matrix, np.float64)[:3, 3]
    d[UP] = 0.0
    return d
