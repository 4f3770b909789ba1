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


def available_memory() -> int:
    """Bytes of RAM this process could still get (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: do not refuse


def _gib(n: float) -> str:
    return f"{n / 2 ** 30:.1f} GiB" if n >= 2 ** 30 else f"{n / 2 ** 20:.0f} MiB"


def check_fits_in_memory(needed: int, what: str, hint: str) -> None:
    """Refuse work whose arrays would not fit in RAM before it starts (a farm
    job that dies of OOM an hour in costs the night), saying how much it needs."""
    have = available_memory()
    if needed > have:
        raise AliveError(f"{what} would need about {_gib(needed)} of memory, {_gib(have)} is available", hint)


def check_frames_fit(frames: int, width: int, height: int, what: str) -> None:
    """Refuse ``frames`` frames of ``width`` x ``height`` that would not fit in
    memory (training holds them all), with the memory they would need."""
    check_fits_in_memory(int(frames) * int(width) * int(height) * BYTES_PER_PIXEL,
                         f"{what} ({frames} frame{'s' if frames != 1 else ''})",
                         "use fewer frames or a smaller resolution")


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


def single_thread(device: str):
    """One torch thread on CPU while the small stochastic models run: their
    ops are tiny, so intra-op threads only add synchronisation, and on a busy
    machine that cost explodes (measured on the shared 2-core box: 16x1000
    rollout steps 38 s with 2 threads, 1.4 s with 1)."""
    return torch_threads(1, device)
