"""The 3-D bake's clouds from any rendered capture: whatever generator was trained.

Needs what a rendered capture has (id masks, depth, K, camera poses, object
matrices), not a trained model: one cloud per moving object in its own frame
(``clouds.object_cloud``; a deforming object: one per deformation state), each
completed from the surface Blender recorded in that shape (``completion.py``,
when ``capture/object_surfaces.npz`` exists), and the
world-space background cloud (``background.py``). A large capture is read on
a coarser pixel grid (every s-th pixel, K rescaled) so a 1280x720 shot does not
unproject tens of millions of pixels: ``MAX_PIXELS`` per cloud kind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import AliveError
from .background import background_cloud
from .clouds import Cloud, object_cloud
from .completion import complete_cloud
from .deformation import deformation_states, state_samples

SURFACES = "object_surfaces.npz"
ANY_STATE = -1           # a surfaces file from before states: the object's one surface, at one frame
EDGE_JUMP = 0.05         # inverse depth off its neighbours' mean by more than 5 %: a depth edge
MAX_SLANT = 4.0          # a background splat grows at most this much on a surface seen at a grazing angle
MAX_PIXELS = 1_500_000   # unprojected pixels per cloud kind, at most (the grid gets coarser beyond)


def why_not(capture_info) -> str:
    """'' when a capture can make 3-D clouds, else why not (for the bake's message)."""
    meta = capture_info.meta
    if not meta.get("has_depth"):
        return "the capture is footage (no depth)"
    if not meta.get("has_ids"):
        return "the capture has no object ids"
    return ""


def moving_ids(records: list) -> list[int]:
    """Ids whose world matrix differs between the captured samples (meta.json records)."""
    if not records:
        return []
    out = []
    for key in sorted(records[0].get("objects", {}), key=int):
        mats = np.array([r["objects"][key] for r in records if key in r.get("objects", {})], np.float64)
        if len(mats) > 1 and np.abs(mats - mats[:1]).max() > 1e-6:
            out.append(int(key))
    return out


def grid_stride(pixels: int, budget: int = MAX_PIXELS) -> int:
    """Every s-th pixel in x and y so that ``pixels`` become at most ``budget``."""
    return max(1, int(np.ceil(np.sqrt(max(int(pixels), 1) / budget))))


def strided_intrinsics(K: np.ndarray, s: int) -> np.ndarray:
    """K of the grid of every s-th pixel (pixel j of the grid is the original pixel s*j)."""
    K = np.asarray(K, np.float64).copy()
    if s > 1:
        K[:2, :2] /= s
        K[:2, 2] = (K[:2, 2] - 0.5) / s + 0.5
    return K


def without_depth_edges(depth: np.ndarray, jump: float = EDGE_JUMP) -> np.ndarray:
    """Planar depth (N, H, W) with the pixels on a depth edge set to +inf (no point). A plane's
    inverse depth is affine in the pixel coordinates, so its Laplacian is zero however steeply the
    plane is seen (a floor at a grazing angle stays); a pixel whose inverse depth is off the mean of
    its four neighbours by more than ``jump`` of its own mixes two surfaces (anti-aliased, next to
    the sky, or where its id and depth renders disagree) and would land between them: a streak
    along the camera's ray that only a side view shows."""
    inv = np.where(np.isfinite(depth) & (depth > 0), 1.0 / np.where(depth > 0, depth, 1.0), 0.0)
    pad = np.pad(inv, ((0, 0), (1, 1), (1, 1)), mode="edge")
    lap = np.abs(4 * inv - pad[:, :-2, 1:-1] - pad[:, 2:, 1:-1] - pad[:, 1:-1, :-2] - pad[:, 1:-1, 2:]) / 4
    return np.where(lap > jump * inv, np.float32(np.inf), depth).astype(np.float32)


def slanted_splats(cloud: Cloud, neighbours: int = 10) -> Cloud:
    """The background's points sized for the surface they sample and moved one radius under it.

    A pixel's footprint is its width facing the camera; on a surface seen at a grazing angle
    (a floor) its patch is 1 / cos(angle) longer, so splats sized by the footprint leave the
    floor as rows of points from any other camera. Each point's normal comes from its
    neighbours (the least spread of the ``neighbours`` nearest, turned toward the camera that
    saw it); its footprint grows by 1 / cos (at most ``MAX_SLANT``) and it sinks one baked radius
    along the normal, so its sphere reaches the surface and not above it."""
    from scipy.spatial import cKDTree
    from .completion import RADIUS
    k = min(neighbours, len(cloud))
    if k < 4:
        return cloud
    p = cloud.points.astype(np.float64)
    _, idx = cKDTree(p).query(p, k=k)
    d = p[idx] - p[idx].mean(1, keepdims=True)
    normal = np.linalg.eigh(np.einsum("nki,nkj->nij", d, d))[1][:, :, 0]     # least-spread direction
    cos = (normal * cloud.views).sum(1)
    normal *= np.where(cos < 0, -1.0, 1.0)[:, None]                             # toward the camera
    sizes = cloud.sizes / np.clip(np.abs(cos), 1.0 / MAX_SLANT, 1.0)
    points = p - normal * (RADIUS * sizes)[:, None]
    return Cloud(points.astype(np.float32), cloud.colors, sizes.astype(np.float32), cloud.views, cloud.rim,
                 cloud.seen)


def load_surfaces(capture_dir) -> dict:
    """{object id: {deformation state: (points, normals, area)}} from the capture's surfaces file
    ({} without one). A file from before states (no ``states`` array) holds one surface per
    object, at the frame the capture ended, under ``ANY_STATE``: right for a rigid object only."""
    path = Path(capture_dir) / SURFACES
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as z:
            cut = np.concatenate([[0], np.cumsum(z["counts"])])
            states = z["states"] if "states" in z.files else np.full(len(z["ids"]), ANY_STATE)
            out: dict = {}
            for k, (o, s) in enumerate(zip(z["ids"], states)):
                out.setdefault(int(o), {})[int(s)] = (z["points"][cut[k]:cut[k + 1]],
                                                      z["normals"][cut[k]:cut[k + 1]], float(z["areas"][k]))
            return out
    except (OSError, ValueError, KeyError) as err:
        raise AliveError(f"unreadable object surfaces '{path}': {err}", "capture again (--force capture)") from None


def surfaces_per_state(capture_dir) -> bool:
    """Whether the capture's surfaces file records its surfaces per deformation state (a file
    from before does not: the capture writes it again)."""
    path = Path(capture_dir) / SURFACES
    try:
        with np.load(path, allow_pickle=False) as z:
            return "states" in z.files
    except (OSError, ValueError):
        return False


def capture_clouds(capture, objects: list, surfaces: dict | None = None,
                   owner=None) -> tuple[Cloud, list[list[Cloud]], dict]:
    """(background cloud (world), per id in ``objects`` its clouds (own frame), one per deformation
    state (``deformation.py``; a rigid object has one), report).

    ``capture``: a loaded ``Capture`` with depth and ids; ``surfaces``: ``load_surfaces``'s
    dict: each state's cloud is completed from the surface recorded in that state (a state
    without one, past the capture's cap or from an older file, keeps only its captured points).
    ``owner`` (N, H, W): the layer generator's shading owners (``models/layers.py``, ``world_background.py``;
    None: not known): the background leaves out the objects' shadows as well as the objects.
    The report says per object how many points were captured, baked and completed (not seen),
    its states and how many of them were completed, and the pixel grid used."""
    why = why_not(capture)
    if why:
        raise AliveError(f"no 3-D clouds: {why}", "bake with --point-bake per-frame")
    rgb, depth, ids = np.asarray(capture.rgb), np.asarray(capture.depth), np.asarray(capture.ids)
    n, H, W = depth.shape
    Ks = np.stack([capture.K(i) for i in range(n)])
    cams = np.stack([capture.world_from_camera(i) for i in range(n)])
    surfaces = surfaces or {}
    obj_px = int(np.isin(ids, objects).sum()) if objects else 0
    so, sb = grid_stride(obj_px), grid_stride(n * H * W)
    clouds, report = [], {"grid": {"objects": so, "background": sb}, "objects": {}}
    sids = ids[:, ::so, ::so]
    for oid in objects:
        # only the rows and columns where the object ever is (and a pixel round them): a small
        # object in a large frame is not unprojected whole once per sample
        rows, cols = np.nonzero((sids == oid).any(0).any(1))[0], np.nonzero((sids == oid).any(0).any(0))[0]
        y0, y1 = (max(int(rows[0]) - 1, 0), int(rows[-1]) + 2) if len(rows) else (0, 0)
        x0, x1 = (max(int(cols[0]) - 1, 0), int(cols[-1]) + 2) if len(cols) else (0, 0)
        crop = (slice(None), slice(y0 * so, y1 * so, so), slice(x0 * so, x1 * so, so))
        Kc = [strided_intrinsics(K, so) - np.array([[0, 0, x0], [0, 0, y0], [0, 0, 0]]) for K in Ks]
        groups = state_samples(deformation_states(capture.samples, oid))
        states = [object_cloud(rgb[crop], depth[crop], ids[crop], oid, Kc, cams, capture.object_matrices(oid),
                               samples=g) for g in groups]
        seen = sum(len(c) for c in states)
        own = dict(surfaces.get(oid, {}))
        if len(states) == 1 and ANY_STATE in own:   # an older file: its one surface is the rigid shape
            own[0] = own.pop(ANY_STATE)
        states = [complete_cloud(c, *own[s]) if s in own else c for s, c in enumerate(states)]
        clouds.append(states)
        report["objects"][str(oid)] = {"captured": seen, "points": sum(len(c) for c in states),
                                       "completed": sum(int((~c.seen).sum()) for c in states),
                                       "states": len(states),
                                       "completed_states": sum(s in own for s in range(len(states)))}
    own = None if owner is None or np.shape(owner) != (n, H, W) else np.asarray(owner)[:, ::sb, ::sb]
    report["background_shading_left_out"] = own is not None
    bg = slanted_splats(background_cloud(rgb[:, ::sb, ::sb], without_depth_edges(depth[:, ::sb, ::sb]), ids[:, ::sb, ::sb], list(objects),
                          [strided_intrinsics(K, sb) for K in Ks], cams, owner=own))
    return bg, clouds, report
