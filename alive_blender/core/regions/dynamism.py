"""Progressive dynamism (Liao, Joshi, Hoppe 2013): one control from static to fully animated.

Regions (or objects) are ranked by activity; at dynamism d the ceil(d x R)
most active ones move and the rest hold the frame they show at the start. 0
is a still frame, 1 every region animated: the least lively parts of the
picture settle first, the way a looping photo calms down.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import AliveError


def animated_regions(activity, dynamism: float) -> np.ndarray:
    """(R,) bool: which regions move at ``dynamism`` (0..1), the most active first."""
    d = float(dynamism)
    if not 0.0 <= d <= 1.0 or not math.isfinite(d):
        raise AliveError(f"dynamism {dynamism} is outside 0..1", "give 0 (still) .. 1 (fully animated)")
    activity = np.asarray(activity, np.float64)
    keep = math.ceil(round(d * len(activity), 9))
    out = np.zeros(len(activity), bool)
    out[np.argsort(-activity, kind="stable")[:keep]] = True
    return out


def apply_dynamism(states: np.ndarray, activity, dynamism: float) -> np.ndarray:
    """States (K, N, R) with the regions that do not move at ``dynamism`` held at their first frame."""
    states = np.array(states, copy=True)
    still = ~animated_regions(activity, dynamism)
    if still.any():
        states[:, :, still] = states[:, :1, still]
    return states
