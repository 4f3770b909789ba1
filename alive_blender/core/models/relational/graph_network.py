"""Encode-process-decode message passing over object slots (GNS / Interaction Networks).

As learning_to_simulate's ``graph_network``: node and edge features are
encoded to latents by MLPs, ``steps`` interaction blocks update edges from
(edge, receiver, sender) and nodes from (node, sum of incoming edges), each
with a residual, and the node latents come out. The graph here is small and
dense (every ordered pair of slots), so it is held as (B, M, M, ...) tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...config import Config


def mlp(inp: int, hidden: int, out: int, layers: int = 2) -> nn.Sequential:
    mods, width = [], inp
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.SiLU()]
        width = hidden
    mods.append(nn.Linear(width, out))
    return nn.Sequential(*mods)


@dataclass
class GraphNetworkConfig(Config):
    WHAT = "graph network"
    node_in: int
    edge_in: int
    latent: int = 64
    steps: int = 2          # message-passing rounds


class InteractionBlock(nn.Module):
    """One round: edges from (edge, receiver, sender) latents, nodes from (node, summed messages)."""

    def __init__(self, latent: int):
        super().__init__()
        self.edge = mlp(3 * latent, latent, latent)
        self.node = mlp(2 * latent, latent, latent)

    def forward(self, nodes, edges, mask):
        B, M, _ = nodes.shape
        recv = nodes[:, :, None].expand(B, M, M, -1)    # edges[:, i, j]: message from j to i
        send = nodes[:, None, :].expand(B, M, M, -1)
        edges = edges + self.edge(torch.cat([edges, recv, send], -1))
        messages = (edges * mask[..., None]).sum(2)
        return nodes + self.node(torch.cat([nodes, messages], -1)), edges


class EncodeProcessDecode(nn.Module):
    """Node (B, M, node_in) and edge (B, M, M, edge_in) features -> node latents (B, M, latent)."""

    def __init__(self, cfg: GraphNetworkConfig):
        super().__init__()
        self.cfg = cfg
        self.node_encoder = mlp(cfg.node_in, cfg.latent, cfg.latent)
        self.edge_encoder = mlp(cfg.edge_in, cfg.latent, cfg.latent)
        self.blocks = nn.ModuleList([InteractionBlock(cfg.latent) for _ in range(cfg.steps)])

    def forward(self, nodes, edges, mask):
        n, e = self.node_encoder(nodes), self.edge_encoder(edges)
        for block in self.blocks:
            n, e = block(n, e, mask)
        return n
