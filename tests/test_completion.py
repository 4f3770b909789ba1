"""core/world/completion.py on pure numpy: a cube seen from one side gets the sides no sample saw."""

from __future__ import annotations

import numpy as np

from alive_blender.core.world.clouds import Cloud
from alive_blender.core.world.completion import RADIUS, SPLAT, complete_cloud, sample_spacing, sample_surface


def unit_cube():
    v = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)], np.float64)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    tris = np.array([t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))], np.int64)
    return v, tris


def test_a_cube_seen_from_one_side_gets_its_back_faces():
    v, tris = unit_cube()
    pts, nrm, area = sample_surface(v, tris, count=6000)
    assert abs(area - 6.0) < 1e-9
    assert np.abs(np.abs(pts).max(1) - 0.5).max() < 1e-6                  # on the surface
    assert np.allclose(np.abs(nrm).max(1), 1.0) and np.all((pts * nrm).sum(1) > 0)   # outward face normals
    # what a camera on +x saw: the +x face, red, a point per 0.05, plus a stray pixel far behind the cube
    g = np.arange(-0.475, 0.5, 0.05)
    yy, zz = np.meshgrid(g, g)
    face = np.stack([np.full(yy.size, 0.5), yy.ravel(), zz.ravel()], 1)
    seen_pts = np.concatenate([face, [[-3.0, 0.0, 0.0]]]).astype(np.float32)
    cols = np.tile(np.array([[200, 30, 20]], np.uint8), (len(seen_pts), 1))
    cols[-1] = (0, 255, 0)                                                # the stray's colour must not spread
    cloud = Cloud(seen_pts, cols, np.full(len(seen_pts), 0.05, np.float32),
                  np.tile(np.float32([[1, 0, 0]]), (len(seen_pts), 1)))
    out = complete_cloud(cloud, pts, nrm, area)
    assert len(out) == len(pts)                                           # the surface, resampled
    r = RADIUS * SPLAT * sample_spacing(area, len(pts))
    assert np.abs((out.points * nrm).sum(1) - (0.5 - r)).max() < 1e-5     # one radius inside: silhouettes exact
    back = pts[:, 0] < -0.49                                              # the -x face: never seen
    assert back.sum() > 500 and not out.seen[back].any()                  # there now, marked not seen
    front = pts[:, 0] > 0.49
    assert out.seen[front].all()
    sides = np.abs(pts[:, 0]) < 0.3                                       # far from the seen face: not seen
    assert not out.seen[sides].any()
    # coloured from the nearest seen points (all red), never from the stray point far off the surface
    assert np.all(out.colors == np.array([200, 30, 20], np.uint8))
    assert np.allclose(out.sizes, SPLAT * sample_spacing(area, len(pts)))


def test_an_object_no_sample_saw_is_its_grey_surface():
    v, tris = unit_cube()
    pts, nrm, area = sample_surface(v, tris, count=500)
    out = complete_cloud(Cloud.empty(), pts, nrm, area)
    assert len(out) == 500 and not out.seen.any() and np.all(out.colors == 128)


def test_a_floor_seen_at_a_grazing_angle_gets_splats_as_long_as_its_patches():
    from alive_blender.core.world.capture_clouds import MAX_SLANT, slanted_splats
    g = np.arange(0, 2, 0.05)
    xx, yy = np.meshgrid(g, g)
    pts = np.stack([xx.ravel(), yy.ravel(), np.zeros(xx.size)], 1).astype(np.float32)   # the floor z = 0
    up = np.float32([0.0, -np.sqrt(0.75), 0.5])   # seen from 60 degrees off its normal: cos = 0.5
    views = np.tile(up, (len(pts), 1))
    floor = slanted_splats(Cloud(pts, np.zeros((len(pts), 3), np.uint8), np.full(len(pts), 0.02, np.float32), views))
    assert np.allclose(floor.sizes, 0.04, rtol=1e-3)                      # 1 / cos = 2 x the pixel's width
    assert np.allclose(floor.points[:, 2], -RADIUS * 0.04, atol=1e-5)      # one radius under the floor
    assert np.allclose(floor.points[:, :2], pts[:, :2], atol=1e-5)
    edge_on = slanted_splats(Cloud(pts, np.zeros((len(pts), 3), np.uint8), np.full(len(pts), 0.02, np.float32),
                                   np.tile(np.float32([0, 1, 0.001]), (len(pts), 1))))
    assert np.allclose(edge_on.sizes, 0.02 * MAX_SLANT)                  # capped


def test_surface_samples_follow_the_captured_pixel_size():
    from alive_blender.core.world.completion import MAX_SURFACE_SAMPLES, SURFACE_SAMPLES, surface_sample_count
    # a unit cube (area 6) seen at pixels of 1 cm: about one sample per pixel's square
    assert surface_sample_count(6.0, 0.01) == 60_000
    assert surface_sample_count(6.0, 0.1) == SURFACE_SAMPLES                 # a small capture: the floor
    assert surface_sample_count(6.0, 0.001) == MAX_SURFACE_SAMPLES            # a huge one: the cap
    assert surface_sample_count(6.0, float("inf")) == SURFACE_SAMPLES
