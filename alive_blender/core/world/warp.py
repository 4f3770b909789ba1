"""Drawing an object at a pose or through a camera no sample had by warping the sample that saw
it most alike (image-based rendering; issues 19 and 20).

A cloud splatted at a new pose has the splats' edges, not a render's anti-aliased ones, and (in
Cycles) the noise and view-dependent shading of whichever samples its points came from. The
captured sample whose camera-from-object transform is nearest the wanted one already holds the
object as a render shows it. Its pixels are moved rigidly, through their own depth, into the
wanted camera with sub-pixel accuracy (a backward warp: bilinear sampling), together with the
anti-aliased rim around the mask and the coverage each rim pixel had, so edges stay a render's
and Cycles keeps one sample's noise. The object's cloud is left for what that sample did not see
(``Layer.partial``: hidden by another object, or cut off by the frame's edge).

A rim pixel's coverage a comes from the sample's own frame: it is a mix of the object's colour
(the nearest interior pixel) and what lay behind (``behind``: the static scene seen from that
camera), c = a * obj + (1 - a) * behind. What is carried is a and the premultiplied a * obj, and
it is composed over whatever the new frame has behind it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import binary_dilation, binary_erosion, map_coordinates

MARGIN = 2            # pixels around the mask carried with it: its anti-aliased rim, and what was seen behind
WARP_STEPS = 4        # Newton steps of the backward warp (the map is near affine: two or three suffice)
MIN_CONTRAST = 16.0   # 0..255: a rim pixel's coverage is estimated only against a background this different
BEHIND_SLACK = 0.02   # relative depth: a pixel this much farther than the object's surface lies behind it
PARTIAL_COST = 1.0    # pixels added to the choice's cost for a sample that did not see all of the object
FILL = 1              # samples warped per object: the nearest, then others where an occluder hid it (3:
                      # 0.1 dB better median, fewer frames within tau on the carried bench)
JOINT_SLACK = 0.1     # pixels: one sample for every object of a frame when it is this near each one's best
SHIFT_WEIGHT = 0.1    # a moving camera's ranking: pixels of view change, plus this much of the shift (see
                      # choose_samples; a still camera ranks by the whole cost)
MAX_COST = 2.0        # mean pixels: a sample seen farther from the wanted view than this is not warped (a
                      # rolling ball half a turn away shows another side): the cloud draws the object
MAX_STRETCH = 3.0     # a wanted pixel drawn from this many times fewer source pixels than the object's median
                      # is a smear (``_smeared``): the cloud draws it
SMEAR_BORDER = 2      # pixels round a smear left to the cloud too
COST_WIDTH = 64       # the costs above are pixels of a view this wide (where they were measured): how alike
                      # two views are does not change with the size they are drawn at (at 1280x720, pixels
                      # counted as such warped almost nothing: the cloud drew nearly every object)


@dataclass
class Layer:
    """One object as one sample saw it, cut to its box (top-left y0, x0 in the sample's pixels)."""
    sample: int
    y0: int
    x0: int
    premult: np.ndarray    # (h, w, 3) coverage x colour, 0..255
    alpha: np.ndarray      # (h, w) coverage: 1 on the mask, the estimate on its rim, 0 elsewhere
    depth: np.ndarray      # (h, w) planar depth of the object's surface, continued past its mask by the nearest
    seen_bg: np.ndarray    # (h, w) 1 where the sample saw something behind the object (not the object, no occluder)
    K: np.ndarray
    camera: np.ndarray     # world_from_camera of the sample
    matrix: np.ndarray     # the object's world matrix in the sample
    size: tuple            # (H, W) of the sample
    partial: bool          # the sample did not see all of it: an occluder beside its mask, or the frame's edge


def _cut(ids, depth, oid: int):
    """Object ``oid``'s box in one sample, grown by ``MARGIN``: (box, mask, depth there, the object's
    depth continued past its mask, where something lies behind it, partial); None: not shown."""
    from ..models.layers import _fill_nearest   # lazy: models import world
    mask = ids == oid
    if not mask.any():
        return None
    H, W = mask.shape
    ys, xs = np.nonzero(mask)
    y0, y1 = max(int(ys.min()) - MARGIN, 0), min(int(ys.max()) + MARGIN + 1, H)
    x0, x1 = max(int(xs.min()) - MARGIN, 0), min(int(xs.max()) + MARGIN + 1, W)
    box = (slice(y0, y1), slice(x0, x1))
    m, idc = mask[box], ids[box]
    d = np.asarray(depth, np.float64)[box]
    # the object's pixels without a depth (the id render's silhouette a pixel past the depth's)
    # take their neighbours': an infinite one made the whole layer unusable
    has = m & np.isfinite(d)
    d_obj = _fill_nearest(np.where(has, d, 0.0), has if has.any() else m)
    behind_ok = ~m & ((idc == 0) | ~np.isfinite(d) | (d > d_obj * (1.0 + BEHIND_SLACK)))
    occluder = binary_dilation(m) & ~m & ~behind_ok
    edge = ys.min() == 0 or xs.min() == 0 or ys.max() == H - 1 or xs.max() == W - 1
    return box, m, d_obj, behind_ok, bool(edge or occluder.any())


def sees_part(ids, depth, oid: int):
    """None when the sample does not show object ``oid``; else whether it saw only part of it (an
    occluder beside its mask, or the frame's edge): cheap, for choosing before building layers."""
    cut = _cut(ids, depth, oid)
    return None if cut is None else cut[-1]


def object_layer(rgb, depth, ids, oid: int, behind, K, camera, matrix, sample: int) -> Layer | None:
    """The layer of object ``oid`` in one sample (rgb 0..255, planar depth, ids, ``behind`` the
    static scene from that camera, 0..255); None when the sample does not show it."""
    from ..models.layers import _fill_nearest   # lazy: models import world
    cut = _cut(ids, depth, oid)
    if cut is None:
        return None
    box, m, d_obj, behind_ok, partial = cut
    idc = ids[box]
    col = rgb[box].astype(np.float32)
    bh = np.asarray(behind, np.float32)[box]
    inner = binary_erosion(m)
    obj = _fill_nearest(col, inner if inner.any() else m)   # the object's own colour beside each pixel
    ring = binary_dilation(m) & ~m & (idc == 0)
    diff = obj - bh
    den = (diff * diff).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.clip(((col - bh) * diff).sum(-1) / den, 0.0, 1.0)
    a = np.where(ring & (den >= MIN_CONTRAST ** 2), a, 0.0).astype(np.float32)
    alpha = np.where(m, 1.0, a).astype(np.float32)
    rim = np.clip(col - (1.0 - a)[..., None] * bh, 0.0, None) * (a > 0)[..., None]
    premult = np.where(m[..., None], col, np.minimum(rim, 255.0 * a[..., None])).astype(np.float32)
    seen_bg = np.where(behind_ok, 1.0 - alpha, 0.0).astype(np.float32)
    return Layer(sample, box[0].start, box[1].start, premult, alpha, d_obj, seen_bg, np.asarray(K, np.float64),
                 np.asarray(camera, np.float64), np.asarray(matrix, np.float64), ids.shape, partial)


def view_costs(points, matrices, cameras, pose, view):
    """Per sample: the mean pixels between the object's ``points`` (its own frame) seen as that sample
    saw them (its camera-from-object transform) and as wanted through ``view``, counted as pixels of
    a view ``COST_WIDTH`` wide; those points' pixels in ``view``; and the same mean with the points'
    mean shift taken out (how much the object's *view* differs: a shift across the image is what the
    rigid warp does exactly, a turn or another side is not), counted the same way."""
    from .compose import project_points
    pts = np.asarray(points, np.float64)
    pose = np.asarray(pose, np.float64)
    uv_t, _ = project_points(pts @ pose[:3, :3].T + pose[:3, 3], view)
    rel = np.asarray(view.world_from_camera, np.float64) @ np.linalg.inv(cameras) @ matrices   # (n, 4, 4)
    got = np.einsum("nij,pj->npi", rel[:, :3, :3], pts) + rel[:, None, :3, 3]
    uv_s = np.stack([project_points(g, view)[0] for g in got])
    scale = COST_WIDTH / float(view.width)
    off = uv_s - uv_t[None]
    shape = np.linalg.norm(off - off.mean(1, keepdims=True), axis=-1).mean(1)
    return np.linalg.norm(off, axis=-1).mean(1) * scale, uv_s, shape * scale


def choose_samples(cost, uv_s, shape=None, partial=None, usable=None, prefer=None, shift_weight=None) -> list:
    """Up to ``FILL`` samples, as (sample, cost), nearest first by ``view_costs``'s cost, or with
    ``shift_weight`` by ``shape`` (the view change) plus that much of the cost: through a moving
    camera most of the cost is the camera's own move, which the warp makes exactly (the Cycles pan:
    93.5 -> 100 % within tau); through a still one it is the object's move in the world, whose light
    and contacts change with it (the carried bench: 12 of 48 frames worse by up to 2.2 dB, none
    better). A sample that saw
    only part of the object (``partial``) ranks ``PARTIAL_COST`` pixels farther, ``prefer`` (the
    sample every object of the frame is near in: its shadows and contacts agree with the others)
    first when it is within ``JOINT_SLACK`` of the best; none whose view differs by more than
    ``MAX_COST`` (``shape``, the cost less the shift; the cost itself when not given): the search
    stops at the first such sample in rank order (a still camera's nearest seen turned: the cloud)."""
    gate = cost if shape is None else shape
    rank = (cost if shape is None or shift_weight is None else shape + shift_weight * cost) + \
        (0.0 if partial is None else PARTIAL_COST * np.asarray(partial, np.float64))
    if usable is not None:
        rank = np.where(usable, rank, np.inf)
    if prefer is not None and rank[prefer] <= rank.min() + JOINT_SLACK:
        rank = rank.copy()
        rank[prefer] = -1.0
    out = []
    for s in np.argsort(rank, kind="stable"):
        if len(out) == FILL or not (np.isfinite(rank[s]) and gate[s] <= MAX_COST):
            break
        # the same view again (a cyclic capture repeats poses) adds nothing: the next different one
        if all(np.abs(uv_s[s] - uv_s[o]).max() > 0.01 for o, _ in out):
            out.append((int(s), float(cost[s])))
    return out


def warp_layer(layer: Layer, pose, view):
    """The layer moved to world matrix ``pose`` and seen through ``view``: (y0, x0, premult, alpha,
    depth, seen_bg) on a box of the view's pixels, or None when nothing of it lands in the view."""
    K, Kt = layer.K, np.asarray(view.K, np.float64)
    # source camera -> world (as the sample saw it) -> object -> wanted pose -> wanted camera
    M = np.linalg.inv(np.asarray(view.world_from_camera, np.float64)) @ np.asarray(pose, np.float64) \
        @ np.linalg.inv(layer.matrix) @ layer.camera
    h, w = layer.alpha.shape

    def forward(u, v):   # source pixel coordinates -> wanted pixel coordinates and planar depth
        d = map_coordinates(layer.depth, [v - 0.5 - layer.y0, u - 0.5 - layer.x0], order=1, mode="nearest")
        p = np.stack([(u - K[0, 2]) / K[0, 0] * d, -(v - K[1, 2]) / K[1, 1] * d, -d], -1)
        q = p @ M[:3, :3].T + M[:3, 3]
        z = -q[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            return Kt[0, 0] * q[..., 0] / z + Kt[0, 2], Kt[1, 1] * -q[..., 1] / z + Kt[1, 2], z

    gv, gu = np.mgrid[0:h, 0:w].astype(np.float64)
    gu += layer.x0 + 0.5
    gv += layer.y0 + 0.5
    fu, fv, fz = forward(gu, gv)
    if not (np.isfinite(fu).all() and np.isfinite(fv).all() and (fz > 1e-6).all()):
        return None
    # the map is near affine over one object: its least-squares fit steers Newton's steps back
    X = np.stack([gu.ravel(), gv.ravel(), np.ones(gu.size)], 1)
    A = np.linalg.lstsq(X, np.stack([fu.ravel(), fv.ravel()], 1), rcond=None)[0]   # (3, 2)
    J, b = A[:2].T, A[2]
    if abs(np.linalg.det(J)) < 1e-6:
        return None
    Ji = np.linalg.inv(J)
    Ht, Wt = int(view.height), int(view.width)
    tx0, tx1 = max(int(np.floor(fu.min())) - 1, 0), min(int(np.ceil(fu.max())) + 1, Wt)
    ty0, ty1 = max(int(np.floor(fv.min())) - 1, 0), min(int(np.ceil(fv.max())) + 1, Ht)
    if tx1 <= tx0 or ty1 <= ty0:
        return None
    tv, tu = np.mgrid[ty0:ty1, tx0:tx1].astype(np.float64)
    tu += 0.5
    tv += 0.5
    r = np.stack([tu - b[0], tv - b[1]], -1) @ Ji.T
    u, v = r[..., 0], r[..., 1]
    for _ in range(WARP_STEPS):
        pu, pv, _ = forward(u, v)
        step = np.stack([tu - pu, tv - pv], -1) @ Ji.T
        u, v = u + step[..., 0], v + step[..., 1]
    _, _, z = forward(u, v)
    coords = [v - 0.5 - layer.y0, u - 0.5 - layer.x0]
    # bilinear (measured: cubic splines ring at the rims and score lower against Blender's renders)
    sample = lambda img, cval=0.0: map_coordinates(img, coords, order=1, mode="constant", cval=cval)  # noqa: E731
    premult = np.stack([sample(layer.premult[..., c]) for c in range(3)], -1).astype(np.float32)
    alpha = sample(layer.alpha).astype(np.float32)
    # past the box the sample saw the static scene, unless that lies outside its frame
    H, W = layer.size
    inside = (u >= 0) & (u <= W) & (v >= 0) & (v <= H)
    seen_bg = (sample(layer.seen_bg, 1.0) * inside).astype(np.float32)
    smear = _smeared(u, v, alpha)
    premult[smear], alpha[smear], seen_bg[smear] = 0.0, 0.0, 0.0
    return ty0, tx0, premult, alpha, z.astype(np.float32), seen_bg


def _smeared(u, v, alpha) -> np.ndarray:
    """Wanted pixels whose source pixels are spread ``MAX_STRETCH`` times thinner than the object's
    median (the sample saw that surface far more obliquely: a face seen edge-on, turned into view).
    Its pixels there are a smear of a few; they are left unseen, for the cloud, whose points from a
    nearer view draw that face. Relative to the median: a uniform zoom is no smear."""
    if min(u.shape) < 2:
        return np.zeros(u.shape, bool)
    uy, ux = np.gradient(u)
    vy, vx = np.gradient(v)
    area = np.abs(ux * vy - uy * vx)   # source pixels per wanted pixel
    on = (alpha > 0.5) & np.isfinite(area)
    if not on.any():
        return np.zeros(u.shape, bool)
    with np.errstate(invalid="ignore"):
        smear = area < np.median(area[on]) / MAX_STRETCH
    # and its border: the pixels across the crease it was seen beside are pulled into it
    return binary_dilation(smear, iterations=SMEAR_BORDER) if smear.any() else smear


def warp_fill(chosen: list, pose, view):
    """Layers ``chosen`` (best first), each warped to ``pose`` through ``view``: the first wherever it
    saw something (the object, or what lies behind it), each next one only where none before it did
    (what an occluder hid there). None when nothing landed; else premult (h, w, 3), alpha, depth
    (inf: no object), known (how much any saw) on ``box`` (slices of the view: the warped layers'
    boxes together; the view is unknown outside it), and ``first`` (the first one's box, slices)."""
    got = [g for g in (warp_layer(layer, pose, view) for layer, _ in chosen) if g is not None]
    if not got:
        return None
    # only the box the warped layers cover (whole-frame buffers per object were a large part of a
    # 1280x720 decode)
    Y0, X0 = min(g[0] for g in got), min(g[1] for g in got)
    Y1, X1 = max(g[0] + g[3].shape[0] for g in got), max(g[1] + g[3].shape[1] for g in got)
    h, w = Y1 - Y0, X1 - X0
    prem = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)
    depth = np.full((h, w), np.inf, np.float32)
    known = np.zeros((h, w), np.float32)
    for y0, x0, p, a, d, bg in got:
        box = (slice(y0 - Y0, y0 - Y0 + a.shape[0]), slice(x0 - X0, x0 - X0 + a.shape[1]))
        take = (1.0 - known[box]) * np.clip(a + bg, 0.0, 1.0)
        prem[box] += take[..., None] * p
        alpha[box] += take * a
        solid = (take * a > 0) & (d < depth[box])
        depth[box][solid] = d[solid]
        known[box] += take
    with np.errstate(divide="ignore", invalid="ignore"):
        on = known > 1e-6
        prem[on] /= known[on, None]
        alpha[on] /= known[on]
    y0, x0, _, a = got[0][:4]
    first = (slice(y0, y0 + a.shape[0]), slice(x0, x0 + a.shape[1]))
    return prem, alpha, depth, known, (slice(Y0, Y1), slice(X0, X1)), first
