"""Generator: embedding (+ pixel coordinates) -> RGB, depth and alpha.

A coordinate network, so it decodes at any resolution. Architectures:

* ``original-siren`` — the original Alive Scene design: the raw embedding
  concatenated with a 48-d positional encoding of (x, y), four 256-wide sine
  layers (w0 = 20), linear head. Kept as an option and a baseline.
* ``film-siren`` (default) — the embedding is standardised (centred and
  whitened with statistics of the training shot: a shot's frames sit in a
  tiny cone of the sphere), a mapping MLP turns it into per-layer FiLM scales
  and shifts that modulate a SIREN over the positional encoding (pi-GAN /
  modulated SIREN). Modulating every layer lets one network hold many frames.

Outputs per pixel: RGB in [0,1] (sigmoid), depth in units of the shot's median
foreground depth, alpha logit (coverage; background masked out of the depth loss).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import AliveError

ARCHITECTURES = ("film-siren", "original-siren")
DEFAULT_ARCH = "film-siren"


@dataclass
class GeneratorConfig:
    arch: str = DEFAULT_ARCH
    hidden: int = 256
    layers: int = 4
    w0: float = 20.0
    pe_freqs: int = 12                # 2 coords x sin/cos x 12 = 48-d encoding
    lr: float = 1e-4                  # the original's Adam rate; film-siren uses lr_film
    lr_film: float = 5e-4
    steps: int = 2000
    seconds: float = 0.0              # wall-clock budget; 0 = none. Whichever ends first.
    frames_per_batch: int = 8
    pixels_per_frame: int = 1024
    depth_weight: float = 0.5
    alpha_weight: float = 0.1
    seed: int = 0
    checkpoint_every: int = 200

    @classmethod
    def from_dict(cls, d: dict) -> "GeneratorConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def to_dict(self) -> dict:
        return asdict(self)


def _torch():
    import torch
    return torch


def positional_encoding(xy, n_freqs: int):
    """(N, 2) coords in [-1, 1] -> (N, 4 * n_freqs) sin/cos features."""
    torch = _torch()
    freqs = (2.0 ** torch.arange(n_freqs, dtype=xy.dtype, device=xy.device)) * math.pi
    ang = xy[..., None] * freqs                      # (N, 2, F)
    return torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1).flatten(-2)


def pixel_grid(width: int, height: int, device="cpu"):
    """(H*W, 2) pixel-centre coordinates in [-1, 1], row-major from the top."""
    torch = _torch()
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width * 2 - 1
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height * 2 - 1
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx, yy], dim=-1).reshape(-1, 2)


def _build(cfg: GeneratorConfig, dim: int):
    torch = _torch()
    nn = torch.nn

    def siren_init(layer, w0, first):
        n_in = layer.weight.shape[1]
        bound = 1.0 / n_in if first else math.sqrt(6.0 / n_in) / w0
        with torch.no_grad():
            layer.weight.uniform_(-bound, bound)

    class OriginalSiren(nn.Module):
        def __init__(self):
            super().__init__()
            n_pe = 4 * cfg.pe_freqs
            self.layers = nn.ModuleList(
                [nn.Linear(dim + n_pe if i == 0 else cfg.hidden, cfg.hidden) for i in range(cfg.layers)])
            for i, layer in enumerate(self.layers):
                siren_init(layer, cfg.w0, i == 0)
            self.head = nn.Linear(cfg.hidden, 5)

        def forward(self, emb, xy):
            """emb (F, D), xy (P, 2) -> (F, P, 5)."""
            pe = positional_encoding(xy, cfg.pe_freqs)
            F_, P = emb.shape[0], xy.shape[0]
            h = torch.cat([emb[:, None, :].expand(F_, P, -1), pe[None].expand(F_, P, -1)], dim=-1)
            for layer in self.layers:
                h = torch.sin(cfg.w0 * layer(h))
            return self.head(h)

    class FilmSiren(nn.Module):
        def __init__(self):
            super().__init__()
            n_pe = 4 * cfg.pe_freqs
            self.register_buffer("emb_mean", torch.zeros(dim))
            self.register_buffer("emb_white", torch.eye(dim))
            self.layers = nn.ModuleList(
                [nn.Linear(n_pe if i == 0 else cfg.hidden, cfg.hidden) for i in range(cfg.layers)])
            for i, layer in enumerate(self.layers):
                siren_init(layer, cfg.w0, i == 0)
            self.mapping = nn.Sequential(
                nn.Linear(dim, cfg.hidden), nn.LeakyReLU(0.2),
                nn.Linear(cfg.hidden, cfg.hidden), nn.LeakyReLU(0.2),
                nn.Linear(cfg.hidden, 2 * cfg.hidden * cfg.layers))
            with torch.no_grad():  # start as an unmodulated SIREN: gamma = 1, beta = 0
                self.mapping[-1].weight.mul_(0.1)
                self.mapping[-1].bias.zero_()
            self.head = nn.Linear(cfg.hidden, 5)

        def set_stats(self, embeddings: np.ndarray):
            """Centre and whiten with the training shot's embeddings (PCA)."""
            e = torch.as_tensor(embeddings, dtype=torch.float32)
            mean = e.mean(0)
            c = e - mean
            cov = c.T @ c / max(len(e) - 1, 1)
            evals, evecs = torch.linalg.eigh(cov)
            scale = 1.0 / torch.sqrt(evals.clamp_min(evals.max() * 1e-4 + 1e-12))
            self.emb_mean.copy_(mean)
            self.emb_white.copy_(evecs * scale)

        def forward(self, emb, xy):
            z = (emb - self.emb_mean) @ self.emb_white
            mod = self.mapping(z).view(emb.shape[0], cfg.layers, 2, cfg.hidden)
            h = positional_encoding(xy, cfg.pe_freqs)[None]            # (1, P, n_pe)
            for i, layer in enumerate(self.layers):
                gamma = 1.0 + mod[:, i, 0, None, :]
                beta = mod[:, i, 1, None, :]
                h = torch.sin(cfg.w0 * (gamma * layer(h) + beta))
            return self.head(h)

    if cfg.arch == "original-siren":
        return OriginalSiren()
    if cfg.arch == "film-siren":
        return FilmSiren()
    raise AliveError(f"unknown generator architecture '{cfg.arch}'", f"choose one of {', '.join(ARCHITECTURES)}")


class Generator:
    """A trained (or training) generator with its settings and depth scale."""

    def __init__(self, cfg: GeneratorConfig, dim: int, depth_scale: float = 1.0, device: str = "cpu"):
        self.cfg = cfg
        self.dim = int(dim)
        self.depth_scale = float(depth_scale)
        self.device = device
        self.net = _build(cfg, self.dim).to(device)

    def header(self) -> dict:
        return {"kind": "generator", "config": self.cfg.to_dict(), "dim": self.dim,
                "depth_scale": self.depth_scale, "format": 1}

    def decode(self, embeddings: np.ndarray, width: int, height: int,
               max_batch_pixels: int = 1 << 18) -> dict:
        """RGB (N,H,W,3) in [0,1], depth (N,H,W) in scene units, alpha (N,H,W).

        Memory stays bounded: frames and pixels go through in chunks of at most
        ``max_batch_pixels`` pixel evaluations."""
        torch = _torch()
        emb = np.asarray(embeddings, np.float32)
        if emb.ndim != 2 or emb.shape[1] != self.dim:
            raise AliveError(f"embeddings of shape {emb.shape} do not fit this generator (size {self.dim})",
                             "use embeddings from the same encoder the model was trained with")
        xy = pixel_grid(width, height, self.device)
        P = xy.shape[0]
        rgb = np.empty((len(emb), P, 3), np.float32)
        depth = np.empty((len(emb), P), np.float32)
        alpha = np.empty((len(emb), P), np.float32)
        chunk_p = min(P, max_batch_pixels)
        frames_per = max(1, max_batch_pixels // chunk_p)
        self.net.eval()
        with torch.no_grad():
            for f0 in range(0, len(emb), frames_per):
                e = torch.from_numpy(emb[f0:f0 + frames_per]).to(self.device)
                for p0 in range(0, P, chunk_p):
                    out = self.net(e, xy[p0:p0 + chunk_p])
                    rgb[f0:f0 + len(e), p0:p0 + chunk_p] = torch.sigmoid(out[..., :3]).cpu().numpy()
                    depth[f0:f0 + len(e), p0:p0 + chunk_p] = (out[..., 3] * self.depth_scale).cpu().numpy()
                    alpha[f0:f0 + len(e), p0:p0 + chunk_p] = torch.sigmoid(out[..., 4]).cpu().numpy()
        n = len(emb)
        return {"rgb": rgb.reshape(n, height, width, 3), "depth": depth.reshape(n, height, width),
                "alpha": alpha.reshape(n, height, width)}

    def save(self, path: Path) -> None:
        from .checkpoint import save_model
        save_model(Path(path), self.net.state_dict(), self.header())

    @classmethod
    def load(cls, path: Path, device: str = "cpu", expect_dim: Optional[int] = None) -> "Generator":
        from .checkpoint import load_model
        state, header = load_model(Path(path), "generator")
        if header.get("kind") != "generator":
            raise AliveError(f"'{path}' is not a generator checkpoint", "point at a model folder made by train")
        cfg = GeneratorConfig.from_dict(header.get("config", {}))
        if expect_dim is not None and int(header["dim"]) != int(expect_dim):
            raise AliveError(f"generator expects embeddings of size {header['dim']}, the encoder gives {expect_dim}",
                             "train again with this encoder, or use the encoder the model was trained with")
        gen = cls(cfg, header["dim"], header.get("depth_scale", 1.0), device)
        try:
            gen.net.load_state_dict(state)
        except RuntimeError as err:
            raise AliveError(f"generator checkpoint '{path}' does not match architecture '{cfg.arch}': "
                             f"{str(err).splitlines()[0]}", "train again") from None
        return gen


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 99.0 if mse <= 1e-10 else 10.0 * math.log10(1.0 / mse)


def train_generator(embeddings: np.ndarray, rgb: np.ndarray, depth: Optional[np.ndarray],
                    alpha: Optional[np.ndarray], cfg: GeneratorConfig, reporter=None,
                    device: str = "cpu", state_path: Optional[Path] = None) -> Generator:
    """Fit a generator to frames. rgb (N,H,W,3) uint8 or float in [0,1];
    depth (N,H,W) planar depth with inf/<=0 for background, or None (footage);
    alpha (N,H,W) in [0,1] or None.

    Stops after ``cfg.steps`` or ``cfg.seconds`` (whichever first), checks for
    cancel between steps, and with ``state_path`` saves resumable training
    state every ``cfg.checkpoint_every`` steps and when it stops."""
    torch = _torch()
    from .checkpoint import load_training_state, save_training_state
    from .device import seed_everything
    from .protocol import Reporter
    reporter = reporter or Reporter()

    emb = np.asarray(embeddings, np.float32)
    N = len(emb)
    rgb = np.asarray(rgb)
    rgb = rgb.astype(np.float32) / 255.0 if rgb.dtype == np.uint8 else rgb.astype(np.float32)
    _, H, W, _ = rgb.shape
    has_depth = depth is not None
    if alpha is None:
        alpha = (np.isfinite(depth) & (depth > 0) & (depth < 1e9)).astype(np.float32) if has_depth \
            else np.ones((N, H, W), np.float32)
    alpha = np.asarray(alpha, np.float32)
    if has_depth:
        fg = np.isfinite(depth) & (depth > 0) & (depth < 1e9)
        depth_scale = float(np.median(depth[fg])) if fg.any() else 1.0
        d = np.where(fg, depth, 0.0).astype(np.float32) / depth_scale
        dmask = fg.astype(np.float32)
    else:
        depth_scale = 1.0
        d = np.zeros((N, H, W), np.float32)
        dmask = np.zeros((N, H, W), np.float32)

    seed_everything(cfg.seed)
    gen = Generator(cfg, emb.shape[1], depth_scale, device)
    if hasattr(gen.net, "set_stats"):
        gen.net.set_stats(emb)
    lr = cfg.lr_film if cfg.arch == "film-siren" else cfg.lr
    opt = torch.optim.Adam(gen.net.parameters(), lr=lr)
    rng = torch.Generator().manual_seed(cfg.seed)
    step = 0
    if state_path is not None:
        saved = load_training_state(Path(state_path))
        if saved is not None:
            if saved.get("config") != cfg.to_dict() or saved.get("dim") != emb.shape[1]:
                reporter.warning("training checkpoint was made with other settings; starting over")
            else:
                gen.net.load_state_dict(saved["net"])
                opt.load_state_dict(saved["opt"])
                rng.set_state(saved["rng"])
                step = int(saved["step"])
                reporter.status(f"resuming generator training at step {step}")

    t_emb = torch.from_numpy(emb).to(device)
    t_rgb = torch.from_numpy(rgb.reshape(N, H * W, 3)).to(device)
    t_d = torch.from_numpy(d.reshape(N, H * W)).to(device)
    t_dm = torch.from_numpy(dmask.reshape(N, H * W)).to(device)
    t_a = torch.from_numpy(alpha.reshape(N, H * W)).to(device)
    grid = pixel_grid(W, H, device)
    Fb = min(cfg.frames_per_batch, N)
    Pb = min(cfg.pixels_per_frame, H * W)

    def save_state():
        if state_path is not None:
            save_training_state(Path(state_path), {"net": gen.net.state_dict(), "opt": opt.state_dict(),
                                                   "rng": rng.get_state(), "step": step,
                                                   "config": cfg.to_dict(), "dim": emb.shape[1]})

    t0 = time.monotonic()
    gen.net.train()
    loss_ema = None
    try:
        while step < cfg.steps:
            if cfg.seconds and time.monotonic() - t0 >= cfg.seconds:
                break
            reporter.check_cancel()
            fi = torch.randperm(N, generator=rng)[:Fb].to(device)
            pi = torch.randint(0, H * W, (Pb,), generator=rng).to(device)
            out = gen.net(t_emb[fi], grid[pi])
            target_rgb = t_rgb[fi][:, pi]
            loss = torch.mean((torch.sigmoid(out[..., :3]) - target_rgb) ** 2)
            if has_depth:
                dm = t_dm[fi][:, pi]
                loss = loss + cfg.depth_weight * torch.sum(dm * (out[..., 3] - t_d[fi][:, pi]) ** 2) / dm.sum().clamp_min(1)
            loss = loss + cfg.alpha_weight * torch.nn.functional.binary_cross_entropy_with_logits(
                out[..., 4], t_a[fi][:, pi])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            lv = loss.item()
            loss_ema = lv if loss_ema is None else 0.95 * loss_ema + 0.05 * lv
            if step % 25 == 0 or step == cfg.steps:
                frac = step / cfg.steps
                if cfg.seconds:
                    frac = max(frac, (time.monotonic() - t0) / cfg.seconds)
                reporter.progress(frac, f"generator step {step} loss {loss_ema:.4f}")
                reporter.metric("generator_loss", loss_ema, step)
            if state_path is not None and cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                save_state()
    finally:
        save_state()
    gen.net.eval()
    gen.steps_done = step
    return gen
