"""The whole alive loop on a scene, blocking, in the order of the stage table
(core/run/table.py): capture -> encode -> train -> rollout -> decode -> bake
-> preview. Used by the CLI's ``run`` (and so by ``blender -b``), by the demo,
and by the panel in background mode. The bpy-free stages run here through the
same ``worker.run_stage`` (and job dicts) that the panel's worker process runs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from ..core.device import check_frames_fit, pick_device
from ..core.rollout import check_config
from ..core.workdir.lock import workdir_lock
from ..core.run.protocol import Reporter
from ..core.run.table import STAGES, job
from ..core.run.worker import run_stage
from ..core.settings import RunSettings
from ..core.workdir.artifacts import ensure_writable_dir
from .bake.from_workdir import bake_from_workdir
from .capture.render import capture, check_inputs

__all__ = ["RunSettings", "validate", "run_all"]


def validate(scene, workdir, settings: RunSettings) -> None:
    """Everything that can be checked before the first render, so bad input
    fails fast and leaves nothing behind."""
    settings.check()
    _, samples, _, (width, height) = check_inputs(scene, settings.capture)   # camera, range, engine, size
    check_frames_fit(len(samples), width, height, f"a capture at {width}x{height}")
    pick_device(settings.device)               # an absent GPU fails here, not after rendering
    check_config(settings.rollout)             # NaN/Inf or out-of-range controls
    if settings.encoder.kind == "open_clip":
        from ..core.models.encoder import make_encoder  # torch + open_clip: loaded only when a CLIP model is asked for
        make_encoder(settings.encoder, "cpu")  # a missing weights file fails here, not after rendering
    ensure_writable_dir(workdir, "work directory")  # last: it creates the folder


def run_all(scene, workdir, settings: RunSettings, reporter: Optional[Reporter] = None,
            blend_dir: Optional[Path] = None, force: tuple = (), timings: Optional[dict] = None,
            until: str = "") -> dict:
    """Stages whose inputs did not change since the last run in ``workdir`` are
    skipped (an interrupted training continues from its checkpoint); the names
    in ``force`` re-run regardless. ``timings`` (if given) gets each stage's
    wall time in seconds. ``until`` stops after that stage (no bake): a farm
    can render+encode on one machine and train+bake on a GPU machine."""
    rep = reporter or Reporter()
    timings = {} if timings is None else timings
    validate(scene, workdir, settings)
    result: dict = {}
    _preload_torch_native(settings.capture.engine)
    with workdir_lock(workdir):  # one writer per work directory
        for stage in STAGES:
            t = time.monotonic()
            rep.begin(stage.name)
            forced = stage.name in force
            if stage.name == "capture":
                res = capture(scene, workdir, settings.capture, rep, force=forced)
                res["skipped"] = bool(res.get("up_to_date"))
                if res["skipped"]:
                    rep.status(f"capture: up to date ({res['samples']} samples)")
            elif stage.name == "bake":
                res = bake_from_workdir(scene, workdir, settings.bake, blend_dir=blend_dir, device=settings.device,
                                        reporter=rep, decoded_dir=Path(result["decode"]["dir"]))
            else:
                res = run_stage(job(stage.name, workdir, settings, force=forced), rep)
            result[stage.name] = res["preview"] if stage.name == "preview" else res
            timings[stage.name] = round(time.monotonic() - t, 3)
            if until == stage.name:
                rep.status(f"stopped after {until} (--until)")
                return {**result, "until": until, "timings": dict(timings)}
    result["timings"] = dict(timings)
    rep.status("done")
    return result


def _preload_torch_native(engine: str) -> None:
    """Import what torch's optimizer imports (torch._dynamo, which loads triton)
    before a GL engine renders: loading triton after Workbench/EEVEE made their
    EGL context segfaulted in the loader (bpy 5.0.1, Mesa, ``run --engine WORKBENCH``)."""
    if str(engine).upper() == "CYCLES":
        return
    try:
        import torch._dynamo  # noqa: F401  (loaded before rendering on purpose: see above)
    except Exception:   # a torch without dynamo has nothing to preload
        pass
