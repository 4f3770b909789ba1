"""world/shadow_warp.py on a synthetic floor: a sample's shadow moved with its object along the ground.

A camera looks down at the plane z = 0 (the floor); a soft dark disc on it is one sample's shading
of an object standing on it. Unmoved, the warp gives the sample's shading back; moved along the
ground, the disc lands where the moved world points project, keeps its softness, and darkens
nothing that is not the floor the sample saw (a nearer surface in the new frame)."""

from __future__ import annotations

import numpy as np
import pytest

from alive_blender.core.camera import unproject
from alive_blender.core.world.compose import View, project_points
from alive_blender.core.world.shadow_warp import ground_shift, shade_image, warp_shade

H, W = 48, 64


def floor_view():
    """A camera 5 units above the floor, tilted 30 degrees from straight down, and the floor's planar depth."""
    K = np.array([[60.0, 0, W / 2], [0, 60.0, H / 2], [0, 0, 1]])
    t = np.radians(30.0)
    cam = np.eye(4)   # Blender camera: looks down its -z; rotated about x by t from looking straight down
    cam[:3, :3] = [[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]]
    cam[:3, 3] = [0.0, -5.0 * np.tan(t), 5.0]
    v, u = np.mgrid[0:H, 0:W] + 0.5
    ray = np.stack([(u - K[0, 2]) / K[0, 0], -(v - K[1, 2]) / K[1, 1], -np.ones_like(u)], -1) @ cam[:3, :3].T
    depth = cam[2, 3] / -ray[..., 2]          # planar depth where each pixel's ray meets z = 0
    return View(K, cam, W, H), depth


def disc_shade(view, depth, centre, radius=0.6):
    """A soft shadow (ratio 0.6 at its middle, 1 past ``radius``) round world point ``centre`` on the floor."""
    world = unproject(depth, view.K, view.world_from_camera)
    r = np.linalg.norm(world[..., :2] - np.asarray(centre)[:2], axis=-1)
    ratio = 1.0 - 0.4 * np.clip(1.0 - r / radius, 0.0, 1.0)
    return np.repeat(ratio[..., None], 3, -1).astype(np.float32)


@pytest.mark.timeout(30)
def test_a_shadow_moves_with_its_object_along_the_floor():
    view, depth = floor_view()
    shade = disc_shade(view, depth, (0.0, 0.0, 0.0))
    same = warp_shade(shade, depth, view.K, view.world_from_camera, np.zeros(3), depth, view)
    assert np.abs(same - shade).max() < 1e-4                         # unmoved: the sample's own shading
    pose, matrix = np.eye(4), np.eye(4)
    pose[:3, 3] = [0.8, 0.5, 0.3]                                     # up too: the shadow stays on the floor
    shift = ground_shift(pose, matrix)
    assert np.allclose(shift, [0.8, 0.5, 0.0])
    moved = warp_shade(shade, depth, view.K, view.world_from_camera, shift, depth, view)
    want = disc_shade(view, depth, (0.8, 0.5, 0.0))
    assert np.abs(moved - want).max() < 0.03                          # bilinear over a soft edge
    at = lambda p: moved[tuple(np.floor(project_points(np.array([p], float), view)[0][0, ::-1]).astype(int))]  # noqa: E731
    assert at((0.8, 0.5, 0.0)).max() < 0.65                           # its dark middle where the object went
    assert at((0.0, 0.0, 0.0)).min() > 0.99                           # and none left where it was


@pytest.mark.timeout(30)
def test_a_shadow_darkens_only_the_surface_the_sample_saw():
    view, depth = floor_view()
    shade = disc_shade(view, depth, (0.0, 0.0, 0.0))
    nearer = depth * 0.8                                              # the new frame's surface is not the floor
    got = warp_shade(shade, depth, view.K, view.world_from_camera, np.zeros(3), nearer, view)
    assert (got == 1.0).all()


@pytest.mark.timeout(30)
def test_shade_image_keeps_the_objects_darkening_and_fills_under_it():
    ratio = np.ones((8, 8, 3), np.float32)
    ids = np.zeros((8, 8), np.int32)
    owner = np.zeros((8, 8), np.int32)
    ids[2:4, 2:4] = 5
    ratio[5:7, 2:5] = 0.5                 # its shadow below it
    owner[5:7, 2:5] = 5
    ratio[0, 7] = 0.5                     # another object's shading: not this one's
    owner[0, 7] = 9
    ratio[6, 6] = 1.3                     # brighter than the plate: noise, not darkening
    owner[6, 6] = 5
    got = shade_image(ratio, owner, ids, 5)
    assert got[5, 3, 0] == 0.5 and got[0, 7, 0] == 1.0 and got[6, 6, 0] == 1.0
    assert got[4, 3, 0] == 0.5            # the rim below the object: continued from the shadow beside it
    assert got[0, 0, 0] == 1.0
