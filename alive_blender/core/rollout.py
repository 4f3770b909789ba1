"""Rollout: run the behavior model as a feedback loop to invent new embeddings.

Each step: e <- normalize(e + T * motion(e)); then slerp a fraction ``anchor``
of the way toward the nearest observed embedding (keeps the walk on the
scene's manifold); feed back. Seeded and reproducible: all randomness comes
from one torch Generator per rollout call.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from .errors import AliveError
from .sphere import normalize, slerp


@dataclass
class RolloutConfig:
    steps: int = 48
    count: int = 1
    seed: int = 0
    start: Optional[int] = None       # index into the observed sequence; None = last frame
    temperature: float = 1.0
    anchor: float = 0.1

    @classmethod
    def from_dict(cls, d: dict) -> "RolloutConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def to_dict(self) -> dict:
        return asdict(self)


def rollout(behavior, observed: np.ndarray, cfg: RolloutConfig, reporter=None) -> np.ndarray:
    """Embeddings of shape (count, steps + 1, D); index 0 is the start."""
    import torch
    obs = normalize(observed)
    if cfg.steps < 1 or cfg.count < 1:
        raise AliveError("rollout needs at least one step and one variation", "raise --steps / --count")
    start = len(obs) - 1 if cfg.start is None else int(cfg.start)
    if not -len(obs) <= start < len(obs):
        raise AliveError(f"rollout start {cfg.start} is outside the {len(obs)} observed frames",
                         f"choose a start between 0 and {len(obs) - 1}")
    gen = torch.Generator().manual_seed(int(cfg.seed))
    e = np.repeat(obs[start][None], cfg.count, axis=0)
    out = np.empty((cfg.count, cfg.steps + 1, obs.shape[1]), np.float32)
    out[:, 0] = e
    with torch.no_grad():
        et = torch.from_numpy(e).to(behavior.device)
        state = behavior.init_state(et)
        for step in range(1, cfg.steps + 1):
            if reporter is not None and step % 50 == 0:
                reporter.check_cancel()
                reporter.progress(step / cfg.steps, f"rollout step {step}")
            motion, state = behavior.motion(et, state, cfg.temperature, gen)
            e = normalize((et + motion).cpu().numpy())
            if cfg.anchor > 0:
                nearest = obs[np.argmax(e @ obs.T, axis=1)]
                e = slerp(e, nearest, cfg.anchor)
            out[:, step] = e
            et = torch.from_numpy(e).to(behavior.device)
    return out
