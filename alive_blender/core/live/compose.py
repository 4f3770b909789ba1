"""A live frame from a state, fast at any output size: compose, resize, unproject.

The camera and the output size stay fixed for a session, so what depends only
on them is computed once: the nearest-neighbour gather indices of the depth
and alpha resize, and the world-space ray of every point pixel (a point is
then ``t + ray * z``: three gathers and a multiply-add per tick, no
per-tick matrix product). The object layers compose at their own (capture)
size; the image, as sRGB bytes, is resized bilinearly (torch's uint8 path,
antialiased when reducing: several times faster than float at 1280x720),
depth and alpha by nearest neighbour (no depth between an object and the
background), as ``layers._resized`` does: the live frames equal what
``decode`` writes for the same states, exactly at the capture's size and
within 2 levels of 255 when enlarged (decode interpolates in float).
"""

from __future__ import annotations

import numpy as np

from ..errors import AliveError
from ..pointcloud import point_mask
from ..stepping import StepState


def compose_state(generator, state: StepState, width: int = 0, height: int = 0) -> dict:
    """One frame (rgb (H, W, 3), depth, alpha, ids) of a state: a generator that draws from
    poses offers ``compose_state`` (a 3-D composer); object layers compose the source samples."""
    own = getattr(generator, "compose_state", None)
    if callable(own):
        return own(state, width, height)
    if not hasattr(generator, "compose"):
        raise AliveError("this work directory's generator cannot compose object states",
                         "train with --generator object-layers to play it live")
    res = generator.compose(np.asarray(state.sources)[None], width, height)
    return {k: v[0] for k, v in res.items()}


def to_bytes(rgb: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8 sRGB bytes (rounded, as decode writes them)."""
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


class FrameResizer:
    """(h, w) frames -> (H, W): rgb (uint8 out) bilinear each tick; depth and alpha (nearest) only
    when asked (``near``), and on a point grid straight from the captured-size planes (``on_grid``)."""

    def __init__(self, src_size, size):
        self.w, self.h = src_size
        self.W, self.H = size
        self.ys = np.minimum(((np.arange(self.H) + 0.5) * self.h / self.H).astype(np.int64), self.h - 1)
        self.xs = np.minimum(((np.arange(self.W) + 0.5) * self.w / self.W).astype(np.int64), self.w - 1)
        self.index = (self.ys[:, None] * self.w + self.xs[None, :]).ravel()   # one flat gather per plane
        self._grids = {}

    def near(self, x: np.ndarray) -> np.ndarray:
        """A captured-size plane at the output size, nearest neighbour (as ``layers._resized``)."""
        if (self.w, self.h) == (self.W, self.H):
            return x
        return np.take(x.reshape(-1), self.index).reshape(self.H, self.W)

    def on_grid(self, x: np.ndarray, stride: int) -> np.ndarray:
        """``near(x)[o::s, o::s]`` (o = s // 2) without making the whole output-size plane."""
        s = max(1, int(stride))
        if s not in self._grids:
            o = s // 2
            self._grids[s] = (self.ys[o::s][:, None] * self.w + self.xs[o::s][None, :])
        idx = self._grids[s]
        return np.take(x.reshape(-1), idx.ravel()).reshape(idx.shape)

    def __call__(self, frame: dict) -> dict:
        """rgba (H, W, 4) uint8 (alpha 255: what an image buffer takes in one conversion) and rgb,
        its first three channels (a view)."""
        rgba = np.empty((self.h, self.w, 4), np.uint8)
        rgba[..., :3] = to_bytes(frame["rgb"])
        rgba[..., 3] = 255
        if (self.w, self.h) == (self.W, self.H):
            return {"rgba": rgba, "rgb": rgba[..., :3]}
        import torch
        t = torch.from_numpy(rgba).permute(2, 0, 1)[None]
        # antialias=True selects torch's fast uint8 kernel; enlarging, it is plain bilinear
        t = torch.nn.functional.interpolate(t, size=(self.H, self.W), mode="bilinear", align_corners=False,
                                            antialias=True)
        out = t[0].permute(1, 2, 0).contiguous().numpy()   # the kernel writes planes; torch transposes fastest
        return {"rgba": out, "rgb": out[..., :3]}


class PointProjector:
    """Points of one frame through a fixed camera: positions (P, 3) float32 and sRGB bytes (P, 4),
    the same as ``pointcloud.unproject_frames`` + ``point_bytes`` for that camera and stride."""

    def __init__(self, K: np.ndarray, world_from_camera: np.ndarray, size, stride: int = 1):
        W, H = size
        s = self.stride = max(1, int(stride))
        self.offset = s // 2
        u = (np.arange(W)[self.offset::s] + 0.5 - K[0, 2]) / K[0, 0]
        v = (np.arange(H)[self.offset::s] + 0.5 - K[1, 2]) / K[1, 1]
        rays = np.empty((len(v), len(u), 3), np.float64)
        rays[..., 0], rays[..., 1], rays[..., 2] = u[None, :], -v[:, None], -1.0   # Blender camera axes
        M = np.asarray(world_from_camera, np.float64)
        self.rays = [np.ascontiguousarray(r, np.float32) for r in np.einsum("ij,hwj->ihw", M[:3, :3], rays)]
        self.origin = M[:3, 3].astype(np.float32)

    def _grid(self, x):
        s, o = self.stride, self.offset
        return x[o::s, o::s] if s > 1 else x

    def __call__(self, rgb: np.ndarray, depth_grid: np.ndarray, alpha_grid: np.ndarray):
        """rgb: (H, W, 3) uint8 sRGB bytes (or float in [0, 1]) at the output size; depth and alpha
        already on the point grid (``FrameResizer.on_grid``)."""
        d = depth_grid
        keep = point_mask(d, alpha_grid)
        z = d[keep].astype(np.float32)
        pos = np.empty((len(z), 3), np.float32)
        for c in range(3):
            pos[:, c] = self.rays[c][keep] * z + self.origin[c]
        rgb8 = self._grid(rgb if rgb.dtype == np.uint8 else to_bytes(rgb))
        cols = np.empty((len(z), 4), np.uint8)
        cols[:, 3] = 255
        cols[:, :3] = rgb8[keep]
        return pos, cols
