"""object-layers + object-walk: invented frames are new arrangements of captured objects.

A tiny combination scene: two objects on cyclic paths of 3 and 4 frames (12
configurations); the first 6 frames are captured (Workbench, object ids from
the one-sample Cycles id render), so half of the configurations are never
seen. The rollout must reach unseen ones, decode them within tau of their real
render, and bake each object with its captured shape.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli, run_python

PERIODS = {"A_Cube": 3, "B_Ball": 4}
SIZE = "40x30"


def save_combination_scene(path: Path) -> Path:
    code = f"""
import bpy, bmesh, math, sys
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.frame_start, scene.frame_end = 1, 12
floor = bpy.data.meshes.new("Floor")
floor.from_pydata([(-4, -4, 0), (4, -4, 0), (4, 4, 0), (-4, 4, 0)], [], [[0, 1, 2, 3]])
scene.collection.objects.link(bpy.data.objects.new("Floor", floor))
def body(name, make, colour):
    bm = bmesh.new(); make(bm); me = bpy.data.meshes.new(name); bm.to_mesh(me); bm.free()
    ob = bpy.data.objects.new(name, me); ob.color = colour; scene.collection.objects.link(ob); return ob
a = body("A_Cube", lambda bm: bmesh.ops.create_cube(bm, size=1.0), (1, 0.2, 0.1, 1))
b = body("B_Ball", lambda bm: bmesh.ops.create_uvsphere(bm, u_segments=12, v_segments=8, radius=0.5), (0.1, 0.4, 1, 1))
for f in range(1, 13):
    t = f - 1
    a.location = (-1.2 + 0.8 * math.cos(2 * math.pi * t / 3), 0.8 * math.sin(2 * math.pi * t / 3), 0.5)
    a.keyframe_insert("location", frame=f)
    b.location = (1.2, -0.5 + 1.0 * math.cos(2 * math.pi * t / 4), 0.8 + 0.5 * math.sin(2 * math.pi * t / 4))
    b.keyframe_insert("location", frame=f)
cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
cam.location = (0, -7, 5); cam.rotation_euler = (math.radians(55), 0, 0)
scene.collection.objects.link(cam); scene.camera = cam
sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
sun.rotation_euler = (math.radians(30), 0, math.radians(20)); scene.collection.objects.link(sun)
scene.display.shading.color_type = "OBJECT"
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
"""
    res = run_python(code, path)
    assert res.returncode == 0, res.stderr
    return path


def configuration(sample_index: int, name: str) -> int:
    return sample_index % PERIODS[name]


def psnr(a, b) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 99.0 if mse < 1e-12 else 10 * np.log10(1.0 / mse)


@pytest.fixture(scope="module")
def combination_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("layers")
    blend = save_combination_scene(root / "combo.blend")
    work = root / "work"
    res = run_cli("--json", "run", blend, "--out", work, "--frames", "1-6", "--resolution", SIZE,
                  "--engine", "WORKBENCH", "--rollout-frames", "40", "--point-bake", "per-frame", timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    # the real renders of all 12 configurations, for comparison
    truth = root / "truth"
    res = run_cli("capture", blend, "--out", truth, "--frames", "1-12", "--resolution", SIZE,
                  "--engine", "WORKBENCH", timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return root, blend, work, truth


@pytest.mark.timeout(600)
def test_capture_stores_object_ids_and_poses(combination_run):
    from alive_blender.core.workdir.dataset import load_capture
    _, _, work, _ = combination_run
    cap = load_capture(work)
    assert cap.meta["format"] == 3 and cap.meta["has_ids"]
    names = cap.meta["object_ids"]
    assert sorted(names.values()) == ["A_Cube", "B_Ball", "Floor"]
    assert cap.ids.shape == cap.rgb.shape[:3] and cap.ids.dtype == np.uint16
    for oid, name in names.items():
        assert (cap.ids == int(oid)).any(), f"{name} is never seen in the id images"
    ball = int(next(k for k, v in names.items() if v == "B_Ball"))
    assert not np.allclose(cap.object_matrices(ball)[0], cap.object_matrices(ball)[1])


@pytest.mark.timeout(600)
def test_walk_reaches_unseen_configurations_that_look_real(combination_run):
    from alive_blender.core.workdir.dataset import load_capture
    _, _, work, truth = combination_run
    cap = load_capture(work)
    real = load_capture(truth)
    info = json.loads((work / "rollout" / "rollout.json").read_text())
    assert info["behavior"] == "object-walk"
    names = [cap.meta["object_ids"][str(o)] for o in info["objects"]]
    assert sorted(names) == ["A_Cube", "B_Ball"]       # the floor does not move: background
    states = np.load(work / "rollout" / "rollout.states.npy")[0]
    decoded = np.load(work / "decoded" / "rgb.npy").astype(np.float32) / 255.0
    real_rgb = real.rgb.astype(np.float32) / 255.0
    # configuration (phase of A, phase of B) -> its real render (frames 1..12 show all 12)
    config_of = {tuple(configuration(i, n) for n in names): i for i in range(12)}
    seen = {tuple(configuration(i, n) for n in names) for i in range(6)}
    # tau: median PSNR between each real configuration and its nearest other one
    pair = np.array([[psnr(real_rgb[i], real_rgb[j]) if i != j else -np.inf for j in range(12)] for i in range(12)])
    tau = float(np.median(pair.max(1)))
    invented = [(t, tuple(configuration(int(s), n) for s, n in zip(states[t], names))) for t in range(len(states))]
    unseen = [(t, c) for t, c in invented if c not in seen]
    assert unseen, "the walk never left the captured configurations"
    scores = [psnr(decoded[t], real_rgb[config_of[c]]) for t, c in unseen]
    assert np.median(scores) >= tau, (scores, tau)
    # a plain cross-fade of two captured frames is no real frame: the same test refuses it
    fade = 0.5 * (real_rgb[0] + real_rgb[1])
    assert max(psnr(fade, real_rgb[i]) for i in range(12)) < tau


@pytest.mark.timeout(600)
def test_baked_points_of_an_invented_frame_keep_each_objects_shape(combination_run):
    from scipy.spatial import cKDTree

    from alive_blender.core.camera import unproject
    from alive_blender.core.run.stages import load_models
    from alive_blender.core.workdir.dataset import load_capture
    root, _, work, truth = combination_run
    cap = load_capture(work)
    real = load_capture(truth)
    gen, _, _ = load_models(work)
    info = json.loads((work / "rollout" / "rollout.json").read_text())
    names = [cap.meta["object_ids"][str(o)] for o in info["objects"]]
    states = np.load(work / "rollout" / "rollout.states.npy")[0]
    seen = {tuple(configuration(i, n) for n in names) for i in range(6)}
    t = next(t for t in range(len(states))
             if tuple(configuration(int(s), n) for s, n in zip(states[t], names)) not in seen)
    config = tuple(configuration(int(s), n) for s, n in zip(states[t], names))
    truth_index = next(i for i in range(12) if tuple(configuration(i, n) for n in names) == config)
    # the points the bake wrote for frame t, read back from the saved .blend
    code = """
import bpy, sys, numpy as np
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
from alive_blender.blender import compat
ob = next(o for o in bpy.data.objects if o.name.startswith("Alive Points"))
scene = bpy.context.scene
scene.frame_set(scene.frame_start + int(sys.argv[3]))   # generated frame t, as the geometry nodes show it
pos = compat.evaluated_point_attributes(ob, ())["position"]
np.save(sys.argv[2], pos.reshape(-1, 3))
"""
    res = run_python(code, work / "alive.blend", root / "baked.npy", t)
    assert res.returncode == 0, res.stderr[-2000:]
    baked = np.load(root / "baked.npy")
    composed = gen.compose(states[t:t + 1])
    keep = np.isfinite(composed["depth"][0])
    assert len(baked) == int(keep.sum())          # one point per covered pixel, in pixel order
    shown = composed["ids"][0][keep]
    K, pose = real.K(truth_index), real.world_from_camera(truth_index)
    real_points = unproject(np.where(np.isfinite(real.depth[truth_index]), real.depth[truth_index], 0), K, pose)
    for oid, name in zip(info["objects"], names):
        ours = baked[shown == oid].astype(np.float64)
        theirs = real_points[real.ids[truth_index] == oid]
        assert len(ours) > 10 and len(theirs) > 10, name
        size = np.linalg.norm(theirs.max(0) - theirs.min(0))
        # rigid fit (Kabsch on nearest neighbours) of the invented points onto the real ones
        d, j = cKDTree(theirs).query(ours)
        a, b = ours - ours.mean(0), theirs[j] - theirs[j].mean(0)
        u, _, vt = np.linalg.svd(a.T @ b)
        r = (u @ vt).T
        residual = np.linalg.norm((a @ r.T) - b, axis=1)
        assert np.median(residual) < 0.03 * size, (name, np.median(residual), size)
        assert np.median(d) < 0.03 * size, (name, np.median(d), size)   # and in the right place


@pytest.mark.timeout(300)
def test_decode_command_composes_a_walks_states(combination_run):
    from PIL import Image
    root, _, work, _ = combination_run
    res = run_cli("decode", work, "--embeddings", work / "rollout" / "rollout.npy", "--out", root / "dec")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "object states (composed)" in res.stderr   # R.states.npy beside R.npy is picked up
    first = np.asarray(Image.open(root / "dec" / "frame_00005.png").convert("RGB"))
    assert np.array_equal(first, np.load(work / "decoded" / "rgb.npy")[4])
    np.save(root / "two.npy", np.load(work / "rollout" / "rollout.npy")[0, :2])
    np.save(root / "wrong.npy", np.zeros((3, 2), np.int32))
    res = run_cli("decode", work, "--embeddings", root / "two.npy", "--states", root / "wrong.npy",
                  "--out", root / "d2")
    assert res.returncode == 2 and "3 states for 2 embeddings" in res.stderr and not (root / "d2").exists()


def test_whole_frame_layers_decode_captured_frames_only(tmp_path):
    """Without ids (footage) an embedding decodes as the nearest captured frame, never a blend."""
    from alive_blender.core.models.generator import GeneratorConfig
    from alive_blender.core.models.layers import ObjectLayers
    from alive_blender.core.workdir.dataset import Capture
    from conftest import blob_shot
    emb, rgb, depth = blob_shot()
    rgb8 = (rgb * 255).astype(np.uint8)
    samples = [{"frame": i + 1, "world_from_camera": np.eye(4).tolist()} for i in range(len(rgb))]
    cap = Capture(rgb8, None, np.ones(depth.shape, np.float32), {"source": "footage"}, samples)
    layers = ObjectLayers.build(GeneratorConfig(arch="object-layers"), emb, cap)
    assert layers.objects == []
    between = emb[3] + emb[4]
    out = layers.decode(np.stack([emb[2], between]), rgb.shape[2], rgb.shape[1])
    assert np.array_equal((out["rgb"][0] * 255 + 0.5).astype(np.uint8), rgb8[2])
    assert out["alpha"].min() == 1.0          # footage keeps its own coverage (no depth to derive it from)
    assert any(np.array_equal((out["rgb"][1] * 255 + 0.5).astype(np.uint8), rgb8[i]) for i in (3, 4))
    # saved and loaded through the generator's loader: the same frames
    from alive_blender.core.models.generator import Generator
    layers.save(tmp_path / "g.safetensors")
    back = Generator.load(tmp_path / "g.safetensors", expect_dim=emb.shape[1], expect_arch="object-layers")
    again = back.decode(np.stack([emb[2], between]), rgb.shape[2], rgb.shape[1])
    assert all(np.array_equal(out[k], again[k]) for k in ("rgb", "depth", "alpha"))


def test_object_walk_needs_the_object_layers(tmp_path):
    from alive_blender.core.errors import AliveError
    from alive_blender.core.run import stages
    with pytest.raises(AliveError, match="only the object-layers generator can show its states"):
        stages.train(tmp_path, {"arch": "grid-siren"}, {"arch": "object-walk"}, "cpu")
    # a generator of embeddings without a named behavior gets one of embeddings (mdn-window): no
    # refusal, the stage goes on to what is missing here
    with pytest.raises(AliveError, match="no embeddings"):
        stages.train(tmp_path, {"arch": "grid-siren"}, {}, "cpu")
