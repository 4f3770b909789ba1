"""A mixture-density head over each slot's next velocity: a rollout can branch.

K diagonal Gaussians per slot (Bishop 1994). Temperature scales a draw's
deviation from the mixture's mean (T = 0: the mean; 1: a true draw), which
keeps a rollout at low T on the model's expected path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ...config import Config


@dataclass
class MixtureConfig(Config):
    WHAT = "mixture head"
    inp: int
    out: int
    components: int = 4
    min_sigma: float = 0.05


class MixtureHead(nn.Module):
    def __init__(self, cfg: MixtureConfig):
        super().__init__()
        self.cfg = cfg
        self.proj = nn.Linear(cfg.inp, cfg.components * (2 * cfg.out + 1))

    def forward(self, x: torch.Tensor) -> dict:
        K, D = self.cfg.components, self.cfg.out
        p = self.proj(x)
        logits, mean, log_sigma = p[..., :K], p[..., K:K + K * D], p[..., K + K * D:]
        shape = x.shape[:-1] + (K, D)
        sigma = nn.functional.softplus(log_sigma.reshape(shape)) + self.cfg.min_sigma
        return {"logits": logits, "mean": mean.reshape(shape), "sigma": sigma}


def mixture_nll(params: dict, target: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of ``target`` (..., D) per slot and dimension."""
    t = target[..., None, :]
    z = (t - params["mean"]) / params["sigma"]
    comp = -0.5 * (z ** 2).sum(-1) - params["sigma"].log().sum(-1) - 0.5 * t.shape[-1] * math.log(2 * math.pi)
    ll = torch.logsumexp(torch.log_softmax(params["logits"], -1) + comp, -1)
    return -ll.mean() / target.shape[-1]


def mixture_mean(params: dict) -> torch.Tensor:
    w = torch.softmax(params["logits"], -1)[..., None]
    return (w * params["mean"]).sum(-2)


def mixture_sample(params: dict, temperature: float, generator: torch.Generator) -> torch.Tensor:
    """One draw per slot: the mixture's mean plus ``temperature`` x (a true draw - the mean), so T = 0
    is the mean, T = 1 a draw from the mixture, T > 1 wider (the randomness, scaled)."""
    logits, mean, sigma = params["logits"], params["mean"], params["sigma"]
    centre = mixture_mean(params)
    if temperature <= 1e-6:
        return centre
    probs = torch.softmax(logits, -1)
    flat = probs.reshape(-1, probs.shape[-1])
    k = torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])
    idx = k[..., None, None].expand(*k.shape, 1, mean.shape[-1])
    mu = torch.gather(mean, -2, idx)[..., 0, :]
    sd = torch.gather(sigma, -2, idx)[..., 0, :]
    return centre + temperature * (mu + sd * torch.randn(mu.shape, generator=generator) - centre)
