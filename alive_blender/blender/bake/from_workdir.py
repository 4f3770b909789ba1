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
from ...core.workdir.artifacts import EMBED, MODEL, ROLLOUT, WorkDir, load_npy, read_json
from ...core.camera import scale_intrinsics
from ...core.workdir.dataset import open_capture
from ...core.errors import AliveError
from ...core.run.protocol import Reporter
from .points import BakeSettings, bake, camera_poses, target_object


def decode_size(workdir, density: float, width: int = 0, height: int = 0) -> tuple[int, int]:
    """Decode width/height: the output size if given, else ``density`` times the working (training) size."""
    if width > 0 and height > 0:
        return int(width), int(height)
    info = read_json(WorkDir(workdir) / MODEL / "train.json", "training results (train the models first)")
    return max(1, round(info["width"] * density)), max(1, round(info["height"] * density))


def rollout_start_index(rollout_file: Path, n_samples: int) -> int:
    """The captured sample a rollout started from (its camera is the one the frames are seen through)."""
    meta = rollout_file.with_suffix(".json")
    start = None
    if meta.exists():
        start = read_json(meta).get("settings", {}).get("start")
    idx = n_samples - 1 if start is None else int(start)
    return idx % n_samples


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
    pngs = [Path(decoded_dir) / f"frame_{i + 1:05d}.png" for i in range(len(decoded["rgb"]))]
    if all(p.is_file() for p in pngs):
        decoded["png_files"] = pngs
    return decoded


def bake_from_workdir(scene, workdir, settings: BakeSettings, rollout_file=None, variation: int = 0,
                      blend_dir: Optional[Path] = None, device: str = "auto", reporter: Optional[Reporter] = None,
                      decoded_dir: Optional[Path] = None) -> dict:
    """Decode (unless ``decoded_dir`` already holds the arrays) and bake."""
    rep = reporter or Reporter()
    settings.check()
    target_object(scene, settings)  # a wrong name fails before the decode, not after
    wd = WorkDir(workdir)
    cap = open_capture(wd.root)   # metadata and cameras; no frames are read
    rollout_file = Path(rollout_file) if rollout_file else wd / ROLLOUT / "rollout.npy"
    if not rollout_file.exists():
        raise AliveError(f"rollout file not found: '{rollout_file}'", "give the .npy that rollout wrote")
    if decoded_dir is None:
        width, height = decode_size(wd.root, settings.density, settings.width, settings.height)
        decoded_dir = wd / "bakes" / bpy.path.clean_name(settings.name) / "decoded"
        decode = stages.decode_rollout(wd.root, rollout_file, variation, width, height, out_dir=decoded_dir,
                                       device=device, reporter=rep, allow_upscale=settings.allow_upscale)
    else:
        decode = {}
    has_depth = bool(cap.meta.get("has_depth", cap.has_depth)) and cap.has_depth
    decoded = load_decoded(decoded_dir, has_depth)
    N, H, W = decoded["rgb"].shape[:3]
    ref = rollout_start_index(rollout_file, len(cap.samples))
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
        trajectory = (emb[np.asarray(cap.is_real_frame)], load_npy(rollout_file, "rollout"))
    result = bake(scene, decoded, K, poses, settings, blend_dir=blend_dir, reporter=rep, trajectory=trajectory)
    result["decoded_dir"] = str(decoded_dir)
    if decode.get("upscaled"):
        result["upscaled"] = True
    return result
