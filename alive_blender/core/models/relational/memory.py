"""Loop-back memory: a GRU per object slot, carried between steps.

The slot's hidden state sees its own history (which way it was going, how
long it has held), so the next-state distribution can depend on more than
the last velocity. Shared weights over slots; bounded state (one vector per
slot), so a long live session stays flat.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...config import Config


@dataclass
class SlotMemoryConfig(Config):
    WHAT = "slot memory"
    inp: int
    hidden: int = 64


class SlotMemory(nn.Module):
    def __init__(self, cfg: SlotMemoryConfig):
        super().__init__()
        self.cfg = cfg
        self.cell = nn.GRUCell(cfg.inp, cfg.hidden)

    def initial(self, batch: int, slots: int) -> torch.Tensor:
        return torch.zeros(batch, slots, self.cfg.hidden)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        B, M, _ = x.shape
        return self.cell(x.reshape(B * M, -1), h.reshape(B * M, -1)).reshape(B, M, -1)
