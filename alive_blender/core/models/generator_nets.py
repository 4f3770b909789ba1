"""The generator's networks: one top-level ``nn.Module`` per architecture,
each built from the generator's own config (``GeneratorConfig``) and the
embedding size. ``generator.py`` holds the config, the ``Generator`` wrapper
and training, and imports this module (and so torch) only when a generator
is made, so the CLI and the add-on start without loading torch.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..errors import AliveError


def positional_encoding(xy, n_freqs: int):
    """(N, 2) coords in [-1, 1] -> (N, 4 * n_freqs) sin/cos features."""
    freqs = (2.0 ** torch.arange(n_freqs, dtype=xy.dtype, device=xy.device)) * math.pi
    ang = xy[..., None] * freqs                      # (N, 2, F)
    return torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1).flatten(-2)


def pixel_grid(width: int, height: int, device="cpu"):
    """(H*W, 2) pixel-centre coordinates in [-1, 1], row-major from the top."""
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width * 2 - 1
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height * 2 - 1
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx, yy], dim=-1).reshape(-1, 2)


def subpixel_grid(width: int, height: int, ss: int, device="cpu"):
    """(H*W*ss*ss, 2): ss x ss sample points inside every pixel, grouped per pixel."""
    g = pixel_grid(width * ss, height * ss, device).view(height, ss, width, ss, 2)
    return g.permute(0, 2, 1, 3, 4).reshape(-1, 2)


def siren_init(layer, w0: float, first: bool) -> None:
    """SIREN initialisation (Sitzmann et al. 2020)."""
    n_in = layer.weight.shape[1]
    bound = 1.0 / n_in if first else math.sqrt(6.0 / n_in) / w0
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound)

class Standardize(nn.Module):
    """Centre and whiten embeddings with the training shot's PCA."""

    def __init__(self, dim: int, k: int):
        super().__init__()
        self.dim = dim
        self.register_buffer("mean", torch.zeros(self.dim))
        self.register_buffer("white", torch.zeros(self.dim, k))
        self.white.data[:min(self.dim, k), :min(self.dim, k)] = torch.eye(min(self.dim, k))

    def fit(self, embeddings: np.ndarray, floor: float):
        e = torch.as_tensor(np.asarray(embeddings, np.float64))
        mean = e.mean(0)
        c = e - mean
        cov = c.T @ c / max(len(e) - 1, 1)
        evals, evecs = torch.linalg.eigh(cov)               # ascending
        evals, evecs = evals.flip(0), evecs.flip(1)
        k = self.white.shape[1]
        scale = 1.0 / torch.sqrt(evals[:k].clamp_min(0) + evals[0].clamp_min(1e-12) * floor)
        w = torch.zeros(self.dim, k, dtype=torch.float64)
        w[:, :min(k, self.dim)] = evecs[:, :k] * scale
        self.mean.copy_(mean.float())
        self.white.copy_(w.float())

    def forward(self, emb):
        return (emb - self.mean) @ self.white

class OriginalSiren(nn.Module):
    def __init__(self, cfg, dim: int):
        super().__init__()
        self.cfg, self.dim = cfg, dim
        n_pe = 4 * self.cfg.pe_freqs
        self.layers = nn.ModuleList(
            [nn.Linear(self.dim + n_pe if i == 0 else self.cfg.hidden, self.cfg.hidden) for i in range(self.cfg.layers)])
        for i, layer in enumerate(self.layers):
            siren_init(layer, self.cfg.w0, i == 0)
        self.head = nn.Linear(self.cfg.hidden, 5)

    def forward(self, emb, xy):
        """emb (F, D), xy (P, 2) -> (F, P, 5)."""
        pe = positional_encoding(xy, self.cfg.pe_freqs)
        F_, P = emb.shape[0], xy.shape[0]
        h = torch.cat([emb[:, None, :].expand(F_, P, -1), pe[None].expand(F_, P, -1)], dim=-1)
        for layer in self.layers:
            h = torch.sin(self.cfg.w0 * layer(h))
        return self.head(h)

class FilmSiren(nn.Module):
    def __init__(self, cfg, dim: int):
        super().__init__()
        self.cfg, self.dim = cfg, dim
        n_pe = 4 * self.cfg.pe_freqs
        self.std = Standardize(self.dim, self.dim)
        self.layers = nn.ModuleList(
            [nn.Linear(n_pe if i == 0 else self.cfg.hidden, self.cfg.hidden) for i in range(self.cfg.layers)])
        for i, layer in enumerate(self.layers):
            siren_init(layer, self.cfg.w0, i == 0)
        self.mapping = nn.Sequential(
            nn.Linear(self.dim, self.cfg.hidden), nn.LeakyReLU(0.2),
            nn.Linear(self.cfg.hidden, self.cfg.hidden), nn.LeakyReLU(0.2),
            nn.Linear(self.cfg.hidden, 2 * self.cfg.hidden * self.cfg.layers))
        with torch.no_grad():  # start as an unmodulated SIREN: gamma = 1, beta = 0
            self.mapping[-1].weight.mul_(0.1)
            self.mapping[-1].bias.zero_()
        self.head = nn.Linear(self.cfg.hidden, 5)

    def set_stats(self, embeddings: np.ndarray):
        self.std.fit(embeddings, 1e-4)

    def forward(self, emb, xy):
        mod = self.mapping(self.std(emb)).view(emb.shape[0], self.cfg.layers, 2, self.cfg.hidden)
        h = positional_encoding(xy, self.cfg.pe_freqs)[None]            # (1, P, n_pe)
        for i, layer in enumerate(self.layers):
            gamma = 1.0 + mod[:, i, 0, None, :]
            beta = mod[:, i, 1, None, :]
            h = torch.sin(self.cfg.w0 * (gamma * layer(h) + beta))
        return self.head(h)

class GridSiren(nn.Module):
    def __init__(self, cfg, dim: int):
        super().__init__()
        self.cfg, self.dim = cfg, dim
        if self.cfg.grid_width < 1 or self.cfg.grid_height < 1:
            raise AliveError("grid-siren needs its grid size (grid_width, grid_height)",
                             "train the generator: training sets it from the frame size")
        k = min(self.cfg.pcs, self.dim)
        self.std = Standardize(self.dim, k)
        gw, gh = self.cfg.grid_width, self.cfg.grid_height
        ch = [max(self.cfg.grid_min, self.cfg.channels >> i) for i in range(self.cfg.stages + 1)]
        self.to_grid = nn.Sequential(nn.Linear(k, self.cfg.latent), nn.GELU(),
                                     nn.Linear(self.cfg.latent, ch[0] * gh * gw))
        self.stages_ = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(ch[i], ch[i + 1] * 4, 3, padding=1), nn.PixelShuffle(2), nn.GELU())
             for i in range(self.cfg.stages)])
        self.ch = ch
        f = 2 ** self.cfg.stages
        # output-resolution grids live at the training size (which need not be
        # a multiple of 2**stages); the trunk's grid is resampled onto it
        ow, oh = (self.cfg.out_width, self.cfg.out_height) if self.cfg.out_width > 0 and self.cfg.out_height > 0 else (gw * f, gh * f)
        self.trunk_size = (gw * f, gh * f)
        self.static = nn.Parameter(torch.zeros(1, self.cfg.static_channels, oh, ow)) \
            if self.cfg.static_channels > 0 else None
        n_pe = 4 * self.cfg.head_pe_freqs
        self.head = nn.ModuleList(
            [nn.Linear(ch[-1] + max(0, self.cfg.static_channels) + n_pe if i == 0 else self.cfg.head_hidden, self.cfg.head_hidden)
             for i in range(self.cfg.head_layers)])
        for i, layer in enumerate(self.head):
            siren_init(layer, self.cfg.head_w0, False)
        self.out = nn.Linear(self.cfg.head_hidden, 5)
        self.full_size = (ow, oh)
        self.k = k
        self.register_buffer("zlim", torch.full((k,), 1e6))
        # linear base: whitened embedding -> a full-resolution grid of the 5
        # outputs, solved in closed form before training (ridge regression);
        # the SIREN head learns the residual, so training starts from the
        # best linear decoder instead of from noise
        self.base = nn.Linear(k, 5 * oh * ow) if self.cfg.linear_base else None
        with torch.no_grad():
            self.out.weight.mul_(0.01 if self.cfg.linear_base else 1.0)
            self.out.bias.zero_()
            if self.base is not None:
                self.base.weight.zero_()
                self.base.bias.zero_()

    rgb_linear = True   # RGB is the raw output (clamped when decoding): the linear base fits it exactly

    def fit_base(self, embeddings: np.ndarray, targets: np.ndarray, ridge: float):
        """Ridge regression of (N, 5, H', W') targets on the whitened embeddings."""
        if self.base is None:
            return
        # solved on the CPU in float64 (MPS has no float64), whatever the device
        with torch.no_grad():
            z = self.latent(torch.as_tensor(np.asarray(embeddings, np.float32),
                                            device=self.zlim.device)).cpu().double()
        y = torch.as_tensor(targets, dtype=torch.float64).reshape(len(z), -1)
        ym = y.mean(0)
        zm = z.mean(0)
        zc, yc = z - zm, y - ym
        a = torch.linalg.solve(zc.T @ zc + max(ridge, 1e-8) * len(z) * torch.eye(z.shape[1], dtype=torch.float64),
                               zc.T @ yc)                                     # (k, 5*H*W)
        bias = ym - zm @ a
        if self.cfg.pixel_footprint:
            # the fit gives pixel values; the grid must be what blurs to them:
            # invert the footprint blur by fixed-point iteration (its frequency
            # response stays above ~0.5, so this converges fast and stays stable)
            w, h = self.full_size
            xy = pixel_grid(w, h, "cpu").double()
            maps = torch.cat([a, bias[None]]).view(-1, 5, h, w)
            grid = maps.clone()
            for _ in range(20):
                blurred = self.footprint_read(grid, xy, (w, h)).transpose(1, 2).reshape(maps.shape)
                grid = grid + (maps - blurred)
            grid = grid.reshape(len(grid), -1)
            a, bias = grid[:-1], grid[-1]
        with torch.no_grad():
            self.base.weight.copy_(a.T.float())
            self.base.bias.copy_(bias.float())

    def set_stats(self, embeddings: np.ndarray):
        self.std.fit(embeddings, self.cfg.whiten_floor)
        with torch.no_grad():
            z = self.std(torch.as_tensor(np.asarray(embeddings, np.float32), device=self.zlim.device))
            self.zlim.copy_(1.5 * z.abs().amax(0) + 1e-3)

    def latent(self, emb):
        # rolled-out embeddings may leave the shot's cone: keep them within
        # 1.5x the training range per component so decoding stays sane
        z = self.std(emb)
        return torch.maximum(torch.minimum(z, self.zlim), -self.zlim)

    def features(self, emb):
        """(F, D) embeddings -> (F, C, H', W') per-frame feature grids."""
        z = self.latent(emb)
        g = self.to_grid(z).view(len(emb), self.ch[0], self.cfg.grid_height, self.cfg.grid_width)
        for stage in self.stages_:
            g = stage(g)
        w, h = self.full_size
        if self.trunk_size != self.full_size:
            g = torch.nn.functional.interpolate(g, size=(h, w), mode="bilinear", align_corners=False)
        if self.base is not None:   # the base's 5 outputs ride along as the first channels
            g = torch.cat([self.base(z).view(len(emb), 5, h, w), g], dim=1)
        return g

    def _sample(self, grids, xy, native):
        """Read (F, C, H', W') at xy (P, 2) -> (F, P, C), bicubic (sharper than
        bilinear between grid points). ``native``: xy is exactly the grid's own
        pixel centres, where the read is the identity."""
        if native:
            return grids.flatten(2).transpose(1, 2)
        return torch.nn.functional.grid_sample(
            grids, xy[None, None].expand(grids.shape[0], 1, -1, 2), mode=self.cfg.upsample,
            padding_mode="border", align_corners=False)[:, :, 0].transpose(1, 2)

    def footprint_read(self, base, xy, size):
        """The base's value for pixels of a ``size`` (W, H) image centred at xy:
        the mean of its bicubic continuous image over the pixel's area (2x2
        samples). At the training size this is a mild fixed blur of the grid, so
        the grid itself holds the sharper image that decoding at larger sizes shows."""
        dx, dy = 0.5 / size[0], 0.5 / size[1]
        acc = 0.0
        for ox, oy in ((-dx, -dy), (dx, -dy), (-dx, dy), (dx, dy)):
            off = torch.tensor([ox, oy], dtype=xy.dtype, device=xy.device)
            acc = acc + torch.nn.functional.grid_sample(
                base, (xy + off)[None, None].expand(base.shape[0], 1, -1, 2), mode="bicubic",
                padding_mode="border", align_corners=False)[:, :, 0].transpose(1, 2)
        return acc * 0.25

    def render(self, grids, xy, native: bool = False, size=None):
        """Feature grids read at xy (P, 2) -> (F, P, 5); ``size``: the (W, H) of
        the image the pixels belong to (their footprint), default the training size."""
        lin = torch.nn.functional.linear
        w0 = self.cfg.head_w0
        first = self.head[0]
        samp = self._sample(grids, xy, native)
        if self.base is not None:
            base, samp = samp[..., :5], samp[..., 5:]
            if self.cfg.pixel_footprint:
                base = self.footprint_read(grids[:, :5], xy, size or self.full_size)
        c = samp.shape[-1]
        # the static grid and the positional encoding are the same for every
        # frame: their share of the first layer is computed once per batch
        shared = [positional_encoding(xy, self.cfg.head_pe_freqs)]
        if self.static is not None:
            shared.insert(0, self._sample(self.static, xy, native)[0])
        shared = lin(torch.cat(shared, dim=-1), first.weight[:, c:] * w0, first.bias * w0)     # (P, hidden)
        h = torch.sin(lin(samp, first.weight[:, :c] * w0) + shared)
        for layer in self.head[1:]:
            h = torch.sin(lin(h, layer.weight * w0, layer.bias * w0))   # w0 folded into the small weights
        out = self.out(h)
        return out + base if self.base is not None else out

    def forward(self, emb, xy, native: bool = False, size=None):
        return self.render(self.features(emb), xy, native, size)


NETS = {"original-siren": OriginalSiren, "film-siren": FilmSiren, "grid-siren": GridSiren}


def build(cfg, dim: int) -> nn.Module:
    """The network of ``cfg.arch`` for ``dim``-d embeddings."""
    if cfg.arch not in NETS:
        raise AliveError(f"unknown generator architecture '{cfg.arch}'", f"choose one of {', '.join(NETS)}")
    return NETS[cfg.arch](cfg, dim)
