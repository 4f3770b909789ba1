"""Generator: embedding (+ pixel coordinates) -> RGB, depth and alpha.

Every architecture is a coordinate network: it is queried at continuous pixel
coordinates, so it decodes at any resolution. Architectures:

* ``grid-siren`` (default) — a hybrid after NeRV/HNeRV. The embedding is
  standardised: centred and whitened with the training shot's PCA (a shot's
  frames sit in a tiny cone of the sphere), clamped to the training range.
  Two paths add up:
  - a linear base: whitened embedding -> a grid of the 5 outputs at the
    training size, solved in closed form (ridge regression) before training,
    so training starts from the best linear decoder. A pixel is the mean of
    the base's (bicubic) continuous image over its area, so the grid holds a
    de-blurred image and decoding at larger sizes reads it sharper than
    upscaling would;
  - a residual: linear -> conv + pixel-shuffle stages -> a feature grid, plus
    a learned static grid (what all frames share) and a positional encoding
    of (x, y), read bicubically at any (x, y) by a small SIREN head.
  Trained on whole frames per step (far cheaper on a CPU than random pixels).
* ``film-siren`` — a mapping MLP turns the standardised embedding into
  per-layer FiLM scales and shifts that modulate a SIREN over the positional
  encoding (pi-GAN / modulated SIREN).
* ``original-siren`` — the original Alive Scene design: the raw embedding
  concatenated with a 48-d positional encoding of (x, y), four 256-wide sine
  layers (w0 = 20), linear head, Adam 1e-4 on random pixels. A baseline.

Outputs per pixel: RGB in [0,1] (sigmoid; grid-siren: linear, clamped when
decoding), depth in units of the shot's median foreground depth, alpha logit
(coverage; background is masked out of the depth loss).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np

from ..config import Config
from ..device import cpu_threads, torch_threads  # noqa: F401  (cpu_threads: re-exported for the benchmarks)
from ..errors import AliveError
from .layers import FORMAT as LAYERS_FORMAT, ObjectLayers

ARCHITECTURES = ("object-layers", "grid-siren", "film-siren", "original-siren", "region-layers", "object-world")
# object-layers (core/models/layers.py) composes captured pixels per object: invented frames are
# sharp and real (scripts/bench_alive.py); the SIRENs decode embeddings and blend between frames
DEFAULT_ARCH = "object-layers"
# not coordinate networks: built from the capture (layers.py, regions/, world_layers.py)
LAYER_ARCHS = ("object-layers", "region-layers", "object-world")
# what object-layers does with a capture whose camera moves: "world" draws its objects in 3-D
# (object-world: each invented arrangement seen through the shot's own camera); "frames" replays
# whole captured frames (the flat layers cannot be seen from another camera)
MOVING_CAMERA = ("world", "frames")
# object-world (world_layers.py): object-layers plus fused 3-D clouds: moving cameras, never-captured poses
FORMAT = 2
assert LAYERS_FORMAT == FORMAT, "object layers are saved as generator files of this format"


@dataclass
class GeneratorConfig(Config):
    WHAT = "generator"
    arch: str = DEFAULT_ARCH
    hidden: int = 256                 # SIREN width (film/original); grid-siren uses head_hidden
    layers: int = 4
    w0: float = 20.0
    pe_freqs: int = 12                # original/film: 2 coords x sin/cos x 12 = 48-d encoding
    lr: float = 1e-4                  # the original's Adam rate
    lr_film: float = 5e-4
    steps: int = 500                  # the run's default (train, run, panel, batch: core/settings.py)
    seconds: float = 0.0              # wall-clock budget; 0 = none. Whichever ends first.
    frames_per_batch: int = 8
    pixels_per_frame: int = 1024      # random pixels per frame (original/film); grid-siren uses whole frames
    depth_weight: float = 0.5
    alpha_weight: float = 0.1
    seed: int = 0
    checkpoint_every: int = 200
    footage_regions: bool = True      # footage (no object ids): split into independently moving regions
                                      # (core/regions); False = whole captured frames, as before regions
    moving_camera: str = "world"      # object-layers through a moving camera: MOVING_CAMERA above
    # grid-siren
    lr_grid: float = 3e-3
    pcs: int = 64                     # whitened principal components of the embedding kept
    whiten_floor: float = 1e-3        # eigenvalue floor relative to the largest (keeps noise directions small)
    latent: int = 128
    channels: int = 64                # channels of the first (coarsest) grid; halved per stage, at least grid_min
    grid_min: int = 16
    stages: int = 3                   # conv + 2x pixel-shuffle stages
    grid_width: int = 0               # coarsest grid size; 0 = training size / 2**stages (set by training)
    grid_height: int = 0
    out_width: int = 0                # size of the output-resolution grids (base, static) = training size
    out_height: int = 0
    linear_base: bool = True          # closed-form ridge map whitened embedding -> full-res output grid
    ridge: float = 1e-2               # its regularisation (relative to the whitened scale)
    base_lr_scale: float = 0.1        # the base keeps learning, slower than the residual network
    pixel_footprint: bool = True      # base: a pixel is the mean of the continuous image over its area
    upsample: str = "bicubic"         # how grids are read between their points: bicubic | bilinear
    static_channels: int = 8          # a learned full-resolution grid shared by all frames (static scene parts)
    head_hidden: int = 32
    head_layers: int = 1
    head_w0: float = 5.0
    head_pe_freqs: int = 6
    interp_fraction: float = 0.25     # share of a batch made of slerped in-between pairs (no subframes)
    supersample: int = 1              # >1: each pixel is the mean of ss x ss sub-pixel samples (sharper upsampling)
    threads: int = 0                  # CPU threads for torch; 0 = auto (cores not busy with other work)
    micro_batch_pixels: int = 1 << 20  # pixel evaluations per forward/backward pass: a larger step is split
                                       # (gradients accumulated) and cancel is checked between the parts



def _torch():
    import torch
    return torch


def _build(cfg: GeneratorConfig, dim: int):
    if cfg.arch in LAYER_ARCHS:
        raise AliveError(f"'{cfg.arch}' is built from a capture (models/layers.py), not trained from embeddings",
                         "train it with the train stage, or pick a coordinate network (grid-siren)")
    # torch (in generator_nets) loads only when a generator is made: start-up time of the CLI and the add-on
    from .generator_nets import build
    if cfg.arch not in ARCHITECTURES:
        raise AliveError(f"unknown generator architecture '{cfg.arch}'", f"choose one of {', '.join(ARCHITECTURES)}")
    return build(cfg, dim)


def resolve_config(cfg: GeneratorConfig, width: int, height: int) -> GeneratorConfig:
    """Fill in what depends on the training frames (grid-siren's grid size)."""
    if cfg.arch != "grid-siren" or (cfg.grid_width > 0 and cfg.grid_height > 0 and cfg.out_width > 0
                                    and cfg.out_height > 0):
        return cfg
    f = 2 ** cfg.stages
    return replace(cfg, grid_width=max(1, round(width / f)), grid_height=max(1, round(height / f)),
                   out_width=int(width), out_height=int(height))


class Generator:
    """A trained (or training) generator with its settings and depth scale."""

    def __init__(self, cfg: GeneratorConfig, dim: int, depth_scale: float = 1.0, device: str = "cpu"):
        self.cfg = cfg
        self.dim = int(dim)
        self.depth_scale = float(depth_scale)
        self.device = device
        self.net = _build(cfg, self.dim).to(device)
        self.steps_done = 0

    def header(self) -> dict:
        return {"kind": "generator", "config": self.cfg.to_dict(), "dim": self.dim,
                "depth_scale": self.depth_scale, "format": FORMAT}

    def parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def decode(self, embeddings: np.ndarray, width: int, height: int,
               max_batch_pixels: int = 1 << 15) -> dict:
        """RGB (N,H,W,3) in [0,1], depth (N,H,W) in scene units, alpha (N,H,W).

        Memory stays bounded: frames and pixels go through in chunks of at most
        ``max_batch_pixels`` pixel evaluations, whatever the size."""
        torch = _torch()
        emb = np.asarray(embeddings, np.float32)
        if emb.ndim != 2 or emb.shape[1] != self.dim:
            raise AliveError(f"embeddings of shape {emb.shape} do not fit this generator (size {self.dim})",
                             "use embeddings from the same encoder the model was trained with")
        if width < 1 or height < 1:
            raise AliveError(f"cannot decode at {width}x{height}", "give a positive width and height")
        from .generator_nets import pixel_grid  # torch: loaded with the network (start-up time)
        xy = pixel_grid(width, height, self.device)
        P = xy.shape[0]
        n = len(emb)
        rgb = np.empty((n, P, 3), np.float32)
        depth = np.empty((n, P), np.float32)
        alpha = np.empty((n, P), np.float32)
        chunk_p = min(P, max_batch_pixels)
        frames_per = max(1, max_batch_pixels // chunk_p)
        gridded = hasattr(self.net, "features")
        rgb_linear = getattr(self.net, "rgb_linear", False)
        self.net.eval()
        with torch.no_grad(), torch_threads(cpu_threads(self.cfg.threads), self.device):
            for f0 in range(0, n, frames_per):
                e = torch.from_numpy(emb[f0:f0 + frames_per]).to(self.device)
                feats = self.net.features(e) if gridded else None
                for p0 in range(0, P, chunk_p):
                    q = xy[p0:p0 + chunk_p]
                    native = gridded and len(q) == P and (width, height) == self.net.full_size
                    out = self.net.render(feats, q, native, (width, height)) if gridded else self.net(e, q)
                    out = out.float().cpu()
                    sl = (slice(f0, f0 + len(e)), slice(p0, p0 + chunk_p))
                    rgb[sl] = (out[..., :3].clamp(0, 1) if rgb_linear else torch.sigmoid(out[..., :3])).numpy()
                    depth[sl] = (out[..., 3] * self.depth_scale).numpy()
                    alpha[sl] = torch.sigmoid(out[..., 4]).numpy()
        return {"rgb": rgb.reshape(n, height, width, 3), "depth": depth.reshape(n, height, width),
                "alpha": alpha.reshape(n, height, width)}

    def save(self, path: Path) -> None:
        from ..workdir.checkpoint import save_model
        save_model(Path(path), self.net.state_dict(), self.header())

    @classmethod
    def load(cls, path: Path, device: str = "cpu", expect_dim: Optional[int] = None,
             expect_arch: Optional[str] = None) -> "Generator":
        from ..workdir.checkpoint import load_model
        state, header = load_model(Path(path), "generator")
        if header.get("kind") != "generator":
            raise AliveError(f"'{path}' is not a generator checkpoint", "point at a model folder made by train")
        if int(header.get("format", 1)) != FORMAT:
            raise AliveError(f"generator checkpoint '{path}' has format {header.get('format', 1)}, this version "
                             f"reads format {FORMAT}", "train again with this version")
        cfg = GeneratorConfig.from_dict(header.get("config", {}))
        if cfg.arch not in ARCHITECTURES:
            raise AliveError(f"generator checkpoint '{path}' has unknown architecture '{cfg.arch}'",
                             f"this version knows {', '.join(ARCHITECTURES)}: train again")
        if expect_arch is not None and cfg.arch != expect_arch:
            raise AliveError(f"generator checkpoint '{path}' is a '{cfg.arch}', not a '{expect_arch}'",
                             "train again with the architecture you want, or load it as what it is")
        if expect_dim is not None and int(header["dim"]) != int(expect_dim):
            raise AliveError(f"generator expects embeddings of size {header['dim']}, the encoder gives {expect_dim}",
                             "train again with this encoder, or use the encoder the model was trained with")
        if cfg.arch == "region-layers":
            from ..regions.layers import RegionLayers
            return RegionLayers.from_state(cfg, state, header, device)
        if cfg.arch == "object-world":
            from .world_layers import WorldLayers
            return WorldLayers.from_state(cfg, state, header, device)
        if cfg.arch in LAYER_ARCHS:
            return ObjectLayers.from_state(cfg, state, header, device)
        gen = cls(cfg, header["dim"], header.get("depth_scale", 1.0), device)
        try:
            gen.net.load_state_dict(state)
        except RuntimeError as err:
            raise AliveError(f"generator checkpoint '{path}' does not match architecture '{cfg.arch}': "
                             f"{str(err).splitlines()[0]}", "train again") from None
        return gen


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return psnr_of_mse(float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)))


def psnr_of_mse(mse: float) -> float:
    """PSNR (dB, images 0..1) of a mean squared error; 99 for an exact match."""
    return 99.0 if mse <= 1e-10 else 10.0 * math.log10(1.0 / mse)


def _fingerprint(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if a is not None:
            a = np.ascontiguousarray(a)
            h.update(str(a.shape).encode())
            h.update(a.tobytes())
    return h.hexdigest()[:16]


def _interp_pairs(emb: np.ndarray, max_ratio: float = 3.0) -> np.ndarray:
    """Indices i whose neighbour i+1 is close enough to blend (no cut between)."""
    if len(emb) < 2:
        return np.zeros(0, np.int64)
    from ..sphere import angle
    ang = angle(emb[:-1], emb[1:])
    ok = ang <= max_ratio * max(float(np.median(ang)), 1e-6)
    return np.nonzero(ok)[0].astype(np.int64)


def train_generator(embeddings: np.ndarray, rgb: np.ndarray, depth: Optional[np.ndarray],
                    alpha: Optional[np.ndarray], cfg: GeneratorConfig, reporter=None,
                    device: str = "cpu", state_path: Optional[Path] = None,
                    interpolate: Optional[bool] = None) -> Generator:
    """Fit a generator to frames. rgb (N,H,W,3) uint8 or float in [0,1];
    depth (N,H,W) planar depth with inf/<=0 for background, or None (footage);
    alpha (N,H,W) in [0,1] or None. Frames are in time order.

    ``interpolate``: also train on slerped in-between embeddings of
    neighbouring frames against blended targets (``cfg.interp_fraction`` of
    each batch); None = yes when ``cfg.interp_fraction`` > 0. Callers pass
    False when the capture holds real subframes.

    Stops after ``cfg.steps`` or ``cfg.seconds`` (whichever first), checks for
    cancel between steps, and with ``state_path`` saves resumable training
    state every ``cfg.checkpoint_every`` steps and when it stops (also on
    cancel), so a later call with the same data and settings resumes."""
    t_start = time.monotonic()   # the budget counts setup too: wall clock is what a user waits
    torch = _torch()
    from ..workdir.checkpoint import load_training_state, save_training_state
    from ..device import seed_everything
    from ..run.protocol import Reporter
    from ..sphere import normalize
    reporter = reporter or Reporter()

    emb = np.asarray(embeddings, np.float32)
    N = len(emb)
    rgb = np.asarray(rgb)
    if N < 1 or rgb.ndim != 4 or len(rgb) != N:
        raise AliveError(f"generator training needs one image per embedding (got {N} embeddings, "
                         f"images of shape {rgb.shape})", "capture and encode the same frames")
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

    cfg = resolve_config(cfg, W, H)
    grid_arch = cfg.arch == "grid-siren"
    seed_everything(cfg.seed)
    gen = Generator(cfg, emb.shape[1], depth_scale, device)
    if hasattr(gen.net, "set_stats"):
        gen.net.set_stats(emb)
    if getattr(gen.net, "base", None) is not None:
        # targets in output space: RGB as is, depth with the background filled by
        # the per-pixel foreground mean, alpha as a soft logit
        fill = np.where(dmask.sum(0) > 0, (d * dmask).sum(0) / np.maximum(dmask.sum(0), 1), 1.0)
        targets = np.concatenate([rgb.transpose(0, 3, 1, 2), np.where(dmask > 0, d, fill)[:, None],
                                  (alpha * 8.0 - 4.0)[:, None]], axis=1)
        gen.net.fit_base(emb, targets, cfg.ridge)
    lr = {"grid-siren": cfg.lr_grid, "film-siren": cfg.lr_film}.get(cfg.arch, cfg.lr)
    base_params = list(gen.net.base.parameters()) if getattr(gen.net, "base", None) is not None else []
    ids = {id(p) for p in base_params}
    groups = [{"params": [p for p in gen.net.parameters() if id(p) not in ids], "scale": 1.0}]
    if base_params:
        groups.append({"params": base_params, "scale": cfg.base_lr_scale})
    opt = torch.optim.Adam(groups, lr=lr)
    rgb_linear = getattr(gen.net, "rgb_linear", False)
    rng = torch.Generator().manual_seed(cfg.seed)
    fingerprint = _fingerprint(emb, rgb, d, alpha)
    step, elapsed_before = 0, 0.0
    if state_path is not None:
        saved = load_training_state(Path(state_path))
        if saved is not None:
            if saved.get("config") != cfg.to_dict() or saved.get("dim") != emb.shape[1] \
                    or saved.get("data") != fingerprint:
                reporter.warning("generator training checkpoint was made with other settings or data; starting over")
            else:
                gen.net.load_state_dict(saved["net"])
                opt.load_state_dict(saved["opt"])
                rng.set_state(saved["rng"])
                step = int(saved["step"])
                elapsed_before = float(saved.get("elapsed", 0.0))
                reporter.status(f"resuming generator training at step {step}")

    t_emb = torch.from_numpy(emb).to(device)
    P = H * W
    # targets per frame: rgb(3) depth(1) depth-mask(1) alpha(1), pixels row-major
    t_tgt = torch.from_numpy(np.concatenate([rgb.reshape(N, P, 3), d.reshape(N, P, 1), dmask.reshape(N, P, 1),
                                             alpha.reshape(N, P, 1)], axis=-1)).to(device)
    from .generator_nets import pixel_grid, subpixel_grid  # torch: loaded with the network (start-up time)
    grid = pixel_grid(W, H, device)
    ss = max(1, int(cfg.supersample)) if grid_arch else 1
    query = subpixel_grid(W, H, ss, device) if ss > 1 else grid
    Fb = min(cfg.frames_per_batch, N)
    Pb = P if grid_arch else min(cfg.pixels_per_frame, P)
    native_train = grid_arch and ss == 1 and gen.net.full_size == (W, H)
    use_interp = (cfg.interp_fraction > 0) if interpolate is None else bool(interpolate)
    pairs = torch.from_numpy(_interp_pairs(emb)) if use_interp else torch.zeros(0, dtype=torch.long)
    n_interp = int(round(Fb * cfg.interp_fraction)) if len(pairs) else 0
    n_interp = min(n_interp, Fb - 1) if Fb > 1 else 0
    n_real = Fb - n_interp

    def save_state():
        if state_path is not None:
            save_training_state(Path(state_path), {
                "net": gen.net.state_dict(), "opt": opt.state_dict(), "rng": rng.get_state(), "step": step,
                "elapsed": elapsed_before + time.monotonic() - t0, "config": cfg.to_dict(),
                "dim": emb.shape[1], "data": fingerprint})

    def batch():
        fi = torch.randperm(N, generator=rng)[:n_real]
        e, tgt = t_emb[fi], t_tgt[fi]
        if n_interp:
            pi = pairs[torch.randint(0, len(pairs), (n_interp,), generator=rng)]
            t = torch.rand(n_interp, generator=rng)
            a, b = emb[pi.numpy()], emb[pi.numpy() + 1]
            from ..sphere import slerp
            e_mid = torch.from_numpy(normalize(slerp(a, b, t.numpy()))).to(device)
            tt = t.to(device)[:, None, None]
            ta, tb = t_tgt[pi], t_tgt[pi + 1]
            mid = (1 - tt) * ta + tt * tb
            # depth of a blend is only meaningful where both frames see foreground
            both = ta[..., 4:5] * tb[..., 4:5]
            mid = torch.cat([mid[..., :4], both, mid[..., 5:]], dim=-1)
            e, tgt = torch.cat([e, e_mid]), torch.cat([tgt, mid])
        if Pb < P:
            pix = torch.randint(0, P, (Pb,), generator=rng).to(device)
            return e, grid[pix], tgt[:, pix]
        return e, query, tgt

    def sched(frac: float) -> float:
        # grid-siren: short warm-up, cosine decay to 5% over the budget
        if not grid_arch:
            return 1.0
        frac = min(max(frac, 0.0), 1.0)
        warm = min(1.0, frac / 0.03)
        return warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))

    def forward(e, xy):
        """(F, P, 5) raw outputs and (F, P, 3) RGB per pixel (sub-pixel samples averaged)."""
        out = gen.net(e, xy, native=True) if native_train else \
            gen.net(e, xy, size=(W * ss, H * ss)) if grid_arch else gen.net(e, xy)
        if ss > 1:
            out = out.view(out.shape[0], P, ss * ss, 5)
            pred_rgb = (out[..., :3] if rgb_linear else torch.sigmoid(out[..., :3])).mean(2)
            return out.mean(2), pred_rgb
        return out, (out[..., :3] if rgb_linear else torch.sigmoid(out[..., :3]))

    def accumulate_step(e, xy, tgt, per_pass):
        """One step's gradients over frames in parts of ``per_pass``: the same loss as
        one pass (each part's terms scaled by its share), in bounded memory, with
        cancel checked between parts. Returns (loss, rgb loss) as floats."""
        opt.zero_grad(set_to_none=True)
        F_ = len(e)
        n_pix = F_ * tgt.shape[1]
        dm_total = tgt[..., 4].sum().clamp_min(1)
        total = total_rgb = 0.0
        for f0 in range(0, F_, per_pass):
            if f0:
                reporter.check_cancel()
            sl = slice(f0, f0 + per_pass)
            out, pred_rgb = forward(e[sl], xy)
            t = tgt[sl]
            part_rgb = torch.sum((pred_rgb - t[..., :3]) ** 2) / (n_pix * 3)
            part = part_rgb
            if has_depth:
                part = part + cfg.depth_weight * torch.sum(t[..., 4] * (out[..., 3] - t[..., 3]) ** 2) / dm_total
            part = part + cfg.alpha_weight * torch.nn.functional.binary_cross_entropy_with_logits(
                out[..., 4], t[..., 5], reduction="sum") / n_pix
            part.backward()
            total += part.item()
            total_rgb += part_rgb.item()
        return total, total_rgb

    def report(frac, rgb_loss):
        if step % 25 == 0 or step == cfg.steps:
            batch_psnr = 10 * math.log10(1.0 / max(rgb_loss, 1e-10))
            reporter.progress(frac, f"generator step {step} loss {loss_ema:.5f} psnr {batch_psnr:.1f} dB")
            reporter.metric("generator_loss", loss_ema, step)
            reporter.metric("generator_batch_psnr", batch_psnr, step)
        if state_path is not None and cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
            save_state()

    t0 = t_start
    gen.net.train()
    loss_ema = None
    threads = torch_threads(cpu_threads(cfg.threads), device)
    threads.__enter__()
    try:
        while step < cfg.steps:
            elapsed = elapsed_before + time.monotonic() - t0
            if cfg.seconds and elapsed >= cfg.seconds:
                break
            reporter.check_cancel()
            frac = step / cfg.steps
            if cfg.seconds:
                frac = max(frac, elapsed / cfg.seconds)
            for group in opt.param_groups:
                group["lr"] = lr * group.get("scale", 1.0) * sched(frac)
            e, xy, tgt = batch()
            per_pass = max(1, int(cfg.micro_batch_pixels) // max(1, len(xy)))
            if per_pass < len(e):
                # a large step: frames in parts, gradients accumulated, cancel checked between parts
                loss, loss_rgb = accumulate_step(e, xy, tgt, per_pass)
                opt.step()
                step += 1
                lv = loss
                loss_ema = lv if loss_ema is None else 0.9 * loss_ema + 0.1 * lv
                report(frac, loss_rgb)
                continue
            out = gen.net(e, xy, native=True) if native_train else \
                gen.net(e, xy, size=(W * ss, H * ss)) if grid_arch else gen.net(e, xy)
            if ss > 1:  # a pixel is the mean over its area: sub-pixel samples are free to be sharper
                out = out.view(out.shape[0], P, ss * ss, 5)
                pred_rgb = (out[..., :3] if rgb_linear else torch.sigmoid(out[..., :3])).mean(2)
                out = out.mean(2)
            else:
                pred_rgb = out[..., :3] if rgb_linear else torch.sigmoid(out[..., :3])
            loss_rgb = torch.mean((pred_rgb - tgt[..., :3]) ** 2)
            loss = loss_rgb
            if has_depth:
                dm = tgt[..., 4]
                loss = loss + cfg.depth_weight * torch.sum(dm * (out[..., 3] - tgt[..., 3]) ** 2) / dm.sum().clamp_min(1)
            loss = loss + cfg.alpha_weight * torch.nn.functional.binary_cross_entropy_with_logits(
                out[..., 4], tgt[..., 5])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            lv = loss.item()
            loss_ema = lv if loss_ema is None else 0.9 * loss_ema + 0.1 * lv
            report(frac, loss_rgb.item())
    finally:
        threads.__exit__(None, None, None)
        save_state()
    gen.net.eval()
    gen.steps_done = step
    gen.loss = loss_ema
    return gen
