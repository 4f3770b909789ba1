"""world/compose.py on a synthetic face: an object cloud drawn without a stipple, and drawn only
where it is wanted exactly as drawn whole.

A square face 5 units in front of a camera, in an object cloud with two sets of points: those of
the sample that saw it from straight in front (dark, the view it is drawn from), spread wider than
their splats as an oblique view leaves them (a sub-pixel gap between neighbours), and those of a
sample that saw it from 40 degrees off (light), dense. Drawn from straight in front the face is the
dark sample's shade everywhere: the light points seen from elsewhere do not show in the gaps (the
stipple of issue 19's 1280x720 sheet)."""

from __future__ import annotations

import numpy as np
import pytest

from alive_blender.core.world import compose
from alive_blender.core.world.clouds import Cloud
from alive_blender.core.world.compose import View, draw_clouds

H, W = 36, 48
F = 40.0
DEPTH = 5.0
DARK, LIGHT = 60, 200


def face_cloud() -> tuple[Cloud, View]:
    step = DEPTH / F                              # one pixel's footprint on the face
    # the front sample's points every 2 pixels across (their splats 1.5 pixels wide), every pixel down
    xs, ys = np.meshgrid(np.arange(-1.0, 1.0, 2 * step), np.arange(-1.0, 1.0, step))
    front = np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, -DEPTH)], 1)
    xs, ys = np.meshgrid(np.arange(-1.0, 1.0, step), np.arange(-1.0, 1.0, step))
    side = np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, -DEPTH)], 1)
    off = np.radians(40.0)
    views = np.concatenate([np.tile([0.0, 0.0, 1.0], (len(front), 1)),
                            np.tile([np.sin(off), 0.0, np.cos(off)], (len(side), 1))])
    colors = np.concatenate([np.full((len(front), 3), DARK), np.full((len(side), 3), LIGHT)]).astype(np.uint8)
    points = np.concatenate([front, side]).astype(np.float32)
    cloud = Cloud(points, colors, np.full(len(points), step, np.float32), views.astype(np.float32))
    K = np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1]])
    return cloud, View(K, np.eye(4), W, H)   # Blender camera at the origin, looking down its -z


def inner(img: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """The face's pixels two in from its edge."""
    from scipy.ndimage import binary_erosion
    return img[binary_erosion(np.isfinite(depth), iterations=2)]


@pytest.mark.timeout(30)
def test_a_face_seen_from_its_best_view_is_drawn_in_that_views_shade_only(monkeypatch):
    cloud, view = face_cloud()
    rgb, depth, lab = draw_clouds([cloud], [np.eye(4)], [1], view)
    face = inner(rgb, depth)
    assert len(face) >= 100                       # 16 x 16 pixels, 12 x 12 inside
    assert np.abs(face - DARK).max() <= 1.0, f"light pixels on the dark face: {np.unique(face.round())}"
    # the scene is the stipple's: drawn as before (every point, no view cracks) the light ones show
    monkeypatch.setattr(compose, "VIEW_KEEP", 1e9)
    monkeypatch.setattr(compose, "VIEW_TOLERANCE", 1e9)
    rgb, depth, _ = draw_clouds([cloud], [np.eye(4)], [1], view)
    assert (np.abs(inner(rgb, depth) - DARK).max(-1) > 20).mean() > 0.2   # measured: every other column


@pytest.mark.timeout(30)
def test_a_cloud_drawn_only_where_wanted_is_the_whole_drawing_there():
    cloud, view = face_cloud()
    matrix = np.eye(4)
    matrix[:3, 3] = [0.3, -0.2, 0.0]
    whole = draw_clouds([cloud], [matrix], [1], view, with_alpha=True)
    wanted = np.zeros((H, W), bool)
    wanted[:, : W // 2 - 3] = True                 # the left part of the face and the frame
    part = draw_clouds([cloud], [matrix], [1], view, with_alpha=True, wanted=wanted)
    for a, b in zip(whole, part):
        assert np.array_equal(a[wanted], b[wanted])
    assert np.isfinite(whole[1][~wanted]).sum() > np.isfinite(part[1][~wanted]).sum()   # points were left out
