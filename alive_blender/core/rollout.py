"""Rollout: run the behavior model as a feedback loop to invent new embeddings.

Each step t = 1..N::

    motion, state = behavior.motion(e, state, T[t])    # the model's memory rides in ``state``
    e <- normalize(e + motion)
    e <- slerp(e, nearest observed embedding, anchor[t])           (optional)
    e <- slerp(e, loop target, 1 / (steps left + 2))    last ``loop_steps`` steps, when looping
    out[t] = slerp(e, steering direction, strength[t])             (optional)

Temperature, anchor and steering strength are scalars or per-step control
curves (the Blender layer samples keyframed properties into them). Steering is
applied to the output only (the unCLIP text-diff recipe, per frame): the
dynamics run unsteered underneath, so steering can be keyed in and out
without the walk losing the scene. Loop closure pulls the walk toward its
target over the last steps so the final frame lies within one observed step
of it and the baked sequence loops.

``mode='video-texture'`` replaces the model by a random walk over the observed
frames with transition costs (Schoedl et al. 2000): a baseline and a safe
fallback. Seeded and reproducible: all randomness comes from one torch
Generator (model) or one numpy Generator (video texture) per call.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional, Sequence, Union

import numpy as np

from .config import Config
from .device import single_thread
from .errors import AliveError
from .sphere import normalize, slerp

Curve = Union[float, Sequence[float], np.ndarray]
MODES = ("model", "video-texture")


@dataclass
class RolloutConfig(Config):
    WHAT = "rollout"
    steps: int = 47                            # 48 frames with the start
    count: int = 1
    seed: int = 0
    start: Optional[Union[int, list]] = None   # frame index, an embedding (list of D floats), None = last frame
    temperature: Curve = 1.0                   # scalar or per-step curve
    anchor: Curve = 0.1                        # pull toward the nearest observed state (0..1; the seed's 0.1)
    mode: str = "model"                        # 'model' | 'video-texture'
    loop: bool = False                         # end near the loop target so the result loops
    loop_target: Optional[int] = None          # frame index; None = the start
    loop_steps: int = 0                        # steps over which the loop closes; 0 = a quarter (>= 4)
    prompt: str = ""                           # text steering (resolved by the stage through the encoder)
    negative_prompt: str = ""
    steer_strength: Curve = 0.0                # scalar or per-step curve (0..1)
    history: int = 8                           # observed frames before the start fed to the model's memory
    dynamism: float = 1.0                      # walks: 0 = still .. 1 = every region/object animated
                                               # (the least active hold first; core/regions/dynamism.py)

    def to_dict(self) -> dict:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, np.ndarray):
                d[k] = v.tolist()
        return d


def curve(value: Curve, steps: int, name: str, lo: float = 0.0, hi: Optional[float] = None) -> np.ndarray:
    """A control as an array of length steps + 1 (index t = value at step t;
    index 0, the start, is unused). Accepts a scalar, ``steps`` values (steps
    1..N) or ``steps + 1`` values."""
    arr = np.asarray(value, np.float64)
    if arr.ndim == 0:
        arr = np.full(steps + 1, float(arr))
    elif arr.ndim == 1 and len(arr) == steps:
        arr = np.concatenate([arr[:1], arr])
    elif not (arr.ndim == 1 and len(arr) == steps + 1):
        raise AliveError(f"the {name} curve has {arr.size} values for a rollout of {steps} steps",
                         f"give one value, {steps} values (one per step) or {steps + 1}")
    if not np.isfinite(arr).all():
        raise AliveError(f"the {name} curve contains NaN or infinite values", "key finite values")
    if arr.min() < lo or (hi is not None and arr.max() > hi):
        rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise AliveError(f"{name} must be within {rng}, got {arr.min():g}..{arr.max():g}", f"keep {name} in {rng}")
    return arr


def check_config(cfg: RolloutConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the settings alone can get wrong (counts, mode, NaN/Inf or
    out-of-range controls), so a pipeline refuses them before its first
    render; returns the (temperature, anchor, strength) curves."""
    if cfg.steps < 1 or cfg.count < 1:
        raise AliveError("rollout needs at least one step and one variation", "raise --steps / --count")
    if cfg.mode not in MODES:
        raise AliveError(f"unknown rollout mode '{cfg.mode}'", f"use one of {', '.join(MODES)}")
    temps = curve(cfg.temperature, cfg.steps, "temperature")
    anchors = curve(cfg.anchor, cfg.steps, "anchor", 0.0, 1.0)
    strengths = curve(cfg.steer_strength, cfg.steps, "steering strength", 0.0, 1.0)
    return temps, anchors, strengths


def check_embeddings(arr, dim: int, what: str = "rollout", missing_ok: bool = False) -> np.ndarray:
    """A rollout (K, N, D) or embeddings (N, D) from a file, checked against the
    model's embedding size before anything is decoded: right shape, right D,
    every value finite. Returns it as float32. ``missing_ok``: rows that are NaN
    throughout (an object walk's states not encoded, core/walk_encoding) pass,
    for a reader that composes the states and needs only the count."""
    arr = np.asarray(arr)
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise AliveError(f"the {what} has shape {arr.shape}; expected (N, D) or (K, N, D) embeddings",
                         "give a .npy written by alive rollout or alive encode")
    if arr.shape[-1] != dim:
        raise AliveError(f"the {what} has embeddings of size {arr.shape[-1]}, the model's are {dim}",
                         "use a rollout made with this work directory's model (and encoder)")
    if not np.issubdtype(arr.dtype, np.floating):
        raise AliveError(f"the {what} holds {arr.dtype} values, not floats", "give float32 embeddings")
    bad = ~np.isfinite(arr)
    unencoded = np.isnan(arr).all(-1)   # whole rows: a walk's composed frames left unencoded
    if missing_ok:
        bad &= ~unencoded[..., None]
    elif unencoded.any() and not (bad & ~unencoded[..., None]).any():
        raise AliveError(f"the {what} has {int(unencoded.sum())} rows that are not encoded (NaN): an object walk's "
                         "composed frames, left for a reader that needs them to encode",
                         "read it with alive evaluate / stages.rollout_embeddings (they encode them), or decode "
                         "it with its states (R.states.npy beside R.npy)")
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AliveError(f"the {what} contains {int(bad.sum())} NaN or infinite values (first at index {where})",
                         "re-run the rollout; if it happens again, retrain the model")
    return arr.astype(np.float32, copy=False)


def _check(obs: np.ndarray, cfg: RolloutConfig):
    temps, anchors, strengths = check_config(cfg)
    start_idx, start = resolve_start(obs, cfg.start)
    target = start
    if cfg.loop and cfg.loop_target is not None:
        t = _frame_index(obs, cfg.loop_target, "loop target")
        target = obs[t]
    return start_idx, start, target, temps, anchors, strengths


def _frame_index(obs: np.ndarray, value, what: str) -> int:
    i = int(value)
    if not -len(obs) <= i < len(obs):
        raise AliveError(f"rollout {what} {value} is outside the {len(obs)} observed frames",
                         f"choose a frame between 0 and {len(obs) - 1}")
    return i % len(obs)


def resolve_start(obs: np.ndarray, start) -> tuple[Optional[int], np.ndarray]:
    """(frame index or None, start embedding) for a start given as None (the
    last frame), a frame index, or an embedding."""
    if start is None:
        return len(obs) - 1, obs[-1]
    if isinstance(start, (int, np.integer)):
        i = _frame_index(obs, start, "start")
        return i, obs[i]
    arr = np.asarray(start, np.float32)
    if arr.ndim == 0:
        i = _frame_index(obs, int(arr), "start")
        return i, obs[i]
    if arr.shape != (obs.shape[1],) or not np.isfinite(arr).all() or np.linalg.norm(arr) < 1e-8:
        raise AliveError(f"start embedding has shape {arr.shape}; expected a non-zero vector of {obs.shape[1]}",
                         "pass a frame index or an embedding from this encoder")
    return None, normalize(arr)


def start_frame(observed: np.ndarray, start) -> int:
    """The observed frame a rollout starts from, whichever way the start was
    given: its index, or for a start embedding the nearest observed frame. The
    one rule for it: the video-texture walk starts there and the bake sees the
    invented frames through that frame's camera (stored as ``start_frame`` in
    the rollout's .json)."""
    obs = normalize(observed)
    index, emb = resolve_start(obs, start)
    return index if index is not None else int(np.argmax(obs @ emb))


def rollout(behavior, observed: np.ndarray, cfg: RolloutConfig, reporter=None,
            steer_direction: Optional[np.ndarray] = None) -> np.ndarray:
    """Embeddings of shape (count, steps + 1, D); index 0 is the start."""
    obs = normalize(observed)
    start_idx, start, target, temps, anchors, strengths = _check(obs, cfg)
    if strengths.max() > 0 and steer_direction is None:
        raise AliveError("steering strength is set but there is no steering direction",
                         "give a prompt (the encoder turns it into a direction)")
    if cfg.mode == "video-texture":
        out = video_texture_walk(obs, cfg.steps, cfg.count, cfg.seed, start_frame(obs, cfg.start), temps)
        out[:, 0] = start
    elif getattr(behavior, "stochastic", False):
        with single_thread(behavior.device):
            out = _model_walk(behavior, obs, cfg, start_idx, start, target, temps, anchors, reporter)
    else:
        out = _model_walk(behavior, obs, cfg, start_idx, start, target, temps, anchors, reporter)
    if steer_direction is not None and strengths.max() > 0:
        d = normalize(np.asarray(steer_direction, np.float32).reshape(-1))
        if d.shape[0] != obs.shape[1]:
            raise AliveError(f"steering direction has size {d.shape[0]}, embeddings {obs.shape[1]}",
                             "use the encoder that made the embeddings")
        for t in range(1, cfg.steps + 1):
            if strengths[t] > 0:
                out[:, t] = slerp(out[:, t], np.broadcast_to(d, out[:, t].shape), float(strengths[t]))
    if not np.isfinite(out).all():  # a diverged model: never hand NaN on to decode and bake
        raise AliveError("the behavior model produced NaN or infinite embeddings",
                         "retrain it (alive run --force train) or lower the temperature")
    return out


def _model_walk(behavior, obs, cfg, start_idx, start, target, temps, anchors, reporter) -> np.ndarray:
    import torch
    steps, count = cfg.steps, cfg.count
    loop_steps = 0
    if cfg.loop:
        loop_steps = min(steps, cfg.loop_steps if cfg.loop_steps > 0 else max(4, steps // 4))
    gen = torch.Generator().manual_seed(int(cfg.seed))
    e = np.repeat(start[None], count, axis=0).astype(np.float32)
    out = np.empty((count, steps + 1, obs.shape[1]), np.float32)
    out[:, 0] = e
    step_obs = _median_step(obs)
    dev = behavior.device
    with torch.no_grad():
        et = torch.from_numpy(e).to(dev)
        hist = None
        if start_idx is not None and cfg.history > 0 and start_idx > 0:
            h = obs[max(0, start_idx - cfg.history):start_idx]
            hist = torch.from_numpy(np.repeat(h[None], count, axis=0)).to(dev)
        state = behavior.init_state(et, hist) if hist is not None else behavior.init_state(et)
        for step in range(1, steps + 1):
            if reporter is not None and step % 50 == 0:
                reporter.check_cancel()
                reporter.progress(step / steps, f"rollout step {step}")
            motion, state = behavior.motion(et, state, float(temps[step]), gen)
            e = normalize((et + motion).cpu().numpy())
            if anchors[step] > 0:
                nearest = obs[np.argmax(e @ obs.T, axis=1)]
                e = slerp(e, nearest, float(anchors[step]))
            left = steps - step
            if loop_steps and left < loop_steps:
                e = slerp(e, np.broadcast_to(target, e.shape), 1.0 / (left + 2))
                if left == 0:
                    e = _within(e, target, 0.5 * step_obs)
            out[:, step] = e
            et = torch.from_numpy(np.ascontiguousarray(e)).to(dev)
    return out


def _median_step(obs: np.ndarray) -> float:
    if len(obs) < 2:
        return 0.0
    return float(np.median(np.arccos(np.clip(np.sum(obs[1:] * obs[:-1], -1), -1.0, 1.0))))


def _within(e: np.ndarray, target: np.ndarray, max_angle: float) -> np.ndarray:
    """Move rows of e along the great circle to at most ``max_angle`` from target."""
    tgt = np.broadcast_to(target, e.shape)
    ang = np.arccos(np.clip(np.sum(e * tgt, -1), -1.0, 1.0))
    far = ang > max_angle
    if not far.any():
        return e
    t = np.where(far, 1.0 - max_angle / np.maximum(ang, 1e-12), 0.0)
    return slerp(e, tgt, t.astype(np.float32))


# ---------------------------------------------------------------- baselines

def video_texture_walk(obs: np.ndarray, steps: int, count: int, seed: int, start: int,
                       temperature: Curve = 1.0, sigma: float = 1.0) -> np.ndarray:
    """Random walk over observed frames (Schoedl et al. 2000): from frame i
    go to j with probability ~ exp(-D(i+1, j) / (sigma * T * median step)),
    D = angle between frames; the last frame has no successor, so its costs
    are D(i, j) plus one step, excluding itself."""
    obs = normalize(obs)
    n = len(obs)
    temps = curve(temperature, steps, "temperature")
    dist = np.arccos(np.clip(obs @ obs.T, -1.0, 1.0))
    step = max(_median_step(obs), 1e-9)
    cost = np.empty((n, n))
    cost[:-1] = dist[1:]
    cost[-1] = dist[-1] + step
    cost[-1, -1] = np.inf
    rng = np.random.default_rng(seed)
    idx = np.full(count, int(start) % n)
    path = np.empty((count, steps + 1), int)
    path[:, 0] = idx
    for t in range(1, steps + 1):
        scale = sigma * max(temps[t], 1e-6) * step
        logits = -cost[idx] / scale
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        u = rng.random(count)[:, None]
        idx = np.minimum((np.cumsum(p, 1) < u).sum(1), n - 1)
        path[:, t] = idx
    return obs[path].astype(np.float32)


def copy_last(obs: np.ndarray, steps: int, count: int, start: int) -> np.ndarray:
    """The frozen baseline: the start frame, repeated."""
    e = normalize(obs)[start]
    return np.repeat(np.repeat(e[None, None], steps + 1, 1), count, 0).astype(np.float32)


def random_walk(obs: np.ndarray, steps: int, count: int, seed: int, start: int,
                step_angle: Optional[float] = None) -> np.ndarray:
    """Isotropic random walk on the sphere with the observed median step."""
    obs = normalize(obs)
    a = _median_step(obs) if step_angle is None else float(step_angle)
    rng = np.random.default_rng(seed)
    e = np.repeat(obs[start][None], count, 0).astype(np.float64)
    out = np.empty((count, steps + 1, obs.shape[1]), np.float32)
    out[:, 0] = e
    for t in range(1, steps + 1):
        g = rng.standard_normal(e.shape)
        g -= np.sum(g * e, -1, keepdims=True) * e
        g /= np.linalg.norm(g, axis=-1, keepdims=True)
        e = np.cos(a) * e + np.sin(a) * g
        e /= np.linalg.norm(e, axis=-1, keepdims=True)
        out[:, t] = e
    return out
