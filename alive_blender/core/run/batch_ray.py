"""A batch's shots as Ray tasks (``batch --ray ADDRESS``): the same ``run``
command as a local batch, in the Python of the Ray worker that picks a task
up; a shot that asks for a GPU becomes a CPU task (render + encode) and a GPU
task (the rest)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional

from ..errors import EXIT_CANCELLED, EXIT_INTERNAL, AliveError
from .children import child_env
from .shots import STATUS, Shot, log_of, package_parent, result_of, shot_record

def ray_tasks(shot: Shot, out: Path, known_flags: Optional[dict] = None) -> list[dict]:
    """The Ray tasks of one shot, in order. A shot that asks for a GPU is split:
    render + encode in a CPU task (``run --until encode``), then train, roll
    out, decode and bake in a task holding the GPU (the same ``run``, which
    finds the capture and embeddings up to date), so GPUs never wait on renders."""
    full = {"argv": shot.argv(out, known_flags), "num_cpus": shot.cpus, "num_gpus": shot.gpus,
            "log": str(log_of(out, shot.name)), "result": str(result_of(out, shot.name)), "name": shot.name}
    if not shot.gpus:
        return [full]
    prep = {**full, "argv": full["argv"] + ["--until", "encode"], "num_gpus": 0,
            "log": str(Path(out) / "logs" / f"{shot.name}.prep.log"),
            "result": str(Path(out) / "logs" / f"{shot.name}.prep.json"), "name": f"{shot.name}.prep"}
    return [prep, full]


def run_ray(shots: list[Shot], out: Path, address: str, known_flags: Optional[dict] = None,
            should_stop: Callable[[], bool] = lambda: False,
            on_event: Callable[[str], None] = lambda msg: None, local_cpus: int = 2,
            stall_timeout: float = 0.0) -> list[dict]:
    """Run each shot as a Ray task on the cluster at ``address`` ("local"
    starts a small local instance; "auto" finds a running one). Each task runs
    the same ``run`` command as a local batch, in the Python that runs the Ray
    worker, so worker nodes need alive_blender's environment and the shots'
    paths and OUT on a shared filesystem. A shot with ``gpus`` asks Ray for
    that many GPUs (and trains with --device cuda)."""
    try:
        import ray
    except ImportError:
        raise AliveError("--ray needs the 'ray' package", "pip install ray (see README: batch on Ray)") from None
    out = Path(out)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    started_here = False
    if not ray.is_initialized():
        env_vars = {"PYTHONPATH": child_env([package_parent()])["PYTHONPATH"]}
        try:
            if address == "local":
                ray.init(num_cpus=local_cpus, include_dashboard=False, log_to_driver=False,
                         runtime_env={"env_vars": env_vars})
            else:
                ray.init(address=address, log_to_driver=False, runtime_env={"env_vars": env_vars})
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise AliveError(f"cannot connect to the Ray cluster at '{address}': {err}",
                             "start it with 'ray start --head' or give its address (or 'local')") from None
        started_here = True

    from .stall import HUNG_EXIT, hung_reason

    def run_shot(argv: list[str], env_extra: dict, pythonpath: str, log_path: str, json_path: str,
                 after: int = 0, stall: float = 0.0, stall_line: str = "", stall_code: int = 1) -> int:
        # runs inside a Ray worker: the same CLI as a local batch, in that worker's Python
        if after:  # the task this one waited for failed: pass its exit code on
            return int(after)
        import os as _os
        import subprocess as _sp
        import sys as _sys
        env = dict(_os.environ, PYTHONUNBUFFERED="1", **env_extra)
        env["PYTHONPATH"] = _os.pathsep.join(p for p in [pythonpath, env.get("PYTHONPATH", "")] if p)
        cmd = [_sys.executable, "-m", "alive_blender", "--json"] + argv
        with open(log_path, "w") as log, open(json_path, "w") as res:
            log.write("$ " + " ".join(cmd) + "\n")
            log.flush()
            proc = _sp.Popen(cmd, stdout=res, stderr=log, stdin=_sp.DEVNULL, env=env, start_new_session=True)
            try:
                # the batch's stall limit, inline (core/run/stall.py's rule): this runs on a Ray node
                import time as _time
                sizes, changed = None, _time.monotonic()
                while True:
                    try:
                        return proc.wait(timeout=0.5)
                    except _sp.TimeoutExpired:
                        pass
                    now = [_os.path.getsize(p) if _os.path.exists(p) else -1 for p in (log_path, json_path)]
                    if now != sizes:
                        sizes, changed = now, _time.monotonic()
                    elif stall and _time.monotonic() - changed > stall:
                        _os.killpg(proc.pid, 9)
                        proc.wait()
                        log.write(f"\nalive: error: {stall_line}\n")
                        return stall_code
            except KeyboardInterrupt:  # ray.cancel: stop the shot at its safe point
                proc.terminate()
                return proc.wait()

    task = ray.remote(run_shot)
    refs = {}
    t0 = time.monotonic()
    for shot in shots:
        ref = 0
        for t in ray_tasks(shot, out, known_flags):  # each waits for the one before (ref as argument)
            ref = task.options(num_cpus=t["num_cpus"], num_gpus=t["num_gpus"], max_retries=0,
                               name=f"alive:{t['name']}").remote(t["argv"], shot.env(), package_parent(), t["log"],
                                                                 t["result"], ref, stall_timeout,
                                                                 hung_reason(stall_timeout), HUNG_EXIT)
        refs[ref] = shot
        on_event(f"{shot.name}: submitted" + (f" (asks for {shot.gpus:g} GPU)" if shot.gpus else ""))
    records: dict[str, dict] = {}
    stopping = False
    try:
        while refs:
            if should_stop() and not stopping:
                stopping = True
                on_event("stopping: cancelling the shots' tasks")
                for ref in refs:
                    ray.cancel(ref)
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=0.5)
            for ref in ready:
                shot = refs.pop(ref)
                try:
                    code = int(ray.get(ref))
                except (ray.exceptions.TaskCancelledError, ray.exceptions.RayTaskError,
                        ray.exceptions.WorkerCrashedError) as err:
                    code = EXIT_CANCELLED if stopping else EXIT_INTERNAL
                    log_of(out, shot.name).parent.mkdir(parents=True, exist_ok=True)
                    with open(log_of(out, shot.name), "a") as log:
                        log.write(f"alive: error: Ray task failed: {type(err).__name__}: {err}\n")
                code = code if code in STATUS else EXIT_INTERNAL
                records[shot.name] = shot_record(shot, out, code, time.monotonic() - t0)
                records[shot.name]["ray"] = True
                on_event(f"{shot.name}: {records[shot.name]['status']}")
    finally:
        if started_here:
            ray.shutdown()
    return [records[s.name] for s in shots]
