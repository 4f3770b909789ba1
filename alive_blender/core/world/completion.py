"""Complete an object's cloud with the sides no sample saw, from the surface Blender states.

A capture sees only some sides of an object (a ball that never turns: one
half). The capture also records each moving object's evaluated surface in
its own frame (``capture/object_surfaces.npz``: area-weighted samples with
normals, ``blender/capture/object_surfaces.py``). Where no captured point lies
near a surface sample, the sample is marked not seen (``Cloud.seen``), so a
composer can prefer seen points and a reader can tell what was invented; every
sample takes its colour from the nearest seen points. Captured points far off
the surface (a rim pixel whose depth is the background's, an id pixel that
the depth render gave to something else) give no colour.
"""

from __future__ import annotations

import numpy as np

from .clouds import Cloud

NEAR = 1.5          # a surface sample is covered when a seen point lies within NEAR x the seen footprint
OFF_SURFACE = 2.0   # seen points farther than this x their footprint (and the sample spacing) give no colour
SPLAT = 1.6         # a completion point's footprint: this x the sample spacing (random samples overlap)
NEIGHBOURS = 4      # colour from this many nearest seen points (inverse-distance weighted)
SURFACE_SAMPLES = 12000   # samples per object surface at least: a unit cube gets one per 2.2 cm
MAX_SURFACE_SAMPLES = 200_000   # at most (a large capture: about one per captured pixel up to this)
RADIUS = 0.75       # a baked point's radius / its footprint (neighbours overlap: no see-through cracks)


def sample_spacing(area: float, count: int) -> float:
    """Mean distance between ``count`` samples spread over ``area``."""
    return float(np.sqrt(max(float(area), 1e-12) / max(int(count), 1)))


def finest_footprint(records: list, oid: int) -> float:
    """The smallest width, in the object's own units, of a captured pixel at the object's origin
    over the samples (meta.json records: K, world_from_camera, objects); inf when never known."""
    best = np.inf
    for r in records:
        m = np.asarray(r.get("objects", {}).get(str(oid), np.eye(4)), np.float64)
        cam, K = np.asarray(r["world_from_camera"], np.float64), np.asarray(r["K"], np.float64)
        scale = float(np.cbrt(abs(np.linalg.det(m[:3, :3])))) or 1.0
        best = min(best, float(np.linalg.norm(cam[:3, 3] - m[:3, 3])) / float(np.sqrt(K[0, 0] * K[1, 1])) / scale)
    return best


def surface_sample_count(area: float, footprint: float) -> int:
    """Samples for a surface of ``area``: about one per captured pixel's footprint squared (so a
    large capture keeps its detail), at least ``SURFACE_SAMPLES`` (exact silhouettes from the
    side at a small capture), at most ``MAX_SURFACE_SAMPLES``."""
    want = float(area) / max(float(footprint), 1e-9) ** 2 if np.isfinite(footprint) else 0.0
    return int(np.clip(want, SURFACE_SAMPLES, MAX_SURFACE_SAMPLES))


def sample_surface(vertices: np.ndarray, triangles: np.ndarray, count: int = SURFACE_SAMPLES, seed: int = 0):
    """(points (count, 3), normals (count, 3), total area): uniform by area over the triangles."""
    tri = vertices[triangles]                                   # (T, 3, 3)
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area2 = np.linalg.norm(cross, axis=1)
    total = float(area2.sum() / 2)
    if not total > 0:
        return None
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(tri), size=count, p=area2 / area2.sum())
    r1, r2 = rng.random(count), rng.random(count)
    s = np.sqrt(r1)                                             # uniform in a triangle
    t = tri[pick]
    pts = (1 - s)[:, None] * t[:, 0] + (s * (1 - r2))[:, None] * t[:, 1] + (s * r2)[:, None] * t[:, 2]
    nrm = cross[pick] / np.maximum(area2[pick], 1e-20)[:, None]
    return pts.astype(np.float32), nrm.astype(np.float32), total


def complete_cloud(cloud: Cloud, surface: np.ndarray, normals: np.ndarray, area: float) -> Cloud:
    """The object's surface samples, coloured from ``cloud`` (its seen points, object frame).

    surface (S, 3) / normals (S, 3): area-weighted samples of the object's surface in its own
    frame; ``area``: the surface's total area (same units). Every sample becomes a point with
    the footprint ``SPLAT`` x the sample spacing (one baked radius inside the surface) and its
    normal as view direction, coloured
    by the inverse-distance weighted ``NEIGHBOURS`` nearest seen interior points that lie on
    the surface; ``seen`` where one of those lies within ``NEAR`` footprints, else it was
    completed. The seen points themselves are not kept: on the true surface, at the sample
    spacing, a point's splat needs no radius of a captured pixel (about a pixel at the
    capture's size), which made every silhouette that much larger from any other camera."""
    from scipy.spatial import cKDTree
    surface = np.asarray(surface, np.float64).reshape(-1, 3)
    if not len(surface):
        return cloud
    spacing = sample_spacing(area, len(surface))
    if len(cloud):
        # captured points that lie nowhere near the surface are mis-assigned pixels: no colour from them
        dist, _ = cKDTree(surface).query(cloud.points.astype(np.float64))
        cloud = _subset(cloud, dist <= OFF_SURFACE * np.maximum(cloud.sizes.astype(np.float64), spacing))
    if len(cloud) and (~cloud.rim).any():
        cloud = _subset(cloud, ~cloud.rim)   # rim colours are borrowed from the interior anyway
    m = len(surface)
    if not len(cloud):   # nothing seen: the surface in grey (it exists, no sample showed its colour)
        cols, seen = np.full((m, 3), 128, np.uint8), np.zeros(m, bool)
    else:
        k = min(NEIGHBOURS, len(cloud))
        d, idx = cKDTree(cloud.points.astype(np.float64)).query(surface, k=k)
        d, idx = d.reshape(m, k), idx.reshape(m, k)
        w = 1.0 / np.maximum(d, 1e-9)
        cols = (cloud.colors[idx].astype(np.float64) * w[..., None]).sum(1) / w.sum(1, keepdims=True)
        cols = np.clip(np.round(cols), 0, 255).astype(np.uint8)
        seen = d[:, 0] <= NEAR * max(float(np.median(cloud.sizes)), spacing)
    n = np.asarray(normals, np.float64).reshape(-1, 3)
    n = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    # each point one radius inside: its sphere touches the surface and does not reach past a silhouette
    inside = surface - n * (RADIUS * SPLAT * spacing)
    return Cloud(inside.astype(np.float32), cols, np.full(m, SPLAT * spacing, np.float32), n.astype(np.float32),
                 np.zeros(m, bool), seen)


def _subset(cloud: Cloud, keep: np.ndarray) -> Cloud:
    return Cloud(cloud.points[keep], cloud.colors[keep], cloud.sizes[keep], cloud.views[keep], cloud.rim[keep],
                 cloud.seen[keep])
