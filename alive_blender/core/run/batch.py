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
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..workdir.artifacts import ensure_writable_dir, write_json
from .children import child_env, thread_env
from ..errors import EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_INTERNAL, EXIT_OK, AliveError

BATCH_KEYS = ("name", "blend", "gpus", "cpus", "threads")
# set by the batch itself for every shot
RESERVED = ("out", "scene", "json", "quiet", "save")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
STATUS = {EXIT_OK: "ok", EXIT_BAD_INPUT: "bad input", EXIT_CANCELLED: "cancelled", EXIT_INTERNAL: "internal error"}


@dataclass
class Shot:
    name: str
    blend: Path
    settings: dict = field(default_factory=dict)   # run flag (underscores) -> value
    gpus: float = 0.0
    cpus: float = 1.0
    threads: int = 0

    def argv(self, out: Path, known_flags: Optional[dict] = None) -> list[str]:
        """The ``run`` command line for this shot (after the program name)."""
        args = ["run", str(self.blend), "--out", str(workdir_of(out, self.name)), "--name", self.name]
        settings = dict(self.settings)
        if self.gpus and "device" not in settings:
            settings["device"] = "cuda"
        for key, value in settings.items():
            flag = "--" + key.replace("_", "-")
            if (known_flags or {}).get(key) == "switch" or isinstance(value, bool):
                if value:
                    args.append(flag)
            elif isinstance(value, list):
                for item in value:  # repeatable flags, e.g. force = ["train"]
                    args += [flag, str(item)]
            else:
                args += [flag, str(value)]
        return args

    def env(self, default_threads: int = 0) -> dict:
        return thread_env(self.threads or default_threads)


def workdir_of(out: Path, name: str) -> Path:
    return Path(out) / name


def log_of(out: Path, name: str) -> Path:
    return Path(out) / "logs" / f"{name}.log"


def result_of(out: Path, name: str) -> Path:
    return Path(out) / "logs" / f"{name}.json"


def load_shots(path, known_flags: dict[str, str], only: Optional[list[str]] = None,
               check: Optional[Callable[[Shot], None]] = None) -> list[Shot]:
    """Parse and check SHOTS.toml. ``known_flags`` maps each ``run`` flag
    (underscores) to "switch" or "value"; ``check`` (the CLI's converter into
    the run settings schema) checks a shot's values. Everything that can be
    wrong with the file itself is an AliveError here, naming the shot and the
    key, before any shot starts."""
    import tomllib
    path = Path(path).expanduser().absolute()
    if not path.is_file():
        raise AliveError(f"shot list not found: '{path}'", "give the path of a SHOTS.toml file")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise AliveError(f"'{path.name}' is not valid TOML: {err}", "fix the file (see README: batch)") from None
    unknown_tables = set(data) - {"defaults", "shot"}
    if unknown_tables:
        raise AliveError(f"'{path.name}' has unknown table(s) {sorted(unknown_tables)}",
                         "use [defaults] and [[shot]] only")
    defaults = data.get("defaults", {})
    shots_raw = data.get("shot", [])
    if not isinstance(defaults, dict) or not isinstance(shots_raw, list):
        raise AliveError(f"'{path.name}': [defaults] must be a table and shots an array of [[shot]] tables",
                         "see README: batch")
    if not shots_raw:
        raise AliveError(f"'{path.name}' lists no shots", "add [[shot]] entries with at least blend = ...")
    shots, seen = [], set()
    for i, raw in enumerate(shots_raw, 1):
        where = f"'{path.name}' shot {i}"
        merged = {**defaults, **raw}
        for key in merged:
            if key in BATCH_KEYS:
                continue
            if key in RESERVED or key not in known_flags:
                hint = ("the batch sets it for every shot" if key in RESERVED else
                        "use a flag of 'alive run' with underscores (alive run --help)")
                raise AliveError(f"{where}: unknown setting '{key}'", hint)
        blend = merged.get("blend")
        if not isinstance(blend, str) or not blend:
            raise AliveError(f"{where} has no blend", 'add blend = "path/to/shot.blend"')
        blend_path = Path(blend).expanduser()
        if not blend_path.is_absolute():
            blend_path = path.parent / blend_path
        name = str(merged.get("name") or blend_path.stem)
        if not NAME_RE.match(name):
            raise AliveError(f"{where}: name '{name}' is not usable as a folder name",
                             "use letters, digits, '.', '_' and '-'")
        if name in seen:
            raise AliveError(f"{where}: name '{name}' is used twice", "give every shot its own name")
        seen.add(name)
        try:
            gpus, cpus = float(merged.get("gpus", 0)), float(merged.get("cpus", 1))
            threads = int(merged.get("threads", 0))
        except (TypeError, ValueError):
            raise AliveError(f"{where}: gpus, cpus and threads must be numbers", "e.g. gpus = 1") from None
        settings = {k: v for k, v in merged.items() if k not in BATCH_KEYS}
        shot = Shot(name=name, blend=blend_path.absolute(), settings=settings, gpus=gpus, cpus=cpus, threads=threads)
        if check is not None:
            try:
                check(shot)
            except AliveError as err:
                raise AliveError(f"{where} ('{name}'): {err.message}", err.hint) from None
        shots.append(shot)
    if only:
        missing = sorted(set(only) - {s.name for s in shots})
        if missing:
            raise AliveError(f"no shot named {', '.join(missing)} in '{path.name}'",
                             f"pick from {', '.join(s.name for s in shots)}")
        shots = [s for s in shots if s.name in only]
    return shots


def package_parent() -> str:
    """The folder holding the alive_blender package (PYTHONPATH for children)."""
    return str(Path(__file__).resolve().parents[3])


def shot_env(shot: Shot, default_threads: int = 0) -> dict:
    return child_env([package_parent()], shot.threads or default_threads)


def _shot_record(shot: Shot, out: Path, code: int, seconds: float) -> dict:
    import json
    rec = {"name": shot.name, "status": STATUS.get(code, "internal error"), "exit_code": code,
           "seconds": round(seconds, 1), "blend": str(shot.blend), "workdir": str(workdir_of(out, shot.name)),
           "log": str(log_of(out, shot.name))}
    try:
        result = json.loads(result_of(out, shot.name).read_text())
    except (OSError, ValueError):
        result = {}
    if code == EXIT_OK:
        rec["saved"] = result.get("blend")
        rec["train_psnr"] = (result.get("train") or {}).get("train_psnr")
        rec["frames"] = (result.get("capture") or {}).get("samples")
        rec["timings"] = result.get("timings")
    else:
        rec["error"] = result.get("error") or _last_error(log_of(out, shot.name))
    return rec


def _last_error(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if line.startswith(("alive: error:", "alive: cancelled")):
            return line.split(":", 2)[-1].strip()
    return lines[-1] if lines else ""


def run_local(shots: list[Shot], out: Path, prefix: list[str], jobs: int = 1,
              known_flags: Optional[dict] = None, should_stop: Callable[[], bool] = lambda: False,
              on_event: Callable[[str], None] = lambda msg: None) -> list[dict]:
    """Run shots as child processes, ``jobs`` at a time. ``prefix`` starts the
    CLI (``[python, -m, alive_blender]`` or ``[blender, -c, alive]``). A stop
    request sends SIGTERM to running shots (they stop at a safe point and keep
    their checkpoints) and starts no more."""
    out = Path(out)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    # N shots at once share the cores: each gets its part for torch unless the shot says
    share = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else 0
    pending = list(shots)
    running: dict = {}
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
            on_event(f"{shot.name}: started")
        for name, (proc, shot, t0, log, res) in list(running.items()):
            code = proc.poll()
            if code is None:
                continue
            log.close()
            res.close()
            del running[name]
            if code < 0 and stopping:  # killed by our SIGTERM before it could install its handler
                code = EXIT_CANCELLED
            code = code if code in STATUS else EXIT_INTERNAL
            records[name] = _shot_record(shot, out, code, time.monotonic() - t0)
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
            on_event: Callable[[str], None] = lambda msg: None, local_cpus: int = 2) -> list[dict]:
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

    def run_shot(argv: list[str], env_extra: dict, pythonpath: str, log_path: str, json_path: str,
                 after: int = 0) -> int:
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
                return proc.wait()
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
                                                                 t["result"], ref)
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
                records[shot.name] = _shot_record(shot, out, code, time.monotonic() - t0)
                records[shot.name]["ray"] = True
                on_event(f"{shot.name}: {records[shot.name]['status']}")
    finally:
        if started_here:
            ray.shutdown()
    return [records[s.name] for s in shots]


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
              check: Optional[Callable[[Shot], None]] = None) -> dict:
    shots = load_shots(toml_path, known_flags, only, check)
    out = ensure_writable_dir(out, "batch output folder")
    if jobs < 1:
        raise AliveError(f"--jobs must be at least 1, got {jobs}", "use --jobs 1 or more")
    t0 = time.monotonic()
    if ray_address:
        records = run_ray(shots, out, ray_address, known_flags, should_stop, on_event, local_cpus=max(2, jobs))
    else:
        records = run_local(shots, out, prefix, jobs, known_flags, should_stop, on_event)
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
