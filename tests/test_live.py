"""Live mode (core/live): the session answers hold, goal, ground, temperature and prompt inputs;
a recorded take bakes and reopens without the add-on showing the frames that were played; the
headless command reports its latency and memory. A 24-frame demo capture at 32x24."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_cli, run_script

pytestmark = [pytest.mark.bpy, pytest.mark.timeout(120)]

W, H = 32, 24


@pytest.fixture(scope="module")
def live_workdir(tmp_path_factory):
    """The demo scene (24 frames: cube, sphere and drum each on its own cycle), captured at
    32x24, encoded and trained (object layers + object walk); and the .blend it came from."""
    import bpy
    import torch

    from alive_blender.blender.capture.render import CaptureSettings, capture
    from alive_blender.blender.demo_scene import build_demo_scene
    from alive_blender.core.models.encoder import EncoderSpec
    from alive_blender.core.run import stages
    root = tmp_path_factory.mktemp("live")
    blend, work = root / "demo.blend", root / "work"
    bpy.ops.wm.read_factory_settings(use_empty=True)
    try:
        scene = build_demo_scene(frames=24, width=64, height=48)
        bpy.ops.wm.save_as_mainfile(filepath=str(blend))
        capture(scene, work, CaptureSettings(frame_start=1, frame_end=24, width=W, height=H, samples=1))
    finally:
        bpy.ops.wm.read_factory_settings(use_empty=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        stages.encode(work, EncoderSpec(), "cpu")
        # the walk's stepper is what these tests drive (the relational stepper: test_relational_core.py)
        stages.train(work, {"seed": 0}, {"seed": 0, "arch": "object-walk"}, "cpu")
    finally:
        torch.set_num_threads(threads)
    return work, blend


def session(workdir, **kw):
    from alive_blender.core.live.session import LiveSession
    return LiveSession(workdir, kw.pop("size", (W, H)), **kw)


def position(frame, slot):
    return frame.poses[slot, :3, 3]


def test_held_object_stays_from_the_second_tick(live_workdir):
    work, _ = live_workdir
    s = session(work, seed=1)
    for _ in range(5):
        s.step()
    cube = s.slot("Cube")
    s.step({"hold": "Cube"})
    held = s.step()   # the second tick after the hold
    frames = [s.step() for _ in range(40)]
    assert all(f.sources[cube] == held.sources[cube] for f in frames)
    assert all(np.array_equal(f.poses[cube], held.poses[cube]) for f in frames)
    others = [m for m in range(len(s.object_names)) if m != cube]
    assert len({tuple(f.sources[others]) for f in frames}) > 10, "the other objects went on moving"
    s.step({"release": "Cube"})
    moved = [s.step().sources[cube] for _ in range(5)]
    assert any(src != held.sources[cube] for src in moved), "released, it moves again"


@pytest.mark.parametrize("name", ["Cube", "Sphere", "Drum"])
def test_goal_on_the_path_halves_the_distance_within_48_ticks(live_workdir, name):
    work, _ = live_workdir
    s = session(work, seed=2)
    for _ in range(3):
        s.step()
    slot = s.slot(name)
    path = s.stepper.position[slot]                         # the object's captured positions
    now = position(s.frame, slot)
    goal = path[np.argmax(np.linalg.norm(path - now, axis=1))]   # the farthest point of its own path
    d0 = float(np.linalg.norm(now - goal))
    assert d0 > 0.1
    s.step({"goal": {"object": name, "to": goal.tolist()}})
    dists = [float(np.linalg.norm(position(s.step(), slot) - goal)) for _ in range(47)]
    assert min(dists) <= d0 / 2, f"{name}: from {d0:.3f} the nearest was {min(dists):.3f}"
    assert dists[-1] <= d0 / 2, f"{name}: it stays at the goal ({dists[-1]:.3f})"


def test_relational_goal_is_reached_and_held_live(live_workdir, tmp_path):
    """Live play drives the relational behavior's own stepper, so a goal there heads for the target
    along the captured motion and stays while it is set (core: test_relational_core.py)."""
    import shutil

    import torch

    from alive_blender.core.models.relational.stepper import RelationalStepper
    from alive_blender.core.run import stages
    work = tmp_path / "work"
    shutil.copytree(live_workdir[0], work)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        stages.train(work, {"seed": 0}, {"seed": 0, "arch": "relational", "epochs": 20}, "cpu")
    finally:
        torch.set_num_threads(threads)
    s = session(work, seed=2)
    assert isinstance(s.stepper, RelationalStepper)
    slot = s.slot("Drum")
    path = s.behavior.world[:, slot, :3, 3]
    now = position(s.step(), slot)
    goal = path[np.argmax(np.linalg.norm(path - now, axis=1))]   # the farthest point of its own path
    d0 = float(np.linalg.norm(now - goal))
    s.step({"goal": {"object": "Drum", "to": goal.tolist()}})
    d = np.array([np.linalg.norm(position(s.step(), slot) - goal) for _ in range(95)])
    arrived = int(np.flatnonzero(d <= d0 / 2)[0])
    assert arrived < 48 and (d[arrived:] <= d0 / 2).all(), d.round(2)
    s.step({"goal": {"object": "Drum", "to": None}})
    assert len({tuple(position(s.step(), slot).round(6)) for _ in range(8)}) > 1, "released, it moves again"


def test_ground_snaps_to_the_nearest_captured_arrangement(live_workdir):
    work, _ = live_workdir
    s = session(work, seed=3)
    s.step({"temperature": 3.0, "anchor": 0.0})
    for _ in range(30):
        s.step()
    st = s.stepper
    before = np.array(s.state.memory["cur"])
    assert len(set(before.tolist())) > 1, "the objects drifted out of step (else grounding shows nothing)"
    want = st.nearest_arrangement(before)
    f = s.step({"ground": True, "tempo": 0})   # tempo 0: the snap alone, no step after it
    assert f.sources.tolist() == [int(st.frames[want])] * len(f.sources)
    # what the capture showed at that frame: every object in its captured pose
    assert np.allclose(f.poses, st.matrices[np.arange(len(f.sources)), want])
    # it is the nearest: no captured frame is closer to the poses the objects had
    P = st.walk.poses
    cost = (np.linalg.norm(P - P[np.arange(len(before)), before][:, None], axis=2) / st.walk.step[:, None]).sum(0)
    assert cost[want] == cost.min()


def _deviations(frames):
    """Ticks at which some object did not simply go on to its next captured frame."""
    cur = [f.sources for f in frames]
    return sum(bool(np.any((b != a + 1) & (a + 1 < 24))) for a, b in zip(cur, cur[1:]))


def test_temperature_is_the_walks_randomness(live_workdir):
    work, _ = live_workdir

    def play(T, seed):
        s = session(work, seed=seed, points=False)
        s.step({"temperature": T, "anchor": 0.0})
        return [s.step() for _ in range(60)]

    cold = [play(0.0, seed) for seed in (0, 1)]
    assert [f.sources.tolist() for f in cold[0]] == [f.sources.tolist() for f in cold[1]], \
        "at T = 0 the seed changes nothing"
    assert _deviations(cold[0]) == 0, "at T = 0 every object plays its captured motion"
    hot = [play(2.0, seed) for seed in (0, 1)]
    assert [f.sources.tolist() for f in hot[0]] != [f.sources.tolist() for f in hot[1]]
    assert _deviations(hot[0]) > 10


def test_prompt_scores_composed_frames(live_workdir):
    work, _ = live_workdir
    s = session(work, seed=4, points=False)
    f = s.step({"prompt": "a red cube on a checkered floor"})
    assert f.prompt_score is not None and np.isfinite(f.prompt_score)
    assert s.prompt_semantic is False   # the offline encoder: a mechanism, no meaning
    assert s.step({"prompt": ""}).prompt_score is None


@pytest.mark.parametrize("density", [1.0, 0.25, None])
def test_points_are_the_composed_depth_unprojected_as_the_bake_does(live_workdir, density):
    from alive_blender.core.pointcloud import point_bytes, point_stride, unproject_frames
    work, _ = live_workdir
    s = session(work, size=(64, 48), point_density=density)
    f = s.step()
    stride = point_stride(density) if density else 2   # default: one point per captured pixel (32x24)
    assert s.stride == stride and f.rgb.shape == (48, 64, 3)
    pos, _, keep = unproject_frames(f.depth[None], f.alpha[None], s.K, s.world_from_camera, stride)
    assert np.allclose(f.positions, pos, atol=1e-5)
    assert np.array_equal(f.colors, point_bytes(f.rgb[None], keep, stride))


def test_enlarged_live_frames_match_what_decode_composes(live_workdir):
    work, _ = live_workdir
    s = session(work, size=(80, 60))
    for _ in range(3):
        f = s.step()
        ref = s.generator.compose(f.sources[None], 80, 60)   # the decode's float path
        assert np.abs(f.rgb.astype(int) - np.round(ref["rgb"][0] * 255).astype(int)).max() <= 2
        assert np.array_equal(f.depth, ref["depth"][0]) and np.array_equal(f.alpha, ref["alpha"][0])


def test_strict_inputs():
    from alive_blender.core.errors import AliveError
    from alive_blender.core.live.inputs import LiveScript, parse_script
    script = parse_script({"events": [{"tick": 60, "release": "Cube"}, {"tick": 10, "hold": "Cube"},
                                      {"tick": 80, "goal": {"object": "Sphere", "to": [1, 2, 0.5]}},
                                      {"tick": 90, "temperature": 0.5, "anchor": 0.2, "tempo": 2, "ground": True}]})
    assert [e.tick for e in script.events] == [10, 60, 80, 90]
    assert script.events[2].goal == ("Sphere", (1.0, 2.0, 0.5))
    bad = [({"events": [{"tick": 1, "hold": "Cube", "hodl": 1}]}, "hodl"),
           ({"events": [{"hold": "Cube"}]}, "no tick"),
           ({"events": [{"tick": 1}]}, "does nothing"),
           ({"events": [{"tick": 1, "tempo": 99}]}, "tempo"),
           ({"events": [{"tick": 1, "anchor": 2}]}, "anchor"),
           ({"events": [{"tick": 1, "goal": {"object": "Sphere", "to": [1, 2]}}]}, "goal"),
           ({"events": [], "extra": 1}, "extra")]
    for data, word in bad:
        with pytest.raises(AliveError, match=word):
            parse_script(data)
    with pytest.raises(AliveError, match="Teapot"):
        LiveScript(parse_script({"events": [{"tick": 1, "hold": "Teapot"}]}).events).check_objects(["Cube"])


def test_a_behavior_without_a_stepper_is_refused_clearly(live_workdir):
    from alive_blender.core.errors import AliveError
    from alive_blender.core.live.steppers import WalkStepper, stepper_for
    from alive_blender.core.models.behavior import Behavior, BehaviorConfig
    from alive_blender.core.run import stages
    work, _ = live_workdir
    with pytest.raises(AliveError, match="'original-vae' cannot be played live") as err:
        stepper_for(Behavior(BehaviorConfig(arch="original-vae"), 512, "cpu"), None)
    assert "object-walk" in err.value.hint
    walk = stages.load_behavior(work)
    assert isinstance(stepper_for(walk, stages.load_generator(work)), WalkStepper)

    class Relational:   # a behavior that offers its own stepper is stepped through it
        def stepper(self):
            return "its own"
    assert stepper_for(Relational(), None) == "its own"


def test_recorded_take_bakes_and_reopens_as_played(live_workdir, tmp_path):
    import bpy

    from alive_blender.blender.bake.from_workdir import bake_from_workdir
    from alive_blender.blender.bake.points import BakeSettings
    from alive_blender.core.live.record import TakeRecorder
    work, blend = live_workdir
    s = session(work, seed=5)
    rec = TakeRecorder(s)
    played = []
    for t in range(8):
        f = s.step({"hold": "Cube"} if t == 2 else {"ground": True} if t == 5 else None)
        rec.add(f)
        played.append(f)
    info = rec.write(tmp_path / "take.npy")
    assert np.load(tmp_path / "take.npy").shape == (1, 8, 512)
    assert np.load(tmp_path / "take.states.npy").shape == (1, 8, 3)
    assert np.load(tmp_path / "take.poses.npy").shape == (1, 8, 3, 4, 4)
    assert info["start_frame"] == s.start_sample
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    try:
        res = bake_from_workdir(bpy.context.scene, work, BakeSettings(name="take", width=W, height=H,
                                                                              point_bake="per-frame"),
                                rollout_file=tmp_path / "take.npy", blend_dir=tmp_path, device="cpu")
        out = tmp_path / "baked.blend"
        bpy.ops.wm.save_as_mainfile(filepath=str(out))
    finally:
        bpy.ops.wm.read_factory_settings(use_empty=True)
    decoded = np.load(f"{res['decoded_dir']}/rgb.npy")
    for f, d in zip(played, decoded):   # the decode composes the recorded states: the frames played
        assert np.array_equal(d, f.rgb)   # at the capture's size: exactly
    assert res["points_per_frame"] == [len(f.positions) for f in played]
    frames = [1, 4, 8]
    r = run_script("check_bake.py", out, json.dumps({"points_object": res["points_object"], "point_frames": frames}))
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.split("RESULT", 1)[1].splitlines()[0])["points"]
    for fr in frames:   # reopened without the add-on: the points of the tick played
        pts = np.array(got[str(fr)]["pos"], np.float32)
        live = played[fr - 1].positions
        assert len(pts) == len(live)
        assert np.allclose(np.sort(pts, axis=0), np.sort(live, axis=0), atol=1e-4)


def test_headless_command_reports_latency_and_memory(live_workdir, tmp_path):
    work, _ = live_workdir
    script = tmp_path / "inputs.json"
    script.write_text(json.dumps({"events": [{"tick": 3, "hold": "Cube"}, {"tick": 8, "release": "Cube"},
                                             {"tick": 10, "goal": {"object": "Sphere", "to": [1.4, -0.2, 1.8]}}]}))
    res = run_cli("live", work, "--headless", "--ticks", 20, "--size", "40x30", "--inputs", script,
                  "--record", tmp_path / "take.npy", "--json", timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    assert out["ticks"] == 20 and out["size"] == [40, 30] and out["events"] == 3
    for key in ("latency_ms", "step_latency_ms", "compose_latency_ms", "points_latency_ms"):
        assert set(out[key]) == {"median", "p95", "max"}
        assert 0 < out[key]["median"] <= out[key]["p95"] <= out[key]["max"] or key != "latency_ms"
    assert {"start", "end", "growth"} <= set(out["memory_mb"])
    assert out["record"]["shape"][1] == 20 and (tmp_path / "take.states.npy").exists()
    bad = run_cli("live", work, "--headless", "--ticks", 5, "--inputs", tmp_path / "missing.json", "--json")
    assert bad.returncode == 2 and "not found" in json.loads(bad.stdout)["error"]
    ui = run_cli("live", work, "--ticks", 5)
    assert ui.returncode == 2 and "Play Live" in ui.stderr


def test_live_tick_updates_the_points_object_and_card_in_place(live_workdir, tmp_path):
    import bpy

    from alive_blender.blender.bake.tags import bake_counts
    from alive_blender.blender.live.view import FRAME_IMAGE, LiveView, live_tick
    from alive_blender.core.live.record import TakeRecorder
    work, blend = live_workdir
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    try:
        scene = bpy.context.scene
        before = bake_counts()
        s = session(work, seed=6, size=(40, 30))
        view = LiveView.create(scene, s)
        obj, img = view.points_object, view.image
        rec = TakeRecorder(s)
        seen = []
        for t in range(6):
            out = live_tick(view, s, {"hold": "Sphere"} if t == 1 else None, rec, dropped=1 if t == 3 else 0)
            f = out["frame"]
            assert scene.objects["Alive Live Points"] == obj and obj.data.name == "Alive Live Points"
            mesh = obj.data
            assert len(mesh.vertices) == len(f.positions)
            pos = np.empty(len(mesh.vertices) * 3, np.float32)
            mesh.attributes["position"].data.foreach_get("vector", pos)
            assert np.allclose(pos.reshape(-1, 3), f.positions)
            cols = np.empty(len(mesh.vertices) * 4, np.float32)
            mesh.attributes["alive_rgb"].data.foreach_get("color_srgb", cols)
            assert np.abs(cols.reshape(-1, 4)[:, :3] * 255 - f.colors[:, :3]).max() < 0.6
            # the evaluated object shows exactly these points (Mesh to Points in the modifier)
            from alive_blender.blender import compat
            ev = compat.evaluated_point_attributes(obj, ("alive_rgb",))
            assert len(ev["position"]) // 3 == len(f.positions)
            px = np.empty(40 * 30 * 4, np.float32)
            bpy.data.images[FRAME_IMAGE].pixels.foreach_get(px)
            shown = px.reshape(30, 40, 4)[::-1, :, :3]
            assert np.abs(shown * 255 - f.rgb).max() < 0.01
            assert out["timings"]["scene_ms"] > 0 and out["timings"]["tick_ms"] >= out["timings"]["scene_ms"]
            seen.append(f.sources.copy())
        assert len({tuple(x) for x in seen}) > 1, "the live scene moves"
        assert len(rec) == 6 and img.name == FRAME_IMAGE
        view.remove()
        assert bake_counts() == before, "stopping leaves the scene as it was"
        assert "Alive Live Points" not in scene.objects
    finally:
        bpy.ops.wm.read_factory_settings(use_empty=True)


def test_play_live_state_and_record_take_through_the_addon(live_workdir, tmp_path):
    """What Play Live sets up (start_live), its ticks, Record Take through bpy.ops, and the stop."""
    import bpy

    import alive_blender
    from alive_blender.blender.live.operator import LIVE, start_live, stop_live
    from alive_blender.blender.live.view import live_tick
    work, blend = live_workdir
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    entry = bpy.context.preferences.addons.new()
    entry.module = "alive_blender"
    alive_blender.register()
    try:
        scene = bpy.context.scene
        scene.alive.workdir = str(work)
        stop_live(keep_take=False)
        with pytest.raises(RuntimeError, match="Play Live first"):
            bpy.ops.alive.record_take()
        session, view = start_live(scene, (W, H))
        for t in range(5):
            live_tick(view, session, {"goal": {"object": "Drum", "to": [0, 0, 0.5]}} if t == 1 else None,
                      LIVE["recorder"])
        bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))   # the sequence goes beside it
        assert bpy.ops.alive.record_take() == {"FINISHED"}
        take = f"{scene.alive.bake_name}_take"
        assert f"Alive {take}" in bpy.data.collections
        assert np.load(work / "live" / "take.states.npy").shape == (1, 5, 3)
        stop_live()
        assert "Alive Live" not in bpy.data.collections and "Alive Live Points" not in bpy.data.objects
        assert f"Alive {take}" in bpy.data.collections, "the recorded bake stays"
    finally:
        stop_live(keep_take=False)
        alive_blender.unregister()
        bpy.context.preferences.addons.remove(entry)
        bpy.ops.wm.read_factory_settings(use_empty=True)


def test_keys_and_dropped_frames(live_workdir):
    """What Play Live's keys ask of the session (key_inputs), and a slow tick's dropped frames."""
    import bpy  # noqa: F401  (the operator module is Blender's)

    from alive_blender.blender.live.operator import key_inputs
    work, _ = live_workdir
    s = session(work, seed=7, points=False)
    s.step({"temperature": 1.0})
    picked, inputs, handled = key_inputs(s, 0, "TAB")
    assert (picked, inputs, handled) == (1, [], True)
    name = s.object_names[picked]
    _, inputs, _ = key_inputs(s, picked, "H")
    s.step(inputs)
    assert picked in s.controls.held
    _, inputs, _ = key_inputs(s, picked, "H")
    assert inputs == [{"release": name}]
    for key, want in (("NUMPAD_PLUS", 1.25), ("EQUAL", 1.25), ("MINUS", 0.75)):
        _, inputs, _ = key_inputs(s, picked, key)
        assert inputs == [{"temperature": want}]
    _, inputs, _ = key_inputs(s, picked, "G")
    assert inputs == [{"ground": True}]
    assert key_inputs(s, picked, "Q") == (picked, [], False)
    # a slow tick: the due ticks are stepped, not shown (T = 0: each step is the next captured frame)
    from alive_blender.blender.live.view import LiveView, live_tick
    bpy.ops.wm.read_factory_settings(use_empty=True)
    s2 = session(work, seed=7, start=0)
    s2.step({"temperature": 0.0, "anchor": 0.0})
    view = LiveView.create(bpy.context.scene, s2)
    try:
        before = s2.frame.sources.copy()
        shown = view.ticks
        after = live_tick(view, s2, None, dropped=2)["frame"].sources
        assert np.array_equal(after, before + 3) and view.ticks == shown + 1   # three steps, one frame shown
    finally:
        view.remove()
