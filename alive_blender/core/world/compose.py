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
          views: np.ndarray | None = None, coverage: np.ndarray | float = 1.0):
    """Z-buffered splats of world points into ``view``.

    A point covers the pixels whose centres lie in its square patch (``sizes``
    wide, times ``coverage`` per point: the rim points of an object get less, so
    its silhouette does not grow by the half pixel each adds); the pixel its
    projection falls in is always covered when ``coverage`` >= 1. Among the candidates of a pixel within
    ``DEPTH_SLACK`` footprints of the nearest (the same surface), the one whose
    ``views`` direction (to the camera that saw it) is nearest this camera's
    wins: view-dependent shading stays consistent.

    Returns rgb (H, W, 3) float32 0..255, depth (H, W) float32 (inf = nothing),
    labels (H, W) int32 (the winning point's label; 0 where nothing)."""
    W, H = int(view.width), int(view.height)
    rgb = np.zeros((H, W, 3), np.float32)
    depth = np.full((H, W), np.inf, np.float32)
    lab = np.zeros((H, W), np.int32)
    if len(points) == 0:
        return rgb, depth, lab
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
    for r in range(int(radius.max()) + 1):
        sel = np.flatnonzero(radius >= r)
        ring = [(dx, dy) for dx in range(-r, r + 1) for dy in range(-r, r + 1) if max(abs(dx), abs(dy)) == r]
        for dx, dy in ring:
            x, y = px[sel] + dx, py[sel] + dy
            inside = (x >= 0) & (x < W) & (y >= 0) & (y < H)
            if r == 0:   # the own pixel: unless the patch is shrunk and misses its centre
                hs = half[sel]
                inside &= (cov[sel] >= 1.0) | ((np.abs(x + 0.5 - uv[sel, 0]) <= hs) & (np.abs(y + 0.5 - uv[sel, 1]) <= hs))
            else:
                hs = half[sel]
                inside &= (np.abs(x + 0.5 - uv[sel, 0]) <= hs + 0.5) & (np.abs(y + 0.5 - uv[sel, 1]) <= hs + 0.5)
            s = sel[inside]
            cand_pix.append(y[inside] * W + x[inside])
            cand_z.append(z[s] * (1.0 + 1e-4 * r))   # a rim loses to a centre at the same depth
            cand_pt.append(s)
    pix, cz, pt = np.concatenate(cand_pix), np.concatenate(cand_z), np.concatenate(cand_pt)
    if not len(pix):
        return rgb, depth, lab
    if views is not None:
        zmin = np.full(H * W, np.inf)
        np.minimum.at(zmin, pix, cz)
        near = cz <= zmin[pix] + DEPTH_SLACK * sizes[idx[pt]]
        pix, cz, pt = pix[near], cz[near], pt[near]
        eye = np.asarray(view.world_from_camera, np.float64)[:3, 3]
        to_eye = eye - points[idx].astype(np.float64)
        to_eye /= np.maximum(np.linalg.norm(to_eye, axis=1, keepdims=True), 1e-12)
        score = -np.einsum("ij,ij->i", to_eye, views[idx].astype(np.float64))   # lower = nearer this view
        order = np.lexsort((cz, score[pt], pix))
    else:
        order = np.lexsort((cz, pix))
    pix, pt = pix[order], pt[order]
    first = np.ones(len(pix), bool)
    first[1:] = pix[1:] != pix[:-1]
    pix, pt = pix[first], pt[first]
    src = idx[pt]
    rgb.reshape(-1, 3)[pix] = colors[src]
    depth.reshape(-1)[pix] = z[pt]
    lab.reshape(-1)[pix] = labels[src]
    return rgb, depth, lab


def fill_cracks(rgb: np.ndarray, depth: np.ndarray, labels: np.ndarray, passes: int = FILL_PASSES):
    """Empty pixels most of whose 8 neighbours are covered take their mean colour, nearest depth
    and most common label (cracks between splats); in place, and returned."""
    H, W = depth.shape
    for _ in range(passes):
        covered = np.isfinite(depth)
        if covered.all():
            break
        pad_c = np.pad(covered, 1)
        pad_rgb = np.pad(rgb, ((1, 1), (1, 1), (0, 0)))
        pad_d = np.pad(np.where(covered, depth, np.inf), 1, constant_values=np.inf)
        pad_l = np.pad(labels, 1)
        count = np.zeros((H, W), np.int32)
        acc = np.zeros((H, W, 3), np.float32)
        near = np.full((H, W), np.inf, np.float32)
        near_l = np.zeros((H, W), np.int32)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dx == 0 and dy == 0:
                    continue
                c = pad_c[1 + dy:1 + dy + H, 1 + dx:1 + dx + W]
                count += c
                acc += np.where(c[..., None], pad_rgb[1 + dy:1 + dy + H, 1 + dx:1 + dx + W], 0)
                d = pad_d[1 + dy:1 + dy + H, 1 + dx:1 + dx + W]
                better = d < near
                near = np.where(better, d, near)
                near_l = np.where(better, pad_l[1 + dy:1 + dy + H, 1 + dx:1 + dx + W], near_l)
        hole = ~covered & (count >= FILL_NEIGHBOURS)
        if not hole.any():
            break
        rgb[hole] = acc[hole] / count[hole][:, None]
        depth[hole] = near[hole]
        labels[hole] = near_l[hole]
    return rgb, depth, labels


def draw_clouds(clouds: list, matrices: list, labels: list, view: View, fill: bool = True,
                supersample: int = SUPERSAMPLE, with_alpha: bool = False):
    """Several clouds, each at its own world matrix (None = its points are world positions),
    drawn together into ``view``: rgb (H, W, 3) 0..255, depth (H, W), labels (H, W).

    Drawn on a grid ``supersample`` times finer and reduced: a pixel is covered when at
    more than half its sub-pixels are (a point's patch reaching past a silhouette then adds
    a quarter pixel, not half a pixel), with their mean colour and nearest depth.
    ``with_alpha``: also the covered fraction (H, W) of every pixel, and depth and label
    wherever any sub-pixel is covered (to blend edges: anti-aliasing like a render's)."""
    pts, cols, sizes, labs, views, cover = [], [], [], [], [], []
    for cloud, m, lab in zip(clouds, matrices, labels):
        if cloud is None or not len(cloud):
            continue
        pts.append(cloud.points if m is None else cloud.transformed(m))
        cols.append(cloud.colors)
        sizes.append(cloud.sizes if m is None else cloud.scaled_sizes(m))
        views.append(cloud.views if m is None else cloud.transformed_views(m))
        labs.append(np.full(len(cloud), lab, np.int32))
        cover.append(np.where(cloud.rim, RIM_COVERAGE, 1.0))
    if not pts:
        return splat(np.zeros((0, 3)), np.zeros((0, 3), np.uint8), np.zeros(0), np.zeros(0, np.int32), view)
    s = max(1, int(supersample))
    fine = View(np.diag([s, s, 1.0]) @ np.asarray(view.K, np.float64), view.world_from_camera,
                view.width * s, view.height * s)
    out = splat(np.concatenate(pts), np.concatenate(cols), np.concatenate(sizes), np.concatenate(labs), fine,
                np.concatenate(views), np.concatenate(cover))
    # fill and reduce only the box round what was drawn (a pass fills pixels next to covered ones
    # only): an object's splats cover a small part of a 1280x720 frame, and filling the whole
    # supersampled frame per object was most of a decode; the result is the same
    y0, y1, x0, x1 = _drawn_box(out[1], FILL_PASSES + 1 if fill else 0, s)
    crop = tuple(a[y0:y1, x0:x1] for a in out)   # views: fill_cracks works in place
    if fill:
        fill_cracks(*crop)
    if s == 1:
        return (*out, np.isfinite(out[1]).astype(np.float32)) if with_alpha else out
    part = _reduce(*crop, s, with_alpha)
    full = [np.zeros((view.height, view.width, 3), np.float32), np.full((view.height, view.width), np.inf, np.float32),
            np.zeros((view.height, view.width), np.int32), np.zeros((view.height, view.width), np.float32)]
    for whole, p in zip(full, part):
        whole[y0 // s:y1 // s, x0 // s:x1 // s] = p
    return tuple(full[:len(part)])


def _drawn_box(depth: np.ndarray, pad: int, s: int) -> tuple:
    """(y0, y1, x0, x1): the box of covered pixels grown by ``pad``, its edges on multiples of ``s``
    (the reduction's blocks); one block when nothing is covered."""
    hit = np.isfinite(depth)
    rows, cols = np.flatnonzero(hit.any(1)), np.flatnonzero(hit.any(0))
    if not len(rows):
        return 0, s, 0, s
    H, W = depth.shape
    y0, x0 = max(0, (int(rows[0]) - pad) // s * s), max(0, (int(cols[0]) - pad) // s * s)
    y1 = min(H, -(-(int(rows[-1]) + 1 + pad) // s) * s)
    x1 = min(W, -(-(int(cols[-1]) + 1 + pad) // s) * s)
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
