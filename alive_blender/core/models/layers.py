"""The object-layer generator (``object-layers``): invented frames made of captured pixels.

A capture that knows its objects (an id image and each object's world matrix
per sample, see ``workdir/dataset.py``) is split into

- a **background plate**: RGB and depth of the pixels no moving object covers,
  the per-pixel median over the samples (pixels that some object always
  covers are filled from the nearest uncovered pixel);
- one **layer per moving object and sample**: the object's pixels and depth
  in that sample (for each pose, the sample that shows most of the object is
  used, so a pose seen once behind another object and once in the open is
  taken from the open one);
- the **shading** each object casts on the background (shadows, reflections):
  in every sample, the ratio frame / plate in the background pixels that
  differ from the plate, each given to the nearest moving object. It travels
  with that object, so a new arrangement has no shadows in old places.

A *state* is one source sample per object (its pose). ``compose`` builds a
frame from a state: the plate, times each object's shading from its own
source sample, then the objects' pixels, depth-tested against each other and
against the plate. Every pixel comes from a real render, so frames are sharp
at the capture's full resolution, and an object's depth is a real capture of
that object in that pose (rigid, not re-decoded).

Without object ids (footage, a moving camera) there are no layers: the whole
frame is the one layer, a state is one sample, and an embedding decodes as
the nearest captured frame (no blends: a video-texture walk, not new pixels).
"""

from __future__ import annotations

from pathlib import Path
import numpy as np

from ..errors import AliveError
from ..world.deformation import deformation_states, describe

ARCH = "object-layers"
FORMAT = 2   # the generator file format: generator.py, which loads these files too, checks it is its own
SHADE_THRESHOLD = 0.04   # plate ratio below/above 1 by more than this counts as an object's shading
POSE_TOLERANCE = 1e-4    # world matrices closer than this (max abs entry) are the same pose
REPRESENTATIVE_MARGIN = 0.1  # a pose's sample is replaced by one showing at least 10 % more of the object


def moving_objects(capture, moving_camera: bool = False) -> list[int]:
    """Ids of the objects that move (their world matrix or their deformation state changes) and are
    seen, in id order;
    [] when the capture has no ids or (unless ``moving_camera``: the 3-D layers of
    ``world_layers.py``) its camera moves (these layers are composed in image space)."""
    if capture.ids is None or not capture.samples:
        return []
    cams = np.array([s["world_from_camera"] for s in capture.samples], np.float64)
    if not moving_camera and np.abs(cams - cams[:1]).max() > 1e-6:
        return []
    # a count per id, not np.unique: sorting every pixel of a 1280x720 shot took seconds
    seen = set(np.flatnonzero(np.bincount(np.asarray(capture.ids).ravel())).tolist()) - {0}
    out = []
    for key in sorted(capture.samples[0].get("objects", {}), key=int):
        oid = int(key)
        if oid in seen:
            m = capture.object_matrices(oid)
            # a deforming object changes shape where its matrix may not: it moves too
            if np.abs(m - m[:1]).max() > POSE_TOLERANCE or deformation_states(capture.samples, oid).any():
                out.append(oid)
    return out


def _median_where(values: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel median of values (N, H, W[, C]) over samples where keep (N, H, W); and the count."""
    import warnings
    v = values.astype(np.float32).copy()
    v[~keep] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN pixels: filled by the caller
        med = np.nanmedian(v, axis=0)
    return med, keep.sum(0)


def _fill_nearest(img: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Pixels where not valid take the value of the nearest valid pixel."""
    if valid.all() or not valid.any():
        return img
    from scipy.ndimage import distance_transform_edt
    _, (iy, ix) = distance_transform_edt(~valid, return_indices=True)
    return img[iy, ix]


def _pose_representatives(matrices: np.ndarray, area: np.ndarray, shapes=None) -> np.ndarray:
    """For each sample, the sample with the same pose (within tolerance; and the same deformation
    state, ``shapes`` (N,)) that shows the most of the object (itself when it shows within
    REPRESENTATIVE_MARGIN of that)."""
    n = len(matrices)
    flat = matrices.reshape(n, -1)
    shapes = np.zeros(n, np.int32) if shapes is None else np.asarray(shapes)
    rep = np.arange(n)
    for i in range(n):
        same = np.flatnonzero((np.abs(flat - flat[i]).max(1) <= POSE_TOLERANCE) & (shapes == shapes[i]))
        best = same[np.argmax(area[same])]
        # a sample keeps its own pixels unless another shows clearly more of the object: where the
        # difference is a few pixels occluded by a *related* object (a ball on its platform), swapping
        # would paste that other sample's occlusion and contact shadow under this one's ball
        rep[i] = i if area[i] >= (1.0 - REPRESENTATIVE_MARGIN) * area[best] else best
    return rep


class ObjectLayers:
    """Background plate + per-sample object layers + carried shading; see the module docstring."""

    def __init__(self, cfg, dim: int, arrays: dict, objects: list[int], names: dict, device: str = "cpu"):
        self.cfg = cfg
        self.dim = int(dim)
        self.device = device
        self.objects = list(objects)
        self.names = dict(names)
        self.a = arrays           # numpy arrays, see build()
        self.steps_done = 0

    # -- building

    @classmethod
    def build(cls, cfg, embeddings: np.ndarray, capture, reporter=None) -> "ObjectLayers":
        rgb = np.asarray(capture.rgb, np.uint8)
        n, H, W = rgb.shape[:3]
        depth = (np.asarray(capture.depth, np.float32) if capture.depth is not None
                 else np.full((n, H, W), np.inf, np.float32))
        objects = moving_objects(capture)
        names = {str(o): capture.meta.get("object_ids", {}).get(str(o), str(o)) for o in objects}
        arrays = {"rgb": rgb, "depth": depth, "alpha": np.asarray(capture.alpha, np.float32),
                  "embeddings": np.asarray(embeddings, np.float32)}
        if objects:
            ids = np.where(np.isin(capture.ids, objects), capture.ids, 0).astype(np.int32)
            covered = ids > 0
            plate, count = _median_where(rgb, ~covered)
            plate_depth, _ = _median_where(np.where(np.isfinite(depth), depth, 1e30), ~covered)
            valid = count > 0
            plate = _fill_nearest(plate, valid)
            plate_depth = _fill_nearest(plate_depth, valid)
            plate_depth = np.where(plate_depth >= 1e29, np.inf, plate_depth).astype(np.float32)
            # shading: where a background pixel differs from the plate, it belongs to the nearest object
            from scipy.ndimage import distance_transform_edt
            shade = np.ones((n, H, W, 3), np.float32)
            owner = np.zeros((n, H, W), np.int32)
            for i in range(n):
                if not covered[i].any():
                    continue
                ratio = (rgb[i].astype(np.float32) + 1.0) / (plate + 1.0)
                differs = (np.abs(ratio - 1.0).max(-1) > SHADE_THRESHOLD) & ~covered[i]
                _, (iy, ix) = distance_transform_edt(~covered[i], return_indices=True)
                nearest = ids[i][iy, ix]
                owner[i] = np.where(differs, nearest, 0)
                shade[i] = np.where(differs[..., None], ratio, 1.0)
            reps = np.stack([_pose_representatives(capture.object_matrices(o), (ids == o).sum((1, 2)),
                                                   deformation_states(capture.samples, o))
                             for o in objects], 1).astype(np.int32)
            shade = shade.astype(np.float16).astype(np.float32)   # as saved: a loaded model composes the same
            arrays.update(ids=ids, plate=plate.astype(np.float32), plate_depth=plate_depth, shade=shade,
                          owner=owner, representative=reps)
        model = cls(cfg, embeddings.shape[1], arrays, objects, names)
        if reporter is not None:
            what = (f"{len(objects)} moving object layers ({', '.join(names.values())}) over a background plate"
                    f" (deforming: {describe(capture.samples, objects, names)})"
                    if objects else "no object ids: whole captured frames (nearest frame, no new arrangements)")
            reporter.status(f"train: object-layers: {what}, {n} samples {W}x{H}")
        return model

    # -- decoding

    @property
    def states_width(self) -> int:
        """Entries per state: one source sample per moving object (1 = the whole frame)."""
        return max(1, len(self.objects))

    def compose(self, states: np.ndarray, width: int = 0, height: int = 0) -> dict:
        """Frames for states (F, M) of source-sample indices (M = states_width):
        rgb (F, H, W, 3) in [0, 1], depth (F, H, W) (inf = background), alpha (F, H, W),
        ids (F, H, W): which moving object each pixel shows (0 = the background)."""
        a = self.a
        states = np.asarray(states, np.int64)
        if states.ndim == 1:
            states = states[:, None]
        n, H, W = a["rgb"].shape[:3]
        if states.shape[1] != self.states_width:
            raise AliveError(f"states have {states.shape[1]} entries per frame; this model has "
                             f"{self.states_width} object layers", "roll out again with this work directory's models")
        if states.size and (states.min() < 0 or states.max() >= n):
            raise AliveError(f"a state names sample {int(states.max())}; the capture has {n}", "roll out again")
        F = len(states)
        rgb = np.empty((F, H, W, 3), np.float32)
        depth = np.empty((F, H, W), np.float32)
        shown = np.zeros((F, H, W), np.int32)
        if not self.objects:   # whole frames: the captured frame as it is (footage keeps its own alpha)
            src = states[:, 0]
            frames = {"rgb": a["rgb"][src] / np.float32(255.0), "depth": a["depth"][src].copy(),
                      "alpha": a["alpha"][src].astype(np.float32), "ids": shown}
            return _resized(frames, width or W, height or H)
        for f, state in enumerate(states):
            img = a["plate"].copy()
            z = a["plate_depth"].copy()
            srcs = [int(a["representative"][s, m]) for m, s in enumerate(state)]
            for oid, src in zip(self.objects, srcs):
                sel = a["owner"][src] == oid
                img[sel] *= a["shade"][src][sel]
            for oid, src in zip(self.objects, srcs):
                d = a["depth"][src]
                front = (a["ids"][src] == oid) & (d < z)
                img[front] = a["rgb"][src][front]
                z[front] = d[front]
                shown[f][front] = oid
            rgb[f] = np.clip(img / 255.0, 0.0, 1.0)
            depth[f] = z
        alpha = np.isfinite(depth).astype(np.float32)
        return _resized({"rgb": rgb, "depth": depth, "alpha": alpha, "ids": shown}, width or W, height or H)

    def composition_keys(self, states: np.ndarray) -> np.ndarray:
        """(F, M) what each state's frame is composed of (the sample each object is
        drawn from: its pose representative): states with equal rows compose the
        same frame, so a walk encodes each distinct row once."""
        states = np.asarray(states, np.int64).reshape(-1, self.states_width)
        if not self.objects:
            return states
        return np.asarray(self.a["representative"], np.int64)[states, np.arange(states.shape[1])]

    def nearest_samples(self, embeddings: np.ndarray) -> np.ndarray:
        """The captured sample nearest to each embedding (cosine)."""
        obs = self.a["embeddings"]
        e = np.asarray(embeddings, np.float32)
        if e.ndim != 2 or e.shape[1] != self.dim:
            raise AliveError(f"embeddings of shape {e.shape} do not fit this generator (size {self.dim})",
                             "use embeddings from the same encoder the model was trained with")
        on = obs / np.maximum(np.linalg.norm(obs, axis=1, keepdims=True), 1e-12)
        en = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        return np.argmax(en @ on.T, axis=1)

    def decode(self, embeddings: np.ndarray, width: int, height: int, **_) -> dict:
        """An embedding alone carries no per-object state: it decodes as the nearest captured
        frame (never a blend). Rollouts of ``object-walk`` carry states: see ``compose``."""
        if width < 1 or height < 1:
            raise AliveError(f"cannot decode at {width}x{height}", "give a positive width and height")
        idx = self.nearest_samples(embeddings)
        return self.compose(np.repeat(idx[:, None], self.states_width, 1), width, height)

    # -- saving

    def header(self) -> dict:
        return {"kind": "generator", "config": self.cfg.to_dict(), "dim": self.dim, "format": FORMAT,
                "objects": self.objects, "object_names": self.names, "depth_scale": 1.0}

    def save(self, path: Path) -> None:
        from ..workdir.checkpoint import save_model
        save_model(Path(path), saved_arrays(self.a), self.header())

    @classmethod
    def from_state(cls, cfg, state: dict, header: dict, device: str = "cpu") -> "ObjectLayers":
        arrays = loaded_arrays(state)
        need = {"rgb", "depth", "alpha", "embeddings"} | (
            {"ids", "plate", "plate_depth", "shade", "owner", "representative"} if header.get("objects") else set())
        if not need <= set(arrays):
            raise AliveError(f"object-layers checkpoint lacks {', '.join(sorted(need - set(arrays)))}", "train again")
        return cls(cfg, header["dim"], arrays, [int(o) for o in header.get("objects", [])],
                   header.get("object_names", {}), device)


def saved_arrays(arrays: dict) -> dict:
    """A layer generator's arrays as tensors to save: depths with -1 for inf (safetensors keeps
    inf, but be plain), shading ratios in half precision (near 1: plenty, and half the file)."""
    import torch
    state = {}
    for k, v in arrays.items():
        v = np.ascontiguousarray(v)
        if k in ("depth", "plate_depth"):
            v = np.where(np.isfinite(v), v, -1.0).astype(np.float32)
        if k == "shade":
            v = v.astype(np.float16)
        state[k] = torch.from_numpy(v)
    return state


def loaded_arrays(state: dict) -> dict:
    """``saved_arrays`` undone: numpy arrays, depths with inf again, shading as float32."""
    arrays = {}
    for k, v in state.items():
        arr = v.cpu().numpy()
        if k in ("depth", "plate_depth"):
            arr = np.where(arr < 0, np.inf, arr).astype(np.float32)
        arrays[k] = arr.astype(np.float32) if k == "shade" else arr
    return arrays


def _resized(frames: dict, width: int, height: int) -> dict:
    F, H, W = frames["depth"].shape
    if (W, H) == (width, height):
        return frames
    import torch
    rgb = torch.from_numpy(frames["rgb"]).permute(0, 3, 1, 2)
    rgb = torch.nn.functional.interpolate(rgb, size=(height, width), mode="bilinear", align_corners=False,
                                          antialias=width < W)
    ys = np.minimum(((np.arange(height) + 0.5) * H / height).astype(int), H - 1)
    xs = np.minimum(((np.arange(width) + 0.5) * W / width).astype(int), W - 1)
    near = lambda x: x[:, ys][:, :, xs]   # noqa: E731  nearest: no depth between an object and the background
    return {"rgb": rgb.permute(0, 2, 3, 1).clamp(0, 1).numpy(), "depth": near(frames["depth"]),
            "alpha": near(frames["alpha"]), "ids": near(frames["ids"])}


def train_layers(embeddings: np.ndarray, capture, cfg, reporter=None) -> ObjectLayers:
    return ObjectLayers.build(cfg, np.asarray(embeddings, np.float32), capture, reporter)
