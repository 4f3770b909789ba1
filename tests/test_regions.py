"""Footage regions (core/regions): found from the pixels, walked one by one, composed without seams.

The clip is made here, by construction (pure numpy, 48x32): a red square
sliding on a 7-frame loop with a darker shadow patch that moves with it, and a
blue square rising on an 11-frame loop. 48 frames show 48 of the 77 phase
pairs; ``render(a, b)`` is the ground truth of every pair, seen or not.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest

from alive_blender.core import frame_metrics as fm
from alive_blender.core.errors import AliveError
from alive_blender.core.regions.dynamism import animated_regions, apply_dynamism
from alive_blender.core.regions.seams import SeamBlender, border_pairs
from alive_blender.core.regions.segment import find_regions

W, H = 48, 32
PA, PB = 7, 11
FRAMES = 48


def background() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    return np.stack([0.45 + 0.25 * xx / W, 0.5 + 0.2 * yy / H,
                     0.55 + 0.1 * np.sin(xx / 3.0) * np.cos(yy / 4.0)], -1)


def render(a: int, b: int, shadow_gap: int = 0) -> np.ndarray:
    """The frame with the red square at phase a and the blue one at phase b (uint8)."""
    img = background()
    ax, ay = 3 + 3 * a, 10 - shadow_gap // 2
    sy = ay + 6 + shadow_gap
    img[sy:sy + 3, ax + 2:ax + 8] *= 0.55                 # the red square's shadow
    img[ay:ay + 6, ax:ax + 6] = (0.9, 0.15, 0.1)
    by = 2 + 2 * b
    img[by:by + 6, 36:42] = (0.1, 0.2, 0.9)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def clip(n: int = FRAMES, shadow_gap: int = 0) -> np.ndarray:
    return np.stack([render(t % PA, t % PB, shadow_gap) for t in range(n)])


def truth() -> fm.Configurations:
    """Every phase pair rendered; the clip holds t -> (t % 7, t % 11) for t < 48."""
    pairs = [(a, b) for a in range(PA) for b in range(PB)]
    rgb = np.stack([render(a, b) for a, b in pairs])
    seen = {(t % PA, t % PB) for t in range(FRAMES)}
    return fm.Configurations(rgb, None, np.array([p in seen for p in pairs]), [[i] for i in range(len(pairs))])


def footage_capture(rgb: np.ndarray):
    """What a footage capture loads as (core/workdir/dataset.Capture fields): no ids, no depth."""
    n = len(rgb)
    cam = np.eye(4).tolist()
    return SimpleNamespace(rgb=rgb, depth=None, alpha=np.ones(rgb.shape[:3], np.float32), ids=None, meta={},
                           samples=[{"frame": i + 1, "world_from_camera": cam} for i in range(n)],
                           is_real_frame=np.ones(n, bool))


def region_of(regions, y: int, x: int) -> int:
    return int(regions.labels[y, x])


def test_two_regions_found_with_the_shadow():
    regions = find_regions(clip())
    assert regions.count == 2
    red, blue = region_of(regions, 12, 5), region_of(regions, 4, 38)
    assert {red, blue} == {1, 2}
    # each region covers all its square's sweep, the shadow with the red one; corners stay background
    for a in range(PA):
        ax = 3 + 3 * a
        assert (regions.labels[10:16, ax:ax + 6] == red).all()
        assert (regions.labels[16:19, ax + 2:ax + 8] == red).all()
    for b in range(PB):
        assert (regions.labels[2 + 2 * b:8 + 2 * b, 36:42] == blue).all()
    assert regions.labels[0, 0] == 0 and regions.labels[H - 1, 20] == 0


def test_a_detached_shadow_joins_its_object_by_correlation():
    """A shadow 6 pixels below its square is a component of its own; its temporal signal is the square's."""
    regions = find_regions(clip(shadow_gap=6))
    assert regions.count == 2
    assert region_of(regions, 7 + 2, 5) == region_of(regions, 7 + 6 + 6 + 1, 7)   # square, shadow
    assert region_of(regions, 9, 5) != region_of(regions, 4, 38)


def test_one_moving_subject_falls_back_to_whole_frames():
    from alive_blender.core.models.generator import GeneratorConfig
    from alive_blender.core.regions.layers import train_any_layers as train_layers
    frames = np.stack([render(t % PA, 0) for t in range(FRAMES)])
    said = []
    rep = SimpleNamespace(status=said.append)
    gen = train_layers(np.random.default_rng(0).normal(size=(FRAMES, 8)).astype(np.float32),
                       footage_capture(frames), GeneratorConfig(), rep)
    assert gen.cfg.arch == "object-layers" and gen.states_width == 1
    assert any("1 moving region found" in s and "whole captured frames" in s for s in said)


def region_model(rgb=None):
    from alive_blender.core.models.generator import GeneratorConfig
    from alive_blender.core.regions.layers import train_any_layers
    rgb = clip() if rgb is None else rgb
    emb = np.random.default_rng(0).normal(size=(len(rgb), 8)).astype(np.float32)
    return train_any_layers(emb, footage_capture(rgb), GeneratorConfig())


def test_compose_puts_each_region_from_its_own_frame():
    gen = region_model()
    regions = find_regions(clip())
    red, blue = region_of(regions, 12, 5), region_of(regions, 4, 38)
    seen = {(t % PA, t % PB) for t in range(FRAMES)}
    a, b = next((a, b) for a in range(PA) for b in range(PB) if (a, b) not in seen)
    i, j = a, next(t for t in range(FRAMES) if t % PB == b)   # red from frame i, blue from frame j
    state = np.zeros(2, np.int64)
    state[red - 1], state[blue - 1] = i, j
    out = gen.compose(state[None], blend=False)
    assert np.abs(out["rgb"][0] * 255 - render(a, b).astype(np.float32)).max() <= 1.0
    assert set(np.unique(out["ids"][0]).tolist()) == {0, 1, 2}
    assert gen.a["periods"].tolist() in ([PA, PB], [PB, PA])   # each region loops on its own period


def test_rollout_shows_arrangements_the_clip_lacks_within_tau():
    """Region layers + the object walk over the regions: real frames, some of unseen arrangements."""
    from alive_blender.core.models.generator import GeneratorConfig
    from alive_blender.core.regions.layers import train_any_layers as train_layers
    from alive_blender.core.models.object_walk import train_object_walk
    rgb = clip()
    cap = footage_capture(rgb)
    emb = np.random.default_rng(0).normal(size=(FRAMES, 8)).astype(np.float32)
    said = []
    rep = SimpleNamespace(status=said.append)
    t0 = time.monotonic()
    gen = train_layers(emb, cap, GeneratorConfig(), rep)
    assert gen.cfg.arch == "region-layers" and gen.states_width == 2
    assert any("2 independently moving regions" in s for s in said)
    walk = train_object_walk(emb, cap, {}, rep, regions=gen)
    states = walk.walk(FRAMES - 1, 60, 2, seed=0, temperature=1.0).reshape(-1, 2)[1:]
    frames = gen.compose(states)["rgb"]
    cfgs = truth()
    scores = fm.score_frames(frames, cfgs)
    s = scores.summary()
    assert s["real"] >= 0.9, s
    assert s["novel_real"] >= 0.3 and s["new_reached"] >= 3, s
    # the novel frames match their real renders by construction: within tau (checked, not assumed)
    novel = np.flatnonzero(scores.novel_real)
    assert (scores.psnr[novel] >= scores.tau).all()
    assert time.monotonic() - t0 < 30


def test_hand_made_cross_fade_is_flagged():
    rgb = clip()
    cfgs = truth()
    fade = (0.5 * (render(1, 2).astype(np.float32) + render(3, 5).astype(np.float32)) + 0.5).astype(np.uint8)
    scores = fm.score_frames(fade[None], cfgs)
    assert not scores.real[0] and scores.psnr[0] < scores.tau
    many = fm.cross_fades(rgb, 40, seed=1, labels=np.arange(FRAMES))   # 48 frames, 48 different pairs
    assert fm.score_frames(many, cfgs).summary()["novel_real"] < 0.2


def test_seams_are_blended_in_the_gradient_domain():
    """A region whose source is 30 levels brighter than the plate: the blend keeps its gradients and
    leaves no step at its border; the seam metric sees a consistent composite as seamless."""
    labels = np.zeros((H, W), np.int64)
    labels[8:24, 12:36] = 1
    base = background() * 255.0
    bright = base + 30.0
    layers = np.stack([base, bright])
    comp = np.where(labels[..., None] == 1, bright, base)
    blended = SeamBlender(labels, band=4).blend(layers, comp)
    p, q = border_pairs(labels)

    def step(img):
        f = img.reshape(-1, 3)
        return float(np.abs(f[p] - f[q]).mean())
    assert step(comp) > 10.0 and step(blended) < 0.3 * step(comp)
    inner = np.zeros_like(labels, bool)
    inner[14:18, 20:28] = True       # far from the border: untouched
    assert np.abs(blended[inner] - comp[inner]).max() < 1e-3
    gen = region_model()
    same = np.array([[t, t] for t in range(FRAMES)])   # every region from one frame: no seam, played on
    cost = gen.seam_cost(same)
    assert cost.spatial < 1e-6 and cost.temporal < 1e-6
    jumpy = np.array([[t, (t * 5) % FRAMES] for t in range(FRAMES)])
    assert gen.seam_cost(jumpy).temporal > 0.0
    # blending a new arrangement changes it little: its sources agree around each thing
    plain, blended = gen.compose(jumpy[:8], blend=False)["rgb"], gen.compose(jumpy[:8])["rgb"]
    assert np.abs(plain - blended).max() < 4 / 255


def test_dynamism_from_still_to_fully_animated():
    activity = np.array([0.1, 0.5, 0.3])
    assert animated_regions(activity, 0.0).tolist() == [False, False, False]
    assert animated_regions(activity, 0.34).tolist() == [False, True, True]
    assert animated_regions(activity, 1.0).tolist() == [True, True, True]
    states = np.arange(2 * 5 * 3).reshape(2, 5, 3)
    held = apply_dynamism(states, activity, 0.34)
    assert (held[:, :, 0] == states[:, :1, 0]).all() and (held[:, :, 1:] == states[:, :, 1:]).all()
    assert (apply_dynamism(states, activity, 0.0) == states[:, :1]).all()
    with pytest.raises(AliveError, match="dynamism"):
        animated_regions(activity, 1.5)


def test_region_layers_save_and_load(tmp_path):
    from alive_blender.core.models.generator import Generator, GeneratorConfig
    from alive_blender.core.regions.layers import train_any_layers as train_layers
    rgb = clip()
    emb = np.random.default_rng(0).normal(size=(FRAMES, 8)).astype(np.float32)
    gen = train_layers(emb, footage_capture(rgb), GeneratorConfig())
    gen.save(tmp_path / "g.safetensors")
    back = Generator.load(tmp_path / "g.safetensors", "cpu", 8)
    states = np.array([[3, 10], [0, 5]])
    assert type(back).__name__ == "RegionLayers"
    assert np.array_equal(back.compose(states)["rgb"], gen.compose(states)["rgb"])
    assert back.compose(states, 24, 16)["rgb"].shape == (2, 16, 24, 3)


def test_dynamism_is_one_setting_from_flat_names_to_the_walk():
    from alive_blender.core.models.object_walk import rollout_states, train_object_walk
    from alive_blender.core.rollout import RolloutConfig
    from alive_blender.core.settings import FLAT_DEFAULTS, RunSettings
    assert FLAT_DEFAULTS["dynamism"] == 1.0
    assert RunSettings.from_flat({"dynamism": 0.5}).rollout.dynamism == 0.5
    gen = region_model()
    emb = np.random.default_rng(0).normal(size=(FRAMES, 8)).astype(np.float32)
    walk = train_object_walk(emb, footage_capture(clip()), {}, None, regions=gen)
    half = rollout_states(walk, emb, RolloutConfig(steps=20, dynamism=0.5))
    moving = int(np.argmax(gen.activity))
    assert (half[..., 1 - moving] == half[:, :1, 1 - moving]).all()      # the less active region holds
    assert len(np.unique(half[..., moving])) > 5                          # the more active one moves
    with pytest.raises(AliveError, match="dynamism"):
        rollout_states(walk, emb, RolloutConfig(steps=5, dynamism=1.5))
