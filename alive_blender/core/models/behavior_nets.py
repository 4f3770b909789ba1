"""The behavior models' networks: top-level ``nn.Module`` classes, each built
from the behavior's own config (``BehaviorConfig``) and the embedding size,
and the mixture-density helpers. ``behavior.py`` holds the config, the
``Behavior`` wrapper and training, and imports this module (and so torch)
only when a behavior model is used, so the CLI and the add-on start without
loading torch.
"""

from __future__ import annotations

import math
import numpy as np
import torch
from torch import nn

RADIUS_MARGIN = 1.25  # the wall sits this far beyond the farthest observed frame (standardized space)


class Standardizer(nn.Module):
    """Exact, invertible map between unit embeddings and (z, residual):
    z are the whitened PCA coordinates of the log map at ``mu``; the
    residual (the part outside the kept components) rides along
    unchanged, so nothing of the start frame or of a steered embedding
    is thrown away."""

    def __init__(self, dim: int, k: int, frames: int, restore: float, bandwidth: float):
        super().__init__()
        self.restore, self.bandwidth = float(restore), float(bandwidth)
        self.register_buffer("frames", torch.zeros(frames, k))  # the observed shot, standardized
        self.register_buffer("mu", torch.zeros(dim))
        self.register_buffer("vmean", torch.zeros(dim))
        self.register_buffer("basis", torch.zeros(dim, k))
        self.register_buffer("scale", torch.ones(k))
        self.register_buffer("step", torch.ones(()))
        self.register_buffer("radius", torch.full((), 1e6))   # safety wall around the shot
        self.register_buffer("pace", torch.ones(frames))      # observed step length at each frame

    def set(self, fit: dict):
        for name in ("mu", "vmean", "basis", "scale"):
            getattr(self, name).copy_(torch.from_numpy(np.asarray(fit[name], np.float32)))
        self.step.fill_(float(fit["step"]))
        self.radius.fill_(float(np.linalg.norm(fit["z"], axis=1).max()) * RADIUS_MARGIN)
        self.frames.copy_(torch.from_numpy(np.asarray(fit["z"], np.float32)))
        z = np.asarray(fit["z"], np.float32)
        if len(z) > 1:
            # the whole observed angle (the residual's share included), in z units
            steps = np.asarray(fit["angles"], np.float64) / float(np.asarray(fit["scale"])[0])
            steps = np.clip(steps, *np.percentile(steps, [1, 99]))
            self.pace.copy_(torch.from_numpy(np.append(steps, np.median(steps)).astype(np.float32)))

    def weights(self, z):
        """Kernel weights of the observed states around z (K, N)."""
        d2 = torch.cdist(z, self.frames) ** 2
        return torch.softmax(-d2 / (2 * (self.bandwidth * self.step) ** 2), dim=-1)

    def step_length(self, n: int, generator):
        """Step lengths drawn from the scene's own: the observed frame-to-frame
        angles (in z units), trimmed to their 1st..99th percentile (an
        isolated glitch in the footage is not the scene's motion)."""
        j = torch.randint(len(self.pace), (n,), generator=generator).to(self.pace.device)
        return self.pace[j]

    def pull(self, z):
        """Manifold restoring term: move part of the way to the kernel-weighted
        mean of nearby observed states (a mean-shift step on the shot's
        density). It cancels drift off the shot; along the shot the local
        mean is about where z already is, so it does not pin the walk the
        way snapping to the nearest frame does."""
        if self.restore <= 0:
            return z
        return z + self.restore * (self.weights(z) @ self.frames - z)

    def limit(self, z):
        """Keep z inside the wall: the model is only trained near the shot."""
        r = z.norm(dim=-1, keepdim=True)
        return z * torch.clamp(self.radius / r.clamp_min(1e-12), max=1.0)

    def project(self, e):
        c = (e * self.mu).sum(-1, keepdim=True).clamp(-1.0, 1.0)
        v = e - c * self.mu
        n = v.norm(dim=-1, keepdim=True)
        v = v * torch.where(n > 1e-12, torch.arccos(c) / n.clamp_min(1e-12), torch.zeros_like(n))
        x = v - self.vmean
        coef = x @ self.basis
        return coef / self.scale, x - coef @ self.basis.T

    def unproject(self, z, residual):
        v = (z * self.scale) @ self.basis.T + residual + self.vmean
        theta = v.norm(dim=-1, keepdim=True)
        direction = v / theta.clamp_min(1e-12)
        e = torch.cos(theta) * self.mu + torch.sin(theta) * direction
        return e / e.norm(dim=-1, keepdim=True).clamp_min(1e-12)

class MixtureHead(nn.Module):
    """Mixture of diagonal Gaussians over the next step, in step-size units."""

    def __init__(self, hidden: int, k: int, mixtures: int, min_sigma: float):
        super().__init__()
        self.k, self.m = k, mixtures
        self.out = nn.Linear(hidden, mixtures * (1 + 2 * k))
        self.floor = max(min_sigma, 1e-4)
        self.unit = 1.0 / math.sqrt(k)   # a whole step spread over k dimensions

    def forward(self, h):
        o = self.out(h)
        m, k = self.m, self.k
        logits = o[:, :m]
        mean = o[:, m:m + m * k].reshape(-1, m, k) * self.unit
        log_sigma = o[:, m + m * k:].reshape(-1, m, k)
        sigma = (self.floor + nn.functional.softplus(log_sigma + 0.55)) * self.unit  # starts near one step
        return logits, mean, sigma

def mixture_nll(params, x):
    logits, mean, sigma = params
    x = x[:, None, :]
    logp = (-0.5 * ((x - mean) / sigma) ** 2 - torch.log(sigma) - 0.5 * math.log(2 * math.pi)).sum(-1)
    return -(torch.logsumexp(torch.log_softmax(logits, -1) + logp, -1)).mean()

def mixture_sample(params, temperature: float, generator):
    logits, mean, sigma = params
    rows = torch.arange(len(logits), device=logits.device)
    if temperature <= 1e-6:
        return mean[rows, logits.argmax(-1)]
    probs = torch.softmax(logits.float() / temperature, -1).cpu()
    c = torch.multinomial(probs, 1, generator=generator)[:, 0].to(logits.device)
    eps = torch.randn(mean.shape[0], mean.shape[2], generator=generator).to(mean.device)
    return mean[rows, c] + temperature * sigma[rows, c] * eps

class WindowMDN(nn.Module):
    """Memory = the last three states (position and two velocities)."""

    def __init__(self, dim: int, cfg):  # cfg: behavior.BehaviorConfig
        super().__init__()
        k = cfg.components
        self.std = Standardizer(dim, k, cfg.frames, cfg.restore, cfg.restore_bandwidth)
        self.body = nn.Sequential(nn.Linear(3 * k, cfg.hidden), nn.SiLU(), nn.Linear(cfg.hidden, cfg.hidden),
                                  nn.SiLU())
        self.head = MixtureHead(cfg.hidden, k, cfg.mixtures, cfg.min_sigma)

    def initial(self, z):
        return (z, z)

    def step(self, z, state):
        p1, p2 = state
        s = self.std.step
        h = self.body(torch.cat([z, (z - p1) / s, (p1 - p2) / s], -1))
        return self.head(h), (z, p1)

class GruMDN(nn.Module):
    """Memory = a GRU's hidden state over the steps so far."""

    def __init__(self, dim: int, cfg):  # cfg: behavior.BehaviorConfig
        super().__init__()
        k = cfg.components
        self.std = Standardizer(dim, k, cfg.frames, cfg.restore, cfg.restore_bandwidth)
        self.cell = nn.GRUCell(2 * k, cfg.hidden)
        self.body = nn.Sequential(nn.Linear(cfg.hidden + k, cfg.hidden), nn.SiLU())
        self.head = MixtureHead(cfg.hidden, k, cfg.mixtures, cfg.min_sigma)
        self.hidden = cfg.hidden

    def initial(self, z):
        return (torch.zeros(len(z), self.hidden, device=z.device), z)

    def step(self, z, state):
        h, p1 = state
        h = self.cell(torch.cat([z, (z - p1) / self.std.step], -1), h)
        return self.head(self.body(torch.cat([h, z], -1))), (h, z)


class OriginalVAE(nn.Module):
    """The original design's VAE over (embedding -> next motion)."""

    def __init__(self, dim: int, cfg):  # cfg: behavior.BehaviorConfig
        super().__init__()
        self.kld_weight = cfg.kld_weight
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
        return mse + self.kld_weight * kld

    def init_state(self, e):
        return None

    def motion(self, e, state, temperature, generator):
        pred, _, _ = self(e, 1.0, generator)
        return temperature * pred, state


NETS = {"original-vae": OriginalVAE, "mdn-window": WindowMDN, "mdn-gru": GruMDN}
