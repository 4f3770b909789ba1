"""Pick the torch device: CUDA, Apple MPS or CPU, automatically or by name."""

from __future__ import annotations

import contextlib
import os

from .errors import AliveError


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
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AliveError("device 'cuda' asked for but torch sees no CUDA GPU",
                         "use --device auto or cpu, or run the worker with a CUDA build of torch")
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


def cpu_threads(requested: int = 0) -> int:
    """Threads for CPU work. Oversubscribed cores make torch's threads spin
    against each other (10-100x slower on a busy 2-core machine), so auto
    uses only the cores the load average leaves free."""
    if requested > 0:
        return int(requested)
    explicit = os.environ.get("OMP_NUM_THREADS", "")
    if explicit.isdigit() and int(explicit) > 0:   # the user's (or a batch runner's) explicit choice
        return int(explicit)
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        busy = int(os.getloadavg()[0] + 0.5)
    except OSError:
        busy = 0
    return max(1, min(n, n - busy))


@contextlib.contextmanager
def torch_threads(n: int, device: str):
    """torch's CPU thread count set to ``n`` for a block (on CPU only), then restored.
    The one place the thread count changes (children: core/run/children.thread_env)."""
    if not str(device).startswith("cpu"):
        yield
        return
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
