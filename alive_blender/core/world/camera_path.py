"""Which camera an invented frame is seen through.

Invented frame t of a bake that starts at scene frame S is seen from the
shot's own camera at scene frame S + t. Inside the captured frames that is
the captured camera of that frame. Past them: when the captured camera
motion repeats (its poses at frames f and f + p agree for every captured pair,
p the smallest such period, seen at least twice), frame S + t is taken
modulo p ("cyclic"); otherwise the last captured pose ("last"). A camera that
never moves is "still". The rule used is said in the output (``CameraPath.rule``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POSE_TOLERANCE = 1e-4   # camera matrices closer than this (max abs entry) are the same pose


@dataclass
class CameraPath:
    frames: np.ndarray       # (N,) scene frames of the real captured samples, ascending
    samples: np.ndarray      # (N,) the capture sample of each
    rule: str                # "still" | "cyclic" | "last": what happens past the captured frames
    period: int = 0          # frames, for "cyclic"

    def sample_for(self, t, start=None) -> np.ndarray:
        """The capture sample whose camera shows invented frame(s) t of a bake starting at scene
        frame ``start`` (default: the first captured frame)."""
        t = np.asarray(t, np.int64)
        s0 = int(self.frames[0]) if start is None else int(start)
        f = s0 + t
        first, last = int(self.frames[0]), int(self.frames[-1])
        if self.rule == "cyclic" and self.period > 0:
            beyond = f > last
            f = np.where(beyond, first + (f - first) % self.period, f)
        f = np.clip(f, first, last)
        pos = np.clip(np.searchsorted(self.frames, f), 0, len(self.frames) - 1)
        return self.samples[pos]

    def describe(self) -> str:
        return {"still": "still camera", "cyclic": f"moving camera, cyclic (period {self.period} frames) past the capture",
                "last": "moving camera, its last captured pose past the capture"}[self.rule]


def camera_period(poses: np.ndarray, tol: float = POSE_TOLERANCE) -> int:
    """The smallest p with poses[i + p] == poses[i] for every captured pair, at least two pairs; 0: none."""
    n = len(poses)
    flat = np.asarray(poses, np.float64).reshape(n, -1)
    for p in range(1, n - 1):
        if np.abs(flat[p:] - flat[:-p]).max() <= tol:
            return p
    return 0


def camera_path(capture) -> CameraPath:
    """The camera path of a capture's real frames (one sample per whole scene frame)."""
    real = np.flatnonzero(np.asarray(capture.is_real_frame))
    frames = np.round(capture.frames[real]).astype(np.int64)
    order = np.argsort(frames, kind="stable")
    frames, real = frames[order], real[order]
    frames, first = np.unique(frames, return_index=True)
    real = real[first]
    poses = np.stack([capture.world_from_camera(int(i)) for i in real])
    if np.abs(poses - poses[:1]).max() <= POSE_TOLERANCE:
        return CameraPath(frames, real, "still")
    p = camera_period(poses)
    # a period needs consecutive frames: p samples apart is p frames apart only without gaps
    if p and np.all(np.diff(frames) == 1):
        return CameraPath(frames, real, "cyclic", p)
    return CameraPath(frames, real, "last")
