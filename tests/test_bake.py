"""Bake in real bpy: bake in this process, save, then reopen the .blend in a
fresh interpreter where the add-on is NOT registered and check what plays back
(evaluated geometry-nodes points, Cycles renders of the textures)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import run_script

# reopen a .blend without the add-on; evaluate points / render frames; print JSON


def check_blend(path: Path, **args) -> dict:
    res = run_script("check_bake.py", path, json.dumps(args))
    if res.returncode < 0 and args.get("engine") == "BLENDER_EEVEE":
        pytest.skip(f"EEVEE could not start here (no OpenGL; process died with signal {-res.returncode})")
    assert res.returncode == 0, res.stderr[-3000:]
    data = json.loads(res.stdout.split("RESULT", 1)[1].splitlines()[0])
    data["points"] = {int(k): v for k, v in data["points"].items()}
    data["renders"] = {int(k): v for k, v in data["renders"].items()}
    return data


def camera_scene(bpy, width=16, height=12, shift=(0.05, -0.03), fit="VERTICAL"):
    """Empty scene with a shifted, non-trivially fitted camera; returns (scene, cam, K, pose)."""
    from alive_blender.blender.capture.render import camera_params
    from alive_blender.core.camera import intrinsics, strip_scale
    scene = bpy.context.scene
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    scene.collection.objects.link(cam)
    scene.camera = cam
    cam.data.lens, cam.data.sensor_fit = 35.0, fit
    cam.data.shift_x, cam.data.shift_y = shift
    cam.location, cam.rotation_euler = (0.3, -6.0, 2.0), (1.3, 0.0, 0.1)
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.frame_start, scene.frame_end = 1, 24
    bpy.context.view_layer.update()
    return scene, cam, intrinsics(camera_params(scene, cam, width, height)), strip_scale(np.array(cam.matrix_world))


def synthetic_frames(n=5, width=16, height=12, seed=0):
    """Distinct solid-ish colours per frame, random depth, random alpha holes."""
    rng = np.random.default_rng(seed)
    base = np.array([[220, 30, 30], [30, 200, 40], [40, 60, 230], [230, 220, 40], [200, 40, 220]], np.uint8)
    rgb = np.repeat(base[np.arange(n) % len(base), None, None, :], height, 1).repeat(width, 2)
    rgb = np.clip(rgb.astype(int) + rng.integers(-20, 20, rgb.shape), 0, 255).astype(np.uint8)
    depth = rng.uniform(3.0, 6.0, (n, height, width)).astype(np.float32)
    alpha = (rng.random((n, height, width)) > 0.25).astype(np.float32)
    depth[:, 0, :] = np.inf  # background rows never become points
    return {"rgb": rgb, "depth": depth, "alpha": alpha}


def reference_points(decoded, i, K, pose):
    """Frame i's points the slow, obvious way (the foundation's per-frame unproject)."""
    from alive_blender.blender.bake.points import srgb_to_linear
    from alive_blender.core.camera import unproject
    d, a = decoded["depth"][i], decoded["alpha"][i]
    keep = (a > 0.5) & np.isfinite(d) & (d > 0)
    with np.errstate(invalid="ignore"):
        world = unproject(np.where(keep, d, 1.0), K, pose)
    return world[keep], srgb_to_linear(decoded["rgb"][i][keep])


def save(path):
    from alive_blender.blender.scenefile import save_blend
    return save_blend(path)


def test_points_reopened_match_decoded_and_hold_on_twos(fresh_bpy, tmp_path):
    from alive_blender.blender.bake.points import BakeSettings, bake
    scene, cam, K, pose = camera_scene(fresh_bpy)
    decoded = synthetic_frames()
    settings = BakeSettings(name="pts", start=3, hold=2, texture=False, card=False)
    result = bake(scene, decoded, K, pose, settings, blend_dir=tmp_path)
    assert result["frames"] == [3, 12] and result["hold"] == 2
    out = save(tmp_path / "pts.blend")
    # generated frame i is shown on scene frames 3+2i and 4+2i; nothing outside 3..12
    frames = [2, 3, 4, 5, 7, 11, 12, 13]
    data = check_blend(out, points_object=result["points_object"], point_frames=frames)["points"]
    assert data[2]["count"] == 0 and data[13]["count"] == 0
    for f, i in [(3, 0), (4, 0), (5, 1), (7, 2), (11, 4), (12, 4)]:
        pos, rgb = reference_points(decoded, i, K, pose)
        assert data[f]["count"] == len(pos) == result["points_per_frame"][i] > 0
        np.testing.assert_allclose(np.array(data[f]["pos"]), pos, atol=1e-4)
        np.testing.assert_allclose(np.array(data[f]["rgb"]), rgb, atol=1e-5)
        assert data[f]["radius"] == pytest.approx(result["radius"], rel=1e-5)
    assert data[3] == data[4] and data[11] == data[12]          # on twos: each frame held twice
    assert data[4]["pos"] != data[5]["pos"]


@pytest.mark.timeout(60)
def test_modifier_inputs_are_the_ones_evaluation_reads(fresh_bpy):
    """Every points-modifier input reads back what the bake set, and the scene
    evaluates. (5.2 moved the inputs to ``mod.properties.inputs.<id>.value``;
    item assignment there was ignored for numbers and deadlocked the depsgraph
    for ID pointers.)"""
    from alive_blender.blender import compat
    from alive_blender.blender.bake.points import BakeSettings, bake, modifier_input
    scene, cam, K, pose = camera_scene(fresh_bpy)
    result = bake(scene, synthetic_frames(n=2), K, pose,
                  BakeSettings(name="mi", start=7, hold=3, radius=0.02, texture=False, card=False))
    obj = scene.objects[result["points_object"]]
    mod = obj.modifiers["Alive Points"]
    got = {name: compat.get_modifier_input(mod, modifier_input(mod, name))
           for name in ("Radius", "Start", "Hold", "Material", "Frame Table")}
    assert got["Radius"] == pytest.approx(0.02) and (got["Start"], got["Hold"]) == (7, 3)
    assert got["Material"].name == "Alive Points mi" and got["Frame Table"].name == "Alive Frame Table mi"
    scene.frame_set(7)
    points = compat.evaluated_point_attributes(obj, ())["position"]
    assert len(points) == 3 * result["points_per_frame"][0] > 0


def test_per_frame_poses_and_pointcloud_object(fresh_bpy, tmp_path):
    """One camera pose per generated frame; the points as a Point Cloud object."""
    from alive_blender.blender.bake.points import BakeSettings, bake
    scene, cam, K, pose = camera_scene(fresh_bpy)
    decoded = synthetic_frames(n=3)
    poses = np.stack([pose] * 3)
    poses[1, :3, 3] += [0.0, 0.0, 1.5]
    poses[2, :3, 3] += [2.0, 0.0, 0.0]
    from alive_blender.blender import compat
    from alive_blender.core.errors import AliveError
    settings = BakeSettings(name="pc", start=1, texture=False, card=False, pointcloud_object=True)
    if not compat.can_convert_to_pointcloud():   # Blender 4.2: refused up front, the mesh form instead
        with pytest.raises(AliveError, match="need Blender 4.3"):
            bake(scene, decoded, K, poses, settings)
        settings.pointcloud_object = False
    result = bake(scene, decoded, K, poses, settings)
    assert scene.objects[result["points_object"]].type == ("POINTCLOUD" if settings.pointcloud_object else "MESH")
    out = save(tmp_path / "pc.blend")
    data = check_blend(out, points_object=result["points_object"], point_frames=[1, 2, 3])["points"]
    for i in range(3):
        pos, _ = reference_points(decoded, i, K, poses[i])
        np.testing.assert_allclose(np.array(data[i + 1]["pos"]), pos, atol=1e-4)


def test_unprojected_render_of_known_plane_lands_on_it(fresh_bpy, tmp_path):
    """Render a ground plane (z = 0) through a shifted camera, bake the capture
    itself as the 'decoded' frame: every reopened point lies on the plane."""
    from alive_blender.blender.bake.points import BakeSettings, bake
    from alive_blender.blender.capture.render import CaptureSettings, capture
    from alive_blender.core.workdir.dataset import load_capture
    bpy = fresh_bpy
    scene, cam, _, _ = camera_scene(bpy, width=32, height=24, shift=(0.1, 0.08), fit="AUTO")
    bpy.ops.mesh.primitive_plane_add(size=20.0, location=(0, 0, 0))
    capture(scene, tmp_path / "work", CaptureSettings(frame_start=1, frame_end=1, width=32, height=24, samples=1))
    cap = load_capture(tmp_path / "work")
    decoded = {"rgb": cap.rgb, "depth": cap.depth, "alpha": cap.alpha}
    assert 0 < cap.alpha.sum() < cap.alpha.size  # the horizon is in view: some background
    result = bake(scene, decoded, cap.K(0), cap.world_from_camera(0),
                  BakeSettings(name="plane", start=1, texture=False, card=False))
    out = save(tmp_path / "plane.blend")
    data = check_blend(out, points_object=result["points_object"], point_frames=[1])["points"][1]
    assert data["count"] == int((cap.alpha > 0.5).sum())
    pos = np.array(data["pos"])
    assert np.abs(pos[:, 2]).max() < 2e-3
    assert np.abs(pos[:, :2]).max() <= 10.0 + 1e-3


@pytest.mark.parametrize("mode", ["sequence", "atlas"])
def test_texture_shows_each_frame(fresh_bpy, tmp_path, mode):
    """The card in the capture frustum renders generated frame i at its scene
    frames (Cycles, tiny). The atlas .blend renders alone in an empty folder."""
    from alive_blender.blender.bake.points import BakeSettings, bake
    scene, cam, K, pose = camera_scene(fresh_bpy)
    decoded = synthetic_frames(n=4)
    settings = BakeSettings(name="tex", start=1, hold=2, points=False, texture_mode=mode, card=True, world=True)
    result = bake(scene, decoded, K, pose, settings, blend_dir=tmp_path / "a")
    out = save(tmp_path / "a" / "tex.blend")
    if mode == "sequence":
        assert (tmp_path / "a" / "alive_tex" / "frame_00004.png").exists()
    else:
        assert not (tmp_path / "a" / "alive_tex").exists()
        alone = tmp_path / "b" / "tex.blend"
        alone.parent.mkdir()
        shutil.copyfile(out, alone)
        shutil.rmtree(tmp_path / "a")
        out = alone
    (tmp_path / "r").mkdir()
    data = check_blend(out, render_frames=[1, 2, 3, 7], render_objects=[result["card_object"]],
                       camera_pose=pose.tolist(), size=[16, 12], render_dir=str(tmp_path / "r"),
                       world_frames=[2, 5])
    (image,) = data["images"].values()
    if mode == "sequence":
        assert image == ["SEQUENCE", "//alive_tex/frame_00001.png", False, True]
    else:
        assert image[0] == "GENERATED" or image[2]  # packed: nothing on disk needed
        assert image[2] is True
    r = {f: np.array(v) for f, v in data["renders"].items()}
    expect = decoded["rgb"].reshape(4, -1, 3).mean(1) / 255.0
    for f, i in [(1, 0), (2, 0), (3, 1), (7, 3)]:
        np.testing.assert_allclose(r[f], expect[i], atol=0.03)
    assert np.abs(r[1] - r[3]).max() > 0.3  # different images at two frames
    # the same frames as the world background, seen through the capture camera
    np.testing.assert_allclose(data["world"]["2"], expect[0], atol=0.03)
    np.testing.assert_allclose(data["world"]["5"], expect[2], atol=0.03)


def test_points_render_their_colour(fresh_bpy, tmp_path, engine="CYCLES"):
    """The points material reads alive_rgb in Cycles (it reads black from an attribute named 'color').
    EEVEE (engine="BLENDER_EEVEE") shows it too, but software OpenGL shader compilation takes
    minutes on a shared 2-core machine, so the suite renders Cycles only."""
    from alive_blender.blender.bake.points import BakeSettings, bake
    scene, cam, K, pose = camera_scene(fresh_bpy)
    decoded = synthetic_frames(n=2)
    decoded["alpha"][:] = 1.0
    decoded["depth"][:] = 4.0
    result = bake(scene, decoded, K, pose, BakeSettings(name="col", start=1, texture=False, card=False,
                                                        radius=4.0 / K[0, 0] * 1.2))
    out = save(tmp_path / "col.blend")
    (tmp_path / "r").mkdir()
    data = check_blend(out, render_frames=[1, 2], render_objects=[result["points_object"]],
                       camera_pose=pose.tolist(), size=[16, 12], render_dir=str(tmp_path / "r"), engine=engine)
    expect = decoded["rgb"].reshape(2, -1, 3).mean(1) / 255.0
    np.testing.assert_allclose(data["renders"][1], expect[0], atol=0.05)
    np.testing.assert_allclose(data["renders"][2], expect[1], atol=0.05)


def test_footage_without_depth_flat_card_of_points(fresh_bpy, tmp_path):
    from alive_blender.blender.bake.points import BakeSettings, bake
    from alive_blender.core.run.protocol import Reporter
    scene, cam, K, pose = camera_scene(fresh_bpy)
    decoded = synthetic_frames(n=2)
    decoded["depth"] = None
    msgs = []
    result = bake(scene, decoded, K, pose, BakeSettings(name="foot", card_distance=4.0, texture_mode="atlas"),
                  reporter=Reporter(msgs.append))
    assert result["points_flat"] and "card_object" in result
    warnings = [m["message"] for m in msgs if m["type"] == "warning"]
    assert any("no depth" in w and "flat card" in w for w in warnings)
    from alive_blender.core.camera import project
    obj = scene.objects[result["points_object"]]
    n = len(obj.data.vertices)
    pos = np.zeros(n * 3, np.float32)
    obj.data.attributes["position"].data.foreach_get("vector", pos)
    _, z = project(pos.reshape(-1, 3), K, pose)
    np.testing.assert_allclose(z, 4.0, atol=1e-4)


def test_rebake_replaces_exactly_what_it_made(fresh_bpy, tmp_path):
    from alive_blender.blender.bake.points import BakeSettings, bake, bake_counts
    from alive_blender.blender import compat
    bpy = fresh_bpy
    scene, cam, K, pose = camera_scene(bpy)
    bpy.ops.mesh.primitive_cube_add()
    cube = bpy.context.active_object
    user_mat = bpy.data.materials.new("UserMaterial")
    cube.data.materials.append(user_mat)
    user_world = bpy.data.worlds.new("UserWorld")
    scene.world = user_world
    decoded = synthetic_frames(n=3)
    traj = (np.random.default_rng(0).normal(size=(6, 8)), np.random.default_rng(1).normal(size=(2, 4, 8)))

    def full(name, mode):
        return BakeSettings(name=name, start=1, hold=2, texture_mode=mode, card=True, world=True,
                            target_object=cube.name, pointcloud_object=compat.can_convert_to_pointcloud(),
                            trajectory=True)

    before = bake_counts()
    bake(scene, decoded, K, pose, full("a", "atlas"), blend_dir=tmp_path, trajectory=traj)
    after_a = bake_counts()
    assert after_a["objects"] > before["objects"] and after_a["images"] == before["images"] + 1
    bake(scene, decoded, K, pose, full("b", "sequence"), blend_dir=tmp_path, trajectory=traj)
    after_b = bake_counts()
    for _ in range(2):  # re-bake "a" (twice): counts of everything stay as they were
        bake(scene, decoded, K, pose, full("a", "atlas"), blend_dir=tmp_path, trajectory=traj)
        assert bake_counts() == after_b
    assert {c.name for c in scene.collection.children} == {"Alive a", "Alive b"}
    assert "Alive a Trajectory" in bpy.data.collections["Alive a"].children
    # a re-bake of "b" restores the world/material "b" replaced before replacing them again
    from alive_blender.blender.bake.points import remove_bake
    remove_bake("a")
    remove_bake("b")
    assert bake_counts() == before
    assert scene.world == user_world and cube.data.materials[0] == user_mat
    assert user_mat.name in bpy.data.materials


# ----------------------------------------------------------------------------- the CLI on a real work directory

def test_cli_bake_atlas_renders_after_workdir_is_deleted(tiny_blend, tiny_workdir, tmp_path):
    from conftest import run_cli
    work = tmp_path / "work"
    shutil.copytree(tiny_workdir, work)
    out = tmp_path / "out" / "baked.blend"
    res = run_cli("--json", "bake", tiny_blend, work, "--rollout", work / "rollout" / "rollout.npy",
                  "--name", "v2", "--points", "--texture", "atlas", "--card", "--hold", "2", "--start", "10",
                  "--density", "2", "--allow-upscale", "--trajectory", "--point-bake", "per-frame", "--save", out)
    assert res.returncode == 0, res.stderr[-3000:]
    result = json.loads(res.stdout)
    assert result["frames"] == [10, 19] and result["size"] == [48, 32]  # density 2: twice the training size
    assert result["upscaled"] is True                                    # above the 24x16 capture: asked for
    assert len(result["trajectory"]["objects"]) == 3                    # observed + 2 rollout variations
    decoded = {k: np.load(Path(result["decoded_dir"]) / f"{k}.npy") for k in ("rgb", "depth", "alpha")}
    shutil.rmtree(work)                                                  # nothing but the .blend is left
    assert sorted(p.name for p in out.parent.iterdir()) == ["baked.blend"]
    (tmp_path / "r").mkdir()
    data = check_blend(out, points_object=result["points_object"], point_frames=[10, 11, 18],
                       render_frames=[10, 11, 18], render_objects=[result["card_object"]],
                       camera_pose=result["start_pose"], size=[48, 32], render_dir=str(tmp_path / "r"))
    per_frame = result["points_per_frame"]
    assert data["points"][10]["count"] == data["points"][11]["count"] == per_frame[0] > 0
    assert data["points"][18]["count"] == per_frame[4]
    expect = decoded["rgb"].reshape(5, -1, 3).mean(1) / 255.0
    for f, i in [(10, 0), (11, 0), (18, 4)]:
        np.testing.assert_allclose(data["renders"][f], expect[i], atol=0.03)


def test_cli_bake_bad_input_is_clean(tiny_blend, tiny_workdir, tmp_path):
    from conftest import run_cli
    out = tmp_path / "o.blend"
    for args, words in [(["--hold", "0"], ["hold must be at least 1"]),
                        (["--rollout", tmp_path / "none.npy"], ["rollout file not found"]),
                        (["--object", "NoSuchObject"], ["NoSuchObject", "not a mesh"])]:
        res = run_cli("bake", tiny_blend, tiny_workdir, *args, "--save", out)
        assert res.returncode == 2, res.stderr[-2000:]
        last = res.stderr.strip().splitlines()[-1]
        assert last.startswith("alive: error:") and all(w in last for w in words), last
        assert not out.exists()
    res = run_cli("bake", tiny_blend, tmp_path / "nowork", "--save", out)
    assert res.returncode == 2 and "not a work directory" in res.stderr


def test_bake_operator_is_undoable_and_bakes(tiny_blend, tiny_workdir, tmp_path):
    res = run_script("bake_operator.py", tiny_blend, tiny_workdir)
    assert res.returncode == 0, res.stderr[-3000:]
    data = json.loads(res.stdout.split("RESULT", 1)[1].splitlines()[0])
    # the default point bake: one 3-D cloud per moving object + the background, beside the card
    assert data == {"ret": ["FINISHED"], "objects": ["Alive Card ui", "Alive Cloud ui Cube", "Alive Cloud ui Drum",
                                                     "Alive Cloud ui Sphere", "Alive Cloud ui background"]}


def test_failed_bake_leaves_the_scene_as_it_was(fresh_bpy, tmp_path):
    from alive_blender.blender.bake.points import BakeSettings, bake, bake_counts
    from alive_blender.core.errors import AliveError
    scene, cam, K, pose = camera_scene(fresh_bpy)
    decoded = synthetic_frames(n=2)
    bake(scene, decoded, K, pose, BakeSettings(name="keep", texture_mode="atlas"))
    before = bake_counts()
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    bad = [(BakeSettings(name="keep", texture_mode="sequence"), {"blend_dir": blocker / "sub"}, "cannot write"),
           (BakeSettings(name="keep", hold=0), {}, "hold must be at least 1"),
           (BakeSettings(name="keep", texture_mode="gif"), {}, "unknown texture mode"),
           (BakeSettings(name="keep", target_object="Nope"), {}, "not a mesh"),
           (BakeSettings(name=" keep"), {}, "bad bake name")]
    for settings, kw, words in bad:
        with pytest.raises(AliveError, match=words):
            bake(scene, decoded, K, pose, settings, **kw)
        assert bake_counts() == before  # the earlier bake of that name is still there, whole
    with pytest.raises(AliveError, match="camera pose"):
        bake(scene, decoded, K, np.stack([pose] * 3), BakeSettings(name="keep"))
    assert bake_counts() == before
