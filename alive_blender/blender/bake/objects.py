"""Invented states onto the scene's own objects: ``bake --objects``.

Each source object gets its world matrix keyed per invented frame (location,
rotation in its own rotation mode, scale) from the rollout's poses: the
per-object states (``R.states.npy``: the captured world matrix of each
object's source sample) or explicit poses (``R.poses.npy``, K x (N+1) x M x 4
x 4, a relational behavior's). Its original action is kept (fake user, named
in the object's ``alive_original_action`` property) so nothing is lost. A
deforming object (more than one captured deformation state) also gets a time
remap of the animation that shapes it, to the frame of the sample it is drawn
from (``remap.py``: what is covered and what not). Cycles
(or any engine) then renders the invented behaviour with the real meshes,
materials and lights; the re-render oracle of ``scripts/bench_alive.py`` and
the tests use the same keys with the camera keyed too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from mathutils import Matrix

from ...core.errors import AliveError

ORIGINAL_ACTION = "alive_original_action"


def _key_matrix(ob, matrix: np.ndarray, frame: int) -> None:
    prev = ob.rotation_euler.copy()
    ob.matrix_world = Matrix(np.asarray(matrix, np.float64).tolist())
    if ob.rotation_mode not in ("QUATERNION", "AXIS_ANGLE"):
        ob.rotation_euler = ob.rotation_euler.to_matrix().to_euler(ob.rotation_mode, prev)  # no 360-degree flips
    ob.keyframe_insert("location", frame=frame)
    rot = {"QUATERNION": "rotation_quaternion", "AXIS_ANGLE": "rotation_axis_angle"}.get(ob.rotation_mode,
                                                                                          "rotation_euler")
    ob.keyframe_insert(rot, frame=frame)
    ob.keyframe_insert("scale", frame=frame)


def key_object_poses(scene, names: list, poses: np.ndarray, frames, camera_poses: Optional[np.ndarray] = None) -> dict:
    """Key ``poses`` (F, M, 4, 4) on the objects ``names`` (M) at scene ``frames`` (F); with
    ``camera_poses`` (F, 4, 4) key the scene camera too. Returns what was keyed."""
    poses = np.asarray(poses, np.float64)
    frames = [int(f) for f in frames]
    if poses.ndim != 4 or poses.shape[1:] != (len(names), 4, 4) or len(poses) != len(frames):
        raise AliveError(f"poses of shape {poses.shape} for {len(names)} objects and {len(frames)} frames",
                         "give (frames, objects, 4, 4) world matrices in the rollout's object order")
    missing = [n for n in names if n not in scene.objects]
    if missing:
        raise AliveError(f"objects {', '.join(missing)} of the capture are not in scene '{scene.name}'",
                         "bake --objects into the captured scene")
    targets = [scene.objects[n] for n in names]
    if camera_poses is not None:
        if scene.camera is None:
            raise AliveError(f"scene '{scene.name}' has no camera", "set the scene camera")
        targets.append(scene.camera)
        poses = np.concatenate([poses, np.asarray(camera_poses, np.float64)[:, None]], 1)
    for ob in targets:   # the original animation is kept, not destroyed
        ad = ob.animation_data
        if ad is not None and ad.action is not None:
            ad.action.use_fake_user = True
            ob[ORIGINAL_ACTION] = ad.action.name
        ob.animation_data_clear()
    keep = (scene.frame_current, scene.frame_subframe)
    try:
        for f, frame in enumerate(frames):
            scene.frame_set(frame)   # parents (if any) at this frame before a child's world matrix is set
            for m, ob in enumerate(targets):
                _key_matrix(ob, poses[f, m], frame)
    finally:
        scene.frame_set(keep[0], subframe=keep[1])
    return {"objects": list(names), "frames": [frames[0], frames[-1]], "camera": camera_poses is not None}


def rollout_poses(workdir, rollout_file: Optional[Path] = None, variation: int = 0):
    """(object names (M,), poses (N, M, 4, 4)) of one rollout variation: the drawn poses. R.poses.npy
    when they are what was drawn (R.json ``poses_drawn`` free, or no states: a live take), else each
    object's captured matrix in its R.states.npy source sample (a relational rollout in captured
    mode draws those; its R.poses.npy holds the predictions); states of whole captured frames (no
    ``objects``): every moving object's matrix in the frame's sample."""
    from ...core.workdir.artifacts import ROLLOUT, load_npy, read_json
    from ...core.workdir.dataset import load_capture_info
    from ...core.world.capture_clouds import moving_ids
    workdir = Path(workdir)
    rollout_file = Path(rollout_file) if rollout_file else workdir / ROLLOUT / "rollout.npy"
    info = read_json(rollout_file.with_suffix(".json"), "rollout metadata")
    cap = load_capture_info(workdir)
    poses_file, states_file = rollout_file.with_suffix(".poses.npy"), rollout_file.with_suffix(".states.npy")
    drawn_free = info.get("poses_drawn", "free") == "free" or not (states_file.exists() and info.get("objects"))
    if poses_file.exists() and drawn_free:
        poses = load_npy(poses_file, "rollout poses")
        names = info.get("object_names") or [cap.meta["object_ids"][str(o)] for o in info["objects"]]
    elif states_file.exists() and (info.get("objects") or moving_ids(cap.samples)):
        states = load_npy(states_file, "rollout states")
        objects = [int(o) for o in info["objects"]]
        if not objects:   # whole captured frames (a moving camera on object-layers): every moving object
            objects = moving_ids(cap.samples)
            states = np.repeat(states.reshape(*states.shape[:2], -1)[..., :1], len(objects), 2)
        names = [cap.meta["object_ids"][str(o)] for o in objects]
        mats = np.stack([cap.object_matrices(o) for o in objects], 1)        # (samples, M, 4, 4)
        poses = mats[states, np.arange(len(objects))[None, None, :]]         # (K, N, M, 4, 4)
    else:
        raise AliveError(f"the rollout '{rollout_file.name}' has no per-object states or poses",
                         "roll out with an object behavior (object-walk) on an object-layers/object-world model")
    if not 0 <= variation < len(poses):
        raise AliveError(f"rollout has {len(poses)} variations; {variation} does not exist", "pick a smaller index")
    return list(names), np.asarray(poses[variation], np.float64)


def rollout_appearance(workdir, rollout_file: Optional[Path] = None, variation: int = 0):
    """(N, M) the capture sample each object looks like per frame (R.states.npy: its source sample,
    or for free poses the nearest one), in the rollout's object order; None without states."""
    from ...core.workdir.artifacts import ROLLOUT, load_npy
    rollout_file = Path(rollout_file) if rollout_file else Path(workdir) / ROLLOUT / "rollout.npy"
    states_file = rollout_file.with_suffix(".states.npy")
    if not states_file.exists():
        return None
    states = load_npy(states_file, "rollout states")
    return np.asarray(states[variation], np.int64) if 0 <= variation < len(states) else None


def bake_objects_from_workdir(scene, workdir, rollout_file=None, variation: int = 0, start=None,
                              reporter=None) -> dict:
    """``bake --objects``: key each source object's world matrix from the invented states, and
    remap a deforming object's own animation to the frame it is drawn from."""
    from ...core.workdir.dataset import load_capture_info
    from ...core.world.deformation import deforming_objects
    from .remap import remap_deforming
    names, poses = rollout_poses(workdir, rollout_file, variation)
    s0 = scene.frame_start if start is None else int(start)
    frames = s0 + np.arange(len(poses))
    cap = load_capture_info(workdir)
    ids = {v: int(k) for k, v in cap.meta.get("object_ids", {}).items()}
    deforming = {n for n in names if ids.get(n) in deforming_objects(cap.samples, [ids[n] for n in names if n in ids])}
    appearance = rollout_appearance(workdir, rollout_file, variation) if deforming else None
    remapped = {}
    if appearance is not None and appearance.shape == (len(poses), len(names)):
        # before the matrices: a remapped armature parent moves the object too
        remapped = remap_deforming(scene, names, appearance, cap.frames, deforming, frames)
    result = key_object_poses(scene, names, poses, frames)
    if reporter is not None:
        reporter.status(f"bake --objects: keyed {len(names)} objects ({', '.join(names)}) on frames "
                        f"{frames[0]}-{frames[-1]}; their original actions are kept (fake user)")
        for name in sorted(deforming):
            what = ", ".join(remapped.get(name, []))
            reporter.status(f"bake --objects: {name} deforms: " + (
                f"time remap of {what} to the frame it is drawn from" if what else
                "no time remap (no states in the rollout, or no shape key / mesh / armature action animates it): "
                "it plays its own animation"))
    result["keyed_frames"] = int(len(frames))
    result["remapped"] = remapped
    return result

