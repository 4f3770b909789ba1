"""Bake straight from a work directory: decode a rollout with the work
directory's generator (at the density the settings ask for), find the capture
camera's intrinsics and pose, and bake. Used by the CLI's ``bake``, the bake
operator and the pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

import bpy

from ...core.run import stages
from ...core.workdir.artifacts import EMBED, ROLLOUT, WorkDir, load_npy, read_json
from ...core.camera import scale_intrinsics
from ...core.device import pick_device
from ...core.rollout import start_frame
from ...core.workdir.dataset import load_capture_info
from ...core.errors import AliveError
from ...core.run.protocol import Reporter
from .points import BakeSettings, bake, camera_poses, target_object


def decode_size(workdir, density: float, width: int = 0, height: int = 0) -> tuple[int, int]:
    """Decode width/height: the output size if given, else ``density`` times the working (training) size."""
    if width > 0 and height > 0:
        return int(width), int(height)
    return stages.decode_size(workdir, density)


def rollout_start_index(rollout_file: Path, workdir) -> int:
    """The captured sample a rollout started from (its camera is the one the
    frames are seen through), as the rollout stage resolved and stored it; a
    rollout .json from before that was stored is resolved by the same rule."""
    meta = rollout_file.with_suffix(".json")
    info = read_json(meta) if meta.exists() else {}
    if "start_frame" in info:
        return int(info["start_frame"])
    emb = load_npy(WorkDir(workdir) / EMBED / "embeddings.npy", "embeddings")
    return start_frame(emb, info.get("settings", {}).get("start"))


def load_decoded(decoded_dir: Path, has_depth: bool) -> dict:
    """The decoded arrays memory-mapped (a bake reads them a chunk at a time), and
    the frame PNGs decode wrote, which a sequence texture links instead of re-encoding."""
    decoded = {}
    for k in ("rgb", "depth", "alpha"):
        path = Path(decoded_dir) / f"{k}.npy"
        try:
            decoded[k] = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            decoded[k] = load_npy(path, f"decoded {k}")   # its clear error for a missing or bad file
    if not has_depth:
        decoded["depth"] = None  # footage: the generator's depth output learned nothing
    decoded["png_dir"] = Path(decoded_dir)  # the decode's PNGs: the bake links them, no second encode
    return decoded


def bake_from_workdir(scene, workdir, settings: BakeSettings, rollout_file=None, variation: int = 0,
                      blend_dir: Optional[Path] = None, device: str = "auto", reporter: Optional[Reporter] = None,
                      decoded_dir: Optional[Path] = None) -> dict:
    """Decode (unless ``decoded_dir`` already holds the arrays) and bake. The points are the
    3-D bake (``world.py``) when ``settings.point_bake`` is "3d" and the capture allows it,
    else each decoded frame's depth surface (and the status says why)."""
    rep = reporter or Reporter()
    settings.check()
    target_object(scene, settings)  # a wrong name fails before the decode, not after
    wd = WorkDir(workdir)
    cap = load_capture_info(wd.root)  # cameras and size: the bake needs no captured pixels
    rollout_file = Path(rollout_file) if rollout_file else wd / ROLLOUT / "rollout.npy"
    if not rollout_file.exists():
        raise AliveError(f"rollout file not found: '{rollout_file}'", "give the .npy that rollout wrote")
    if settings.points and settings.point_bake == "3d":
        from .world import world_plan
        plan, why = world_plan(wd.root, rollout_file, variation)
        if plan is not None:
            return _bake_3d(scene, wd, settings, rollout_file, variation, blend_dir, device, rep, decoded_dir)
        rep.status(f"bake '{settings.name}': per-frame depth points: no 3-D bake, {why}")
    if decoded_dir is None:
        width, height = decode_size(wd.root, settings.density, settings.width, settings.height)
        decoded_dir = wd / "bakes" / bpy.path.clean_name(settings.name) / "decoded"
        decode = stages.decode_rollout(wd.root, rollout_file, variation, width, height, out_dir=decoded_dir,
                                       device=device, reporter=rep, allow_upscale=settings.allow_upscale)
    else:
        decode = {}
    decoded = load_decoded(decoded_dir, cap.has_depth)
    N, H, W = decoded["rgb"].shape[:3]
    ref = rollout_start_index(rollout_file, wd.root)
    K = scale_intrinsics(cap.K(ref), W / cap.width, H / cap.height)
    if settings.camera_pose == "per-frame":
        cam_name = cap.meta.get("camera", "")
        cam = scene.objects.get(cam_name) if cam_name else None
        cam = cam or scene.camera
        if cam is None or cam.type != "CAMERA":
            raise AliveError(f"camera '{cam_name}' of the capture is not in scene '{scene.name}'",
                             "bake into the captured scene, or use --camera-pose start")
        start = scene.frame_start if settings.start is None else int(settings.start)
        poses = camera_poses(scene, cam, start + int(settings.hold) * np.arange(N))
    else:
        poses = cap.world_from_camera(ref)
    trajectory = None
    if settings.trajectory:
        emb = load_npy(wd / EMBED / "embeddings.npy", "embeddings")
        # a walk's composed frames, unencoded at rollout time, are encoded now
        trajectory = (emb[np.asarray(cap.is_real_frame)],
                      stages.rollout_embeddings(wd.root, rollout_file, pick_device(device), rep))
    result = bake(scene, decoded, K, poses, settings, blend_dir=blend_dir, reporter=rep, trajectory=trajectory)
    result["decoded_dir"] = str(decoded_dir)
    if decode.get("upscaled"):
        result["upscaled"] = True
    return result


def _bake_3d(scene, wd, settings: BakeSettings, rollout_file, variation, blend_dir, device, rep, decoded_dir):
    """The 3-D clouds in place of the per-frame points, beside whatever else ``settings`` asks for."""
    from dataclasses import replace
    from .points import remove_bake
    from .world import bake_world
    rest = replace(settings, points=False)
    if rest.texture or rest.card or rest.world or rest.trajectory:
        result = bake_from_workdir(scene, wd.root, rest, rollout_file, variation, blend_dir, device, rep, decoded_dir)
    else:
        target_object(scene, rest)
        remove_bake(settings.name)
        result = {"name": settings.name, "hold": int(settings.hold)}
    world = bake_world(scene, wd.root, settings.name, rollout_file, variation, settings.start, rep,
                       hold=settings.hold, replace=False)
    result.update(points_3d=world, point_bake="3d", frames=result.get("frames", world["frames"]))
    return result
