"""Judge rollouts in embedding space, with thresholds taken from the observed
sequence itself.

Calibration on the observed frames O (N, D):

* nearest-neighbour cosine of each observed frame to the others, leaving out
  itself and its neighbours within +-2 frames (so a frame is not "close" just
  because the next frame is); ``real_cos`` = the 5th percentile of those:
  a point at least that close to some observed frame is as close to the
  scene as observed frames are to each other;
* observed step angles between consecutive frames: their median
  (``step_median``) and 99th percentile (``step_p99``);
* observed mean pairwise angle between all frames (``spread``);
* ``replay_angle`` = half the observed median step: a point closer than that
  to an observed frame is a replay of it (indistinguishable at the scale of
  the scene's own motion).

Metrics of a rollout R (K, S+1, D), index 0 = the start (not judged):

* realism: share of steps whose nearest-observed cosine >= real_cos;
* coverage: share of observed frames that some step comes that close to;
* diversity_10 / _100 / _last: mean pairwise angle between the K variations
  at steps 10, 100 and the last, over ``spread``; diversity_mean: the same
  averaged over every step from 10 on (steadier than a single step);
* smoothness_ratio: median step angle over ``step_median``;
  jump_rate: share of steps larger than ``step_p99``;
* freeze_share: share of variations whose median step over their last 100
  steps is below half ``step_median``;
* min_nearest_cos: lowest nearest-observed cosine (divergence);
* novelty: share of steps farther than ``replay_angle`` from every observed frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .errors import AliveError
from .sphere import normalize

EXCLUDE = 2  # +-frames left out of the leave-one-out nearest neighbour


@dataclass
class Calibration:
    real_cos: float
    step_median: float
    step_p99: float
    spread: float
    replay_angle: float
    frames: int

    def to_dict(self) -> dict:
        return asdict(self)


def _angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0))


def calibrate(observed: np.ndarray) -> Calibration:
    obs = normalize(np.asarray(observed, np.float64)).astype(np.float64)
    n = len(obs)
    if obs.ndim != 2 or n < 2 * EXCLUDE + 2:
        raise AliveError(f"metrics need at least {2 * EXCLUDE + 2} observed frames, got {n}",
                         "capture a longer frame range")
    cos = obs @ obs.T
    idx = np.arange(n)
    cos[np.abs(idx[:, None] - idx[None, :]) <= EXCLUDE] = -np.inf
    nn_cos = cos.max(1)
    steps = _angles(obs[1:], obs[:-1])
    iu = np.triu_indices(n, 1)
    pair = np.arccos(np.clip((obs @ obs.T)[iu], -1.0, 1.0))
    med = float(np.median(steps))
    return Calibration(real_cos=float(np.percentile(nn_cos, 5)), step_median=med,
                       step_p99=float(np.percentile(steps, 99)), spread=float(pair.mean()),
                       replay_angle=0.5 * med, frames=n)


def _pairwise_mean_angle(x: np.ndarray) -> float:
    if len(x) < 2:
        return 0.0
    c = np.clip(x @ x.T, -1.0, 1.0)
    iu = np.triu_indices(len(x), 1)
    return float(np.arccos(c[iu]).mean())


def evaluate(rollouts: np.ndarray, observed: np.ndarray, calibration: Calibration | None = None) -> dict:
    """Metrics of rollouts (K, S+1, D) (or one rollout (S+1, D)) against the
    observed sequence (N, D)."""
    r = np.asarray(rollouts, np.float64)
    if r.ndim == 2:
        r = r[None]
    obs = normalize(np.asarray(observed, np.float64)).astype(np.float64)
    if r.ndim != 3 or r.shape[1] < 2:
        raise AliveError(f"a rollout must have shape (K, steps+1, D) with at least one step, got {r.shape}",
                         "pass the .npy written by the rollout command")
    if r.shape[2] != obs.shape[1]:
        raise AliveError(f"rollout embeddings have size {r.shape[2]} but the observed ones {obs.shape[1]}",
                         "evaluate a rollout made from this work directory")
    if not np.isfinite(r).all():
        raise AliveError("the rollout contains NaN or infinite values", "roll out again")
    cal = calibration or calibrate(obs)
    r = r / np.maximum(np.linalg.norm(r, axis=-1, keepdims=True), 1e-12)
    K, S1, _ = r.shape
    steps_x = r[:, 1:]                                        # judged points (K, S, D)
    flat = steps_x.reshape(-1, r.shape[2])
    cos = flat @ obs.T                                        # (K*S, N)
    nearest = cos.max(1)
    realism = float(np.mean(nearest >= cal.real_cos))
    coverage = float(np.mean((cos >= cal.real_cos).any(0)))
    novelty = float(np.mean(np.arccos(np.clip(nearest, -1.0, 1.0)) > cal.replay_angle))
    step_ang = _angles(r[:, 1:], r[:, :-1])                   # (K, S)
    ratio = float(np.median(step_ang) / max(cal.step_median, 1e-12))
    jump = float(np.mean(step_ang > cal.step_p99))
    tail = step_ang[:, -100:]
    freeze = float(np.mean(np.median(tail, axis=1) < 0.5 * cal.step_median))
    S = S1 - 1
    div = {}
    for name, t in (("diversity_10", 10), ("diversity_100", 100), ("diversity_last", S)):
        t = min(t, S)
        div[name] = _pairwise_mean_angle(r[:, t]) / max(cal.spread, 1e-12)
    # the same averaged over all steps from 10 on: a steadier reading than one step
    later = r[:, min(10, S):]
    cosines = np.clip(np.einsum("ktd,jtd->tkj", later, later), -1.0, 1.0)
    iu = np.triu_indices(K, 1)
    div["diversity_mean"] = (float(np.arccos(cosines[:, iu[0], iu[1]]).mean()) / max(cal.spread, 1e-12)
                             if K > 1 else 0.0)
    return {"realism": realism, "coverage": coverage, **div, "smoothness_ratio": ratio, "jump_rate": jump,
            "freeze_share": freeze, "min_nearest_cos": float(nearest.min()), "novelty": novelty,
            "step_median": float(np.median(step_ang)), "variations": int(K), "steps": int(S),
            "calibration": cal.to_dict()}


TARGETS = {"realism": (0.95, None), "freeze_share": (None, 0.0), "smoothness_ratio": (0.7, 1.5),
           "jump_rate": (None, 0.01), "coverage": (0.5, None), "diversity_last": (0.5, None),
           "novelty": (0.5, None)}


def check_targets(metrics: dict) -> dict:
    """Which of the issue's targets (for the default model at T=1) a result meets."""
    out = {}
    for name, (lo, hi) in TARGETS.items():
        v = metrics[name]
        out[name] = bool((lo is None or v >= lo) and (hi is None or v <= hi))
    return out
