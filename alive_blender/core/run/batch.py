"""Batch runs over many shots: plan from a TOML file, run each shot as its own
``alive run`` process (in order, N at a time, or as Ray tasks), summarise.

Never imports bpy: a shot runs in a child process (``python -m alive_blender``
with the bpy module, or ``blender -c alive`` inside Blender), so one shot
crashing, running out of memory or being killed cannot take the others down,
and every shot starts from a clean Blender session.

SHOTS.toml::

    [defaults]                 # any `run` setting, flag names with underscores
    resolution = "64x48"
    rollout_frames = 96

    [[shot]]
    name = "sh010"             # work directory OUT/sh010, log OUT/logs/sh010.log
    blend = "shots/sh010.blend"  # relative to the TOML file, or absolute
    camera = "CAM_main"        # optional
    frames = "1-120"
    gpus = 1                   # Ray: this shot's task asks for a GPU (and trains on cuda)

Batch-only keys: ``name``, ``blend``, ``gpus`` and ``cpus`` (Ray resources),
``threads`` (CPU threads for torch in that shot's process). Every other key
must be a flag of ``run``; ``true`` turns a switch on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional

from ..workdir.artifacts import ensure_writable_dir, write_json
from ..errors import EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_INTERNAL, EXIT_OK, AliveError
from .batch_ray import ray_tasks, run_ray  # noqa: F401  (ray_tasks: re-exported)
from .stall import STALL_TIMEOUT, OutputWatch, stop_hung
from .shots import (BATCH_KEYS, STATUS, Shot, load_shots, log_of, result_of, shot_env,  # noqa: F401
                    shot_record, workdir_of)


def run_local(shots: list[Shot], out: Path, prefix: list[str], jobs: int = 1,
              known_flags: Optional[dict] = None, should_stop: Callable[[], bool] = lambda: False,
              on_event: Callable[[str], None] = lambda msg: None,
              stall_timeout: float = STALL_TIMEOUT) -> list[dict]:
    """Run shots as child processes, ``jobs`` at a time. ``prefix`` starts the
    CLI (``[python, -m, alive_blender]`` or ``[blender, -c, alive]``). A stop
    request sends SIGTERM to running shots (they stop at a safe point and keep
    their checkpoints) and starts no more. A shot silent for ``stall_timeout``
    seconds is killed and reported as hung (core/run/stall.py)."""
    out = Path(out)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    # N shots at once share the cores: each gets its part for torch unless the shot says
    share = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else 0
    pending = list(shots)
    running: dict = {}
    watches: dict[str, OutputWatch] = {}
    records: dict[str, dict] = {}
    stopping = False
    while pending or running:
        if should_stop() and not stopping:
            stopping = True
            on_event("stopping: asking running shots to stop at their next safe point")
            for proc, *_ in running.values():
                _terminate(proc)
        while pending and len(running) < max(1, jobs) and not stopping:
            shot = pending.pop(0)
            argv = prefix + ["--json"] + shot.argv(out, known_flags)
            log = open(log_of(out, shot.name), "w")
            res = open(result_of(out, shot.name), "w")
            log.write("$ " + " ".join(argv) + "\n")
            log.flush()
            # own session: a Ctrl+C in the terminal reaches the batch, which
            # forwards one SIGTERM, rather than every child at once
            proc = subprocess.Popen(argv, stdout=res, stderr=log, stdin=subprocess.DEVNULL, env=shot_env(shot, share),
                                    start_new_session=True)
            running[shot.name] = (proc, shot, time.monotonic(), log, res)
            watches[shot.name] = OutputWatch(log_of(out, shot.name), result_of(out, shot.name))
            on_event(f"{shot.name}: started")
        for name, (proc, shot, t0, log, res) in list(running.items()):
            code = proc.poll()
            if code is None and watches[name].stalled(stall_timeout):
                log.flush()
                stop_hung(proc, log_of(out, name), stall_timeout)
                code = EXIT_INTERNAL
            if code is None:
                continue
            log.close()
            res.close()
            del running[name]
            if code < 0 and stopping:  # killed by our SIGTERM before it could install its handler
                code = EXIT_CANCELLED
            code = code if code in STATUS else EXIT_INTERNAL
            records[name] = shot_record(shot, out, code, time.monotonic() - t0)
            on_event(f"{name}: {records[name]['status']}" +
                     (f" ({records[name].get('error')})" if code else ""))
        if running:
            time.sleep(0.2)
    for shot in shots:
        if shot.name not in records:
            records[shot.name] = {"name": shot.name, "status": "not started", "exit_code": EXIT_CANCELLED,
                                  "seconds": 0.0, "blend": str(shot.blend),
                                  "workdir": str(workdir_of(out, shot.name)), "log": ""}
    return [records[s.name] for s in shots]


def _terminate(proc) -> None:
    try:
        proc.send_signal(signal.SIGTERM)
    except (ProcessLookupError, OSError):
        pass


def batch_exit_code(records: list[dict]) -> int:
    codes = {r["exit_code"] for r in records}
    for code in (EXIT_CANCELLED, EXIT_INTERNAL, EXIT_BAD_INPUT):
        if code in codes:
            return code
    return EXIT_OK


def summary_table(records: list[dict]) -> str:
    rows = [("shot", "status", "seconds", "frames", "psnr", "output / error")]
    for r in records:
        detail = r.get("saved") or r.get("error") or ""
        psnr = r.get("train_psnr")
        rows.append((r["name"], r["status"], f"{r['seconds']:.1f}", str(r.get("frames") or ""),
                     "" if psnr is None else f"{psnr:.2f}", detail))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for j, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
        if j == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 14)
    return "\n".join(lines)


def run_batch(toml_path, out, prefix: list[str], known_flags: dict, jobs: int = 1, ray_address: str = "",
              only: Optional[list[str]] = None, should_stop: Callable[[], bool] = lambda: False,
              on_event: Callable[[str], None] = lambda msg: None,
              check: Optional[Callable[[Shot], None]] = None, stall_timeout: float = STALL_TIMEOUT) -> dict:
    shots = load_shots(toml_path, known_flags, only, check)
    out = ensure_writable_dir(out, "batch output folder")
    if jobs < 1:
        raise AliveError(f"--jobs must be at least 1, got {jobs}", "use --jobs 1 or more")
    t0 = time.monotonic()
    if ray_address:
        records = run_ray(shots, out, ray_address, known_flags, should_stop, on_event, local_cpus=max(2, jobs),
                          stall_timeout=stall_timeout)
    else:
        records = run_local(shots, out, prefix, jobs, known_flags, should_stop, on_event, stall_timeout)
    summary = {"shots": records, "out": str(out), "seconds": round(time.monotonic() - t0, 1),
               "ok": sum(r["exit_code"] == EXIT_OK for r in records), "failed": sum(r["exit_code"] != EXIT_OK
                                                                                    for r in records),
               "runner": f"ray ({ray_address})" if ray_address else f"local ({jobs} at a time)"}
    # a partial batch (--only, e.g. one Flamenco task per shot) writes its own
    # summary, so tasks running at the same time never overwrite each other's
    name = "batch.json" if not only else f"batch-{'+'.join(sorted(set(only)))}.json"
    write_json(out / name, summary)
    summary["exit_code"] = batch_exit_code(records)
    return summary
