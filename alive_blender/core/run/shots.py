"""A batch's plan: the shots of a SHOTS.toml (checked before anything
runs), where each one's work directory, log and result go, its child
process's environment, and the record of how it ended."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..errors import EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_INTERNAL, EXIT_OK, AliveError
from .children import child_env, thread_env

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


def shot_record(shot: Shot, out: Path, code: int, seconds: float) -> dict:
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
        rec["error"] = result.get("error") or last_error(log_of(out, shot.name))
        from .stall import HUNG, is_hung
        if is_hung(rec["error"]):
            rec["status"] = HUNG
    return rec


def last_error(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if line.startswith(("alive: error:", "alive: cancelled")):
            return line.split(":", 2)[-1].strip()
    return lines[-1] if lines else ""
