"""The relational simulator: graph network + slot memory + mixture head, with the shot's normalisation.

As learning_to_simulate's ``learned_simulator``: raw states in, normalised
node and edge features built here, the network predicts a distribution over
each slot's normalised acceleration, and the caller turns a draw back into
a pose (``velocity' = velocity + draw x acc_std``, ``next = pose + velocity'``).

Node features: the pose (normalised), the last velocity (normalised), the
slot's one-hot identity (objects behave differently). Edge features (message
from slot j to slot i): j's position relative to i in world axes and in i's
own axes (the pose relative to the related object), the distance, the
relative velocity, and the edge's types (``relations.EDGE_TYPES``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ...config import Config

from .graph_network import EncodeProcessDecode, GraphNetworkConfig
from .memory import SlotMemory, SlotMemoryConfig
from .mixture import MixtureConfig, MixtureHead
from .relations import EDGE_TYPES
from .state import POSE

EDGE_IN = 10 + len(EDGE_TYPES)


@dataclass
class RelationalNetConfig(Config):
    WHAT = "relational network"
    slots: int
    latent: int = 64
    message_steps: int = 1       # one round suffices for a few slots on a dense graph (and halves the cost)
    memory: int = 64
    components: int = 4
    min_sigma: float = 0.05

    def to_dict(self) -> dict:
        return asdict(self)


def _rotation(rot6: torch.Tensor) -> torch.Tensor:
    a, b = rot6[..., :3], rot6[..., 3:]
    x = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    b = b - (x * b).sum(-1, keepdim=True) * x
    y = b / b.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    return torch.stack([x, y, torch.cross(x, y, dim=-1)], -1)


class RelationalSimulator(nn.Module):
    def __init__(self, cfg: RelationalNetConfig):
        super().__init__()
        self.cfg = cfg
        M = cfg.slots
        self.register_buffer("pose_mean", torch.zeros(M, POSE))   # per slot: objects move on their own scales
        self.register_buffer("pose_std", torch.ones(M, POSE))
        self.register_buffer("vel_std", torch.ones(M, POSE))
        self.register_buffer("acc_std", torch.ones(M, POSE))
        self.register_buffer("edge_types", torch.zeros(M, M, len(EDGE_TYPES)))
        self.register_buffer("pos_scale", torch.ones(()))
        self.graph = EncodeProcessDecode(GraphNetworkConfig(2 * POSE + M, EDGE_IN, cfg.latent, cfg.message_steps))
        self.memory = SlotMemory(SlotMemoryConfig(cfg.latent, cfg.memory))
        self.head = MixtureHead(MixtureConfig(cfg.latent + cfg.memory, POSE, cfg.components, cfg.min_sigma))

    def set_statistics(self, poses: np.ndarray, vels: np.ndarray, edge_types: np.ndarray) -> None:
        """Normalisation from the captured poses / velocities (F, M, 12); floors keep still dimensions finite."""
        def floored(x):   # still dimensions get a small floor relative to the slot's moving ones
            return torch.as_tensor(np.maximum(x, 1e-3 * x.max(-1, keepdims=True) + 1e-6), dtype=torch.float32)
        acc = np.diff(vels, axis=0) if len(vels) > 1 else vels
        std = poses.std(0)
        self.pose_mean.copy_(torch.as_tensor(poses.mean(0), dtype=torch.float32))
        self.pose_std.copy_(floored(std))
        self.vel_std.copy_(floored(np.sqrt((vels ** 2).mean(0))))
        self.acc_std.copy_(floored(np.sqrt((acc ** 2).mean(0))))
        self.edge_types.copy_(torch.as_tensor(edge_types, dtype=torch.float32))
        self.pos_scale.fill_(float(max(std[:, :3].max(), 1e-3)))

    def initial(self, batch: int) -> torch.Tensor:
        return self.memory.initial(batch, self.cfg.slots)

    def forward(self, pose: torch.Tensor, vel: torch.Tensor, hidden: torch.Tensor):
        """pose, vel (B, M, 12) raw; hidden (B, M, memory) -> (mixture params over the normalised
        acceleration: next velocity = vel + draw x acc_std, as GNS; a zero output keeps the velocity)."""
        B, M, _ = pose.shape
        ident = torch.eye(M, device=pose.device).expand(B, M, M)
        nodes = torch.cat([(pose - self.pose_mean) / self.pose_std, vel / self.vel_std, ident], -1)
        p, v = pose[..., :3], vel[..., :3]
        rel = p[:, None, :, :] - p[:, :, None, :]               # [b, i, j] = p_j - p_i
        local = torch.einsum("bikc,bijk->bijc", _rotation(pose[..., 3:9]), rel)   # R_i^T (p_j - p_i)
        dist = rel.norm(dim=-1, keepdim=True)
        rel_v = (v[:, None] - v[:, :, None]) / self.vel_std[:, :3].max().clamp_min(1e-6)
        s = self.pos_scale
        edges = torch.cat([rel / s, local / s, dist / s, rel_v, self.edge_types.expand(B, M, M, -1)], -1)
        mask = 1.0 - torch.eye(M, device=pose.device)
        latent = self.graph(nodes, edges, mask.expand(B, M, M))
        hidden = self.memory(latent, hidden)
        return self.head(torch.cat([latent, hidden], -1)), hidden
