"""The region generator (``region-layers``): footage composed region by region.

For footage (no object ids, a still camera) with at least two independently
moving regions (``segment.find_regions``) the train stage builds this instead
of the whole-frame ``object-layers`` mode. A state is one source frame per
region; ``compose`` draws each region's pixels in its source frame (its thing
and shadow, ``sprites.py``) over the background plate, far to near, and
blends the borders in the gradient domain (``seams.SeamBlender``). ``region_features`` gives the
per-region pose the walk (``object-walk``) follows. The interface is the one
of ``models/layers.ObjectLayers`` (``states_width``, ``compose``, ``decode``,
``save``/``from_state``), so rollout, decode and the bake read it unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import AliveError
from .compose import background_plate, gather, region_layers, source_map
from .seams import BAND, SeamBlender
from .segment import find_regions
from .sprites import ownership, painting_order, representatives

BLENDERS_KEPT = 512   # seam solvers kept per model (one per distinct arrangement of sources)

ARCH = "region-layers"
FORMAT = 2          # the generator file format (generator.FORMAT)
FEATURE_SIZE = 512  # values per region pose feature (its pixels, subsampled)


def still_camera(capture) -> bool:
    cams = np.array([s["world_from_camera"] for s in capture.samples], np.float64) if capture.samples else None
    return cams is None or float(np.abs(cams - cams[:1]).max()) <= 1e-6


class RegionLayers:
    """Background plate + fixed region masks + the captured frames; see the module docstring."""

    def __init__(self, cfg, dim: int, arrays: dict, device: str = "cpu"):
        self.cfg = cfg
        self.dim = int(dim)
        self.device = device
        self.a = arrays     # rgb (N,H,W,3) u8, depth (N,H,W), alpha (N,H,W), embeddings, labels (H,W),
                            # activity (R,), plate (H,W,3), plate_depth, plate_alpha, owner (N,H,W) u8,
                            # representative (N,R), order (R,)
        self.steps_done = 0
        self.objects = list(range(1, self.region_count + 1))   # pseudo-objects: the regions
        self._blenders = {}

    @property
    def region_count(self) -> int:
        return int(len(self.a["activity"]))

    @property
    def activity(self) -> np.ndarray:
        return self.a["activity"]

    @property
    def states_width(self) -> int:
        return self.region_count

    @classmethod
    def build(cls, cfg, embeddings: np.ndarray, capture, regions=None) -> "RegionLayers":
        rgb = np.asarray(capture.rgb, np.uint8)
        n, H, W = rgb.shape[:3]
        regions = regions if regions is not None else find_regions(rgb)
        depth = (np.asarray(capture.depth, np.float32) if capture.depth is not None
                 else np.full((n, H, W), np.inf, np.float32))
        alpha = np.asarray(capture.alpha, np.float32)
        finite = np.where(np.isfinite(depth), depth, 1e30)
        plate_depth = background_plate(finite)
        plate = background_plate(rgb)
        owner, shared, periods = ownership(rgb, plate, regions.labels)
        arrays = {"rgb": rgb, "depth": depth, "alpha": alpha, "embeddings": np.asarray(embeddings, np.float32),
                  "labels": regions.labels.astype(np.int32), "activity": regions.activity.astype(np.float32),
                  "plate": plate, "plate_alpha": background_plate(alpha),
                  "plate_depth": np.where(plate_depth >= 1e29, np.inf, plate_depth).astype(np.float32),
                  "owner": owner, "order": painting_order(regions.labels),
                  "representative": np.tile(np.arange(n, dtype=np.int32)[:, None], (1, regions.count))}
        model = cls(replace(cfg, arch=ARCH), embeddings.shape[1], arrays)
        model.a["representative"] = representatives(model.region_features(), shared, periods).astype(np.int32)
        model.a["periods"] = periods
        return model

    def region_features(self) -> np.ndarray:
        """(R, N, P) per region and captured frame: its pixels (subsampled to FEATURE_SIZE values, 0..1);
        for a looping region those of its phase's representative frame, so one phase is one pose."""
        rgb = self.a["rgb"]
        n = len(rgb)
        out = []
        for r in self.objects:
            pix = np.flatnonzero(self.a["labels"].ravel() == r)
            v = rgb.reshape(n, -1, 3)[:, pix].reshape(n, -1).astype(np.float64) / 255.0
            if v.shape[1] > FEATURE_SIZE:
                v = v[:, np.linspace(0, v.shape[1] - 1, FEATURE_SIZE).astype(int)]
            period = int(self.a["periods"][r - 1]) if "periods" in self.a else 0
            if period:   # a looping region's pose is its phase: every frame shows its phase's clean frame
                v = v[self.a["representative"][np.arange(n) % period, r - 1]]
            out.append(v)
        P = max(v.shape[1] for v in out)
        return np.stack([np.pad(v, ((0, 0), (0, P - v.shape[1]))) for v in out])

    def compose(self, states: np.ndarray, width: int = 0, height: int = 0, blend: bool = True) -> dict:
        """Frames for states (F, R) of source-frame indices: rgb (F, H, W, 3) in [0, 1], depth, alpha,
        ids (F, H, W) = the region each pixel shows (0 = background). ``blend``: seams blended."""
        from ..models.layers import _resized
        a = self.a
        states = np.asarray(states, np.int64)
        if states.ndim == 1:
            states = states[:, None]
        n, H, W = a["rgb"].shape[:3]
        if states.shape[1] != self.states_width:
            raise AliveError(f"states have {states.shape[1]} entries per frame; this model has "
                             f"{self.states_width} regions", "roll out again with this work directory's models")
        if states.size and (states.min() < 0 or states.max() >= n):
            raise AliveError(f"a state names frame {int(states.max())}; the capture has {n}", "roll out again")
        R = self.region_count
        rgb = np.empty((len(states), H, W, 3), np.float32)
        depth = np.empty((len(states), H, W), np.float32)
        alpha = np.empty((len(states), H, W), np.float32)
        ids = np.empty((len(states), H, W), np.int32)
        for f, state in enumerate(states):
            sources = a["representative"][state, np.arange(R)]
            shown = source_map(a["owner"], a["order"], sources)
            img = gather(a["rgb"], a["plate"], shown, sources)
            if blend:
                img = self._blender(tuple(sources.tolist()), shown).blend(
                    region_layers(a["rgb"], a["plate"], a["owner"], sources), img)
            rgb[f] = img
            depth[f] = gather(a["depth"], a["plate_depth"], shown, sources)
            alpha[f] = gather(a["alpha"], a["plate_alpha"], shown, sources)
            ids[f] = shown
        frames = {"rgb": np.clip(rgb / 255.0, 0.0, 1.0).astype(np.float32), "depth": depth, "alpha": alpha,
                  "ids": ids}
        return _resized(frames, width or W, height or H)

    def composition_keys(self, states: np.ndarray) -> np.ndarray:
        """(F, R) the source frame each region is drawn from (its clean-frame representative):
        states with equal rows compose the same frame, so a walk encodes each distinct row once
        (core/walk_encoding)."""
        states = np.asarray(states, np.int64).reshape(-1, self.states_width)
        return np.asarray(self.a["representative"], np.int64)[states, np.arange(states.shape[1])]

    def seam_cost(self, states: np.ndarray):
        """The seam metric (``seams.seam_cost``) of a sequence of states (T, R), as composed."""
        from .seams import seam_cost
        states = np.asarray(states, np.int64)
        sources = self.a["representative"][states, np.arange(self.region_count)]
        shown = np.stack([source_map(self.a["owner"], self.a["order"], src) for src in sources])
        return seam_cost(self.a["rgb"], self.a["plate"], shown, sources)

    def _blender(self, key: tuple, shown: np.ndarray) -> SeamBlender:
        """The seam solver of one arrangement of sources (its source map), kept for repeats."""
        blender = self._blenders.get(key)
        if blender is None:
            if len(self._blenders) >= BLENDERS_KEPT:
                self._blenders.pop(next(iter(self._blenders)))
            blender = self._blenders[key] = SeamBlender(shown, BAND)
        return blender

    def nearest_samples(self, embeddings: np.ndarray) -> np.ndarray:
        from ..models.layers import ObjectLayers
        return ObjectLayers.nearest_samples(self, embeddings)

    def decode(self, embeddings: np.ndarray, width: int, height: int, **_) -> dict:
        """An embedding alone decodes as the nearest captured frame (every region from it)."""
        from ..models.layers import ObjectLayers
        return ObjectLayers.decode(self, embeddings, width, height)

    def header(self) -> dict:
        return {"kind": "generator", "config": self.cfg.to_dict(), "dim": self.dim, "format": FORMAT,
                "objects": self.objects, "regions": self.region_count, "depth_scale": 1.0}

    def save(self, path: Path) -> None:
        from ..models.layers import saved_arrays
        from ..workdir.checkpoint import save_model
        save_model(Path(path), saved_arrays(self.a), self.header())

    @classmethod
    def from_state(cls, cfg, state: dict, header: dict, device: str = "cpu") -> "RegionLayers":
        need = {"rgb", "depth", "alpha", "embeddings", "labels", "activity", "plate", "plate_alpha", "plate_depth",
                "owner", "representative", "order", "periods"}
        if not need <= set(state):
            raise AliveError(f"region-layers checkpoint lacks {', '.join(sorted(need - set(state)))}", "train again")
        from ..models.layers import loaded_arrays
        return cls(cfg, header["dim"], loaded_arrays(state), device)


def region_layers_for(cfg, embeddings: np.ndarray, capture, reporter=None):
    """RegionLayers for footage with at least two independently moving regions, else None
    (``train`` says which and why)."""
    rgb = np.asarray(capture.rgb, np.uint8)
    if len(rgb) < 3 or not still_camera(capture):
        why = "a moving camera" if len(rgb) >= 3 else "fewer than 3 frames"
        if reporter is not None:
            reporter.status(f"train: no regions ({why}): whole captured frames")
        return None
    regions = find_regions(rgb)
    if regions.count < 2:
        if reporter is not None:
            reporter.status(f"train: {regions.count} moving region found (one subject moving as a whole, or "
                            "none): whole captured frames (video-texture walk: re-ordered, nothing new)")
        return None
    model = RegionLayers.build(cfg, embeddings, capture, regions)
    if reporter is not None:
        share = ", ".join(f"{100 * (regions.labels == r).mean():.0f} %" for r in range(1, regions.count + 1))
        reporter.status(f"train: region-layers: {regions.count} independently moving regions ({share} of the "
                        f"frame) over a static background plate, {len(rgb)} frames {rgb.shape[2]}x{rgb.shape[1]}")
    return model


def train_any_layers(embeddings: np.ndarray, capture, cfg, reporter=None):
    """The layer generator for a capture: object layers when it has moving objects; for one without
    (footage) region layers when it has at least two independently moving regions, else whole frames
    (``object-layers``' footage mode). ``region-layers`` asks for regions on any still-camera capture."""
    from ..models.layers import ARCH as OBJECT_ARCH, moving_objects, train_layers
    if cfg.arch == ARCH or (getattr(cfg, "footage_regions", True) and not moving_objects(capture)):
        regions = region_layers_for(cfg, np.asarray(embeddings, np.float32), capture, reporter)
        if regions is not None:
            return regions
        cfg = replace(cfg, arch=OBJECT_ARCH)
    return train_layers(embeddings, capture, cfg, reporter)
