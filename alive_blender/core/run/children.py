"""The environment of a child process that runs this package (a panel
worker, a batch shot): written once here."""

from __future__ import annotations

import os
from typing import Iterable


def thread_env(threads: int) -> dict:
    """Environment variables that give torch and the BLAS libraries ``threads`` CPU threads (0: leave as is)."""
    if not threads:
        return {}
    n = str(int(threads))
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}


def child_env(paths: Iterable[str] = (), threads: int = 0) -> dict:
    """This process's environment with ``paths`` first on PYTHONPATH (the
    child imports the same package), unbuffered output (progress lines arrive
    as they are written) and, with ``threads``, that many CPU threads."""
    env = dict(os.environ)
    old = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*paths, *old]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(thread_env(threads))
    return env
