"""Point-cloud math of the bake, without Blender: which decoded pixels become
points, where they are in the world (unprojected through the capture
camera), and their scene-linear colours; and the 3-D view of an embedding trajectory."""

from __future__ import annotations

import numpy as np

from .errors import AliveError

_SRGB_TO_LINEAR = np.where(np.arange(256) / 255.0 <= 0.04045, np.arange(256) / 255.0 / 12.92,
                           ((np.arange(256) / 255.0 + 0.055) / 1.055) ** 2.4).astype(np.float32)


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """Scene-linear float32 from sRGB (uint8 0..255 or float 0..1); FLOAT_COLOR
    attributes are linear, so this is what makes a point show its decoded colour."""
    if rgb.dtype == np.uint8:
        return _SRGB_TO_LINEAR[rgb]
    x = np.clip(np.asarray(rgb, np.float32), 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def point_mask(depth: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Pixels that become points: covered (alpha > 0.5) with a finite positive depth."""
    return (alpha > 0.5) & np.isfinite(depth) & (depth > 0)


def point_stride(point_density: float) -> int:
    """Pixel stride (in x and y) that gives about ``point_density`` points per pixel."""
    return max(1, int(round(1.0 / np.sqrt(max(float(point_density), 1e-6)))))


def _strided(frames: np.ndarray, stride: int) -> np.ndarray:
    """Every stride-th pixel in x and y of (N, H, W, ...) frames: the one nearest each block's centre."""
    s = max(1, int(stride))
    return frames[:, s // 2::s, s // 2::s] if s > 1 else frames


def unproject_frames(depth: np.ndarray, alpha: np.ndarray, K: np.ndarray, world_from_camera: np.ndarray,
                     stride: int = 1):
    """All frames at once, no Python loop over points.

    depth, alpha: (N, H, W); K: 3x3 for that grid; world_from_camera: (4, 4)
    for every frame or (N, 4, 4) one per frame. Returns (positions float32
    (M, 3) frame after frame in row-major pixel order, frame index int32 (M,),
    keep mask (N, H', W')). ``stride`` > 1: only every stride-th pixel in x and y
    (the one nearest each block's centre), H' x W' of them.

    Planar depth makes a point ``t + (R @ ray) * z``: the world-space ray of
    each pixel is computed once per pose, then each coordinate is one gather
    through the mask and one multiply-add (1-D gathers are far cheaper than
    gathering (M, 3) rows)."""
    s = max(1, int(stride))
    depth, alpha = _strided(depth, s), _strided(alpha, s)
    N, H, W = depth.shape
    keep = point_mask(depth, alpha)
    counts = keep.reshape(N, -1).sum(1)
    fi = np.repeat(np.arange(N, dtype=np.int32), counts)
    u = (np.arange(W) * s + s // 2 + 0.5 - K[0, 2]) / K[0, 0]
    v = (np.arange(H) * s + s // 2 + 0.5 - K[1, 2]) / K[1, 1]
    # Blender camera axes: x right, y up (OpenCV's y flipped), looking down -z
    rays = np.empty((H, W, 3), np.float64)
    rays[..., 0], rays[..., 1], rays[..., 2] = u[None, :], -v[:, None], -1.0
    z = depth[keep].astype(np.float32)
    pos = np.empty((len(z), 3), np.float32)
    M = np.asarray(world_from_camera, np.float64)
    if M.ndim == 2:
        world_rays = np.einsum("ij,hwj->ihw", M[:3, :3], rays).astype(np.float32)  # (3, H, W)
        for c in range(3):  # three coordinates, not a loop over points
            col = np.broadcast_to(world_rays[c], (N, H, W))[keep]
            col *= z
            col += np.float32(M[c, 3])
            pos[:, c] = col
    else:
        if M.shape != (N, 4, 4):
            raise AliveError(f"{len(M)} camera poses for {N} frames", "give one pose per decoded frame")
        world_rays = np.einsum("nij,hwj->nihw", M[:, :3, :3], rays).astype(np.float32)  # (N, 3, H, W)
        t = M[:, :3, 3].astype(np.float32)
        for c in range(3):
            pos[:, c] = world_rays[:, c][keep] * z + t[fi, c]
    return pos, fi, keep


def point_colors(rgb: np.ndarray, keep: np.ndarray, stride: int = 1) -> np.ndarray:
    """Linear RGBA float32 (M, 4) of the kept pixels, channel by channel."""
    rgb = _strided(rgb, stride)
    out = np.empty((int(keep.sum()), 4), np.float32)
    out[:, 3] = 1.0
    for c in range(3):
        out[:, c] = srgb_to_linear(rgb[..., c][keep])
    return out


def point_bytes(rgb: np.ndarray, keep: np.ndarray, stride: int = 1) -> np.ndarray:
    """sRGB RGBA uint8 (M, 4) of the kept pixels (what a BYTE_COLOR attribute stores)."""
    rgb = _strided(rgb, stride)
    out = np.empty((int(keep.sum()), 4), np.uint8)
    out[:, 3] = 255
    rgb8 = rgb if rgb.dtype == np.uint8 else None
    for c in range(3):
        ch = rgb[..., c][keep]
        out[:, c] = ch if rgb8 is not None else (np.clip(ch, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return out


# pixels unprojected per chunk while baking (decoded arrays are read a chunk at a time)
BAKE_CHUNK_PIXELS = 1 << 23


def unproject_streamed(depth, alpha, rgb, K, world_from_camera, stride: int = 1, reporter=None):
    """``unproject_frames`` + ``point_bytes`` a chunk of frames at a time, into
    arrays sized by a first counting pass: positions (M, 3) float32, sRGB
    bytes (M, 4), points per frame (N,). Only the output arrays and one chunk
    of (possibly memory-mapped) inputs are in memory at once."""
    N, H, W = depth.shape
    s = max(1, int(stride))
    chunk = max(1, BAKE_CHUNK_PIXELS // (H * W))
    poses = np.asarray(world_from_camera, np.float64)
    counts = np.zeros(N, np.int64)
    for i0 in range(0, N, chunk):
        keep = point_mask(np.asarray(_strided(depth[i0:i0 + chunk], s)), np.asarray(_strided(alpha[i0:i0 + chunk], s)))
        counts[i0:i0 + len(keep)] = keep.reshape(len(keep), -1).sum(1)
    total = int(counts.sum())
    pos = np.empty((total, 3), np.float32)
    cols = np.empty((total, 4), np.uint8)
    o = 0
    for i0 in range(0, N, chunk):
        if reporter is not None:
            reporter.check_cancel()
        i1 = min(N, i0 + chunk)
        p, _, keep = unproject_frames(np.asarray(depth[i0:i1]), np.asarray(alpha[i0:i1]), K,
                                      poses if poses.ndim == 2 else poses[i0:i1], s)
        pos[o:o + len(p)] = p
        cols[o:o + len(p)] = point_bytes(np.asarray(rgb[i0:i1]), keep, s)
        o += len(p)
    return pos, cols, counts


def pca_3d(observed: np.ndarray, rollouts: np.ndarray, size: float = 1.0):
    """(observed (M, 3), rollouts (K, S, 3)): PCA of all embeddings together,
    centred and scaled so the farthest point is ``size`` from the origin."""
    obs = np.asarray(observed, np.float64)
    rol = np.asarray(rollouts, np.float64)
    if rol.ndim == 2:
        rol = rol[None]
    if obs.ndim != 2 or rol.ndim != 3 or obs.shape[1] != rol.shape[2]:
        raise AliveError(f"embeddings of shapes {obs.shape} and {rol.shape} do not fit together",
                         "use the rollout made from this work directory's embeddings")
    allp = np.concatenate([obs, rol.reshape(-1, rol.shape[2])])
    mean = allp.mean(0)
    _, _, vt = np.linalg.svd(allp - mean, full_matrices=False)
    basis = np.zeros((obs.shape[1], 3))
    k = min(3, vt.shape[0])
    basis[:, :k] = vt[:k].T
    p_obs, p_rol = (obs - mean) @ basis, (rol - mean) @ basis
    scale = np.abs(np.concatenate([p_obs, p_rol.reshape(-1, 3)])).max()
    scale = size / scale if scale > 0 else 1.0
    return p_obs * scale, p_rol * scale
