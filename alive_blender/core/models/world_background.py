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
from ..world.shading import shading_owner
from .layers import _fill_nearest



class CameraBackground:
    """``_background``, the camera plates and the shading owners of a ``WorldLayers`` (uses its
    arrays ``a``, ``clouds()``, ``view()``, ``path`` and the caches ``_bg_cache``, ``_plates``, ``_free``,
    ``_groups``)."""

    def _plate_ratio(self, s: int):
        """(sample s over the shadow-free plate from its camera, whose shading each pixel is): a moving
        camera's (world/shading.py)."""
        a = self.a
        plate = self._cloud_plate(s)
        exact = None
        if "owner" in a:   # the owners known: the samples through this camera where they saw it free
            own, exact = self._shade_plate(s)
            plate = np.where(exact[..., None], own, plate)
        return shading_owner(a["rgb"][s], plate, a["ids"][s], binary_dilation(a["ids"][s] > 0), a["depth"][s], exact)

    def _background(self, cam_sample, view: View):
        """(rgb 0..255, depth, hole mask) of the static scene seen from a captured camera or a view."""
        key = (cam_sample, view.width, view.height) if cam_sample is not None else None
        if key is not None and key in self._bg_cache:
            return self._bg_cache[key]
        a = self.a
        bg_cloud, _ = self.clouds()
        if cam_sample is not None and self.path.rule == "still":
            out = (a["plate"], a["plate_depth"], np.zeros(a["plate_depth"].shape, bool))
        else:
            img, z, lab = draw_clouds([bg_cloud], [None], [1], view)
            if cam_sample is not None and (view.width, view.height) == a["rgb"].shape[2:0:-1]:
                # the sample's own pixels where no moving object hid them: exact
                hole = binary_dilation(a["ids"][cam_sample] > 0)   # with the anti-aliased rim
                # the objects' shading in this sample is theirs (restored when they are drawn from it)
                replace = hole | (a["owner"][cam_sample] > 0)
                # there: what the other samples through this camera saw free, one sample's pixel each (its
                # noise is this camera's); the background cloud only where none did
                plate, plate_z, plate_seen = self._camera_plate(cam_sample)
                img = np.where(plate_seen[..., None], plate, img)
                z = np.where(plate_seen, plate_z, z)
                # what none of them saw: the median of the other cameras' samples that saw it
                fill, got = self._reprojected(cam_sample, view, z, replace & ~plate_seen)
                img = np.where(got[..., None], fill, img)
                img = np.where(replace[..., None], img, a["rgb"][cam_sample].astype(np.float32))
                z = np.where(hole, z, a["depth"][cam_sample])
                known = ~hole | np.isfinite(z) | plate_seen   # the plate saw it (the sky too)
                img = _fill_nearest(img, known)
                z = _fill_nearest(z, known)
            else:
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
            self._plates["shade", group[0]] = shadow_free_plate(a["rgb"], a["depth"], a["ids"], a["owner"], group)
        return self._plates["shade", group[0]]

    def _reprojected(self, cam_sample: int, view: View, z, want):
        """``want`` pixels of ``cam_sample``'s camera (static surface at depth ``z``): the median of every
        other camera's samples that saw them free (world/background.py reprojected_median)."""
        a = self.a
        if not want.any():
            return np.zeros(want.shape + (3,), np.float32), np.zeros(want.shape, bool)
        if self._free is None:   # per sample: the static scene it saw (no object, its rim or its shading)
            self._free = [static_free(a["ids"][i], a["owner"][i]) for i in range(len(a["rgb"]))]
        own = set(self._camera_group(cam_sample))
        samples = [(a["K"][i], a["cameras"][i], a["rgb"][i], a["depth"][i], self._free[i])
                   for i in range(len(a["rgb"])) if i not in own]
        return reprojected_median(want, z, view.K, view.world_from_camera, samples)

    def _cloud_plate(self, cam_sample: int):
        """The background cloud drawn through ``cam_sample``'s camera, once per camera (48 samples of a
        pan are 9 cameras: drawn per sample, twice, at 1280x720 it was most of the build)."""
        key = ("cloud", self._camera_group(cam_sample)[0])
        if key not in self._plates:
            self._plates[key] = draw_clouds([self.clouds()[0]], [None], [1], self.view(cam_sample))[0]
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
        # first against the splatted background cloud (a camera's own plate needs the owners), then
        # once more against each camera's own plate made from them: the cloud's speckles hid parts of
        # a soft shadow, and the rest stayed in the frame as a hatched ghost where the object had gone
        for _ in range(2):
            model.a["owner"] = np.stack([model._plate_ratio(c)[1] for c in range(len(model.a["rgb"]))])
            # the plates made from these owners go; the cloud drawn per camera stays
            model._plates = {k: v for k, v in model._plates.items() if isinstance(k, tuple) and k[0] == "cloud"}
            model._bg_cache, model._free = {}, None
