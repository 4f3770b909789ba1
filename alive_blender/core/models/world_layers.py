"""The 3-D object-layer generator (``object-world``): captured pixels where they exist,
fused point clouds everywhere else, so a moving camera and never-captured poses can be drawn.

Built like ``object-layers`` (``layers.py``) from a capture with object ids,
plus, from ``core/world``: one cloud per moving object (its pixels from every
sample, in its own frame), one world-space background cloud, and the camera
path (``world/camera_path.py``: which captured camera shows invented frame t).

- **Still camera**: states compose exactly as ``object-layers`` (plate,
  carried shading, captured pixels); ``compose_poses`` draws a pose no sample
  had by warping the sample that saw the object most alike (``world/warp.py``),
  from the object's cloud where that sample did not see it or none is near.
- **Moving camera**: the objects are the ids whose world matrix changes
  (``layers.moving_objects(..., moving_camera=True)``). A state is still one
  source sample per object; frame t is drawn through the camera of the
  scene frame it is shown at (``CameraPath.sample_for``). The background of
  captured camera c is sample c's own pixels; where a moving object hid them,
  the other samples through the same camera (``camera_plate``: one sample's
  pixel each, so Cycles' fixed-seed noise stays that camera's), then the
  median of the other cameras' samples looked up through the static surface's
  depth, and the background cloud seen from c only where none saw it
  (``world_background.py``). An object whose source sample
  (or a sample with the same pose) was seen from camera c is drawn with its
  captured pixels and rim, unless another moving object hid part of it there and
  stands elsewhere now; otherwise it is warped there from the sample that saw it most alike
  (``world/warp.py``; its cloud where none did). A captured
  arrangement seen from its captured camera is therefore the captured frame,
  pixel for pixel.
- **Shading** (``world/shading.py``): a sample's pixels that differ from the
  shadow-free plate near an object are that object's shading. An object drawn
  from a sample's pixels at that sample's own pose brings them (a still
  camera: object-layers' shading; a moving camera: that camera's capture);
  elsewhere (a moving camera) they are replaced by the plate. An object at a
  pose not captured from this camera takes the shading of the sample it is
  warped from, moved with it over the static surface (``world/shadow_warp.py``).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_dilation, binary_erosion

from ..errors import AliveError
from ..world.background import background_cloud, sky_color
from ..world.camera_path import CameraPath, camera_path
from ..world.clouds import Cloud, object_cloud
from ..world.compose import View, draw_clouds, project_points
from ..world.deformation import deformation_states, describe, state_samples
from ..world.shading import nearest_pose_sample
from ..world.shadow_warp import ground_shift, shade_image, shade_points, warp_shade_box
from ..world.warp import SHIFT_WEIGHT, choose_samples, object_layer, sees_part, view_costs, warp_fill
from .world_background import CameraBackground, _shading_owners
from .layers import POSE_TOLERANCE, ObjectLayers, _fill_nearest, _resized, loaded_arrays, moving_objects

ARCH = "object-world"
CAMERA_TOLERANCE = 1e-4
REVEAL_INSET = 1   # pixels: a face the warp did not show is drawn from the cloud this far inside its edge
REVEAL_STRIDE = 8  # of an object's cloud points, every this many looked at to tell whether it shows such a face
REVEAL_POINTS = 3  # of those, this many landing past the warp's drawing: it does
REVEAL_DEPTH = 0.02  # relative: the cloud this near the warp's depth at its edge is the same surface


class WorldLayers(CameraBackground, ObjectLayers):
    """object-layers plus object clouds, a background cloud and the camera path (module docstring)."""

    def __init__(self, cfg, dim, arrays, objects, names, device="cpu", path: CameraPath | None = None):
        super().__init__(cfg, dim, arrays, objects, names, device)
        self.path = path
        self._clouds = None
        self._bg_cache = {}
        self._occ = {}      # (object slot, sample) -> the slots in front of it beside its mask there
        self._free = None   # per sample: where it saw the static scene (_reprojected), made on first use
        self._groups = None  # sample -> the samples through the same camera (_camera_group)
        self._plates = {}   # first sample of a captured camera -> its plate from its own samples
        self._layers = {}   # (object slot, sample) -> its layer (world/warp.py), built on first use
        self._shades = {}   # (object slot, sample) -> its shading image and the static surface's depth
        self._parts = {}    # object slot -> per sample: not shown (None) / saw only part of it

    # -- building

    @classmethod
    def build(cls, cfg, embeddings, capture, reporter=None) -> "WorldLayers":
        path = camera_path(capture)
        objects = moving_objects(capture, moving_camera=True)
        n = len(capture.samples)
        if path.rule == "still":
            model = super(WorldLayers, cls).build(cfg, embeddings, capture, None)
        else:
            rgb = np.asarray(capture.rgb, np.uint8)
            H, W = rgb.shape[1:3]
            depth = (np.asarray(capture.depth, np.float32) if capture.depth is not None
                     else np.full((n, H, W), np.inf, np.float32))
            names = {str(o): capture.meta.get("object_ids", {}).get(str(o), str(o)) for o in objects}
            arrays = {"rgb": rgb, "depth": depth, "alpha": np.asarray(capture.alpha, np.float32),
                      "embeddings": np.asarray(embeddings, np.float32)}
            if objects:
                ids = np.where(np.isin(capture.ids, objects), capture.ids, 0).astype(np.int32)
                # a moving camera: each sample shows its own poses (the camera that saw them is part of it)
                reps = np.repeat(np.arange(n, dtype=np.int32)[:, None], len(objects), 1)
                arrays.update(ids=ids, representative=reps)
            model = cls(cfg, embeddings.shape[1], arrays, objects, names)
        model.path = path
        if not model.objects:
            if reporter is not None:
                reporter.status(f"train: object-world: no moving objects with ids ({path.describe()}): whole frames")
            return model
        a = model.a
        a["K"] = np.stack([capture.K(i) for i in range(n)])
        a["cameras"] = np.stack([capture.world_from_camera(i) for i in range(n)])
        a["matrices"] = np.stack([capture.object_matrices(o) for o in model.objects], 1)   # (n, M, 4, 4)
        a["path"] = np.stack([path.frames, path.samples]).astype(np.int64)
        a["path_rule"] = np.array([("still", "cyclic", "last").index(path.rule), path.period], np.int64)
        # a deforming object: one cloud per captured deformation state, fused from that state's samples
        a["shape_states"] = np.stack([deformation_states(capture.samples, o) for o in model.objects], 1)
        ids_all = np.asarray(capture.ids)
        per_state = [[object_cloud(a["rgb"], a["depth"], ids_all, o, a["K"], a["cameras"], a["matrices"][:, m],
                                   samples=group) for group in state_samples(a["shape_states"][:, m])]
                     for m, o in enumerate(model.objects)]
        clouds = [c for states in per_state for c in states]
        bg = background_cloud(a["rgb"], a["depth"], ids_all, model.objects, a["K"], a["cameras"])
        allc = [bg] + clouds
        slot = [0] + [m + 1 for m, states in enumerate(per_state) for _ in states]
        labels = np.concatenate([np.full(len(c), k, np.int32) for k, c in zip(slot, allc)])
        a["cloud_state"] = np.concatenate([np.zeros(len(bg), np.int32)] + [np.full(len(c), s, np.int32)
                                           for states in per_state for s, c in enumerate(states)])
        a["cloud_points"] = np.concatenate([c.points for c in allc]).astype(np.float32)
        a["cloud_colors"] = np.concatenate([c.colors for c in allc]).astype(np.uint8)
        a["cloud_sizes"] = np.concatenate([c.sizes for c in allc]).astype(np.float32)
        a["cloud_views"] = np.concatenate([c.views for c in allc]).astype(np.float32)
        a["cloud_rim"] = np.concatenate([c.rim for c in allc]).astype(np.uint8)
        a["cloud_labels"] = labels   # 0 = background, m + 1 = object slot m
        a["sky"] = sky_color(a["rgb"], a["depth"])
        model._clouds = None
        _shading_owners(model)
        if reporter is not None:
            reporter.status(f"train: object-world: {len(model.objects)} objects "
                            f"({', '.join(f'{model.names[str(o)]} {sum(map(len, c))} points' for o, c in zip(model.objects, per_state))}),"
                            f" background {len(bg)} points; deforming (a cloud per state): "
                            f"{describe(capture.samples, model.objects, model.names)}; {path.describe()}")
        return model

    # -- clouds

    def clouds(self) -> tuple[Cloud, list[Cloud]]:
        """(background cloud in world space, one cloud per object slot in its own frame: a deforming
        object's first captured deformation state; ``state_clouds`` has them all)."""
        bg, per_state = self.state_clouds()
        return bg, [states[0] for states in per_state]

    def state_clouds(self) -> tuple[Cloud, list[list[Cloud]]]:
        """(background cloud, per object slot its clouds per deformation state: one for a rigid object)."""
        if self._clouds is None:
            a = self.a
            lab, st = a["cloud_labels"], a["cloud_state"]
            cut = lambda sel: Cloud(a["cloud_points"][sel], a["cloud_colors"][sel],  # noqa: E731
                                    a["cloud_sizes"][sel], a["cloud_views"][sel], a["cloud_rim"][sel].astype(bool))
            self._clouds = (cut(lab == 0), [[cut((lab == m + 1) & (st == s))
                                             for s in range(int(a["shape_states"][:, m].max(initial=0)) + 1)]
                                            for m in range(len(self.objects))])
        return self._clouds

    def cloud_at(self, m: int, sample: int) -> Cloud:
        """Object slot m's cloud in the deformation state it had in capture ``sample``."""
        return self.state_clouds()[1][m][int(self.a["shape_states"][sample, m])]

    @property
    def moving_camera(self) -> bool:
        return self.path is not None and self.path.rule != "still"

    def camera_samples(self, frames, start=None) -> np.ndarray:
        """The capture sample whose camera shows each invented frame (see world/camera_path.py)."""
        frames = np.asarray(frames, np.int64)
        if self.path is None:
            return np.zeros(len(frames), np.int64)
        return self.path.sample_for(frames, start)

    def view(self, sample: int, width: int = 0, height: int = 0) -> View:
        """The captured camera of a sample, at the capture's size or at width x height."""
        n, H, W = self.a["rgb"].shape[:3]
        K = np.asarray(self.a["K"][sample], np.float64).copy()
        w, h = width or W, height or H
        K[0] *= w / W
        K[1] *= h / H
        return View(K, np.asarray(self.a["cameras"][sample], np.float64), w, h)

    # -- composing

    def compose(self, states, width: int = 0, height: int = 0, frames=None, start=None) -> dict:
        """As ``ObjectLayers.compose``; with a moving camera, frame f is seen through the camera of
        invented frame ``frames[f]`` (default 0..F-1) of a bake starting at scene frame ``start``."""
        if not self.moving_camera or not self.objects:
            return super().compose(states, width, height)
        states = np.asarray(states, np.int64)
        if states.ndim == 1:
            states = states[:, None]
        n = len(self.a["rgb"])
        if states.shape[1] != self.states_width:
            raise AliveError(f"states have {states.shape[1]} entries per frame; this model has "
                             f"{self.states_width} object layers", "roll out again with this work directory's models")
        if states.size and (states.min() < 0 or states.max() >= n):
            raise AliveError(f"a state names sample {int(states.max())}; the capture has {n}", "roll out again")
        frames = np.arange(len(states)) if frames is None else np.asarray(frames, np.int64)
        cams = self.camera_samples(frames, start)
        poses = self.a["matrices"][states, np.arange(states.shape[1])[None, :]]   # (F, M, 4, 4)
        return self._draw(poses, [int(c) for c in cams], [None] * len(states), width, height, sources=states)

    def compose_poses(self, poses, cameras, width: int = 0, height: int = 0, sources=None) -> dict:
        """Frames of explicit world matrices ``poses`` (F, M, 4, 4) (M = the object slots) seen from
        ``cameras``: (F,) capture sample indices (their captured cameras), or a list of ``View``s.
        A pose some sample seen from that camera has is drawn with its captured pixels; any other
        from the object's cloud. ``sources`` (F, M): the capture sample each object looks like
        (its deformation state and shading; default: the sample nearest its pose)."""
        poses = np.asarray(poses, np.float64)
        if poses.ndim != 4 or poses.shape[1:] != (len(self.objects), 4, 4):
            raise AliveError(f"poses of shape {poses.shape}; this model has {len(self.objects)} object slots",
                             "give (frames, objects, 4, 4) world matrices in the generator's object order")
        if len(cameras) != len(poses):
            raise AliveError(f"{len(cameras)} cameras for {len(poses)} frames", "give one camera per frame")
        samples = [c if isinstance(c, View) else int(c) for c in cameras]
        views = [c if isinstance(c, View) else None for c in samples]
        if sources is not None:
            sources = np.asarray(sources, np.int64).reshape(len(poses), len(self.objects))
        return self._draw(poses, [None if isinstance(c, View) else c for c in samples], views, width, height,
                          sources=sources)

    def compose_drawn(self, poses, states, frames, width: int = 0, height: int = 0, start=None) -> dict:
        """Frames of world matrices ``poses`` (F, M, 4, 4), frame f seen through the camera of invented
        frame ``frames[f]`` (the shot's path), ``states`` (F, M) the capture sample nearest each pose:
        the hint for which captured pixels a captured pose shows and whose shading a new pose carries
        (a free-pose relational rollout's R.poses.npy and R.states.npy)."""
        poses = np.asarray(poses, np.float64)
        states = np.asarray(states, np.int64).reshape(len(poses), -1)
        n = len(self.a["rgb"])
        if not self.objects:
            return self.compose(states, width, height)
        if poses.ndim != 4 or poses.shape[1:] != (len(self.objects), 4, 4) or states.shape[1] != len(self.objects):
            raise AliveError(f"poses of shape {poses.shape} and states of shape {states.shape}; this model has "
                             f"{len(self.objects)} object slots", "roll out again with this work directory's models")
        if states.size and (states.min() < 0 or states.max() >= n):
            raise AliveError(f"a state names sample {int(states.max())}; the capture has {n}", "roll out again")
        cams = self.camera_samples(np.asarray(frames, np.int64).reshape(len(poses)), start)
        return self._draw(poses, [int(c) for c in cams], [None] * len(poses), width, height, sources=states)

    def compose_state(self, state, width: int = 0, height: int = 0) -> dict:
        """One frame of a live ``StepState`` (core/live/compose.py's hook): its poses drawn through
        the camera of tick ``state.step`` (a moving camera follows the shot's path), its sources
        the hint; a state without poses composes its sources."""
        sources = np.asarray(state.sources, np.int64).reshape(1, -1)
        poses = getattr(state, "poses", None)
        captured = poses is None or not self.objects or np.shape(poses) != (len(self.objects), 4, 4) or \
            np.abs(self.a["matrices"][sources[0], np.arange(len(self.objects))] - poses).max() <= POSE_TOLERANCE
        if captured:   # the sources' own poses (an object walk): composed exactly as decode composes them
            res = self.compose(sources, width, height, frames=[int(state.step)]) if self.moving_camera \
                else self.compose(sources, width, height)
        else:
            res = self.compose_drawn(np.asarray(poses)[None], sources, [int(state.step)], width, height)
        return {k: v[0] for k, v in res.items()}

    def _draw(self, poses, cam_samples, views, width, height, sources=None) -> dict:
        a = self.a
        n, H, W = a["rgb"].shape[:3]
        F = len(poses)
        explicit = any(v is not None for v in views)
        if explicit:
            W, H = views[0].width, views[0].height
        rgb = np.empty((F, H, W, 3), np.float32)
        depth = np.empty((F, H, W), np.float32)
        shown = np.zeros((F, H, W), np.int32)
        for f in range(F):
            c = cam_samples[f]
            view = views[f] if views[f] is not None else self.view(c)
            img, z, hole = self._background(c, view)
            img = img.copy()
            z = z.copy()
            srcs = [self._captured_source(m, poses[f, m], c, None if sources is None else int(sources[f, m]))
                    for m in range(len(self.objects))]
            # captured pixels only where they show all of it: an object another moving object hid part of in
            # that sample, and that one is elsewhere now, is warped (the cloud fills what no sample saw)
            srcs = [None if src is not None and self.path.rule != "still" and any(
                np.abs(poses[f, k] - a["matrices"][src, k]).max() > POSE_TOLERANCE for k in self._occluders(m, src))
                else src for m, src in enumerate(srcs)]
            # the sample each object looks like: its deformation state's cloud and samples, its shading
            refs = [int(sources[f, m]) if sources is not None else nearest_pose_sample(a["matrices"][:, m], poses[f, m])
                    for m in range(len(self.objects))]
            # a pose not captured from this camera: warped from the sample that saw it most alike (in that shape)
            warps = self._warp_samples(poses[f], view, [m for m, src in enumerate(srcs) if src is None], refs)
            for m, (oid, src) in enumerate(zip(self.objects, srcs)):   # shading first, then the objects
                if src is None:        # the warped sample's shading moved over the static surface
                    ref = warps[m][0][0] if warps[m] else refs[m]
                    shade, surface, pts = self._shade_image(m, ref)
                    got = warp_shade_box(shade, surface, a["K"][ref], a["cameras"][ref],
                                         ground_shift(poses[f, m], a["matrices"][ref, m]), z, view, pts)
                    if got is not None:   # only its box: the rest of the frame is not darkened
                        y0, x0, ratio = got
                        img[y0:y0 + ratio.shape[0], x0:x0 + ratio.shape[1]] *= ratio
                    continue
                sel = a["owner"][src] == oid
                if self.path.rule == "still":
                    img[sel] *= a["shade"][src][sel]            # as object-layers
                else:
                    img[sel] = a["rgb"][src][sel]               # this camera's own capture of it: exact
            for m, (oid, src) in enumerate(zip(self.objects, srcs)):
                if src is None:
                    continue
                # the captured pixels of this pose from this camera
                d = a["depth"][src]
                front = (a["ids"][src] == oid) & ((d < z) | hole)
                col = a["rgb"][src]
                # the object's own anti-aliased rim (through this camera: over the same static scene), where no
                # other object is drawn; outside the hole too when the sample is not the camera's own (a still
                # camera: as object-layers, none)
                rim = binary_dilation(a["ids"][src] == oid) & (a["ids"][src] == 0) & (shown[f] == 0)
                if src == c or self.path.rule == "still":
                    rim &= hole
                img[rim] = col[rim]
                z[rim] = d[rim]
                img[front] = col[front]
                z[front] = d[front]
                shown[f][front] = oid
            # the others far to near, so a nearer one's anti-aliased rim lies over what is behind it
            depth_of = lambda m: -(np.linalg.inv(view.world_from_camera) @ poses[f, m][:, 3])[2]  # noqa: E731
            for m in sorted((m for m, src in enumerate(srcs) if src is None), key=depth_of, reverse=True):
                self._draw_warped(m, poses[f, m], view, warps[m], self.cloud_at(m, refs[m]), img, z, shown[f])
            rgb[f] = np.clip(img / 255.0, 0.0, 1.0)
            depth[f] = z
        alpha = np.isfinite(depth).astype(np.float32)
        out = {"rgb": rgb, "depth": depth, "alpha": alpha, "ids": shown}
        return out if explicit else _resized(out, width or W, height or H)

    def _object_layer(self, m: int, s: int):
        """Object slot m as sample s saw it (world/warp.py; None where it does not show it), built once."""
        if (m, s) not in self._layers:
            a = self.a
            behind = a["plate"] if self.path.rule == "still" else self._background(s, self.view(s))[0]
            self._layers[m, s] = object_layer(a["rgb"][s], a["depth"][s], a["ids"][s], self.objects[m], behind,
                                              a["K"][s], a["cameras"][s], a["matrices"][s, m], s)
        return self._layers[m, s]

    def _shade_image(self, m: int, s: int):
        """(object slot m's shading in sample s, the static surface's depth there, the world points
        under its darkened pixels; world/shadow_warp.py), built once."""
        if (m, s) not in self._shades:
            a = self.a
            if self.path.rule == "still":
                ratio, surface = a["shade"][s], a["plate_depth"]
                owner = a["owner"][s]
            else:
                (ratio, owner), surface = self._plate_ratio(s), self._background(s, self.view(s))[1]
            shade = shade_image(ratio, owner, a["ids"][s], self.objects[m])
            self._shades[m, s] = (shade, surface, shade_points(shade, surface, a["K"][s], a["cameras"][s]))
        return self._shades[m, s]

    def _occluders(self, m: int, s: int) -> list:
        """The object slots in front of slot m beside its mask in sample s (they hid part of it there)."""
        if (m, s) not in self._occ:
            from ..world.warp import BEHIND_SLACK
            a = self.a
            ids, d = a["ids"][s], a["depth"][s]
            mask = ids == self.objects[m]
            if not mask.any():
                self._occ[m, s] = []
            else:
                # the mask's box and a pixel round it (the whole 1280x720 frame's distance transform per
                # object and sample was a sixth of a moving camera's decode)
                ys, xs = np.nonzero(mask)
                box = (slice(max(int(ys.min()) - 1, 0), int(ys.max()) + 2),
                       slice(max(int(xs.min()) - 1, 0), int(xs.max()) + 2))
                mask, ids, d = mask[box], ids[box], d[box]
                d_obj = _fill_nearest(np.where(mask, d, 0.0), mask)
                ring = binary_dilation(mask) & ~mask & (d < d_obj * (1.0 - BEHIND_SLACK))
                self._occ[m, s] = [k for k, o in enumerate(self.objects) if k != m and (ring & (ids == o)).any()]
        return self._occ[m, s]

    def _sees_part(self, m: int) -> list:
        """Per sample: None (slot m not shown), or whether it saw only part of it (world/warp.py)."""
        if m not in self._parts:
            a = self.a
            self._parts[m] = [sees_part(a["ids"][s], a["depth"][s], self.objects[m]) for s in range(len(a["rgb"]))]
        return self._parts[m]

    def _warp_samples(self, poses, view: View, drawn, refs) -> list:
        """For each object slot m in ``drawn``: the samples whose views of it are nearest ``poses[m]``
        through ``view``, with their costs (world/warp.py; empty: none near enough); the others [].
        Only samples in the deformation state of ``refs[m]`` (the sample it looks like) are warped."""
        a = self.a
        costs = {}
        for m in drawn:
            pts = self.cloud_at(m, refs[m]).points
            costs[m] = view_costs(pts[:: max(1, len(pts) // 64)], a["matrices"][:, m], a["cameras"], poses[m], view)
        prefer = None
        if len(costs) > 1:   # a sample near every drawn object: one coherent frame warped (shadows agree)
            prefer = int(np.argmin(np.max([c[0] for c in costs.values()], axis=0)))
        out = []
        for m in range(len(self.objects)):
            parts = self._sees_part(m) if m in costs else []
            usable = np.array([p is not None for p in parts], bool)
            if m in costs:   # a deforming object: only samples of its shape
                usable &= a["shape_states"][:, m] == a["shape_states"][refs[m], m]
            out.append(choose_samples(*costs[m], partial=[bool(p) for p in parts], usable=usable, prefer=prefer,
                                      shift_weight=SHIFT_WEIGHT if self.moving_camera else None)
                       if m in costs and usable.any() else [])
        return out

    def _draw_warped(self, m, pose, view, chosen, cloud, img, z, shown) -> None:
        """Object slot m at ``pose``: the chosen samples' pixels warped there (world/warp.py: the nearest,
        the others where it was hidden), its cloud where none saw it; into img, z, shown (in place)."""
        layers = [(self._object_layer(m, s), cost) for s, cost in chosen]
        got = warp_fill(layers, pose, view) if layers else None
        unseen = bare = None   # where no warped sample saw anything; where none drew the object (None: all)
        if got is not None:
            prem, alpha, d, seen, box, first = got
            im, zb, sh = img[box], z[box], shown[box]   # views: drawn in place, on the warped box only
            on = (alpha > 1e-3) & (d < zb)
            im[on] = prem[on] + (1.0 - alpha[on, None]) * im[on]
            solid = on & (alpha > 0.5)
            zb[solid] = d[solid]
            sh[solid] = self.objects[m]
            unseen = np.ones(z.shape, bool)
            unseen[box] = seen < 0.5
            bare = np.ones(z.shape, bool)
            bare[box] = alpha <= 0.5
            rim = np.zeros(z.shape, bool)   # the warp's partly covered pixels: the sample's edge of the object
            rim[box] = (alpha > 1e-3) & (alpha < 1.0 - 1e-3)
            inner = tuple(slice(f.start - b.start, f.stop - b.start) for f, b in zip(first, box))
            # every pixel round it seen by some sample, and the object shows nothing the warp did not draw
            if (seen[inner] > 0.5).all() and not _shows_past(cloud, pose, view, ~bare, z):
                return
        # from the cloud (only its points that reach where it is wanted are drawn): where no chosen
        # sample saw it, edge pixels blended by covered fraction
        col, d, lab, cover = draw_clouds([cloud], [pose], [1], view, with_alpha=True,
                                         wanted=None if got is None else unseen | bare)
        drawn = (lab == 1) & (d < z)
        mine = drawn if unseen is None else drawn & unseen
        edge = mine & (cover <= 0.5)
        img[edge] = img[edge] * (1.0 - cover[edge, None]) + col[edge] * cover[edge, None]
        front = mine & (cover > 0.5)
        img[front] = img[front] * (1.0 - cover[front, None]) + col[front] * cover[front, None]
        z[front] = d[front]
        shown[front] = self.objects[m]
        if bare is not None:
            # a face the warped sample did not see (it saw past the object there; the object turned
            # it into view): the cloud's own pixels, a pixel in from the cloud's edge (the warp's
            # anti-aliased silhouette stays)
            # (the sample's anti-aliased edge there too, where the face goes on past it: a light line)
            near = (lab == 1) & (d < z * (1.0 + REVEAL_DEPTH))
            revealed = near & (bare | rim) & ~unseen & binary_erosion(cover > 0.5, iterations=REVEAL_INSET)
            img[revealed] = col[revealed]
            z[revealed] = d[revealed]
            shown[revealed] = self.objects[m]

    def _captured_source(self, m: int, pose, cam_sample, hint):
        """A sample that shows object slot m at ``pose`` through camera ``cam_sample`` (None: none does)."""
        if cam_sample is None:
            return None
        a = self.a
        same_pose = np.abs(a["matrices"][:, m] - pose).reshape(len(a["matrices"]), -1).max(1) <= POSE_TOLERANCE
        if hint is not None:   # a deforming object: only samples in the shape it is to have
            same_pose &= a["shape_states"][:, m] == a["shape_states"][hint, m]
        same_cam = np.abs(a["cameras"] - a["cameras"][cam_sample]).reshape(len(a["cameras"]), -1).max(1) \
            <= CAMERA_TOLERANCE
        ok = np.flatnonzero(same_pose & same_cam)
        if not len(ok):
            return None
        if self.path.rule == "still":   # as object-layers: the sample of this pose that shows the object best
            if hint is not None and same_pose[hint] and same_cam[hint]:
                return int(a["representative"][hint, m])
            return int(a["representative"][ok[0], m])
        if hint is not None and hint in ok:
            return int(hint)
        area = (a["ids"][ok] == self.objects[m]).sum((1, 2))
        return int(ok[np.argmax(area)])

    # -- saving

    def header(self) -> dict:
        h = super().header()
        if self.path is not None:
            h["camera_rule"] = self.path.rule
            h["camera_period"] = int(self.path.period)
        if self.objects:
            counts = self.a["shape_states"].max(0) + 1
            h["deforming"] = {self.names.get(str(o), str(o)): int(k) for o, k in zip(self.objects, counts) if k > 1}
        return h

    @classmethod
    def from_state(cls, cfg, state: dict, header: dict, device: str = "cpu") -> "WorldLayers":
        rule = header.get("camera_rule", "still")
        objects = [int(o) for o in header.get("objects", [])]
        arrays = loaded_arrays(state)
        need = {"rgb", "depth", "alpha", "embeddings"}
        if objects:
            need |= {"ids", "representative", "owner", "K", "cameras", "matrices", "path", "path_rule", "cloud_points",
                     "cloud_colors", "cloud_sizes", "cloud_views", "cloud_rim", "cloud_labels", "sky"}
            if rule == "still":
                need |= {"plate", "plate_depth", "shade"}
        if not need <= set(arrays):
            raise AliveError(f"object-world checkpoint lacks {', '.join(sorted(need - set(arrays)))}", "train again")
        if objects and "shape_states" not in arrays:   # saved before deformation states: every object rigid
            arrays["shape_states"] = np.zeros((len(arrays["rgb"]), len(objects)), np.int32)
            arrays["cloud_state"] = np.zeros(len(arrays["cloud_labels"]), np.int32)
        path = None
        if "path" in arrays:
            pr = arrays["path_rule"]
            path = CameraPath(arrays["path"][0], arrays["path"][1], ("still", "cyclic", "last")[int(pr[0])],
                              int(pr[1]))
        return cls(cfg, header["dim"], arrays, objects, header.get("object_names", {}), device, path)


def _shows_past(cloud: Cloud, pose, view: View, solid: np.ndarray, z: np.ndarray) -> bool:
    """Whether object ``cloud`` at ``pose`` shows more than ``solid`` (what the warp drew of it):
    some of its points (every ``REVEAL_STRIDE``-th) land in front of the frame, ``REVEAL_INSET`` + 1
    pixels or more outside it (a face turned into view that the warped sample did not see). Cheap:
    the whole cloud is drawn only then."""
    pts = cloud.points[::REVEAL_STRIDE].astype(np.float64)
    m = np.asarray(pose, np.float64)
    uv, d = project_points(pts @ m[:3, :3].T + m[:3, 3], view)
    H, W = z.shape
    ok = (d > 1e-6) & np.isfinite(uv).all(1)
    px, py = np.floor(uv[ok, 0]).astype(np.int64), np.floor(uv[ok, 1]).astype(np.int64)
    inside = (px >= 0) & (px < W) & (py >= 0) & (py < H)
    px, py, d = px[inside], py[inside], d[ok][inside]
    if len(px) < REVEAL_POINTS:
        return False
    # the warp's drawing grown, on the box round the points only (a margin past the growth: exact there)
    g = REVEAL_INSET + 1
    y0, x0 = max(int(py.min()) - g - 1, 0), max(int(px.min()) - g - 1, 0)
    y1, x1 = min(int(py.max()) + g + 2, H), min(int(px.max()) + g + 2, W)
    near = binary_dilation(solid[y0:y1, x0:x1], iterations=g)
    return int((~near[py - y0, px - x0] & (d < z[py, px])).sum()) >= REVEAL_POINTS


def train_world_layers(embeddings, capture, cfg, reporter=None) -> WorldLayers:
    return WorldLayers.build(cfg, np.asarray(embeddings, np.float32), capture, reporter)
