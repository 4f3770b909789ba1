"""Pick the torch device: CUDA, Apple MPS or CPU, automatically or by name."""

from __future__ import annotations

import contextlib
import os
import re

from .errors import AliveError

# what one pixel of one frame costs while training on it or decoding it: RGB
# uint8 + depth + alpha as stored, then float32 copies as tensors
BYTES_PER_PIXEL = 32


def pick_device(name: str = "auto") -> str:
    import torch
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if name.startswith("cuda") and not re.fullmatch(r"cuda(:\d+)?", name):
        raise AliveError(f"unknown device '{name}'", "use auto, cuda, cuda:N, mps or cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AliveError(f"device '{name}' asked for but torch sees no CUDA GPU",
                         "use --device auto or cpu, or run the worker with a CUDA build of torch")
    if name.startswith("cuda:") and int(name[5:]) >= torch.cuda.device_count():
        raise AliveError(f"device '{name}' asked for but torch sees {torch.cuda.device_count()} CUDA GPU(s)",
                         f"use cuda:0..cuda:{torch.cuda.device_count() - 1}, auto or cpu")
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise AliveError("device 'mps' asked for but this torch has no Apple MPS support", "use --device auto or cpu")
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise AliveError(f"unknown device '{name}'", "use auto, cuda, mps or cpu")
    return name


def seed_everything(seed: int) -> None:
    import random

    import numpy as np
    import torch
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


import contextlib
import os
import re
