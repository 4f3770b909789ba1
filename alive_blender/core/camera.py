"""Camera math: Blender camera parameters -> pinhole intrinsics, unprojection.

Conventions: K is OpenCV-style (x right, y down, z forward, pixel centres at
+0.5, row 0 at the top). ``world_from_camera`` is Blender's camera matrix
(camera looks down -Z, +Y up) without scale. Depth is planar (distance along
the view axis), which is what Blender's Z pass holds in every engine.

The viewplane follows Blender's ``BKE_camera_params_compute_viewplane``:
sensor fit AUTO picks the axis with the larger ``size * pixel_aspect``, shift
is measured in units of the fitted axis, and non-square pixels scale y.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class CameraParams:
    """What Blender knows about a perspective camera at one frame."""
    lens: float                # focal length, mm
    sensor_width: float        # mm
    sensor_height: float       # mm
    sensor_fit: str            # 'AUTO' | 'HORIZONTAL' | 'VERTICAL'
    shift_x: float
    shift_y: float
    width: int                 # render resolution in pixels (after percentage)
    height: int
    pixel_aspect_x: float = 1.0
    pixel_aspect_y: float = 1.0
    clip_start: float = 0.1
    clip_end: float = 100.0

    def to_dict(self) -> dict:
        return asdict(self)


def intrinsics(cam: CameraParams) -> np.ndarray:
    """3x3 K for the render's pixel grid."""
    W, H = float(cam.width), float(cam.height)
    aspx, aspy = float(cam.pixel_aspect_x), float(cam.pixel_aspect_y)
    fit = cam.sensor_fit
    if fit == "AUTO":
        sensor = cam.sensor_width
        fit = "HORIZONTAL" if aspx * W >= aspy * H else "VERTICAL"
    elif fit == "HORIZONTAL":
        sensor = cam.sensor_width
    elif fit == "VERTICAL":
        sensor = cam.sensor_height
    else:
        raise ValueError(f"unknown sensor_fit {cam.sensor_fit!r}")
    ycor = aspy / aspx
    viewfac = W if fit == "HORIZONTAL" else ycor * H
    fx = cam.lens * viewfac / sensor
    fy = fx / ycor
    cx = 0.5 * W - cam.shift_x * viewfac
    cy = 0.5 * H + cam.shift_y * viewfac / ycor
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def scale_intrinsics(K: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """K for the same view sampled on a grid sx times wider and sy times taller."""
    S = np.diag([sx, sy, 1.0])
    return S @ K


def strip_scale(matrix: np.ndarray) -> np.ndarray:
    """A 4x4 rigid transform: normalise the rotation columns (camera objects
    may be scaled; scale does not change what a camera sees)."""
    m = np.array(matrix, dtype=np.float64).copy()
    for i in range(3):
        n = np.linalg.norm(m[:3, i])
        if n > 0:
            m[:3, i] /= n
    return m


def unproject(depth: np.ndarray, K: np.ndarray, world_from_camera: np.ndarray, x0: int = 0,
              y0: int = 0) -> np.ndarray:
    """World-space points (H, W, 3) for every pixel of a planar depth map (H, W); ``x0, y0``: the
    map is the window of a larger image starting at that pixel (K is the larger image's)."""
    H, W = depth.shape
    u = np.arange(x0, x0 + W, dtype=np.float64) + 0.5
    v = np.arange(y0, y0 + H, dtype=np.float64) + 0.5
    uu, vv = np.meshgrid(u, v)
    z = depth.astype(np.float64)
    x_cv = (uu - K[0, 2]) / K[0, 0] * z
    y_cv = (vv - K[1, 2]) / K[1, 1] * z
    # OpenCV camera -> Blender camera: flip y and z
    cam = np.stack([x_cv, -y_cv, -z, np.ones_like(z)], axis=-1)
    world = cam @ np.asarray(world_from_camera, dtype=np.float64).T
    return world[..., :3]


def unproject_masked(depth: np.ndarray, mask: np.ndarray, K: np.ndarray, world_from_camera: np.ndarray) -> np.ndarray:
    """World points (P, 3) of the pixels under ``mask`` (row-major order, as ``unproject(...)[mask]``),
    unprojecting only the mask's bounding box: per object and sample at 1280x720 the whole frame
    was most of the work."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not len(rows):
        return np.zeros((0, 3))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    inside = mask[box]
    d = np.where(inside, depth[box], 1.0)   # no inf/NaN arithmetic for the pixels left out
    return unproject(d, K, world_from_camera, int(cols[0]), int(rows[0]))[inside]


def project(points: np.ndarray, K: np.ndarray, world_from_camera: np.ndarray) -> np.ndarray:
    """Pixel coordinates (..., 2) and planar depth (...,) of world points."""
    pts = np.asarray(points, dtype=np.float64)
    cam_from_world = np.linalg.inv(np.asarray(world_from_camera, dtype=np.float64))
    homo = np.concatenate([pts, np.ones(pts.shape[:-1] + (1,))], axis=-1)
    cam = homo @ cam_from_world.T
    z = -cam[..., 2]
    u = K[0, 0] * cam[..., 0] / z + K[0, 2]
    v = K[1, 1] * (-cam[..., 1]) / z + K[1, 2]
    return np.stack([u, v], axis=-1), z
