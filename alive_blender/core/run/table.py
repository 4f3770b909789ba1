"""The stage table: the one place that says which stages a run has, in which
order, what each reads and writes in the work directory and what its content
key covers. ``run`` (and ``demo``, ``batch``), ``--force``/``--until``, the
panel's worker jobs and ``info`` all read it.

``where`` says who runs a stage: "blender" stages need the scene (the
pipeline runs them in Blender's process); "worker" stages are bpy-free and run
from a job dict (``job``) in a worker process or, for ``run``, in-process
through the same ``worker.run_stage``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import AliveError


@dataclass(frozen=True)
class Stage:
    name: str
    inputs: tuple        # what it reads ("scene" or work-directory paths)
    outputs: tuple       # what it writes
    key: str             # what its content key (alive.json) covers
    where: str = "worker"
    forceable: bool = True  # has a key, so --force / --until make sense


STAGES = (
    Stage("capture", ("scene",), ("capture/",),
          "render settings + each sample's scene state (scene_state.py)", where="blender"),
    Stage("encode", ("capture/",), ("embed/embeddings.npy", "embed/encoder.json"),
          "capture key + encoder identity"),
    Stage("train", ("capture/", "embed/"), ("model/",),
          "encode key + generator and behavior configs"),
    Stage("rollout", ("embed/", "model/"), ("rollout/rollout.npy", "rollout/rollout.json"),
          "train key + model checksums + rollout config"),
    Stage("decode", ("rollout/", "model/generator.safetensors"), ("decoded/",),
          "rollout key + generator checksum + decode size"),
    Stage("bake", ("decoded/", "capture/meta.json", "rollout/rollout.json"), ("scene",),
          "none: always re-applied to the scene opened from the .blend", where="blender", forceable=False),
    Stage("preview", ("capture/", "decoded/"), ("preview.png",), "none: cheap, always redrawn", forceable=False),
)
STAGE_NAMES = tuple(s.name for s in STAGES)
FORCEABLE = tuple(s.name for s in STAGES if s.forceable)
BY_NAME = {s.name: s for s in STAGES}

# the panel's buttons: which stages each one runs in its worker
GROUPS = {"train": ("encode", "train"), "rollout": ("rollout", "decode", "preview"),
          "all": ("encode", "train", "rollout", "decode", "preview")}


def stage(name: str) -> Stage:
    if name not in BY_NAME:
        raise AliveError(f"unknown stage '{name}'", f"use one of {', '.join(STAGE_NAMES)}")
    return BY_NAME[name]


def job(name: str, workdir, settings, force: bool = False) -> dict:
    """The worker job for one bpy-free stage with a run's settings (core.settings.RunSettings)."""
    w, dev = str(workdir), settings.device
    by_stage = {
        "encode": lambda: {"workdir": w, "spec": settings.encoder.to_dict(), "device": dev, "force": force},
        "train": lambda: {"workdir": w, "generator": settings.generator.to_dict(),
                          "behavior": settings.behavior.to_dict(), "device": dev, "force": force,
                          "working_size": settings.working_size},
        "rollout": lambda: {"workdir": w, "settings": settings.rollout.to_dict(), "device": dev, "force": force},
        "decode": lambda: {"workdir": w, "density": settings.bake.density, "width": settings.bake.width,
                           "height": settings.bake.height, "allow_upscale": settings.bake.allow_upscale,
                           "device": dev, "force": force},
        "preview": lambda: {"workdir": w},
    }
    if stage(name).where != "worker":
        raise AliveError(f"stage '{name}' runs in Blender, not in a worker", "run it from the pipeline")
    return {"stage": name, **by_stage[name]()}


def group_job(group: str, workdir, settings) -> dict:
    """The panel's worker job for one button: its stages chained."""
    jobs = [job(name, workdir, settings) for name in GROUPS[group]]
    if group in ("train", "all"):
        for j in jobs:
            if j["stage"] == "train":
                j["train_preview"] = True   # the panel shows training as it goes
    return {"stage": "chain", "jobs": jobs}
