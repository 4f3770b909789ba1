"""Training the relational simulator: input noise + a multi-step unrolled loss.

Windows of the captured motion (one frame before, then ``burn_in`` steps fed
the captured states with random-walk noise, then ``unroll`` steps fed the
model's own predictions). Every step's target is the acceleration (GNS) that leads
from where the model *is* back to the captured next pose, so it learns to correct
its own drift (GNS's noise-corrected targets, applied to the unrolled steps
as well). Loss: the mixture's negative log-likelihood.

``train_relational`` is what the train stage calls; it falls back to the
object walk (and says why) where the shot gives too little to learn from.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from ...errors import AliveError
from . import ARCH
from .mixture import mixture_mean, mixture_nll
from .noise import random_walk_noise
from .relations import contact_pairs, edge_types, event_pairs, groups, stated_pairs
from .simulator import RelationalNetConfig, RelationalSimulator
from .state import pose_features, velocities

MIN_FRAMES = 12   # fewer real frames than this: too little motion to learn; the object walk is used
# input_noise is in units of the observed step for the embedding models (BehaviorConfig: 0.5); here of
# the velocity's RMS per feature, times this: the mixture learns a spread as wide as the injected noise,
# and at 0.5 x RMS a rollout at temperature 1 would stumble (GNS injects a few % of a velocity too)
NOISE_SCALE = 0.2
BATCH = 16        # windows per update: on a shot of ~100 windows more updates matter more than smooth ones
LR_SCALE = 3.0    # x BehaviorConfig.lr (1e-3, the embedding models'): measured to fit in ~100 epochs


def fit_simulator(world: np.ndarray, types: np.ndarray, cfg, reporter=None, input_noise=None) -> tuple:
    """Train a RelationalSimulator on captured world matrices (F, M, 4, 4) with edge types (M, M, 4).
    ``cfg``: a BehaviorConfig (epochs, seconds, lr, batch_size, seed, hidden, mixtures, burn_in,
    unroll, input_noise, min_sigma). Returns (net, info: loss, seconds, iterations)."""
    import torch
    from ...device import torch_threads
    F, M = world.shape[:2]
    noise_level = NOISE_SCALE * (cfg.input_noise if input_noise is None else float(input_noise))
    poses = pose_features(world)
    vels = velocities(poses)
    torch.manual_seed(cfg.seed)
    net = RelationalSimulator(RelationalNetConfig(slots=M, latent=min(cfg.hidden, 48), memory=min(cfg.hidden, 48),
                                                  components=cfg.mixtures, min_sigma=cfg.min_sigma))
    net.set_statistics(poses, vels, types)
    L = max(1, min(cfg.burn_in + cfg.unroll, F - 2))
    burn_in = min(cfg.burn_in, L)
    seqs = [poses, poses[::-1].copy()] if cfg.bidirectional else [poses]
    windows = np.stack([s[i:i + L + 2] for s in seqs for i in range(0, F - L - 1)])   # (W, L + 2, M, 12)
    windows = torch.as_tensor(windows, dtype=torch.float32)
    vstd, astd = net.vel_std, net.acc_std
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr * LR_SCALE)
    bs = max(1, min(cfg.batch_size, BATCH, len(windows)))
    t0 = time.monotonic()
    loss_value, iterations = float("nan"), 0
    with torch_threads(1, "cpu"):
        net.train()
        for epoch in range(cfg.epochs):
            if cfg.seconds and time.monotonic() - t0 >= cfg.seconds:
                break
            if reporter is not None:
                reporter.check_cancel()
            perm = torch.randperm(len(windows), generator=gen)
            total = 0.0
            for i in range(0, len(windows), bs):
                w = windows[perm[i:i + bs]]                     # (B, L + 2, M, 12)
                if noise_level > 0:   # a random walk over the window's inputs, as a rollout drifts
                    n = random_walk_noise((len(w), M, w.shape[-1]), L + 1, 1.0, gen).permute(1, 0, 2, 3)
                    noisy = torch.cat([w[:, :L + 1] + n * noise_level * vstd, w[:, L + 1:]], 1)
                else:
                    noisy = w
                prev, x = noisy[:, 0], noisy[:, 1]
                hidden = net.initial(len(w))
                loss = 0.0
                for t in range(1, L + 1):
                    vel = x - prev
                    params, hidden = net(x, vel, hidden)
                    # the target leads from where the model is back onto the captured path
                    loss = loss + mixture_nll(params, (w[:, t + 1] - x - vel) / astd)
                    if t < burn_in:
                        nxt = noisy[:, t + 1]
                    else:
                        with torch.no_grad():
                            nxt = x + vel + mixture_mean(params) * astd
                    prev, x = x, nxt.detach()
                loss = loss / L
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
                opt.step()
                iterations += 1
                total += loss.item() * len(w)
            loss_value = total / len(windows)
            if reporter is not None and ((epoch + 1) % 10 == 0 or epoch + 1 == cfg.epochs):
                reporter.progress((epoch + 1) / cfg.epochs, f"behavior epoch {epoch + 1} nll {loss_value:.4f}")
                reporter.metric("behavior_loss", loss_value, epoch + 1)
        net.eval()
    info = {"loss": round(float(loss_value), 4), "seconds": round(time.monotonic() - t0, 2),
            "iterations": iterations, "windows": int(len(windows)), "input_noise": noise_level}
    return net, info


def reversible(world: np.ndarray, bounds) -> bool:
    """Whether the shot may also be learned played backwards: not where objects collide (a box does
    not throw the ball back up; taught both directions, the rollout stalls or jitters between them)."""
    return bounds is None or not event_pairs(world, bounds).any()


def train_relational(embeddings: np.ndarray, capture, cfg, reporter=None, regions=None, objects=None,
                     free_poses: bool = False):
    """The relational behavior for a capture, or the object walk where there is too little to learn
    (no object ids, fewer than MIN_FRAMES real frames); ``train`` reports which, and why.
    ``regions`` (footage's region-layers) and ``objects`` (the generator's object ids) are what
    the walk fallback walks, as the train stage would give them to it."""
    from ..layers import moving_objects
    from ..object_walk import train_object_walk
    from .model import RelationalBehavior
    real = np.flatnonzero(np.asarray(capture.is_real_frame))
    if len(real) < 2:
        raise AliveError("the behavior model needs at least 2 frames", "capture a longer frame range")
    objects = moving_objects(capture) if objects is None else [int(o) for o in objects]
    reason = None
    if regions is not None:
        reason = "footage regions have no poses to learn from (each region walks its own captured frames)"
    elif not objects:
        reason = "no moving objects with ids (footage or a moving camera)"
    elif len(real) < MIN_FRAMES:
        reason = f"{len(real)} real frames, fewer than the {MIN_FRAMES} it needs to learn motion"
    if reason:
        walk = train_object_walk(embeddings, capture, {"seed": cfg.seed}, reporter, regions=regions,
                                 objects=None if regions is not None else objects)
        walk.choice = f"object-walk instead of {ARCH}: {reason}"
        if reporter is not None:
            reporter.status(f"train: behavior: {walk.choice}")
        return walk
    meta = capture.meta
    ids = meta.get("object_ids", {})
    names = [ids.get(str(o), str(o)) for o in objects]
    world = np.stack([capture.object_matrices(o)[real] for o in objects], 1)     # (F, M, 4, 4)
    attached = [{ids.get(k, k): v for k, v in capture.samples[i].get("attached", {}).items()} for i in real]
    parent, constraint = stated_pairs(attached, names)
    bounds_meta = meta.get("object_bounds")
    bounds = (np.array([bounds_meta[str(o)] for o in objects], np.float64)
              if bounds_meta and all(str(o) in bounds_meta for o in objects) else None)
    contact = contact_pairs(world, bounds) if bounds is not None else np.zeros((len(objects),) * 2, bool)
    types = edge_types(parent, constraint, contact)
    related = parent | contact
    grouped = groups(related)
    backwards = bool(cfg.bidirectional) and reversible(world, bounds)
    net, info = fit_simulator(world, types, replace(cfg, bidirectional=backwards), reporter)
    info["played_backwards"] = backwards
    joint = [[names[m] for m in g] for g in grouped if len(g) > 1]
    info["relations"] = {"parent": int(parent.sum() // 2), "constraint": int(constraint.any(1).sum()),
                         "contact": int(contact.sum() // 2), "joint groups": joint,
                         "bounds": bounds is not None}
    choice = (f"{ARCH}: {len(objects)} objects over {len(real)} frames; drawn jointly: "
              f"{'; '.join('+'.join(g) for g in joint) or 'none (all independent)'}; "
              + ("poses drawn free (the generator draws any pose; drawing.py)" if free_poses else
                 "poses kept to captured ones (object-layers draws only those)"))
    info["choice"] = choice
    if reporter is not None:
        reporter.status(f"train: behavior {choice}; loss {info['loss']}, {info['seconds']} s")
    beh = RelationalBehavior(replace(cfg, arch=ARCH), embeddings.shape[1], net, world, real, objects, names,
                             grouped, contact, bounds, info)
    beh.choice = choice
    return beh
