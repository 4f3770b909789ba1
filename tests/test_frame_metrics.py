"""The pixel-space metric of invented frames (core/frame_metrics.py) and the combination scene."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

from alive_blender.core import frame_metrics as fm


def stage(a: int, b: int, h: int = 24, w: int = 32) -> np.ndarray:
    """A synthetic 'render': a gradient backdrop with a red square a pixels and a blue
    disc b pixels from the left (uint8, like a capture); neighbours overlap, like frames
    of a moving object."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([0.3 + 0.4 * yy / h, 0.35 + 0.2 * xx / w, np.full((h, w), 0.5)], -1)
    x0 = 2 + a
    img[4:10, x0:x0 + 6] = (0.9, 0.2, 0.1)
    cx = 5 + b
    img[((yy - 17) ** 2 + (xx - cx) ** 2) <= 9] = (0.1, 0.3, 0.9)
    return np.round(img * 255).astype(np.uint8)


def synthetic_configurations(captured_a=(0, 1, 2, 3)):
    """8 x 8 arrangements; those whose square is in the left half are 'captured'."""
    pairs = [(a, b) for a in range(8) for b in range(8)]
    rgb = np.stack([stage(a, b) for a, b in pairs])
    depth = np.stack([np.full((24, 32), 2.0 + a + 0.1 * b, np.float32) for a, b in pairs])
    captured = np.array([a in captured_a for a, b in pairs])
    return pairs, fm.Configurations(rgb, depth, captured, [[i + 1] for i in range(len(pairs))])


@pytest.mark.timeout(60)
def test_metric_flags_a_cross_fade_and_passes_a_real_frame():
    pairs, cfgs = synthetic_configurations()
    real = cfgs.rgb[pairs.index((6, 2))]                      # a never-captured arrangement, as rendered
    noisy = np.clip(real.astype(int) + np.random.default_rng(0).integers(-2, 3, real.shape), 0, 255).astype(np.uint8)
    fade = fm.cross_fades(cfgs.rgb[[pairs.index((0, 0)), pairs.index((7, 7))]], 1, labels=[0, 1])[0]
    s = fm.score_frames(np.stack([real, noisy, np.round(fade * 255).astype(np.uint8)]), cfgs)
    assert s.real.tolist() == [True, True, False]
    assert s.novel_real.tolist() == [True, True, False]
    assert s.match[0] == s.match[1] == pairs.index((6, 2))
    assert s.psnr[0] == fm.PSNR_CAP and s.psnr[2] < s.tau < s.psnr[1]


@pytest.mark.timeout(60)
def test_tau_is_the_median_psnr_to_the_nearest_other_configuration():
    # flat grey frames 0.0, 0.1, 0.22, 0.42: nearest-other MSE 0.01, 0.01, 0.0144, 0.04
    grey = np.stack([np.full((4, 5, 3), v, np.float32) for v in (0.0, 0.1, 0.22, 0.42)])
    cfgs = fm.Configurations(grey, None, np.array([True, True, False, False]))
    assert fm.tau(cfgs) == pytest.approx(np.median(-10 * np.log10([0.01, 0.01, 0.0144, 0.04])), abs=1e-3)
    idx, p = fm.nearest(grey, grey, exclude_self=True)
    assert idx.tolist() == [1, 0, 1, 2] and p[3] == pytest.approx(-10 * np.log10(0.04), abs=1e-3)
    # invented: exactly configuration 0 (captured), 2 (not captured), one 0.02 off 3, one far away (0.7)
    inv = np.stack([np.full((4, 5, 3), v, np.float32) for v in (0.0, 0.22, 0.40, 0.7)])
    s = fm.score_frames(inv, cfgs)
    assert s.match.tolist() == [0, 2, 3, 3]
    assert s.real.tolist() == [True, True, True, False]
    assert s.novel_real.tolist() == [False, True, True, False]
    summary = s.summary()
    assert summary["reached"] == 3 and summary["new_reached"] == 2 and summary["new_reached_share"] == 1.0
    assert summary["real"] == 0.75 and summary["novel_real"] == 0.5
    # a given tau overrides the computed one
    assert fm.score_frames(inv, cfgs, tau_db=40.0).real.tolist() == [True, True, False, False]


@pytest.mark.timeout(60)
def test_depth_error_is_relative_to_the_matched_real_depth_where_both_are_finite():
    pairs, cfgs = synthetic_configurations()
    k = pairs.index((2, 1))
    depth = cfgs.depth[k].copy() * 1.01                          # 1 % too far
    depth[:5] = np.inf                                           # background in the decode: left out
    s = fm.score_frames(cfgs.rgb[k][None], cfgs, depth[None])
    assert s.depth_error[0] == pytest.approx(0.01, rel=1e-3)
    fade = fm.cross_fades(cfgs.rgb[[0, -1]], 1, labels=[0, 1])
    assert np.isnan(fm.score_frames(fade, cfgs, depth[None]).depth_error[0])  # not real: no depth score


@pytest.mark.timeout(60)
def test_identical_looking_frames_are_one_configuration():
    a, b = stage(0, 0), stage(4, 6)
    a_dither = a.copy()
    a_dither[3, 3] += 1                                          # one 8-bit level at one pixel: the same look
    labels = fm.group_configurations(np.stack([a, b, a_dither, b, stage(0, 1)]))
    assert labels.tolist() == [0, 1, 0, 1, 2]
    cfgs = fm.Configurations.from_renders(np.stack([a, b, a_dither, b]), None, [1, 2, 3, 4], captured_frames=[3])
    assert len(cfgs) == 2 and cfgs.frames == [[1, 3], [2, 4]] and cfgs.captured.tolist() == [True, False]


@pytest.mark.timeout(120)
def test_chunked_nearest_matches_the_direct_computation():
    rng = np.random.default_rng(1)
    refs = rng.integers(0, 256, (23, 12, 16, 3), dtype=np.uint8)
    queries = rng.integers(0, 256, (41, 12, 16, 3), dtype=np.uint8)
    direct = ((queries[:, None].astype(np.float64) - refs[None]) / 255.0) ** 2
    mse = direct.reshape(41, 23, -1).mean(-1)
    idx, p = fm.nearest(queries, refs, chunk=5)
    assert idx.tolist() == mse.argmin(1).tolist()
    assert np.allclose(p, -10 * np.log10(mse.min(1)))


@pytest.mark.timeout(60)
def test_footage_score_uses_tau_among_the_real_frames():
    frames = np.stack([stage(k, k) for k in range(8)]).astype(np.float32) / 255.0   # an object pair moving right
    s = fm.score_footage(np.stack([frames[2], fm.cross_fades(frames[[0, 7]], 1, labels=[0, 1])[0]]), frames)
    assert s["real"] == 0.5 and s["reached"] == 1


@pytest.mark.timeout(60)
def test_frame_metrics_needs_no_bpy():
    code = ("import sys; sys.modules['bpy'] = None\n"
            "import numpy as np\n"
            "from alive_blender.core import frame_metrics as fm\n"
            "x = np.zeros((2, 4, 4, 3), np.uint8); x[1] += 40\n"
            "print(fm.tau(x))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert float(res.stdout) == pytest.approx(-10 * np.log10((40 / 255) ** 2), abs=1e-3)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("swing", [True, False])
def test_combination_scene_shows_every_phase_combination(fresh_bpy, tmp_path, swing):
    """Rendered through the project's capture, the full cycle of a tiny combination
    scene groups into exactly the configurations its paths allow: P1 * P2 when both
    loop, P1 * (P2 // 2 + 1) when the second swings (a symmetric path)."""
    from alive_blender.blender.capture.render import CaptureSettings, capture
    from alive_blender.blender.combination_scene import (build_combination_scene, configuration_count,
                                                         configuration_of, cycle_length)
    from alive_blender.core.workdir.dataset import load_capture
    periods = (3, 4)
    scene = build_combination_scene(periods, width=32, height=24, swing=swing)
    assert (scene.frame_start, scene.frame_end) == (1, cycle_length(periods)) == (1, 12)
    capture(scene, tmp_path, CaptureSettings(engine="WORKBENCH", width=32, height=24))
    cap = load_capture(tmp_path)
    frames = cap.frames.astype(int)
    labels = fm.group_configurations(cap.rgb)
    assert labels.max() + 1 == configuration_count(periods, swing) == (9 if swing else 12)
    # the grouping by pixels is the grouping by scene state
    states = [configuration_of(f, periods, swing) for f in frames]
    for i in range(len(frames)):
        for j in range(len(frames)):
            assert (labels[i] == labels[j]) == (states[i] == states[j])
    # the first 5 frames captured: the rest of the configurations are new arrangements
    cfgs = fm.Configurations.from_renders(cap.rgb, cap.depth, frames, captured_frames=range(1, 6))
    assert int(cfgs.captured.sum()) == len({configuration_of(f, periods, swing) for f in range(1, 6)})
    assert np.isfinite(fm.tau(cfgs)) and fm.tau(cfgs) < fm.SAME_CONFIGURATION_PSNR


def test_dolly_scene_moves_the_camera_along_its_view_axis(fresh_bpy):
    """The dolly shot (issue 19): the camera keeps its aim and moves along its view axis, in and out
    with period P; phases t and P - t are one camera position (dolly_position_of), as the bench counts."""
    from alive_blender.blender.combination_scene import DOLLY_REACH, build_combination_scene, dolly_position_of
    P = 8
    scene = build_combination_scene((4, 5), width=32, height=24, dolly=P)   # keyed over 20 frames
    cam = scene.camera
    mats = []
    for f in range(1, 2 * P + 1):
        scene.frame_set(f)
        mats.append(np.array(cam.matrix_world))
    mats = np.array(mats)
    axis = -mats[0, :3, 2]                                    # the view direction (-Z)
    assert np.abs(mats[:, :3, :3] - mats[0, :3, :3]).max() < 1e-6          # the aim never changes
    offsets = mats[:, :3, 3] - mats[P // 4, :3, 3]                          # from the rest position
    along = offsets @ axis
    assert np.abs(offsets - along[:, None] * axis).max() < 1e-5            # only along the view axis
    # nearest at frame 1 (DOLLY_REACH in), farthest half a period later (as far out)
    assert np.allclose([along[0], along[P // 2]], [DOLLY_REACH, -DOLLY_REACH], atol=1e-5)
    for f in range(1, 2 * P + 1):
        for g in range(1, 2 * P + 1):
            same = np.abs(mats[f - 1] - mats[g - 1]).max() < 1e-5
            assert same == (dolly_position_of(f, P) == dolly_position_of(g, P))
    with pytest.raises(ValueError):
        build_combination_scene((3, 4), pan=P, dolly=P)
