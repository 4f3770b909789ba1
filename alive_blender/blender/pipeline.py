"""The whole alive loop on a scene, blocking: capture -> encode -> train ->
rollout -> decode -> bake -> preview. Used by the CLI's ``run`` (and so by
``blender -b``), by the demo, and by the panel in background mode. Core stages
run in this process here; the UI runs the same stages in a worker process."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..core import stages
from ..core.artifacts import ensure_writable_dir
from ..core.dataset import load_capture
from ..core.encode import EncoderSpec
from ..core.protocol import Reporter
from .bake import BakeSettings, bake
from .capture import CaptureSettings, capture, frame_samples, resolve_camera


@dataclass
class RunSettings:
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    encoder: EncoderSpec = field(default_factory=EncoderSpec)
    generator: dict = field(default_factory=dict)
    behavior: dict = field(default_factory=dict)
    rollout: dict = field(default_factory=dict)
    bake: BakeSettings = field(default_factory=BakeSettings)
    device: str = "auto"


def validate(scene, workdir, settings: RunSettings) -> None:
    """Everything that can be checked before the first render, so bad input
    fails fast and leaves nothing behind."""
    resolve_camera(scene, settings.capture.camera)
    frame_samples(scene, settings.capture)
    if settings.encoder.kind == "open_clip":
        from ..core.encode import make_encoder
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


def _run_stages(scene, workdir, settings, rep, blend_dir, force, timings, lap, result) -> dict:
    from ..core.artifacts import WorkDir
    from .resume import current_capture, scene_file_fingerprint
    wd = WorkDir(workdir)
    fingerprint = scene_file_fingerprint()
    before = wd.stage_info("capture").get("scene_file")
    cached = None if "capture" in force else current_capture(scene, workdir, settings.capture, fingerprint)
    if cached is not None:
        rep.status(f"capture: up to date ({cached['samples']} samples)")
    elif fingerprint and before and fingerprint != before:
        # the capture key cannot see every edit (materials, lights): the stages
        # that read the pixels must not trust their keys either
        rep.status("scene file changed since the last capture: rendering, encoding and training again")
        force |= {"encode", "train"}
    result["capture"] = cached or capture(scene, workdir, settings.capture, rep)
    if fingerprint:
        wd.annotate("capture", scene_file=fingerprint)
    lap("capture")
    result["encode"] = stages.encode(workdir, settings.encoder, settings.device, reporter=rep,
                                     force="encode" in force)
    lap("encode")
    result["train"] = stages.train(workdir, settings.generator, settings.behavior, settings.device, reporter=rep,
                                   force="train" in force)
    lap("train")
    result["rollout"] = stages.rollout(workdir, settings.rollout, device=settings.device, reporter=rep,
                                       force="rollout" in force)
    lap("rollout")
    result["decode"] = stages.decode_rollout(workdir, device=settings.device, reporter=rep, force="decode" in force)
    lap("decode")
    decoded_dir = Path(result["decode"]["dir"])
    decoded = {k: np.load(decoded_dir / f"{k}.npy") for k in ("rgb", "depth", "alpha")}
    cap = load_capture(workdir)
    # rollouts have no camera of their own: show them through the capture camera at its last frame
    ref = len(cap.samples) - 1
    from ..core.camera import scale_intrinsics
    K = scale_intrinsics(cap.K(ref), decoded["rgb"].shape[2] / cap.rgb.shape[2],
                         decoded["rgb"].shape[1] / cap.rgb.shape[1])
    result["bake"] = bake(scene, decoded, K, cap.world_from_camera(ref), settings.bake,
                          blend_dir=blend_dir, reporter=rep)
    lap("bake")
    result["preview"] = str(stages.preview(workdir))
    lap("preview")
    result["timings"] = dict(timings)
    rep.status("done")
    return result
