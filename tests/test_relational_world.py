"""The relational behavior drawn by the 3-D composer (object-world): free poses (issues 19 + 20).

The carried scene (a platform rising and falling, a ball rolling on it, a cube spinning
beside them; 64x48 Workbench, 16 frames), trained with ``--generator object-world
--behavior relational``. A rollout then draws the predicted poses themselves: some object
stands where no capture sample had it, and the composed frame of such a state is within tau
of Blender's render of the scene keyed to those poses (the re-render oracle); the ball stays
on its platform through 300 free steps; decode and ``bake --objects`` read R.poses.npy; the
live session composes the state's poses.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_cli, run_python, run_script
from test_relational_scene import MAKE

SIZE = "64x48"   # at 32x24 the clouds' splats are too coarse for a new pose to be real (about 31 dB, tau 34.6)


def psnr(a, b) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 99.0 if mse < 1e-12 else 10 * np.log10(1.0 / mse)


def new_poses(poses: np.ndarray, captured_world: np.ndarray, tol: float = 1e-4) -> np.ndarray:
    """(T, M) bool: slot m's world matrix at t is none of the captured ones (poses (T, M, 4, 4))."""
    d = np.abs(poses[:, None] - captured_world[None]).reshape(len(poses), len(captured_world), poses.shape[1], -1)
    return d.max(-1).min(1) > tol


@pytest.fixture(scope="module")
def world_carried(tmp_path_factory):
    import torch
    from alive_blender.core.run import stages
    root = tmp_path_factory.mktemp("relational_world")
    blend, work = root / "carried.blend", root / "work"
    res = run_python(MAKE.replace("width=32, height=24", "width=64, height=48"), blend, "carried", timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    res = run_cli("capture", blend, "--out", work, "--frames", "1-16", "--resolution", SIZE, "--engine", "WORKBENCH",
                  timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    torch.set_num_threads(1)
    stages.encode(work, {}, "cpu")
    info = stages.train(work, {"arch": "object-world"}, {"arch": "relational", "epochs": 25}, "cpu")
    return root, work, info


@pytest.fixture(scope="module")
def free_rollout(world_carried):
    from alive_blender.core.run import stages
    root, work, _ = world_carried
    out = root / "R.npy"
    info = stages.rollout(work, {"steps": 300, "count": 1, "seed": 0}, out=out, device="cpu")
    return out, info, np.load(out.with_suffix(".poses.npy"))[0], np.load(out.with_suffix(".states.npy"))[0]


@pytest.mark.timeout(120)
def test_train_and_rollout_say_poses_are_drawn_free(world_carried, free_rollout):
    _, _, info = world_carried
    assert info["generator"] == "object-world" and "drawn free" in info["behavior_choice"]
    _, rinfo, poses, states = free_rollout
    assert rinfo["poses_drawn"] == "free" and poses.shape == (301, 3, 4, 4) and states.shape == (301, 3)


@pytest.mark.timeout(120)
def test_carried_ball_stays_on_its_platform_with_free_poses(world_carried, free_rollout):
    from alive_blender.core.models.relational.relations import contact_violations
    from alive_blender.core.run import stages
    _, work, _ = world_carried
    _, info, poses, states = free_rollout
    beh = stages.load_behavior(work)
    names = info["object_names"]
    platform = names.index("Platform")
    assert np.isfinite(poses).all() and np.allclose(poses[..., 3, :], [0, 0, 0, 1])
    assert not contact_violations(poses, beh.world, beh.bounds, beh.contact).any()   # on it, not in it
    novel = new_poses(poses[1:], beh.world)
    print("NEW POSES", novel.mean(0).round(3), "platform heights", len(np.unique(poses[:, platform, 2, 3].round(3))))
    assert novel.mean() >= 0.3                                       # issue 20: at least 30 % never captured
    assert len(np.unique(poses[:, platform, 2, 3].round(3))) >= 8     # and the platform moves
    # each state is a captured sample near its pose (object-layers' fallback, the composer's shading hint)
    assert np.isin(states, beh.frames).all()


@pytest.mark.timeout(180)
def test_a_new_pose_composes_within_tau_of_blenders_render(world_carried, free_rollout, tmp_path):
    from alive_blender.core.run.stages import load_behavior, load_generator
    from alive_blender.core.workdir.dataset import load_capture
    root, work, _ = world_carried
    _, info, poses, states = free_rollout
    cap, gen, beh = load_capture(work), load_generator(work), load_behavior(work)
    # the frames whose platform is farthest from every captured height: new poses for sure
    platform = info["object_names"].index("Platform")
    heights = beh.world[:, platform, 2, 3]
    away = np.abs(poses[:, platform, 2, 3][:, None] - heights[None]).min(1)
    picks = [int(t) for t in np.argsort(-away)[:2]]
    assert away[picks].min() > 0.01
    drawn = gen.compose_drawn(poses[picks], states[picks], picks)["rgb"]
    spec = tmp_path / "oracle.npz"
    names = [cap.meta["object_ids"][str(o)] for o in gen.objects]
    np.savez(spec, names=np.array(names), poses=poses[picks], cameras=np.stack([cap.world_from_camera(0)] * 2))
    res = run_script("key_poses.py", root / "carried.blend", tmp_path / "oracle.blend", spec)
    assert res.returncode == 0, res.stderr[-2000:]
    res = run_cli("capture", tmp_path / "oracle.blend", "--out", tmp_path / "oracle", "--frames", "1-2",
                  "--resolution", SIZE, "--engine", "WORKBENCH", timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    oracle_cap = load_capture(tmp_path / "oracle")
    oracle = oracle_cap.rgb.astype(np.float32) / 255.0
    composed_ids = gen.compose_drawn(poses[picks], states[picks], picks)["ids"]
    real = cap.rgb.astype(np.float32) / 255.0
    # tau: the median PSNR between a captured frame and its nearest other captured arrangement
    pair = np.array([[psnr(real[a], real[b]) if a != b and not np.array_equal(real[a], real[b]) else -np.inf
                      for b in range(len(real))] for a in range(len(real))])
    tau = float(np.median(pair.max(1)))
    for j, t in enumerate(picks):
        ours = psnr(drawn[j], oracle[j])
        nearest = max(psnr(r, oracle[j]) for r in real)
        print("ORACLE", t, round(float(away[t]), 3), "composed", round(ours, 1), "nearest captured",
              round(nearest, 1), "tau", round(tau, 1))
        assert ours >= tau, (t, ours, tau)   # real by the re-render oracle
        assert ours > nearest, (t, ours, nearest)   # and nearer Blender's render than any captured frame
        for oid in gen.objects:   # and every object solid where Blender draws it
            a, b = composed_ids[j] == oid, oracle_cap.ids[j] == oid
            iou = (a & b).sum() / max((a | b).sum(), 1)
            print("IoU", oid, round(float(iou), 3))
            assert iou >= 0.8, (t, oid, iou)


@pytest.mark.timeout(120)
def test_decode_and_bake_read_the_free_poses(world_carried, free_rollout, tmp_path):
    from alive_blender.blender.bake.objects import rollout_poses
    from alive_blender.core.live.compose import to_bytes
    from alive_blender.core.run import stages
    _, work, _ = world_carried
    out, info, poses, states = free_rollout
    res = stages.decode_rollout(work, out, out_dir=tmp_path / "decoded", device="cpu")
    assert res["frames"] == 301
    rgb = np.load(tmp_path / "decoded" / "rgb.npy")
    gen = stages.load_generator(work)
    ts = np.array([0, 40, 150, 299])
    want = to_bytes(gen.compose_drawn(poses[ts], states[ts], ts)["rgb"])
    assert np.array_equal(rgb[ts], want)
    # not what the nearest captured samples compose to: the drawn poses are new
    assert not np.array_equal(rgb[ts[1:]], to_bytes(gen.compose(states[ts[1:]])["rgb"]))
    names, keyed = rollout_poses(work, out)
    assert names == info["object_names"] and np.array_equal(keyed, poses.astype(np.float64))


@pytest.mark.timeout(120)
def test_live_session_composes_the_states_poses(world_carried):
    from alive_blender.core.live.compose import to_bytes
    from alive_blender.core.live.session import LiveSession
    from alive_blender.core.run import stages
    _, work, _ = world_carried
    session = LiveSession(work, points=False)
    assert session.stepper.free_poses
    gen, beh = session.generator, stages.load_behavior(work)
    shown = 0
    for _ in range(12):
        frame = session.step()
        st = session.state
        want = to_bytes(gen.compose_drawn(st.poses[None], st.sources[None], [st.step])["rgb"][0])
        assert np.array_equal(frame.rgb, want)
        if new_poses(st.poses[None], beh.world).any():
            assert not np.array_equal(frame.rgb, to_bytes(gen.compose(st.sources[None])["rgb"][0]))
            shown += 1
    assert shown >= 6


@pytest.mark.timeout(120)
def test_a_captured_pose_warped_from_the_other_samples_is_nearer_its_frame_than_the_cloud(world_carried):
    """world/warp.py on its own: each captured arrangement drawn as if its own sample did not exist
    (warped from the nearest other one, the cloud only where that one did not see the object) is
    compared with the captured frame; the same drawn from the clouds alone is the baseline."""
    from alive_blender.core.run.stages import load_generator
    from alive_blender.core.world import warp
    _, work, _ = world_carried
    gen = load_generator(work)
    a = gen.a
    gen._captured_source = lambda *args, **kw: None          # never the sample's own pixels
    every = {m: list(gen._sees_part(m)) for m in range(len(gen.objects))}
    real = a["rgb"] / 255.0

    def drawn(i):
        gen._parts = {m: [None if s == i else p for s, p in enumerate(ps)] for m, ps in every.items()}
        return gen.compose_poses(a["matrices"][i][None], [i])["rgb"][0]

    samples = range(0, len(real), 2)
    warped = [psnr(drawn(i), real[i]) for i in samples]
    cost = warp.MAX_COST
    try:
        warp.MAX_COST = -1.0                                   # no sample near enough: clouds alone
        clouds = [psnr(drawn(i), real[i]) for i in samples]
    finally:
        warp.MAX_COST = cost
    print("LEAVE-ONE-OUT PSNR warped", np.round(warped, 1), "clouds", np.round(clouds, 1))
    assert np.median(warped) >= np.median(clouds) + 2.0      # measured 37.3 against 34.0 dB
