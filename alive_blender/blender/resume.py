"""Skip a capture whose inputs did not change.

A capture's key (``capture/meta.json`` and ``alive.json``) hashes its settings,
the engine, the resolution and, per sample, the scene state that render
depends on (``capture.scene_state_key``). Those can be read without
rendering: evaluating every sample's frame costs milliseconds, rendering it
seconds. So a re-run computes the key it *would* record and reuses the earlier
capture when it matches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..core.artifacts import CAPTURE, WorkDir, content_key, read_json
from ..core.errors import AliveError
from .capture import ENGINES, CaptureSettings, frame_samples, resolution, resolve_camera, scene_state_key


def expected_capture_key(scene, settings: CaptureSettings) -> str:
    """The key ``capture()`` would record for this scene and these settings
    (the same recipe, evaluated without rendering)."""
    cam_obj = resolve_camera(scene, settings.camera)
    samples = frame_samples(scene, settings)
    engine = ENGINES.get(settings.engine.upper()) if settings.engine else ""
    if engine is None:
        raise AliveError(f"unknown render engine '{settings.engine}'", "use CYCLES, WORKBENCH, EEVEE or SCENE")
    used_engine = engine or scene.render.engine
    width, height = resolution(scene, settings)
    frame, subframe = scene.frame_current, scene.frame_subframe
    keys = []
    try:
        for f, sub in samples:
            scene.frame_set(f, subframe=sub)
            keys.append(scene_state_key(scene, cam_obj, f, sub))
    finally:
        scene.frame_set(frame, subframe=subframe)
    return content_key(settings.to_dict(), used_engine, keys, width, height)


def scene_file_fingerprint() -> Optional[str]:
    """sha256 of the open .blend (None for a scene that was never saved).

    The capture key sees transforms and data names, not materials, lights or
    modifiers; a changed file is the cheap, conservative sign that pixels may
    differ, so a run re-renders (and re-encodes and retrains) after any edit."""
    import bpy

    from ..core.artifacts import file_sha256
    path = bpy.data.filepath
    if not path or not Path(path).is_file():
        return None
    return file_sha256(path)


def current_capture(scene, workdir, settings: CaptureSettings, fingerprint: Optional[str] = None) -> Optional[dict]:
    """The earlier capture's summary when it is still current, else None."""
    wd = WorkDir(workdir)
    meta_path = wd / CAPTURE / "meta.json"
    if not meta_path.exists() or wd.stage_key("capture") is None:
        return None
    if fingerprint is not None and wd.stage_info("capture").get("scene_file") != fingerprint:
        return None
    key = expected_capture_key(scene, settings)
    if not wd.is_current("capture", key, meta_path):
        return None
    meta = read_json(meta_path)
    if meta.get("key") != key or not all((wd / CAPTURE / "samples" / s["file"]).exists() for s in meta["samples"]):
        return None
    return {"samples": len(meta["samples"]), "width": meta["width"], "height": meta["height"],
            "engine": meta["engine"], "camera": meta["camera"], "dir": str(Path(wd / CAPTURE)),
            "skipped": True}
