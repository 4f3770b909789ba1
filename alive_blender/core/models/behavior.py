"""Behavior model: how an embedding moves from one frame to the next.

Architectures (``BehaviorConfig.arch``):

* ``mdn-window`` and ``mdn-gru``: stochastic motion models that work in a
  standardized space of the shot (log map at the shot's mean direction, then
  PCA + whitening: the frames of one shot sit in a tiny cone, so raw 512-d
  differences are almost all noise; one common scale keeps distances
  proportional to angles). They predict the next step as a mixture
  of Gaussians (its real magnitude and direction distribution; the step scale
  is divided out explicitly, no tanh) from a memory of recent steps: a window
  of the last three states (``mdn-window``) or a GRU's hidden state
  (``mdn-gru``, the recurrent "loop-back memory"). They are trained on their
  own multi-step rollouts (scheduled sampling) with noise on their inputs and
  targets that lead back to the observed path, so errors do not accumulate.
  In a rollout each step takes its direction from the model's sample plus a
  restoring pull toward the kernel-weighted local mean of the observed
  states (a mean-shift step on the shot's density; ``restore``), and its
  length explicitly from the scene's own step lengths. Temperature as in
  World Models: mixture logits divided by T, noise times T; the step length
  is also multiplied by T.
* ``original-vae``: the original Alive Scene design, kept as an option and a
  benchmark baseline: D -> 400 -> 300 -> latent 256 -> 300 -> 400 -> D with
  BatchNorm, dropout 0.55 and a tanh output, trained with MSE + KLD to map an
  embedding to its motion on 5x slerp-densified sequences.

Every model exposes the same stepping interface so the rollout loop does not
care which one it drives::

    state = model.init_state(e, history)          # e: (K, D) torch; history optional (K, H, D)
    motion, state = model.motion(e, state, temperature, generator)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np

from ..config import Config
from ..device import single_thread, torch_threads  # noqa: F401
from ..errors import AliveError
from ..sphere import densify, normalize

ARCHITECTURES = ("object-walk", "mdn-window", "mdn-gru", "original-vae", "relational")
# Default chosen by scripts/bench_behavior.py (render + footage, 16 x 1000 steps): mdn-window and
# mdn-gru both meet every target at T=1; mdn-gru covers/diversifies a little more, mdn-window stays
# on the scene better when the temperature is raised (realism at T=2: 0.93/0.90 vs 0.71/0.85)
# and rolls out faster, and temperature is an artist's control.
# object-walk (core/models/object_walk.py) walks each captured object along its own observed motion and
# pairs with the object-layers generator (new arrangements of real pixels; scripts/bench_alive.py)
DEFAULT_ARCH = "relational"   # issue 20: trained, relational; it falls back to the walk where data is short
WALK_ARCHS = ("object-walk",)   # walks over the capture, trained by object_walk.train_object_walk
# made from a capture's objects (not from embeddings alone): need the object-layers generator to show them;
# relational: core/models/relational (a trained model of how the objects move together)
CAPTURE_ARCHS = WALK_ARCHS + ("relational",)
EMBEDDING_DEFAULT = "mdn-window"  # the default with a generator that decodes embeddings (grid-siren, ...)
# the models that learn in the shot's standardized space
STOCHASTIC_ARCHS = ("mdn-window", "mdn-gru")


@dataclass
class BehaviorConfig(Config):
    WHAT = "behavior"
    arch: str = DEFAULT_ARCH
    epochs: int = 150              # passes over the training windows (all archs)
    seconds: float = 0.0           # optional wall-clock budget
    lr: float = 1e-3
    batch_size: int = 64
    seed: int = 0
    # mdn-window / mdn-gru
    components: int = 0            # PCA dimensions kept; 0 = enough for 99% of the variance (<= 32)
    frames: int = 0                # observed frames (set by training; the model keeps them standardized)
    hidden: int = 128
    mixtures: int = 4
    burn_in: int = 3               # teacher-forced steps that fill the memory
    unroll: int = 6                # steps the model then runs on its own outputs
    own_rate: float = 0.7          # final share of own samples fed back (scheduled sampling)
    input_noise: float = 0.5       # input noise, in units of the observed step size
    min_sigma: float = 0.05        # floor of the predicted spread, in step-size units
    bidirectional: bool = True     # also learn the shot played backwards (turning points)
    restore: float = 0.3           # share of the way to the local mean of observed states per step (0 = off)
    restore_bandwidth: float = 1.0 # kernel width of that local mean, in observed steps
    # original-vae
    densify: int = 5
    hidden1: int = 400
    hidden2: int = 300
    latent: int = 256
    dropout: float = 0.55
    kld_weight: float = 1.0



def fit_standardizer(embeddings: np.ndarray, components: int = 0) -> dict:
    """Standardized space of a shot: log map at the mean direction, centred,
    PCA, one common scale. Returns numpy arrays mu (D), vmean (D), basis (D, k),
    scale (k) and the observed median step size in that space."""
    e = normalize(embeddings).astype(np.float64)
    mu = e.mean(0)
    mu /= max(np.linalg.norm(mu), 1e-12)
    v = _log_map(e, mu)
    vmean = v.mean(0)
    x = v - vmean
    _, sing, vt = np.linalg.svd(x, full_matrices=False)
    var = sing ** 2
    if components <= 0:
        frac = np.cumsum(var) / max(var.sum(), 1e-30)
        components = int(np.searchsorted(frac, 0.99) + 1)
        components = min(components, 32)
    k = max(1, min(int(components), len(e) - 1 if len(e) > 1 else 1, e.shape[1]))
    basis = vt[:k].T
    # one scale for all components (not per-component whitening): distances in
    # z stay proportional to angles between embeddings, so isotropic noise and
    # the restoring kernel mean the same thing in every direction
    scale = np.full(k, max(float(np.sqrt(np.mean(sing[:k] ** 2) / max(len(e) - 1, 1))), 1e-8))
    z = (x @ basis) / scale
    steps = np.linalg.norm(np.diff(z, axis=0), axis=1) if len(z) > 1 else np.ones(1)
    step = float(np.median(steps)) if np.median(steps) > 1e-9 else 1.0
    angles = np.arccos(np.clip(np.sum(e[1:] * e[:-1], axis=1), -1.0, 1.0)) if len(e) > 1 else np.zeros(0)
    return {"angles": angles.astype(np.float32), "mu": mu.astype(np.float32), "vmean": vmean.astype(np.float32), "basis": basis.astype(np.float32),
            "scale": scale.astype(np.float32), "step": np.float32(step), "z": z.astype(np.float32)}


def _log_map(e: np.ndarray, mu: np.ndarray) -> np.ndarray:
    c = np.clip(e @ mu, -1.0, 1.0)[:, None]
    theta = np.arccos(c)
    v = e - c * mu
    n = np.linalg.norm(v, axis=1, keepdims=True)
    return v * np.where(n > 1e-12, theta / np.maximum(n, 1e-12), 0.0)


def _modules() -> dict:
    # torch (in behavior_nets) loads only when a behavior model is used: start-up time of the CLI and the add-on
    from . import behavior_nets as nets
    return {"Standardizer": nets.Standardizer, "WindowMDN": nets.WindowMDN, "GruMDN": nets.GruMDN,
            "nll": nets.mixture_nll, "sample": nets.mixture_sample, "NETS": nets.NETS}


def _build(cfg: BehaviorConfig, dim: int):
    nets = _modules()["NETS"]
    if cfg.arch not in nets:
        raise AliveError(f"unknown behavior architecture '{cfg.arch}'", f"choose one of {', '.join(ARCHITECTURES)}")
    return nets[cfg.arch](dim, cfg)


class Behavior:
    def __init__(self, cfg: BehaviorConfig, dim: int, device: str = "cpu"):
        if cfg.arch in STOCHASTIC_ARCHS and cfg.components <= 0:
            raise AliveError("a stochastic behavior model needs its number of components",
                             "train it with train_behavior (it measures them on the shot)")
        self.cfg = cfg
        self.dim = int(dim)
        self.device = device
        self.net = _build(cfg, self.dim).to(device)

    @property
    def stochastic(self) -> bool:
        return self.cfg.arch in STOCHASTIC_ARCHS

    def header(self) -> dict:
        return {"kind": "behavior", "config": self.cfg.to_dict(), "dim": self.dim, "format": 1}

    def init_state(self, e, history=None):
        """Memory for a rollout starting at ``e`` (K, D); ``history`` (K, H, D)
        are the frames that led up to it (oldest first), when known."""
        if not self.stochastic:
            return self.net.init_state(e)
        net = self.net
        if history is None or history.shape[1] == 0:
            return net.initial(net.std.project(e)[0])
        state = net.initial(net.std.project(history[:, 0])[0])
        for i in range(1, history.shape[1]):
            _, state = net.step(net.std.project(history[:, i])[0], state)
        return state

    def motion(self, e, state, temperature: float, generator):
        if not self.stochastic:
            return self.net.motion(e, state, temperature, generator)
        net = self.net
        std = net.std
        z, residual = std.project(e)
        params, state = net.step(z, state)
        T = float(temperature)
        dz = _modules()["sample"](params, T, generator) * std.step
        # direction from the model (and the restoring pull); length explicitly
        # from the scene's own step lengths, times the temperature
        d = std.pull(z + dz) - z
        length = std.step_length(len(z), generator) * T
        d = d * (length / d.norm(dim=-1).clamp_min(1e-12))[:, None]
        return std.unproject(std.limit(z + d), residual) - e, state

    def save(self, path: Path) -> None:
        from ..workdir.checkpoint import save_model
        save_model(Path(path), self.net.state_dict(), self.header())

    @classmethod
    def load(cls, path: Path, device: str = "cpu", expect_dim: Optional[int] = None) -> "Behavior":
        from ..workdir.checkpoint import load_model
        state, header = load_model(Path(path), "behavior model")
        if header.get("kind") != "behavior":
            raise AliveError(f"'{path}' is not a behavior checkpoint", "point at a model folder made by train")
        if expect_dim is not None and int(header["dim"]) != int(expect_dim):
            raise AliveError(f"behavior model expects embeddings of size {header['dim']}, got {expect_dim}",
                             "train again with this encoder")
        if header.get("config", {}).get("arch") == "relational":
            from .relational.model import RelationalBehavior
            return RelationalBehavior.from_state(state, header, BehaviorConfig, device)
        if header.get("config", {}).get("arch") in WALK_ARCHS:   # a walk has its own config
            from .object_walk import ObjectWalk
            return ObjectWalk.from_state(state, header, device)
        cfg = BehaviorConfig.from_dict(header.get("config", {}))
        if cfg.arch not in ARCHITECTURES:
            raise AliveError(f"behavior checkpoint '{path}' has unknown architecture '{cfg.arch}'",
                             "train again with this version")
        beh = cls(cfg, header["dim"], device)
        try:
            beh.net.load_state_dict(state)
        except RuntimeError as err:
            raise AliveError(f"behavior checkpoint '{path}' does not match architecture '{cfg.arch}': "
                             f"{str(err).splitlines()[0]}", "train again") from None
        beh.net.eval()
        return beh


def walk_settings(behavior: Optional[dict]) -> dict:
    """The object walk's own settings from the run's behavior section: the
    schema's keys (epochs, lr, ... which a walk does not use) are checked here
    as BehaviorConfig's; what is left must be the walk's own
    (ObjectWalkConfig.from_dict refuses anything else by name)."""
    from dataclasses import fields

    from .object_walk import ObjectWalkConfig
    own = {f.name for f in fields(ObjectWalkConfig)}
    d = dict(behavior or {})
    schema = {k: d.pop(k) for k in list(d) if k not in own and k in {f.name for f in fields(BehaviorConfig)}}
    BehaviorConfig.from_dict(schema)
    return d


def config_for_generator(behavior: Optional[dict], layered: bool) -> "BehaviorConfig":
    """The behavior config to train beside a generator: without a named arch, the
    default (relational, which falls back to object-walk on short shots and footage) with object layers, else EMBEDDING_DEFAULT (a generator of
    embeddings gets a behavior of embeddings; object-walk needs object layers)."""
    d = dict(behavior or {})
    if "arch" not in d and not layered:
        d["arch"] = EMBEDDING_DEFAULT
    return BehaviorConfig.from_dict(d)


def train_behavior(embeddings: np.ndarray, cfg: BehaviorConfig, reporter=None,
                   device: str = "cpu") -> Behavior:
    """Fit the behavior model to one observed embedding sequence (N, D)."""
    from ..device import seed_everything
    from ..run.protocol import Reporter
    reporter = reporter or Reporter()
    emb = np.asarray(embeddings, np.float32)
    if emb.ndim != 2 or len(emb) < 2:
        raise AliveError("the behavior model needs at least 2 frames", "capture a longer frame range")
    if cfg.arch in CAPTURE_ARCHS:
        raise AliveError(f"'{cfg.arch}' is made from a capture, not from embeddings alone",
                         "train it with the train stage (object_walk.train_object_walk, "
                         "relational.train.train_relational)")
    if cfg.arch not in ARCHITECTURES:
        raise AliveError(f"unknown behavior architecture '{cfg.arch}'", f"choose one of {', '.join(ARCHITECTURES)}")
    seed_everything(cfg.seed)
    if cfg.arch in STOCHASTIC_ARCHS:
        with single_thread(device):
            return _train_stochastic(emb, cfg, reporter, device)
    return _train_vae(emb, cfg, reporter, device)


def _train_stochastic(emb: np.ndarray, cfg: BehaviorConfig, reporter, device: str) -> Behavior:
    import torch
    fit = fit_standardizer(emb, cfg.components)
    cfg = replace(cfg, components=int(fit["basis"].shape[1]), frames=int(len(emb)))
    beh = Behavior(cfg, emb.shape[1], device)
    net = beh.net
    net.std.set(fit)
    mods = _modules()
    k = cfg.components
    z = fit["z"]
    seqs = [z, z[::-1]] if cfg.bidirectional else [z]
    steps = max(1, min(cfg.burn_in + cfg.unroll, len(z) - 1))
    burn_in = min(cfg.burn_in, steps)
    windows = []
    for seq in seqs:
        # start at rest, like a rollout does: repeat the first frame as the past
        padded = np.concatenate([np.repeat(seq[:1], burn_in, 0), seq])
        for s0 in range(0, len(padded) - steps):
            windows.append(padded[s0:s0 + steps + 1])
    windows = torch.from_numpy(np.ascontiguousarray(np.stack(windows))).to(device)
    noise = cfg.input_noise * float(fit["step"]) / math.sqrt(k)
    step = net.std.step
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    rng = torch.Generator().manual_seed(cfg.seed)
    bs = max(1, min(cfg.batch_size, len(windows)))
    per_epoch = math.ceil(len(windows) / bs)
    total = max(1, cfg.epochs * per_epoch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total, pct_start=0.1)
    it = 0
    net.train()
    for epoch in _epochs(cfg, reporter):
        perm = torch.randperm(len(windows), generator=rng)
        total_loss = 0.0
        for i in range(0, len(windows), bs):
            true = windows[perm[i:i + bs].to(device)]
            own_rate = cfg.own_rate * min(1.0, 2.0 * it / total)  # scheduled sampling ramps up
            def noisy(x):
                return x + noise * torch.randn(x.shape, generator=rng).to(device)
            zc = noisy(true[:, 0])
            state = net.initial(zc)
            loss = 0.0
            for t in range(steps):
                params, state = net.step(zc, state)
                # the target leads from where the model is back onto the observed path
                loss = loss + mods["nll"](params, (true[:, t + 1] - zc) / step)
                nxt = noisy(true[:, t + 1])
                if t + 1 >= burn_in and own_rate > 0:
                    with torch.no_grad():
                        own = zc + step * mods["sample"](params, 1.0, rng)
                    pick = (torch.rand(len(zc), generator=rng) < own_rate).to(device)[:, None]
                    nxt = torch.where(pick, own, nxt)
                zc = nxt.detach()
            loss = loss / steps
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            if it < total - 1:
                sched.step()
            it += 1
            total_loss += loss.item() * len(true)
        if (epoch + 1) % 10 == 0 or epoch + 1 == cfg.epochs:
            reporter.progress((epoch + 1) / cfg.epochs, f"behavior epoch {epoch + 1} nll {total_loss / len(windows):.4f}")
            reporter.metric("behavior_loss", total_loss / len(windows), epoch + 1)
    net.eval()
    return beh


def _epochs(cfg: BehaviorConfig, reporter):
    """Epoch numbers until ``cfg.epochs`` or the ``cfg.seconds`` budget ends,
    with a cancel check (a safe point) before each."""
    t0 = time.monotonic()
    for epoch in range(cfg.epochs):
        if cfg.seconds and time.monotonic() - t0 >= cfg.seconds:
            return
        reporter.check_cancel()
        yield epoch


def _train_vae(emb: np.ndarray, cfg: BehaviorConfig, reporter, device: str) -> Behavior:
    import torch
    dense = densify(emb, cfg.densify)
    x = torch.from_numpy(dense[:-1]).to(device)
    y = torch.from_numpy(dense[1:] - dense[:-1]).to(device)
    beh = Behavior(cfg, emb.shape[1], device)
    opt = torch.optim.Adam(beh.net.parameters(), lr=cfg.lr)
    rng = torch.Generator().manual_seed(cfg.seed)
    bs = max(2, min(cfg.batch_size, len(x)))
    beh.net.train()
    for epoch in _epochs(cfg, reporter):
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
