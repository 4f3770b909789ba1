"""Drawing clouds into a camera: z-buffered square splats and hole filling.

A point of footprint s (scene units) at planar depth z covers about
s * f / z pixels of a camera with focal length f: its splat is the square of
that width around its projection (at least one pixel, at most
``MAX_SPLAT_RADIUS`` pixels either side). All candidates (point, pixel) are
made at once and the nearest per pixel wins (a z-buffer by sorting, no Python
loop over points). Pixels no splat reaches but most neighbours do (cracks
between points) are filled from their covered neighbours; what stays empty is
the world background (the sky colour, infinite depth).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_SPLAT_RADIUS = 3      # pixels either side: a point closer than that to the camera is drawn coarser
FILL_PASSES = 2           # crack filling: passes of "empty pixel with >= FILL_NEIGHBOURS covered neighbours"
FILL_NEIGHBOURS = 5       # of 8
SUPERSAMPLE = 2           # clouds are drawn on a grid this much finer, then reduced (see draw_clouds)
DEPTH_SLACK = 1.5         # footprints: candidates this close to a pixel's nearest are the same surface
RIM_COVERAGE = 0.5        # patch scale of a rim point (a partly covered pixel): silhouettes do not grow
VIEW_TOLERANCE = 0.02     # view score (minus the cosine to the view): a pixel this much worse seen than its
                          # neighbours on both sides is a crack (``view_cracks``)
VIEW_CRACK_REACH = 2      # sub-pixels either side looked at for ``view_cracks``
SAME_SURFACE = 0.02       # relative depth: neighbours this near in depth are the same surface
VIEW_PATCH = 1.0          # an object cloud's points within a cell this many finest footprints wide are one
VIEW_KEEP = 0.05          # patch of surface; of them only those seen from within this (view score) of the
                          # patch's best direction are drawn (``best_seen``)


@dataclass
class View:
    """A pinhole camera: K (3x3, OpenCV pixels), world_from_camera (Blender camera matrix), size."""
    K: np.ndarray
    world_from_camera: np.ndarray
    width: int
    height: int


def project_points(points: np.ndarray, view: View):
    """Pixel coordinates (P, 2) and planar depth (P,) of world points (float64)."""
    cam_from_world = np.linalg.inv(np.asarray(view.world_from_camera, np.float64))
    cam = points.astype(np.float64) @ cam_from_world[:3, :3].T + cam_from_world[:3, 3]
    z = -cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = view.K[0, 0] * cam[:, 0] / z + view.K[0, 2]
        v = view.K[1, 1] * (-cam[:, 1]) / z + view.K[1, 2]
    return np.stack([u, v], 1), z


def splat(points: np.ndarray, colors: np.ndarray, sizes: np.ndarray, labels: np.ndarray, view: View,
          views: np.ndarray | None = None, coverage: np.ndarray | float = 1.0, window: tuple | None = None,
          with_score: bool = False):
    """Z-buffered splats of world points into ``view``.

    A point covers the pixels whose centres lie in its square patch (``sizes``
    wide, times ``coverage`` per point: the rim points of an object get less, so
    its silhouette does not grow by the half pixel each adds); the pixel its
    projection falls in is always covered when ``coverage`` >= 1. Among the candidates of a pixel within
    ``DEPTH_SLACK`` footprints of the nearest (the same surface), the one whose
    ``views`` direction (to the camera that saw it) is nearest this camera's
    wins: view-dependent shading stays consistent.

    ``window`` (y0, y1, x0, x1): only those pixels of the view are drawn (arrays of that box's size;
    a cloud covers a small part of a large frame). Returns rgb (h, w, 3) float32 0..255, depth (h, w)
    float32 (inf = nothing), labels (h, w) int32 (the winning point's label; 0 where nothing), and
    with ``with_score`` the winner's view score (h, w) (lower = seen from nearer this view; inf: none)."""
    W, H = int(view.width), int(view.height)
    y0, y1, x0, x1 = (0, H, 0, W) if window is None else window
    h, w = y1 - y0, x1 - x0
    rgb = np.zeros((h, w, 3), np.float32)
    depth = np.full((h, w), np.inf, np.float32)
    lab = np.zeros((h, w), np.int32)
    best = np.full((h, w), np.inf, np.float32)
    done = (rgb, depth, lab, best) if with_score else (rgb, depth, lab)
    if len(points) == 0:
        return done
    uv, z = project_points(points, view)
    f = float(np.sqrt(view.K[0, 0] * view.K[1, 1]))
    ok = (z > 1e-6) & np.isfinite(uv).all(1)
    uv, z, idx = uv[ok], z[ok], np.flatnonzero(ok)
    cov = np.broadcast_to(np.asarray(coverage, np.float64), (len(points),))[idx]
    half = 0.5 * sizes[idx] * f / z * cov                       # patch half-width in pixels
    radius = np.clip(np.ceil(half - 0.5), 0, MAX_SPLAT_RADIUS).astype(np.int64)
    px = np.floor(uv[:, 0]).astype(np.int64)
    py = np.floor(uv[:, 1]).astype(np.int64)
    cand_pix, cand_z, cand_pt = [], [], []
    for r in range(int(radius.max(initial=0)) + 1):
        sel = np.flatnonzero(radius >= r)
        ring = [(dx, dy) for dx in range(-r, r + 1) for dy in range(-r, r + 1) if max(abs(dx), abs(dy)) == r]
        for dx, dy in ring:
            x, y = px[sel] + dx, py[sel] + dy
            inside = (x >= x0) & (x < x1) & (y >= y0) & (y < y1)
            if r == 0:   # the own pixel: unless the patch is shrunk and misses its centre
                hs = half[sel]
                inside &= (cov[sel] >= 1.0) | ((np.abs(x + 0.5 - uv[sel, 0]) <= hs) & (np.abs(y + 0.5 - uv[sel, 1]) <= hs))
            else:
                hs = half[sel]
                inside &= (np.abs(x + 0.5 - uv[sel, 0]) <= hs + 0.5) & (np.abs(y + 0.5 - uv[sel, 1]) <= hs + 0.5)
            s = sel[inside]
            cand_pix.append((y[inside] - y0) * w + (x[inside] - x0))
            cand_z.append(z[s] * (1.0 + 1e-4 * r))   # a rim loses to a centre at the same depth
            cand_pt.append(s)
    pix, cz, pt = np.concatenate(cand_pix), np.concatenate(cand_z), np.concatenate(cand_pt)
    if not len(pix):
        return done
    score = None
    if views is not None:
        zmin = np.full(h * w, np.inf)
        np.minimum.at(zmin, pix, cz)
        near = cz <= zmin[pix] + DEPTH_SLACK * sizes[idx[pt]]
        pix, cz, pt = pix[near], cz[near], pt[near]
        eye = np.asarray(view.world_from_camera, np.float64)[:3, 3]
        to_eye = eye - points[idx].astype(np.float64)
        to_eye /= np.maximum(np.linalg.norm(to_eye, axis=1, keepdims=True), 1e-12)
        score = -np.einsum("ij,ij->i", to_eye, views[idx].astype(np.float64))   # lower = nearer this view
        # per pixel the best view, then the nearest of those: minima by ufunc.at, not a sort of
        # every candidate (the lexsort was most of a splat at 1280x720)
        sc = score[pt]
        smin = np.full(h * w, np.inf)
        np.minimum.at(smin, pix, sc)
        best_view = sc == smin[pix]
        pix, cz, pt = pix[best_view], cz[best_view], pt[best_view]
    zwin = np.full(h * w, np.inf)
    np.minimum.at(zwin, pix, cz)
    win = cz == zwin[pix]
    # a tie (the same view and depth): the first candidate, as a stable sort has it (the last write wins)
    pix, pt = pix[win][::-1], pt[win][::-1]
    src = idx[pt]
    rgb.reshape(-1, 3)[pix] = colors[src]
    depth.reshape(-1)[pix] = z[pt]
    lab.reshape(-1)[pix] = labels[src]
    if score is not None:
        best.reshape(-1)[pix] = score[pt]
    return done


def view_cracks(score: np.ndarray, depth: np.ndarray, reach: int = VIEW_CRACK_REACH) -> np.ndarray:
    """Pixels whose winning point was seen from a clearly worse direction (``VIEW_TOLERANCE``) than
    pixels of the same surface within ``reach`` on both sides of them (along a row, a column or a
    diagonal): a gap between the splats of the best-seen points, filled by a point seen from
    elsewhere in another shade (a face seen obliquely by its best sample has its pixels spread wider
    than their splats: the stipple). They are cracks: ``fill_cracks`` fills them from their neighbours."""
    H, W = score.shape
    pad = reach
    s = np.pad(score, pad, constant_values=np.inf)
    d = np.pad(depth, pad, constant_values=np.inf)
    worse = score - VIEW_TOLERANCE
    out = np.zeros((H, W), bool)
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        sides = []
        for sign in (1, -1):
            better = np.zeros((H, W), bool)
            for k in range(1, reach + 1):
                oy, ox = pad + sign * k * dy, pad + sign * k * dx
                sn, dn = s[oy:oy + H, ox:ox + W], d[oy:oy + H, ox:ox + W]
                with np.errstate(invalid="ignore"):   # inf - inf: an empty neighbour, never the same surface
                    better |= (sn < worse) & (np.abs(dn - depth) <= SAME_SURFACE * depth)
            sides.append(better)
        out |= sides[0] & sides[1]
    return out & np.isfinite(score)


def fill_cracks(rgb: np.ndarray, depth: np.ndarray, labels: np.ndarray, passes: int = FILL_PASSES):
    """Empty pixels most of whose 8 neighbours are covered take their mean colour, nearest depth
    and most common label (cracks between splats); in place, and returned."""
    H, W = depth.shape
    ring = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    for _ in range(passes):
        covered = np.isfinite(depth)
        if covered.all():
            break
        pad_c = np.pad(covered, 1)
        count = np.zeros((H, W), np.uint8)
        for dy, dx in ring:
            count += pad_c[1 + dy:1 + dy + H, 1 + dx:1 + dx + W]
        ys, xs = np.nonzero(~covered & (count >= FILL_NEIGHBOURS))
        if not len(ys):
            break
        # the sums and minima at the holes only (most of a frame is covered or empty space)
        pad_rgb = np.pad(rgb, ((1, 1), (1, 1), (0, 0)))
        pad_d = np.pad(np.where(covered, depth, np.inf), 1, constant_values=np.inf)
        pad_l = np.pad(labels, 1)
        acc = np.zeros((len(ys), 3), np.float32)
        near = np.full(len(ys), np.inf, np.float32)
        near_l = np.zeros(len(ys), np.int32)
        for dy, dx in ring:
            at = (ys + 1 + dy, xs + 1 + dx)
            c = pad_c[at]
            acc += np.where(c[:, None], pad_rgb[at], 0)
            d = pad_d[at]
            better = d < near
            near = np.where(better, d, near)
            near_l = np.where(better, pad_l[at], near_l)
        rgb[ys, xs] = acc / count[ys, xs][:, None]
        depth[ys, xs] = near
        labels[ys, xs] = near_l
    return rgb, depth, labels


def draw_clouds(clouds: list, matrices: list, labels: list, view: View, fill: bool = True,
                supersample: int = SUPERSAMPLE, with_alpha: bool = False, wanted: np.ndarray | None = None):
    """Several clouds, each at its own world matrix (None = its points are world positions),
    drawn together into ``view``: rgb (H, W, 3) 0..255, depth (H, W), labels (H, W).

    Drawn on a grid ``supersample`` times finer and reduced: a pixel is covered when at
    more than half its sub-pixels are (a point's patch reaching past a silhouette then adds
    a quarter pixel, not half a pixel), with their mean colour and nearest depth.
    ``with_alpha``: also the covered fraction (H, W) of every pixel, and depth and label
    wherever any sub-pixel is covered (to blend edges: anti-aliasing like a render's).
    ``wanted`` (H, W) bool: only these pixels are used; points that cannot reach them (their
    splat, its crack filling and ``view_cracks``) are left out, so those pixels are as drawn
    with every point and the others may be empty."""
    s = max(1, int(supersample))
    H, W = int(view.height), int(view.width)
    reach = MAX_SPLAT_RADIUS + 1 + (FILL_PASSES + VIEW_CRACK_REACH if fill else 0)   # sub-pixels
    near = None if wanted is None else _near_wanted(wanted, -(-reach // s) + 1)
    pts, cols, sizes, labs, views, cover = [], [], [], [], [], []
    eye = np.asarray(view.world_from_camera, np.float64)[:3, 3]
    for cloud, m, lab in zip(clouds, matrices, labels):
        if cloud is None or not len(cloud):
            continue
        p = cloud.points if m is None else cloud.transformed(m)
        # only points that can reach a wanted pixel (their splat, its crack filling and
        # ``view_cracks``): the others cannot change it
        keep = np.arange(len(p)) if near is None else np.flatnonzero(_lands_in(p, view, near))
        p = p[keep]
        v = cloud.views[keep] if m is None else cloud.transformed_views(m, keep)
        sz = (cloud.sizes if m is None else cloud.scaled_sizes(m))[keep]
        if m is not None:   # an object's cloud: only its points seen from near the best direction of their patch
            best = best_seen(cloud.patches(VIEW_PATCH)[keep], p, v, eye)
            keep, p, v, sz = keep[best], p[best], v[best], sz[best]
        pts.append(p)
        cols.append(cloud.colors[keep])
        sizes.append(sz)
        views.append(v)
        labs.append(np.full(len(p), lab, np.int32))
        cover.append(np.where(cloud.rim[keep], RIM_COVERAGE, 1.0))
    full = [np.zeros((H, W, 3), np.float32), np.full((H, W), np.inf, np.float32), np.zeros((H, W), np.int32),
            np.zeros((H, W), np.float32)]
    n_out = 4 if with_alpha else 3
    if not pts or not sum(map(len, pts)):
        return tuple(full[:n_out])
    arrays = [np.concatenate(x) for x in (pts, cols, sizes, labs, views, cover)]
    fine = View(np.diag([s, s, 1.0]) @ np.asarray(view.K, np.float64), view.world_from_camera, W * s, H * s)
    # only the box round where the points land (an object covers a small part of a 1280x720 frame:
    # allocating, filling and reducing the whole supersampled frame per object was most of a decode)
    window = _points_box(arrays[0], fine, reach, s)
    if window is None:
        return tuple(full[:n_out])
    rgb, depth, lab, score = splat(*arrays[:4], fine, *arrays[4:], window=window, with_score=True)
    if fill:
        # an object's view cracks (a still background, seen from few cameras, is drawn as it was)
        cracks = view_cracks(score, depth) if any(m is not None for m in matrices) else np.zeros(depth.shape, bool)
        at = np.flatnonzero(cracks)
        kept = rgb.reshape(-1, 3)[at], depth.reshape(-1)[at], lab.reshape(-1)[at]
        depth.reshape(-1)[at] = np.inf
        fill_cracks(rgb, depth, lab)
        back = ~np.isfinite(depth.reshape(-1)[at])   # a crack no pass filled keeps its own point: never a hole
        for arr, k in zip((rgb.reshape(-1, 3), depth.reshape(-1), lab.reshape(-1)), kept):
            arr[at[back]] = k[back]
    y0, y1, x0, x1 = window
    part = (rgb, depth, lab, np.isfinite(depth).astype(np.float32)) if s == 1 else \
        _reduce(rgb, depth, lab, s, with_alpha)
    for whole, p in zip(full, part):
        whole[y0 // s:y1 // s, x0 // s:x1 // s] = p
    return tuple(full[:n_out])


def best_seen(cells: np.ndarray, points: np.ndarray, views: np.ndarray, eye: np.ndarray) -> np.ndarray:
    """Which points (world ``points``, ``views``; ``cells``: their patches, ``Cloud.patches``) were
    seen from within ``VIEW_KEEP`` of the best direction among their patch's for a camera at ``eye``. A patch
    seen from many directions keeps one shade: the others would only win where the best-seen
    points' splats leave gaps (a stipple of other shades), and drawing them all was most of the
    cloud's time."""
    to_eye = eye - points.astype(np.float64)
    to_eye /= np.maximum(np.linalg.norm(to_eye, axis=1, keepdims=True), 1e-12)
    score = -np.einsum("ij,ij->i", to_eye, views.astype(np.float64))
    best = np.full(int(cells.max(initial=-1)) + 1, np.inf)
    np.minimum.at(best, cells, score)
    return score <= best[cells] + VIEW_KEEP


def _near_wanted(wanted: np.ndarray, grow: int) -> np.ndarray:
    """``wanted`` grown by ``grow`` pixels."""
    from scipy.ndimage import maximum_filter
    return maximum_filter(np.asarray(wanted, np.uint8), size=2 * grow + 1, mode="constant") > 0


def _lands_in(points: np.ndarray, view: View, near: np.ndarray) -> np.ndarray:
    """Which points land on a pixel of ``near`` (or just past the frame's edge; behind the camera: none).
    In float32, a million points at a time: only whether a point lands near the wanted pixels is asked
    (grown by the splat's reach), and the 1280x720 pan's 6.5 million background points took 2 s a
    camera in float64."""
    H, W = near.shape
    cam_from_world = np.linalg.inv(np.asarray(view.world_from_camera, np.float64))
    R, t = cam_from_world[:3, :3].T.astype(np.float32), cam_from_world[:3, 3].astype(np.float32)
    fx, fy, cx, cy = (float(view.K[0, 0]), float(view.K[1, 1]), float(view.K[0, 2]), float(view.K[1, 2]))
    out = np.zeros(len(points), bool)
    flat = near.ravel()
    for lo in range(0, len(points), 1 << 20):
        cam = np.asarray(points[lo:lo + (1 << 20)], np.float32) @ R + t
        z = -cam[:, 2]
        ok = z > 1e-6
        zs = np.where(ok, z, 1.0)
        px = np.floor(fx * cam[:, 0] / zs + cx)
        py = np.floor(-fy * cam[:, 1] / zs + cy)
        ok &= (px >= -MAX_SPLAT_RADIUS) & (px < W + MAX_SPLAT_RADIUS) & (py >= -MAX_SPLAT_RADIUS) & \
            (py < H + MAX_SPLAT_RADIUS)
        at = np.flatnonzero(ok)
        xi = np.clip(px[at], 0, W - 1).astype(np.int64)
        yi = np.clip(py[at], 0, H - 1).astype(np.int64)
        out[lo + at] = flat[yi * W + xi]
    return out


def _points_box(points: np.ndarray, view: View, pad: int, s: int):
    """(y0, y1, x0, x1): the pixels of ``view`` within ``pad`` of where points land, on multiples
    of ``s`` (the reduction's blocks); None when none lands in it."""
    uv, z = project_points(points, view)
    ok = (z > 1e-6) & np.isfinite(uv).all(1)
    if not ok.any():
        return None
    H, W = int(view.height), int(view.width)
    lo = np.floor(uv[ok].min(0)).astype(np.int64) - pad
    hi = np.floor(uv[ok].max(0)).astype(np.int64) + pad + 1
    x0, y0 = max(0, int(lo[0]) // s * s), max(0, int(lo[1]) // s * s)
    x1, y1 = min(W, -(-int(hi[0]) // s) * s), min(H, -(-int(hi[1]) // s) * s)
    if x1 <= x0 or y1 <= y0:
        return None
    return y0, y1, x0, x1


def _reduce(rgb, depth, labels, s: int, with_alpha: bool = False):
    """s x s sub-pixels -> one pixel: covered by more than half, mean colour, nearest depth and its label."""
    H, W = depth.shape[0] // s, depth.shape[1] // s
    d = depth.reshape(H, s, W, s).transpose(0, 2, 1, 3).reshape(H, W, s * s)
    c = rgb.reshape(H, s, W, s, 3).transpose(0, 2, 1, 3, 4).reshape(H, W, s * s, 3)
    lab = labels.reshape(H, s, W, s).transpose(0, 2, 1, 3).reshape(H, W, s * s)
    hit = np.isfinite(d)
    n = hit.sum(-1)
    covered = n * 2 > s * s
    near = np.argmin(np.where(hit, d, np.inf), axis=-1)
    out_d = np.where(covered, np.take_along_axis(d, near[..., None], -1)[..., 0], np.inf).astype(np.float32)
    out_l = np.where(covered, np.take_along_axis(lab, near[..., None], -1)[..., 0], 0).astype(np.int32)
    out_c = (np.where(hit[..., None], c, 0).sum(2) / np.maximum(n, 1)[..., None]).astype(np.float32)
    if with_alpha:
        any_d = np.take_along_axis(np.where(hit, d, np.inf), near[..., None], -1)[..., 0].astype(np.float32)
        any_l = np.where(n > 0, np.take_along_axis(lab, near[..., None], -1)[..., 0], 0).astype(np.int32)
        return out_c, any_d, any_l, (n / float(s * s)).astype(np.float32)
    out_c[~covered] = 0
    return out_c, out_d, out_l
