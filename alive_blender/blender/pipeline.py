"""The whole alive loop on a scene, blocking: capture -> encode -> train ->
rollout -> decode -> bake -> preview. Used by the CLI's ``run`` (and so by
``blender -b``), by the demo, and by the panel in background mode. Core stages
run in this process here; the UI runs the same stages in a worker process."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional


from ..core.run import stages
from ..core.workdir.artifacts import ensure_writable_dir
from ..core.models.encoder import EncoderSpec
from ..core.run.protocol import Reporter
from .bake.points import BakeSettings
from .bake.from_workdir import bake_from_workdir
from .capture.render import CaptureSettings, capture, check_inputs


@dataclass
class RunSettings:
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    encoder: EncoderSpec = field(default_factory=EncoderSpec)
    generator: dict = field(default_factory=dict)
    behavior: dict = field(default_factory=dict)
    rollout: dict = field(default_factory=dict)
    bake: BakeSettings = field(default_factory=BakeSettings)
    device: str = "auto"
    working_size: tuple = (0, 0)   # train at this (W, H), the capture reduced; (0, 0) = the capture's size


def validate(scene, workdir, settings: RunSettings) -> None:
    """Everything that can be checked before the first render, so bad input
    fails fast and leaves nothing behind."""
    check_inputs(scene, settings.capture)   # camera, range, engine, size
    if settings.encoder.kind == "open_clip":
        from ..core.models.encoder import make_encoder
        make_encoder(settings.encoder, "cpu")  # a missing weights file fails here, not after rendering
    ensure_writable_dir(workdir, "work directory")  # last: it creates the folder


RUN_STAGES = ("capture", "encode", "train", "rollout", "decode", "bake")


def run_all(scene, workdir, settings: RunSettings, reporter: Optional[Reporter] = None,
            blend_dir: Optional[Path] = None, force: tuple = (), timings: Optional[dict] = None,
            until: str = "") -> dict:
    """Stages whose inputs did not change since the last run in ``workdir`` are
    skipped (an interrupted training continues from its checkpoint); the names
    in ``force`` re-run regardless. ``timings`` (if given) gets each stage's
    wall time in seconds. ``until`` stops after that stage (no bake): a farm
    can render+encode on one machine and train+bake on a GPU machine."""
    import time

    rep = reporter or Reporter()
    force = set(force)
    timings = {} if timings is None else timings
    validate(scene, workdir, settings)
    t = time.monotonic()

    class _Until(Exception):
        pass

    def lap(name):
        nonlocal t
        now = time.monotonic()
        timings[name] = round(now - t, 3)
        t = now
        if until == name:
            raise _Until

    result: dict = {}
    try:
        return _run_stages(scene, workdir, settings, rep, blend_dir, force, timings, lap, result)
    except _Until:
        rep.status(f"stopped after {until} (--until)")
        return {**result, "until": until, "timings": dict(timings)}


def _preload_torch_native(engine: str) -> None:
    """Import what torch's optimizer imports (torch._dynamo, which loads triton)
    before a GL engine renders: loading triton after Workbench/EEVEE made their
    EGL context segfaulted in the loader (bpy 5.0.1, Mesa, ``run --engine WORKBENCH``)."""
    if engine.upper() == "CYCLES":
        return
    try:
        import torch._dynamo  # noqa: F401
    except Exception:   # a torch without dynamo has nothing to preload
        pass


def _run_stages(scene, workdir, settings, rep, blend_dir, force, timings, lap, result) -> dict:
    _preload_torch_native(settings.capture.engine)
    # capture re-renders only samples whose content key changed (its key covers what a
    # render reads: objects, data, materials, lights, world, settings), and an unchanged
    # capture keeps its key, so the stages after it stay up to date too
    result["capture"] = capture(scene, workdir, settings.capture, rep, force="capture" in force)
    result["capture"]["skipped"] = bool(result["capture"].get("up_to_date"))
    if result["capture"]["skipped"]:
        rep.status(f"capture: up to date ({result['capture']['samples']} samples)")
    lap("capture")
    result["encode"] = stages.encode(workdir, settings.encoder, settings.device, reporter=rep,
                                     force="encode" in force)
    lap("encode")
    result["train"] = stages.train(workdir, settings.generator, settings.behavior, settings.device, reporter=rep,
                                   force="train" in force, working_size=_working(settings))
    lap("train")
    result["rollout"] = stages.rollout(workdir, settings.rollout, device=settings.device, reporter=rep,
                                       force="rollout" in force)
    lap("rollout")
    width, height = _decode_size(workdir, settings.bake)
    result["decode"] = stages.decode_rollout(workdir, width=width, height=height, device=settings.device,
                                             reporter=rep, force="decode" in force,
                                             allow_upscale=settings.bake.allow_upscale)
    lap("decode")
    result["bake"] = bake_from_workdir(scene, workdir, settings.bake, blend_dir=blend_dir, device=settings.device,
                                       reporter=rep, decoded_dir=Path(result["decode"]["dir"]))
    lap("bake")
    result["preview"] = str(stages.preview(workdir))
    lap("preview")
    result["timings"] = dict(timings)
    rep.status("done")
    return result


def _working(settings: RunSettings):
    return tuple(settings.working_size) if settings.working_size and all(settings.working_size) else None


def _decode_size(workdir, bake: BakeSettings) -> tuple[int, int]:
    """(0, 0): the working size; an output size or a density asks for another."""
    if (bake.width and bake.height) or bake.density != 1.0:
        from .bake.from_workdir import decode_size
        return decode_size(workdir, bake.density, bake.width, bake.height)
    return 0, 0


# -- the same stages as worker jobs (the add-on runs them in a worker process)

WORKER_STAGES = {
    "train": ("encode", "train"),
    "rollout": ("rollout", "decode_rollout", "preview"),
    "all": ("encode", "train", "rollout", "decode_rollout", "preview"),
}


def worker_job(workdir, settings: RunSettings, which: str) -> dict:
    """The worker job description (``core.worker``) for one group of stages:
    'train' (encode + train), 'rollout' (rollout + decode + preview) or 'all'."""
    w = str(workdir)
    dev = settings.device
    by_stage = {
        "encode": {"stage": "encode", "workdir": w, "spec": settings.encoder.to_dict(), "device": dev},
        "train": {"stage": "train", "workdir": w, "generator": settings.generator,
                  "behavior": settings.behavior, "device": dev, "train_preview": True,
                  "working_size": _working(settings)},
        "rollout": {"stage": "rollout", "workdir": w, "settings": settings.rollout, "device": dev},
        "decode_rollout": {"stage": "decode_rollout", "workdir": w, "device": dev,
                           "width": int(settings.bake.width), "height": int(settings.bake.height),
                           "allow_upscale": bool(settings.bake.allow_upscale)},
        "preview": {"stage": "preview", "workdir": w},
    }
    return {"stage": "chain", "jobs": [by_stage[s] for s in WORKER_STAGES[which]]}
