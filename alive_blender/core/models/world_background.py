"""The static scene behind ``object-world``'s objects, seen from a captured camera (a mixin of
``WorldLayers``, ``world_layers.py``): the still camera's plate; a moving camera's own sample with
its holes filled from its other samples through that camera (``camera_plate``), then from the other
cameras' samples (``reprojected_median``), the background cloud only where none saw the point; and
which pixels of each sample are an object's shading, read against the camera's own free samples."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_dilation

from ..world.background import camera_groups, camera_plate, reprojected_median, shadow_free_plate, static_free
from ..world.compose import View, draw_clouds
from ..world.shading import REACH, SHADE_THRESHOLD, shading_owner
from .layers import _fill_nearest


OUTVOTE = 3 * SHADE_THRESHOLD   # the other cameras' median this much brighter than a camera's own: its shadow
OUTVOTE_GRID = 320              # pixels across: the grid the outvoted shadows are first looked for on


class CameraBackground:
    """``_background``, the camera plates and the shading owners of a ``WorldLayers`` (uses its
    arrays ``a``, ``clouds()``, ``view()``, ``path`` and the caches ``_bg_cache``, ``_plates``, ``_free``,
    ``_groups``)."""

    def _plate_ratio(self, s: int):
        """(sample s over the shadow-free plate from its camera, whose shading each pixel is): a moving
        camera's (world/shading.py). The plate is the median of the samples through that camera where
        they saw the static scene free (before the owners are known: free of objects and their rims);
        the background cloud only where none did."""
        a = self.a
        own, exact = self._shade_plate(s)
        # before the owners are known, what no sample saw free is under an object (its rim) in every one,
        # this sample too: never its shading (shading_owner looks outside the hole), so no cloud there
        plate = own
        if "owner" in a:   # what none saw free: the other cameras' median (as _background), else the cloud
            fill, got = self._reprojected(s)
            plate = np.where(exact[..., None], own, np.where(got[..., None], fill, self._cloud_plate(s)[0]))
        return shading_owner(a["rgb"][s], plate, a["ids"][s], binary_dilation(a["ids"][s] > 0), a["depth"][s], exact)

    def _background(self, cam_sample, view: View):
        """(rgb 0..255, depth, hole mask) of the static scene seen from a captured camera or a view."""
        key = (cam_sample, view.width, view.height) if cam_sample is not None else None
        if key is not None and key in self._bg_cache:
            return self._bg_cache[key]
        a = self.a
        if cam_sample is not None and self.path.rule == "still":
            out = (a["plate"], a["plate_depth"], np.zeros(a["plate_depth"].shape, bool))
        else:
            if cam_sample is not None and (view.width, view.height) == a["rgb"].shape[2:0:-1]:
                # the sample's own pixels where no moving object hid them: exact
                hole = binary_dilation(a["ids"][cam_sample] > 0)   # with the anti-aliased rim
                # the objects' shading in this sample is theirs (restored when they are drawn from it)
                replace = hole | (a["owner"][cam_sample] > 0)
                # there: what the other samples through this camera saw free, one sample's pixel each (its
                # noise is this camera's); what none of them saw: the median of the other cameras' samples
                # that saw it (its depth from the background cloud); the cloud itself only where none did
                plate, plate_z, plate_seen = self._camera_plate(cam_sample)
                img, z = self._cloud_plate(cam_sample)
                img = np.where(plate_seen[..., None], plate, img)
                z = np.where(plate_seen, plate_z, z)
                fill, got = self._reprojected(cam_sample)
                got = got & replace
                img = np.where(got[..., None], fill, img)
                img = np.where(replace[..., None], img, a["rgb"][cam_sample].astype(np.float32))
                z = np.where(hole, z, a["depth"][cam_sample])
                known = ~hole | np.isfinite(z) | plate_seen   # the plate saw it (the sky too)
                img = _fill_nearest(img, known)
                z = _fill_nearest(z, known)
            else:   # another camera, or another size: the background cloud
                img, z, _ = draw_clouds([self.clouds()[0]], [None], [1], view)
                hole = np.zeros(z.shape, bool)
                sky = ~np.isfinite(z)
                img[sky] = a["sky"]
            out = (img.astype(np.float32), z.astype(np.float32), hole)
        if key is not None:
            self._bg_cache[key] = out
        return out

    def _shade_plate(self, cam_sample: int):
        """(colour, seen) that ``cam_sample``'s shading is read against: the median of the samples through
        its camera where they saw the static scene free (world/background.py), built once per camera."""
        a = self.a
        group = self._camera_group(cam_sample)
        if ("shade", group[0]) not in self._plates:
            if "owner" in a:
                self._plates["shade", group[0]] = shadow_free_plate(a["rgb"], a["depth"], a["ids"], a["owner"],
                                                                    group)[:2]
            else:   # before the owners are known (the first of _shading_owners' passes): free of objects and rims
                col, seen, dep = shadow_free_plate(a["rgb"], a["depth"], a["ids"], None, group)
                self._plates["shade", group[0]] = self._outvoted(group, col, seen, dep)
        return self._plates["shade", group[0]]

    def _other_cameras(self, group: list, free: list) -> list:
        """(K, world_from_camera, rgb, depth, free) of every sample not through ``group``'s camera
        (``reprojected_median``'s samples)."""
        a = self.a
        own = set(group)
        return [(a["K"][i], a["cameras"][i], a["rgb"][i], a["depth"][i], free[i])
                for i in range(len(a["rgb"])) if i not in own]

    def _outvoted(self, group: list, col, seen, dep):
        """The first owner pass's plate through one camera (``col``: the median of its samples where they
        show no object) and where it is exact: where an object stood near a pixel in at least half of the
        camera's samples (a pan's camera back at the same place in step with an object's loop sees it at
        about the same place each time), the median is that object's shadow, and a shadow in the plate is
        never found. There the other cameras' samples are looked up (``reprojected_median``); where they
        are brighter by ``OUTVOTE``, they are the plate (not exact: filtered, and no edge is grown)."""
        from scipy.ndimage import distance_transform_edt
        a = self.a
        H, W = seen.shape
        near = np.zeros((H, W), np.int32)
        for i in group:
            covered = a["ids"][i] > 0
            if covered.any():
                near += distance_transform_edt(~covered) <= REACH * max(H, W)
        want = seen & np.isfinite(dep) & (2 * near >= len(group))
        if not want.any() or len(group) == len(a["rgb"]):
            return col, seen
        if ("free0",) not in self._plates:   # per sample: free of objects and rims (no owners yet)
            self._plates["free0",] = [static_free(a["ids"][i], None) for i in range(len(a["rgb"]))]
        samples = self._other_cameras(group, self._plates["free0",])
        view = self.view(group[0])

        def brighter_at(where):
            cross, got = reprojected_median(where, dep, view.K, view.world_from_camera, samples)
            return cross, got & (cross.mean(-1) + 1.0 > (col.mean(-1) + 1.0) * (1.0 + OUTVOTE))
        # a shadow's core is a blob many pixels wide: found on a grid about 320 wide, then looked up at
        # every pixel round where it was (every pixel near an object at 1280x720 took minutes a shot)
        step = max(1, round(max(H, W) / OUTVOTE_GRID))
        if step > 1:
            grid = np.zeros_like(want)
            grid[::step, ::step] = want[::step, ::step]
            _, found = brighter_at(grid)
            if not found.any():
                return col, seen
            want = want & binary_dilation(found, structure=np.ones((3, 3), bool), iterations=step)
        cross, brighter = brighter_at(want)
        return np.where(brighter[..., None], cross, col), seen & ~brighter

    def _reprojected(self, cam_sample: int):
        """(colour, got) through ``cam_sample``'s camera where none of its own samples saw the static scene
        free: the median of every other camera's samples that saw it, each looked up through the static
        surface's depth there (the background cloud's; world/background.py reprojected_median), built
        once per camera (a sample's wanted pixels are a part of its camera's)."""
        a = self.a
        group = self._camera_group(cam_sample)
        key = ("reprojected", group[0])
        if key not in self._plates:
            _, _, seen = self._camera_plate(cam_sample)
            _, z = self._cloud_plate(cam_sample)
            want = ~seen & np.isfinite(z)
            if not want.any():
                self._plates[key] = (np.zeros(want.shape + (3,), np.float32), want)
            else:
                if self._free is None:   # per sample: the static scene it saw (no object, its rim or its shading)
                    self._free = [static_free(a["ids"][i], a["owner"][i]) for i in range(len(a["rgb"]))]
                view = self.view(group[0])
                self._plates[key] = reprojected_median(want, z, view.K, view.world_from_camera,
                                                       self._other_cameras(group, self._free))
        return self._plates[key]

    def _cloud_plate(self, cam_sample: int):
        """(colour, depth) of the background cloud through ``cam_sample``'s camera where none of the
        samples through it saw the static scene free (``_shade_plate``'s unseen pixels: elsewhere
        empty), once per camera. Drawn whole, the 1280x720 pan's 6.5 million points took 21 s a camera,
        and every decoded sample drew it again: the build ran past 14 minutes."""
        key = ("cloud", self._camera_group(cam_sample)[0])
        if key not in self._plates:
            _, seen = self._shade_plate(cam_sample)
            img, z, _ = draw_clouds([self.clouds()[0]], [None], [1], self.view(cam_sample), wanted=~seen)
            self._plates[key] = (img, z)
        return self._plates[key]

    def _camera_group(self, cam_sample: int) -> list:
        """The samples through ``cam_sample``'s camera (its pose and its K; world/background.py
        ``camera_groups``), in order."""
        if self._groups is None:
            self._groups = {i: g for g in camera_groups(self.a["K"], self.a["cameras"]) for i in g}
        return self._groups[int(cam_sample)]

    def _camera_plate(self, cam_sample: int):
        """(colour, depth, seen) of the static scene through ``cam_sample``'s camera from every sample
        through it (world/background.py ``camera_plate``), built once per camera."""
        a = self.a
        group = self._camera_group(cam_sample)
        if group[0] not in self._plates:
            self._plates[group[0]] = camera_plate(a["rgb"], a["depth"], a["ids"], a["owner"], group)
        return self._plates[group[0]]


def _shading_owners(model) -> None:
    """With a moving camera, which pixels of each sample are whose shading (``owner``; a still
    camera has object-layers' own): the sample against the shadow-free plate from its camera."""
    if model.path.rule != "still":
        # first against each camera's samples where they show no object (a shadow one of them has there
        # is outvoted by the median), then once more where they show no object's shading either: the
        # owners of the first pass. (Against the splatted background cloud, its speckles hid parts of a
        # soft shadow, and the rest stayed in the frame as a hatched ghost where the object had gone.)
        for _ in range(2):
            model.a["owner"] = np.stack([model._plate_ratio(c)[1] for c in range(len(model.a["rgb"]))])
            # the plates made from these owners go (what a camera's samples saw free changes with them)
            model._plates, model._bg_cache, model._free = {}, {}, None
