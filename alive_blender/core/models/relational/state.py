"""Per-object state: pose features from world matrices and back.

A pose is 12 numbers: position (3), the continuous 6-D rotation (the first two
columns of the rotation matrix; Zhou et al. 2019: continuous, unlike Euler
angles or quaternions) and log scale (3). A state is the pose and the
velocity (the pose's change over one step).
"""

from __future__ import annotations

import numpy as np

POSE = 12
POS, ROT, SCALE = slice(0, 3), slice(3, 9), slice(9, 12)


def pose_features(world: np.ndarray) -> np.ndarray:
    """(..., 4, 4) world matrices -> (..., 12) pose features."""
    w = np.asarray(world, np.float64)
    lin = w[..., :3, :3]
    scale = np.linalg.norm(lin, axis=-2).clip(1e-9)          # column norms
    rot = lin / scale[..., None, :]
    return np.concatenate([w[..., :3, 3], rot[..., :, 0], rot[..., :, 1], np.log(scale)], -1)


def orthonormal(rot6: np.ndarray) -> np.ndarray:
    """(..., 6) -> (..., 3, 3) rotation by Gram-Schmidt on the two columns."""
    a, b = rot6[..., :3], rot6[..., 3:]
    x = a / np.linalg.norm(a, axis=-1, keepdims=True).clip(1e-9)
    b = b - np.sum(x * b, -1, keepdims=True) * x
    y = b / np.linalg.norm(b, axis=-1, keepdims=True).clip(1e-9)
    return np.stack([x, y, np.cross(x, y)], -1)


def renormalize(features: np.ndarray) -> np.ndarray:
    """Pose features with the rotation part made orthonormal again (after a step or a blend)."""
    f = np.array(features, np.float64)
    rot = orthonormal(f[..., ROT])
    f[..., 3:6], f[..., 6:9] = rot[..., :, 0], rot[..., :, 1]
    return f


def world_from_features(features: np.ndarray) -> np.ndarray:
    """(..., 12) -> (..., 4, 4) world matrices."""
    f = np.asarray(features, np.float64)
    out = np.zeros(f.shape[:-1] + (4, 4))
    out[..., :3, :3] = orthonormal(f[..., ROT]) * np.exp(f[..., SCALE])[..., None, :]
    out[..., :3, 3] = f[..., POS]
    out[..., 3, 3] = 1.0
    return out


def velocities(features: np.ndarray) -> np.ndarray:
    """(F, M, 12) poses over frames -> their velocities (the first frame repeats the second's)."""
    v = np.zeros_like(features)
    if len(features) > 1:
        v[1:] = features[1:] - features[:-1]
        v[0] = v[1]
    return v


def relative_pose(parent_world: np.ndarray, child_world: np.ndarray) -> np.ndarray:
    """The child's pose in its parent's frame: inv(parent) @ child (both (..., 4, 4))."""
    return np.linalg.inv(parent_world) @ child_world
