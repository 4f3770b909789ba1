"""The per-object behavior (``object-walk``): each object follows its own observed motion.

For every moving object (see ``layers.moving_objects``) the walk keeps a
source sample: the captured frame whose pose of *this* object is shown. Each
step the object usually goes on to its next captured frame; at random moments
(``jump_rate`` x temperature per step) it jumps to a *twin*: another captured
frame in which this object has (nearly) the same pose and velocity as the
frame it was about to show, so the jump cannot be seen in its motion. Twins
alone never change what is shown, though: each object keeps playing its
animation in step with the others. What makes new arrangements is tempo: now
and then (``tempo_rate`` x temperature per step) an object holds a frame or
skips one, so the objects drift out of step with one another and rollouts
from one start differ (a one-frame pause or skip is the price in continuity).
When a step would show an arrangement the capture has (every object in the
pose one captured frame shows), the walk prefers, with chance ``novelty``, to
show one object from a twin, a hold or a skip that makes a new one. At the
end of the capture an object must jump: to a frame whose pose and velocity
continue its motion best (as in a video texture, Schoedl et al. 2000, chosen
with probability ~ exp(-cost / (T x step))).

With a moving camera (``core/world/camera_path.py``) invented frame t is seen
through the shot's camera at frame t, so an arrangement is new unless a
captured frame showed it *through that camera*: the novelty preference counts
the camera in (the objects' captured arrangements under the other cameras are
new frames too; without it the walk kept to the few object arrangements the
capture lacked under any camera).

Poses are the objects' world matrices as captured (the top 3x4, translation
and rotation/scale entries), so "same pose" is exact for a cyclic animation
and needs no image comparison. Without object ids the whole frame is the one
"object" and its pose is the frame's embedding: a video-texture walk over the
captured frames.

The rollout writes, besides the (K, N+1, D) embeddings every other stage
reads (each composed frame encoded with the work directory's encoder), the
states (K, N+1, M): the source sample of each object per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Config
from ..errors import AliveError

ARCH = "object-walk"


@dataclass
class ObjectWalkConfig(Config):
    WHAT = "object-walk"
    arch: str = ARCH
    seed: int = 0
    jump_rate: float = 0.5          # chance per step (x temperature) to jump to an equivalent frame
    pose_tolerance: float = 0.5     # equivalent: pose + velocity within this many median steps
    tempo_rate: float = 0.1         # chance per step (x temperature) that an object holds a frame or skips
                                    # one: the objects drift out of step with one another
    novelty: float = 1.0            # chance per step to prefer, among an object's possible next frames
                                    # (twins, hold, skip), an arrangement no captured frame shows


class ObjectWalk:
    """Per-object poses over the captured frames and the walk over them."""

    stochastic = False

    def __init__(self, cfg: ObjectWalkConfig, dim: int, poses: np.ndarray, frames: np.ndarray,
                 objects: list[int], device: str = "cpu", activity=None, camera_path=None, camera_class=None):
        self.cfg = cfg
        self.dim = int(dim)
        self.poses = np.asarray(poses, np.float64)     # (M, F, P): pose features per object and real frame
        self.frames = np.asarray(frames, np.int64)     # (F,) capture sample index of each real frame
        self.objects = list(objects)
        self.device = device
        # a moving camera: the shot's camera path (which sample's camera shows step t) and each real
        # frame's camera class (the first real frame with the same camera pose); None: a still camera
        self.camera_path = camera_path
        self.camera_class = None if camera_class is None else np.asarray(camera_class, np.int64)
        self._prepare()
        # how lively each object/region is, for the dynamism control (regions: their pixels' temporal
        # deviation; objects: their mean pose speed in median steps)
        self.activity = (np.asarray(activity, np.float64) if activity is not None
                         else np.linalg.norm(self.velocity, axis=-1).mean(1) / self.step)

    def _prepare(self) -> None:
        M, F, _ = self.poses.shape
        # pose class of each object per frame (the first frame with that pose): two frames whose
        # classes agree for every object show the same arrangement
        self.pose_class = np.empty((M, F), np.int64)
        for m in range(M):
            for i in range(F):
                same = np.flatnonzero(np.abs(self.poses[m] - self.poses[m, i]).max(1) <= 1e-4)
                self.pose_class[m, i] = same[0]
        self.captured = {tuple(self.pose_class[:, i]) for i in range(F)}
        if self.camera_class is not None:   # what the capture showed through each camera
            self.captured_views = {(tuple(self.pose_class[:, i]), int(self.camera_class[i])) for i in range(F)}
        self.velocity = np.zeros_like(self.poses)
        if F > 1:
            self.velocity[:, :-1] = self.poses[:, 1:] - self.poses[:, :-1]
            self.velocity[:, -1] = self.velocity[:, -2]
        steps = np.linalg.norm(self.velocity[:, :-1], axis=-1) if F > 1 else np.zeros((M, 1))
        self.step = np.array([max(float(np.median(s[s > 1e-9])) if (s > 1e-9).any() else 1e-6, 1e-6)
                              for s in steps])

    def header(self) -> dict:
        h = {"kind": "behavior", "config": self.cfg.to_dict(), "dim": self.dim, "format": 1,
             "objects": self.objects}
        if self.camera_path is not None:
            h["camera_rule"], h["camera_period"] = self.camera_path.rule, int(self.camera_path.period)
        return h

    def step_cameras(self, steps: int) -> np.ndarray | None:
        """The camera class each step 0..steps is seen through (None: a still camera)."""
        if self.camera_class is None:
            return None
        row = {int(s): i for i, s in enumerate(self.frames)}
        return np.array([self.camera_class[row[int(s)]] for s in self.camera_path.sample_for(np.arange(steps + 1))])

    def _is_captured(self, frames, camera=None) -> bool:
        """Did a captured frame show this arrangement (through this camera class, with a moving one)?"""
        if camera is None:
            return self._arrangement(frames) in self.captured
        return (self._arrangement(frames), int(camera)) in self.captured_views

    # -- the walk

    def _costs(self, m: int, i: int) -> np.ndarray:
        """Cost of showing frame j next for object m, now at frame i: distance of j's pose and
        velocity to those of i's successor (or to i's extrapolation at the end), in median steps."""
        P, V = self.poses[m], self.velocity[m]
        F = len(P)
        if i + 1 < F:
            want_p, want_v = P[i + 1], V[i + 1]
        else:
            want_p, want_v = P[i] + V[i], V[i]
        return (np.linalg.norm(P - want_p, axis=1) + np.linalg.norm(V - want_v, axis=1)) / self.step[m]

    def walk(self, start: int, steps: int, count: int, seed: int, temperature, anchor=0.0) -> np.ndarray:
        """(count, steps + 1, M) frame indices (into the real frames) per object. ``anchor`` (scalar
        or per-step curve, 0..1): the chance per step to return to a captured arrangement (the
        seed's pull toward the nearest observed state, on the walk's discrete states)."""
        from ..rollout import curve
        temps = curve(temperature, steps, "temperature")
        anchors = curve(anchor, steps, "anchor", 0.0, 1.0)
        M, F, _ = self.poses.shape
        rng = np.random.default_rng(seed)
        out = np.empty((count, steps + 1, M), np.int64)
        out[:, 0] = start
        costs = [[self._costs(m, i) for i in range(F)] for m in range(M)]
        tol = self.cfg.pose_tolerance
        cams = self.step_cameras(steps)
        for k in range(count):
            cur = np.full(M, start)
            for t in range(1, steps + 1):
                T = max(float(temps[t]), 1e-6)
                choices = []   # per object: the frames it may show next without breaking its motion
                for m in range(M):
                    i = int(cur[m])
                    c = costs[m][i]
                    nxt = i + 1
                    if nxt < F:
                        twins = np.flatnonzero(c <= tol)
                        twins = twins[twins != nxt]
                        tempo = [i] + ([i + 2] if i + 2 < F else [])   # hold this frame, or skip one
                        if rng.random() < min(1.0, self.cfg.tempo_rate * T):
                            nxt = int(rng.choice(tempo))
                        elif len(twins) and rng.random() < min(1.0, self.cfg.jump_rate * T):
                            nxt = int(rng.choice(twins))
                        choices.append(np.concatenate([[i + 1], twins, tempo]))
                    else:
                        logits = -c / T
                        logits[i] = -np.inf      # the end of the capture has no successor: move on
                        p = np.exp(logits - logits.max())
                        nxt = int(rng.choice(F, p=p / p.sum()))
                        choices.append(np.flatnonzero(c <= max(tol, c[nxt])))
                    cur[m] = nxt
                # drawn only when anchoring, so a walk without anchor keeps its random stream
                anchored = M > 1 and anchors[t] > 0 and rng.random() < anchors[t]
                cam = None if cams is None else cams[t]
                if anchored and not self._is_captured(cur, cam):
                    cur = self._new_arrangement(cur, choices, rng, captured=True, camera=cam)
                elif not anchored and M > 1 and self._is_captured(cur, cam) \
                        and rng.random() < self.cfg.novelty:
                    cur = self._new_arrangement(cur, choices, rng, camera=cam)
                out[k, t] = cur
        return out

    def _arrangement(self, frames) -> tuple:
        return tuple(int(self.pose_class[m, f]) for m, f in enumerate(frames))

    def _new_arrangement(self, cur: np.ndarray, choices: list, rng, captured: bool = False,
                         camera=None) -> np.ndarray:
        """Swap one object (in random order) to an equivalent frame that makes an arrangement no
        captured frame shows (``captured``: one a captured frame shows; ``camera``: through that
        camera class); unchanged when there is none."""
        for m in rng.permutation(len(cur)):
            options = [f for f in rng.permutation(choices[m]) if f != cur[m]]
            for f in options:
                trial = cur.copy()
                trial[m] = f
                if self._is_captured(trial, camera) == captured:
                    return trial
        return cur

    # -- saving

    def save(self, path: Path) -> None:
        import torch
        from ..workdir.checkpoint import save_model
        state = {"poses": torch.from_numpy(self.poses), "frames": torch.from_numpy(self.frames),
                 "activity": torch.from_numpy(np.asarray(self.activity, np.float64))}
        if self.camera_class is not None:
            path_ = self.camera_path
            state.update(camera_class=torch.from_numpy(self.camera_class),
                         camera_path=torch.from_numpy(np.stack([path_.frames, path_.samples]).astype(np.int64)))
        save_model(Path(path), state, self.header())

    @classmethod
    def from_state(cls, state: dict, header: dict, device: str = "cpu") -> "ObjectWalk":
        if "poses" not in state or "frames" not in state:
            raise AliveError("object-walk checkpoint lacks its poses", "train again")
        path = None
        if "camera_class" in state:   # a moving camera (an older checkpoint: none, as before)
            from ..world.camera_path import CameraPath
            arr = state["camera_path"].numpy()
            path = CameraPath(arr[0], arr[1], header["camera_rule"], int(header.get("camera_period", 0)))
        return cls(ObjectWalkConfig.from_dict(header.get("config", {})), header["dim"],
                   state["poses"].numpy(), state["frames"].numpy(), [int(o) for o in header.get("objects", [])],
                   device, state["activity"].numpy() if "activity" in state else None,
                   path, state["camera_class"].numpy() if "camera_class" in state else None)


def train_object_walk(embeddings: np.ndarray, capture, settings: dict, reporter=None, regions=None,
                      objects: list | None = None) -> ObjectWalk:
    """Collect each moving object's pose per real frame (or the frame's embedding without ids).
    ``regions`` (a ``regions.layers.RegionLayers``): footage regions are the objects, each region's
    pixels its pose. ``objects``: the generator's object ids (default ``layers.moving_objects``)."""
    from .layers import moving_objects
    cfg = ObjectWalkConfig.from_dict({**(settings or {}), "arch": ARCH})   # strict: the walk's keys only
    real = np.flatnonzero(np.asarray(capture.is_real_frame))
    if len(real) < 2:
        raise AliveError("the behavior model needs at least 2 frames", "capture a longer frame range")
    if regions is not None:
        walk = ObjectWalk(cfg, embeddings.shape[1], regions.region_features()[:, real], real, regions.objects,
                          activity=regions.activity)
        if reporter is not None:
            reporter.status(f"train: behavior 'object-walk': {len(regions.objects)} footage regions, each on its "
                            f"own captured frames, {len(real)} frames")
        return walk
    objects = moving_objects(capture) if objects is None else list(objects)
    if objects:
        poses = np.stack([capture.object_matrices(o)[real][:, :3, :4].reshape(len(real), -1) for o in objects])
    else:
        poses = np.asarray(embeddings, np.float64)[real][None]
    path, classes = _camera_classes(capture, real) if len(objects) > 1 else (None, None)
    walk = ObjectWalk(cfg, embeddings.shape[1], poses, real, objects, camera_path=path, camera_class=classes)
    if reporter is not None:
        what = (f"{len(objects)} objects, each on its own captured motion" if objects
                else "whole frames (video-texture walk: no object ids)")
        if path is not None:
            what += " (moving camera: an arrangement is new unless captured through that frame's camera)"
        reporter.status(f"train: behavior 'object-walk': {what}, {len(real)} frames")
    return walk


def _camera_classes(capture, real: np.ndarray):
    """(camera path, each real frame's camera class) of a moving camera; (None, None) for a still one."""
    from ..world.camera_path import POSE_TOLERANCE, camera_path
    path = camera_path(capture)
    if path.rule == "still":
        return None, None
    cams = np.stack([capture.world_from_camera(int(i)) for i in real]).reshape(len(real), -1)
    classes = np.array([np.flatnonzero(np.abs(cams - c).max(1) <= POSE_TOLERANCE)[0] for c in cams], np.int64)
    return path, classes


def rollout_states(walk: ObjectWalk, observed: np.ndarray, cfg, reporter=None) -> np.ndarray:
    """States (count, steps + 1, M) as capture sample indices, for a RolloutConfig ``cfg``."""
    from ..rollout import resolve_start
    frames = walk.frames
    start_idx, start = resolve_start(np.asarray(observed, np.float32), cfg.start)
    if start_idx is None:   # an embedding: the nearest real frame
        obs = np.asarray(observed, np.float32)[frames]
        start_idx = int(frames[np.argmax(obs @ start)])
    start_frame = int(np.argmin(np.abs(frames - start_idx)))
    if reporter is not None and (cfg.prompt or cfg.loop):
        reporter.warning("object-walk's frames ignore loop and steering (steering changes only its embeddings); "
                         "use the relational behavior for them")
    idx = walk.walk(start_frame, cfg.steps, cfg.count, cfg.seed, cfg.temperature, cfg.anchor)
    dynamism = float(getattr(cfg, "dynamism", 1.0))
    if dynamism != 1.0:   # the least active regions/objects hold their start frame (outside 0..1: refused)
        from ..regions.dynamism import apply_dynamism
        idx = apply_dynamism(idx, walk.activity, dynamism)
    return frames[idx]
