"""Behavior model: how an embedding moves from one frame to the next.

``original-vae`` is the original Alive Scene design: a VAE-style network
D -> 400 -> 300 -> latent 256 -> 300 -> 400 -> D with BatchNorm, dropout 0.55
and a tanh output, trained with MSE + KLD to map an embedding to its motion
(the difference to the next embedding) on 5x slerp-densified sequences.

Every model exposes the same stepping interface so the rollout loop does not
care which one it drives::

    state = model.init_state(e)                    # e: (K, D) torch
    motion, state = model.motion(e, state, temperature, generator)
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import AliveError
from .sphere import densify

ARCHITECTURES = ("original-vae",)
DEFAULT_ARCH = "original-vae"


@dataclass
class BehaviorConfig:
    arch: str = DEFAULT_ARCH
    densify: int = 5
    hidden1: int = 400
    hidden2: int = 300
    latent: int = 256
    dropout: float = 0.55
    kld_weight: float = 1.0
    lr: float = 1e-3
    epochs: int = 200
    seconds: float = 0.0
    batch_size: int = 64
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict) -> "BehaviorConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def to_dict(self) -> dict:
        return asdict(self)


def _build(cfg: BehaviorConfig, dim: int):
    import torch
    nn = torch.nn

    class OriginalVAE(nn.Module):
        def __init__(self):
            super().__init__()
            def block(i, o):
                return [nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU(), nn.Dropout(cfg.dropout)]
            self.enc = nn.Sequential(*block(dim, cfg.hidden1), *block(cfg.hidden1, cfg.hidden2))
            self.mu = nn.Linear(cfg.hidden2, cfg.latent)
            self.logvar = nn.Linear(cfg.hidden2, cfg.latent)
            self.dec = nn.Sequential(*block(cfg.latent, cfg.hidden2), *block(cfg.hidden2, cfg.hidden1),
                                     nn.Linear(cfg.hidden1, dim), nn.Tanh())

        def forward(self, e, noise_scale: float = 1.0, generator=None):
            h = self.enc(e)
            mu, logvar = self.mu(h), self.logvar(h)
            eps = torch.randn(mu.shape, generator=generator, device=mu.device)
            z = mu + noise_scale * eps * torch.exp(0.5 * logvar)
            return self.dec(z), mu, logvar

        def loss(self, e, motion):
            pred, mu, logvar = self(e)
            mse = torch.sum((pred - motion) ** 2, dim=1).mean()
            kld = -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp(), dim=1).mean()
            return mse + cfg.kld_weight * kld

        def init_state(self, e):
            return None

        def motion(self, e, state, temperature, generator):
            pred, _, _ = self(e, 1.0, generator)
            return temperature * pred, state

    if cfg.arch == "original-vae":
        return OriginalVAE()
    raise AliveError(f"unknown behavior architecture '{cfg.arch}'", f"choose one of {', '.join(ARCHITECTURES)}")


class Behavior:
    def __init__(self, cfg: BehaviorConfig, dim: int, device: str = "cpu"):
        self.cfg = cfg
        self.dim = int(dim)
        self.device = device
        self.net = _build(cfg, self.dim).to(device)

    def header(self) -> dict:
        return {"kind": "behavior", "config": self.cfg.to_dict(), "dim": self.dim, "format": 1}

    def init_state(self, e):
        return self.net.init_state(e)

    def motion(self, e, state, temperature: float, generator):
        return self.net.motion(e, state, temperature, generator)

    def save(self, path: Path) -> None:
        from .checkpoint import save_model
        save_model(Path(path), self.net.state_dict(), self.header())

    @classmethod
    def load(cls, path: Path, device: str = "cpu", expect_dim: Optional[int] = None) -> "Behavior":
        from .checkpoint import load_model
        state, header = load_model(Path(path), "behavior model")
        if header.get("kind") != "behavior":
            raise AliveError(f"'{path}' is not a behavior checkpoint", "point at a model folder made by train")
        if expect_dim is not None and int(header["dim"]) != int(expect_dim):
            raise AliveError(f"behavior model expects embeddings of size {header['dim']}, got {expect_dim}",
                             "train again with this encoder")
        cfg = BehaviorConfig.from_dict(header.get("config", {}))
        beh = cls(cfg, header["dim"], device)
        try:
            beh.net.load_state_dict(state)
        except RuntimeError as err:
            raise AliveError(f"behavior checkpoint '{path}' does not match architecture '{cfg.arch}': "
                             f"{str(err).splitlines()[0]}", "train again") from None
        beh.net.eval()
        return beh


def train_behavior(embeddings: np.ndarray, cfg: BehaviorConfig, reporter=None,
                   device: str = "cpu") -> Behavior:
    """Fit the behavior model to one observed embedding sequence (N, D)."""
    import torch
    from .device import seed_everything
    from .protocol import Reporter
    reporter = reporter or Reporter()
    emb = np.asarray(embeddings, np.float32)
    if len(emb) < 2:
        raise AliveError("the behavior model needs at least 2 frames", "capture a longer frame range")
    seed_everything(cfg.seed)
    dense = densify(emb, cfg.densify)
    x = torch.from_numpy(dense[:-1]).to(device)
    y = torch.from_numpy(dense[1:] - dense[:-1]).to(device)
    beh = Behavior(cfg, emb.shape[1], device)
    opt = torch.optim.Adam(beh.net.parameters(), lr=cfg.lr)
    rng = torch.Generator().manual_seed(cfg.seed)
    bs = max(2, min(cfg.batch_size, len(x)))
    t0 = time.monotonic()
    beh.net.train()
    for epoch in range(cfg.epochs):
        if cfg.seconds and time.monotonic() - t0 >= cfg.seconds:
            break
        reporter.check_cancel()
        perm = torch.randperm(len(x), generator=rng)
        total = 0.0
        for i in range(0, len(x) - 1, bs):
            idx = perm[i:i + bs]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            loss = beh.net.loss(x[idx], y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        if (epoch + 1) % 10 == 0 or epoch + 1 == cfg.epochs:
            reporter.progress((epoch + 1) / cfg.epochs, f"behavior epoch {epoch + 1} loss {total / len(x):.5f}")
            reporter.metric("behavior_loss", total / len(x), epoch + 1)
    beh.net.eval()
    return beh
