"""The ``relational+world`` row of ``scripts/bench_alive.py`` (issues 19 + 20): the relational
behavior's free poses drawn by the object-world generator, scored by the re-render oracle.

Free poses are not among the cycle's configurations the other rows are scored against, so
this row's *real* and *novel-real* come from Blender: a seeded sample of invented frames is
keyed on the scene's objects (their drawn poses, R.poses.npy) and rendered by the same
capture; a composed frame is real when its PSNR to its own render is at least the shot's tau,
novel-real when it is real and some object stands at a pose no captured sample has. Beside it
(all rows): the share of invented object poses never captured (frames x objects; 0 for rows
that draw captured samples) and contact-off.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

POSE_TOLERANCE = 1e-4   # as layers.POSE_TOLERANCE: within it a pose is a captured one


def drawn_poses(wd: Path, rollout_file: Path):
    """(names, (K, N+1, M, 4, 4)) the poses a rollout's frames show: R.poses.npy when R.json says
    they were drawn free, else the captured matrices of the states' samples; None without objects."""
    from alive_blender.core.models.layers import moving_objects
    from alive_blender.core.workdir.dataset import load_capture_info
    info = json.loads(rollout_file.with_suffix(".json").read_text())
    poses_file, states_file = rollout_file.with_suffix(".poses.npy"), rollout_file.with_suffix(".states.npy")
    cap = load_capture_info(wd)
    if info.get("poses_drawn") == "free" and poses_file.exists():
        return info["object_names"], np.load(poses_file).astype(np.float64)
    if not states_file.exists():
        return None
    objects = [int(o) for o in (info.get("objects") or moving_objects(cap))]
    mats = np.stack([cap.object_matrices(o) for o in objects], 1)
    return [cap.meta["object_ids"][str(o)] for o in objects], mats[np.load(states_file), np.arange(len(objects))]


def new_pose_share(wd: Path, rollout_file: Path):
    """Share of invented (frame, object) poses that no captured sample has (the start frame left out)."""
    from alive_blender.core.workdir.dataset import load_capture_info
    got = drawn_poses(wd, rollout_file)
    if got is None:
        return None
    names, poses = got
    cap = load_capture_info(wd)
    ids = {v: int(k) for k, v in cap.meta["object_ids"].items()}
    mats = np.stack([cap.object_matrices(ids[n]) for n in names], 1)          # (samples, M, 4, 4)
    flat = poses[:, 1:].reshape(-1, len(names), 16)
    d = np.abs(flat[:, None] - mats.reshape(1, len(mats), len(names), 16)).max(-1).min(1)   # (T, M)
    return float((d > POSE_TOLERANCE).mean())


def psnr(a, b) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 99.0 if mse < 1e-12 else 10 * np.log10(1.0 / mse)


def relational_world_row(shot: Path, dflt: Path, blend: Path, args, size: str, engine: str, log: Path, cli, python,
                         rollout_and_decode, score_row, cfgs, tau_db, budget, oracle_frames: int = 48) -> dict:
    from bench_world import KEY_POSES
    from alive_blender.core.workdir.dataset import load_capture
    wd = shot / "relational+world"
    shutil.rmtree(wd, ignore_errors=True)
    wd.mkdir(parents=True)
    shutil.copytree(dflt / "capture", wd / "capture")
    t0 = time.monotonic()
    cli(["train", wd, "--generator", "object-world", "--behavior", "relational", *budget], args.threads, log)
    t_train = time.monotonic() - t0
    dec = rollout_and_decode(wd, "relational_world", args, size, log)
    ro = wd / "bench_relational_world.npy"
    names, poses = drawn_poses(wd, ro)
    flat = poses[:, 1:].reshape(-1, *poses.shape[2:])                         # the decoded frames' poses
    # the oracle: a seeded sample of invented frames keyed on the scene and rendered by Blender
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(flat), min(oracle_frames, len(flat)), replace=False))
    cap = load_capture(wd)
    spec = wd / "oracle.npz"
    np.savez(spec, names=np.array(names), poses=flat[pick], cameras=np.stack([cap.world_from_camera(0)] * len(pick)))
    t0 = time.monotonic()
    python(KEY_POSES, [blend, wd / "oracle.blend", spec], args.threads, log)
    cli(["capture", wd / "oracle.blend", "--out", wd / "oracle_capture", "--frames", f"1-{len(pick)}",
         "--resolution", size, "--engine", engine], args.threads, log)
    t_oracle = time.monotonic() - t0
    oracle = load_capture(wd / "oracle_capture").rgb.astype(np.float32) / 255.0
    ids = {v: int(k) for k, v in cap.meta["object_ids"].items()}
    mats = np.stack([cap.object_matrices(ids[n]) for n in names], 1).reshape(-1, len(names), 16)
    new = (np.abs(flat[pick].reshape(len(pick), 1, len(names), 16) - mats[None]).max(-1).min(1)
           > POSE_TOLERANCE).any(1)
    own = np.array([psnr(dec["rgb"][t] / 255.0, oracle[j]) for j, t in enumerate(pick)])
    real = own >= tau_db
    row = score_row("relational+world", dec["rgb"], dec["depth"], cfgs, tau_db,
                    {"train_s": round(t_train, 1), "rollout_s": round(dec["rollout_s"], 1),
                     "decode_s": round(dec["decode_s"], 1), "contact_off": dec["contact_off"],
                     "new_poses": dec.get("new_poses")},
                    f"object-world + relational free poses; real / novel-real by the re-render oracle on "
                    f"{len(pick)} sampled invented frames ({t_oracle:.0f} s)")
    row.update(configuration_real=row["real"], configuration_novel_real=row["novel_real"],
               real=float(real.mean()), novel_real=float((real & new).mean()), psnr_median=float(np.median(own)),
               oracle_frames=int(len(pick)), oracle_new_pose_frames=int(new.sum()), oracle_s=round(t_oracle, 1))
    row["_oracle"], row["_pick"], row["_own_psnr"] = oracle, pick, own
    return row


def contact_off_poses(wd: Path, rollout_file: Path):
    """Share of invented frames where drawn objects interpenetrate or lose contact (relational.relations),
    from the poses the frames show."""
    from alive_blender.core.models.relational.relations import contact_pairs, contact_violations
    from alive_blender.core.workdir.dataset import load_capture_info
    got = drawn_poses(wd, rollout_file)
    cap = load_capture_info(wd)
    bounds = cap.meta.get("object_bounds")
    if got is None or not bounds:
        return None
    names, poses = got
    ids = {v: int(k) for k, v in cap.meta["object_ids"].items()}
    world = np.stack([cap.object_matrices(ids[n]) for n in names], 1)
    b = np.array([bounds[str(ids[n])] for n in names], np.float64)
    flat = poses[:, 1:].reshape(-1, *poses.shape[2:])
    return float(contact_violations(flat, world, b, contact_pairs(world, b)).mean())
