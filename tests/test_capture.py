"""Capture in real bpy: geometry from depth, subframes, settings restored, caching, bad input.

Scene of known geometry: a 20x20 ground plane at z=0 and a 2x2x2 cube whose
centre is at CUBE_CENTRE. Unprojecting each captured depth pixel through the
captured K and camera pose must land on that geometry within 1e-3 of the
scene size (20 m -> 2 cm).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from conftest import run_cli, run_script
from alive_blender.blender import compat

SCENE_SIZE = 20.0
CUBE_CENTRE = np.array([1.0, 2.0, 1.0])
CUBE_HALF = 1.0
TOL = 1e-3 * SCENE_SIZE


def build_known_scene(bpy, fit="AUTO", shift=(0.0, 0.0), aspect=(1.0, 1.0), size=(32, 24), frames=3,
                      moving_cube=False):
    """Ground plane + cube; a camera that moves and zooms over the frames."""
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, frames
    r = scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = size[0], size[1], 100
    r.pixel_aspect_x, r.pixel_aspect_y = aspect
    r.engine = "CYCLES"
    bpy.ops.mesh.primitive_plane_add(size=SCENE_SIZE, location=(0, 0, 0))
    bpy.ops.mesh.primitive_cube_add(size=2 * CUBE_HALF, location=tuple(CUBE_CENTRE))
    cube = bpy.context.object
    cube.name = "Cube"
    if moving_cube:
        for f, x in ((1, -2.0), (frames, 2.0)):
            cube.location.x = x
            cube.keyframe_insert("location", index=0, frame=f)
        for fc in _fcurves(cube):
            for k in fc.keyframe_points:
                k.interpolation = "LINEAR"
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    scene.collection.objects.link(sun)
    sun.rotation_euler = (0.6, 0.2, 0.4)
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    scene.collection.objects.link(cam)
    cam.data.sensor_fit = fit
    cam.data.shift_x, cam.data.shift_y = shift
    for f, (loc, lens) in enumerate([((0.5, -9.0, 6.0), 30.0), ((2.0, -8.0, 5.0), 40.0),
                                     ((3.0, -7.5, 5.5), 35.0)][:frames], start=1):
        cam.location = loc
        cam.data.lens = lens
        cam.keyframe_insert("location", frame=f)
        cam.data.keyframe_insert("lens", frame=f)
    track = cam.constraints.new("TRACK_TO")
    target = bpy.data.objects.new("Target", None)
    scene.collection.objects.link(target)
    target.location = (0.5, 1.0, 0.5)
    track.target = target
    scene.camera = cam
    scene.frame_set(1)
    return scene


def _fcurves(obj):
    from alive_blender.blender import compat
    return compat.action_fcurves(obj.animation_data)


def _compositor(scene):
    """5.x: the compositor node group; 4.x: the scene's own tree, its nodes and their mute state."""
    if hasattr(scene, "compositing_node_group"):
        return scene.compositing_node_group.name if scene.compositing_node_group else None
    tree = scene.node_tree   # (ticking Use Nodes makes Blender's default tree; unticked it does nothing)
    return [scene.use_nodes, sorted((n.name, n.mute) for n in tree.nodes) if tree and scene.use_nodes else None]


def distance_to_geometry(p: np.ndarray) -> np.ndarray:
    q = np.abs(p - CUBE_CENTRE) - CUBE_HALF
    outside = np.linalg.norm(np.maximum(q, 0.0), axis=-1)
    inside = np.minimum(q.max(axis=-1), 0.0)
    cube = np.abs(outside + inside)
    on_plane = np.where((np.abs(p[..., 0]) <= SCENE_SIZE / 2) & (np.abs(p[..., 1]) <= SCENE_SIZE / 2),
                        np.abs(p[..., 2]), np.inf)
    return np.minimum(cube, on_plane)


def check_geometry(workdir, min_cube_pixels=4):
    from alive_blender.core.camera import unproject
    from alive_blender.core.workdir.dataset import load_capture
    cap = load_capture(workdir)
    assert cap.meta["has_depth"] and cap.depth is not None
    checked = 0
    for i in range(len(cap.samples)):
        d = cap.depth[i]
        fg = np.isfinite(d)
        assert fg.any() and (cap.alpha[i][fg] == 1).all() and (cap.alpha[i][~fg] == 0).all()
        pts = unproject(np.where(fg, d, 0.0), cap.K(i), cap.world_from_camera(i))[fg]
        err = distance_to_geometry(pts)
        assert err.max() < TOL, f"sample {i}: worst point {err.max():.4f} m off the geometry"
        assert (distance_to_geometry(pts[pts[:, 2] > 0.05]) < TOL).sum() >= min_cube_pixels  # the cube is seen
        checked += fg.sum()
    return cap, checked


def settings_snapshot(bpy, scene) -> dict:
    """Every plain RNA value of the settings a capture could touch, plus what exists."""
    def plain(struct):
        out = {}
        for p in struct.bl_rna.properties:
            # users: a reference count, not a setting; bpy 5.0.1 can leave the scene's one higher after
            # removing a compositor tree that had a Render Layers node (recounted on save/load)
            if p.type in {"POINTER", "COLLECTION"} or p.identifier in {"rna_type", "is_dirty", "users"}:
                continue
            try:
                v = getattr(struct, p.identifier)
            except AttributeError:
                continue
            out[p.identifier] = tuple(v) if hasattr(v, "__len__") and not isinstance(v, str) else v
        return out
    r = scene.render
    snap = {"render": plain(r), "image_settings": plain(r.image_settings), "cycles": plain(scene.cycles),
            "eevee": plain(scene.eevee), "display": plain(scene.display), "view": plain(scene.view_settings),
            "display_settings": plain(scene.display_settings), "scene": plain(scene),
            "layers": [plain(vl) for vl in scene.view_layers],
            "camera": scene.camera.name if scene.camera else None,
            "compositor": _compositor(scene)}
    snap["data"] = {k: sorted(i.name for i in getattr(bpy.data, k))
                    for k in ("node_groups", "scenes", "objects", "movieclips", "cameras")}
    return snap


def leftovers(workdir):
    return [p.name for p in workdir.iterdir() if p.name.startswith(".")] if workdir.exists() else []


@pytest.mark.parametrize("fit,shift,aspect,size", [
    ("AUTO", (0.0, 0.0), (1.0, 1.0), (32, 24)),
    ("AUTO", (0.12, -0.08), (1.0, 1.0), (32, 24)),
    ("VERTICAL", (0.05, 0.1), (1.0, 1.0), (24, 32)),
    ("HORIZONTAL", (-0.06, 0.04), (2.0, 1.0), (32, 24)),
], ids=["plain", "shift", "vertical-fit", "non-square-pixels"])
def test_cycles_depth_unprojects_onto_the_geometry(fresh_bpy, tmp_path, fit, shift, aspect, size):
    from alive_blender.blender.capture.render import CaptureSettings, capture
    scene = build_known_scene(fresh_bpy, fit, shift, aspect, size)
    res = capture(scene, tmp_path, CaptureSettings(samples=1, engine="CYCLES", percent=100))
    assert res["samples"] == 3 and res["rendered"] == 3 and (res["width"], res["height"]) == size
    cap, n = check_geometry(tmp_path)
    assert n > 0.5 * 3 * size[0] * size[1]
    # the moving, zooming camera is captured frame by frame
    assert len({round(s["camera"]["lens"], 3) for s in cap.samples}) == 3
    assert len({tuple(np.round(cap.world_from_camera(i)[:3, 3], 3)) for i in range(3)}) == 3
    assert cap.samples[0]["camera"]["pixel_aspect_x"] == aspect[0]
    assert cap.meta["engine"] == "CYCLES" and "Standard" in cap.meta["view_transform"]
    assert cap.meta["blender_version"] and cap.meta["scene"] == scene.name




@pytest.fixture(scope="module")
def known_blend(tmp_path_factory):
    blend = tmp_path_factory.mktemp("known") / "known.blend"
    res = run_script("save_known_scene.py", blend, os.path.dirname(__file__))
    assert res.returncode == 0, res.stderr
    return blend


def test_workbench_capture_through_the_cli(known_blend, tmp_path):
    """Workbench (OpenGL, through Mesa here) in its own process, as it can abort one
    without a driver; also the CLI path with a frame range, step and size."""
    blend = known_blend
    wd = tmp_path / "wd"
    res = run_cli("--json", "capture", blend, "--out", wd, "--engine", "WORKBENCH", "--frames", "1-3",
                  "--step", "2", "--percent", "100")
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout)
    assert out["samples"] == 2 and out["rendered"] == 2 and out["engine"] == "BLENDER_WORKBENCH"
    cap, n = check_geometry(wd)
    assert [s["frame"] for s in cap.samples] == [1, 3] and n > 0.5 * 2 * 30 * 24
    assert cap.samples[0]["camera"]["sensor_fit"] == "VERTICAL" and cap.samples[0]["camera"]["pixel_aspect_y"] == 1.5
    # unchanged: nothing renders the second time
    res = run_cli("--json", "capture", blend, "--out", wd, "--engine", "WORKBENCH", "--frames", "1-3",
                  "--step", "2", "--percent", "100")
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads(res.stdout)["rendered"] == 0


def test_subframes_fall_between_their_neighbours(fresh_bpy, tmp_path):
    from alive_blender.blender.capture.render import CaptureSettings, capture
    from alive_blender.core.camera import unproject
    from alive_blender.core.workdir.dataset import load_capture
    scene = build_known_scene(fresh_bpy, frames=3, moving_cube=True, size=(40, 30))
    capture(scene, tmp_path, CaptureSettings(samples=1, subframes=2, percent=100))
    cap = load_capture(tmp_path)
    assert list(cap.frames) == pytest.approx([1, 1 + 1 / 3, 1 + 2 / 3, 2, 2 + 1 / 3, 2 + 2 / 3, 3])
    assert list(cap.is_real_frame) == [True, False, False, True, False, False, True]
    assert [s["real_frame"] for s in cap.samples] == list(cap.is_real_frame)

    def cube_x(i):  # mean x of captured points above the ground: where the cube was seen
        d = cap.depth[i]
        pts = unproject(np.where(np.isfinite(d), d, 0.0), cap.K(i), cap.world_from_camera(i))[np.isfinite(d)]
        return pts[pts[:, 2] > 0.05][:, 0].mean()

    xs = [cube_x(i) for i in range(len(cap.samples))]
    # with a step of 2, the in-between sample lands on whole frame 2 and is still marked in-between
    capture(scene, tmp_path / "step", CaptureSettings(samples=1, subframes=1, step=2, percent=100))
    stepped = load_capture(tmp_path / "step")
    assert list(stepped.frames) == [1, 2, 3] and list(stepped.is_real_frame) == [True, False, True]
    assert all(a < b for a, b in zip(xs, xs[1:])), xs   # the cube moves +x, the subframes in between
    cams = [cap.world_from_camera(i)[:3, 3] for i in range(len(cap.samples))]
    for i in (1, 2, 4, 5):   # and the camera pose is read at the subframe too
        assert not np.allclose(cams[i], cams[i - 1]) and not np.allclose(cams[i], cams[i + 1])


class Boom(RuntimeError):
    pass


def test_settings_identical_before_and_after_also_after_an_error_or_cancel(fresh_bpy, tmp_path):
    from alive_blender.blender.capture.render import CaptureSettings, capture
    from alive_blender.core.workdir.dataset import load_capture
    from alive_blender.core.errors import Cancelled
    from alive_blender.core.run.protocol import Reporter
    bpy = fresh_bpy
    scene = build_known_scene(bpy)
    # a user's own choices that capture must not disturb
    r = scene.render
    r.filepath, r.image_settings.file_format = "//renders/shot_", "JPEG"
    r.engine, scene.cycles.samples, scene.cycles.use_denoising = compat.engine_id("EEVEE"), 77, True
    r.use_border, r.dither_intensity = True, 0.5
    scene.view_settings.view_transform = "AgX"
    if hasattr(scene, "compositing_node_group"):
        scene.compositing_node_group = bpy.data.node_groups.new("UserComp", "CompositorNodeTree")
    else:   # 4.x: the scene's own tree (Render Layers -> Composite), which capture must leave as it was
        scene.use_nodes = True
    scene.frame_set(2, subframe=0.25)
    before = settings_snapshot(bpy, scene)

    settings = CaptureSettings(samples=1, engine="CYCLES", width=16, height=12)
    res = capture(scene, tmp_path, settings)
    assert settings_snapshot(bpy, scene) == before
    good = (tmp_path / "capture" / "meta.json").read_text()

    scene.objects["Cube"].location.z += 0.5   # so the next captures must render again

    def boom_on_second(msg):
        if msg["type"] == "progress" and msg["fraction"] > 0.5:
            raise Boom("mid-capture failure")
    with pytest.raises(Boom):
        capture(scene, tmp_path, settings, Reporter(boom_on_second))
    after = settings_snapshot(bpy, scene)
    assert {k: v for k, v in after["scene"].items() if before["scene"].get(k) != v} == {}
    assert after == before
    assert (tmp_path / "capture" / "meta.json").read_text() == good   # previous capture intact
    assert leftovers(tmp_path) == []

    calls = {"n": 0}

    def stop_after_one():
        calls["n"] += 1
        return calls["n"] > 1
    with pytest.raises(Cancelled):
        capture(scene, tmp_path, settings, Reporter(None, stop_after_one))
    assert settings_snapshot(bpy, scene) == before
    assert (tmp_path / "capture" / "meta.json").read_text() == good
    assert leftovers(tmp_path) == []
    assert len(load_capture(tmp_path).samples) == res["samples"]


def test_stepwise_capture_closes_cleanly_between_frames(fresh_bpy, tmp_path):
    """What a UI timer does: one sample per call, and Cancel = close() between frames."""
    from alive_blender.blender.capture.render import CaptureSettings, capture_steps
    bpy = fresh_bpy
    scene = build_known_scene(bpy, frames=3)
    scene.render.engine = compat.engine_id("EEVEE")
    before = settings_snapshot(bpy, scene)
    steps = capture_steps(scene, tmp_path, CaptureSettings(samples=1, width=8, height=6, engine="CYCLES"))
    assert next(steps) == pytest.approx(1 / 3)
    assert scene.render.engine == "CYCLES"          # overridden while it runs
    steps.close()
    assert settings_snapshot(bpy, scene) == before
    assert not (tmp_path / "capture").exists() and leftovers(tmp_path) == []
    fractions = list(capture_steps(scene, tmp_path, CaptureSettings(samples=1, width=8, height=6)))
    assert fractions == pytest.approx([1 / 3, 2 / 3, 1.0]) and (tmp_path / "capture" / "meta.json").exists()
    assert settings_snapshot(bpy, scene) == before


def test_unchanged_inputs_render_nothing_and_changes_render_only_what_changed(fresh_bpy, tmp_path):
    from alive_blender.blender.capture.render import CaptureSettings, capture
    from alive_blender.core.workdir.dataset import load_capture
    bpy = fresh_bpy
    scene = build_known_scene(bpy, frames=3, moving_cube=True)
    renders = []
    handler = lambda *a: renders.append(scene.frame_current)  # noqa: E731
    bpy.app.handlers.render_pre.append(handler)
    try:
        settings = CaptureSettings(samples=1, width=16, height=12)
        first = capture(scene, tmp_path, settings)
        assert first["rendered"] == 3 and len(renders) == 3
        meta_before = (tmp_path / "capture" / "meta.json").stat().st_mtime_ns

        renders.clear()
        again = capture(scene, tmp_path, settings)
        assert renders == [] and again["rendered"] == 0 and again["up_to_date"]
        assert again["key"] == first["key"]
        assert (tmp_path / "capture" / "meta.json").stat().st_mtime_ns == meta_before

        # move the cube's last key: frames 1 and 2 of a 2-key linear curve change too? no:
        # add a key at frame 3 only after a hold at 2, so only frame 3 changes
        cube = scene.objects["Cube"]
        fc = [f for f in _fcurves(cube) if f.data_path == "location"][0]
        fc.keyframe_points.insert(2, fc.evaluate(2)).interpolation = "LINEAR"
        renders.clear()
        after_hold = capture(scene, tmp_path, settings)   # same values everywhere: nothing renders
        assert renders == [] and after_hold["rendered"] == 0
        fc.keyframe_points[-1].co.y += 1.0
        fc.update()
        renders.clear()
        changed = capture(scene, tmp_path, settings)
        assert renders == [3] and changed["rendered"] == 1 and changed["reused"] == 2
        cap = load_capture(tmp_path)
        assert [s["frame"] for s in cap.samples] == [1, 2, 3]

        # a material change affects every frame
        mat = bpy.data.materials.new("Red")
        cube.data.materials.append(mat)
        renders.clear()
        assert capture(scene, tmp_path, settings)["rendered"] == 3 and len(renders) == 3
        # so does a render setting
        renders.clear()
        assert capture(scene, tmp_path, CaptureSettings(samples=2, width=16, height=12))["rendered"] == 3
        # and a different resolution
        assert capture(scene, tmp_path, CaptureSettings(samples=2, width=20, height=12))["rendered"] == 3
    finally:
        bpy.app.handlers.render_pre.remove(handler)


def test_bad_scene_input_is_a_clear_error_and_writes_nothing(fresh_bpy, tmp_path):
    from alive_blender.blender.capture.render import CaptureSettings, capture
    from alive_blender.core.errors import AliveError
    bpy = fresh_bpy
    scene = build_known_scene(bpy)
    wd = tmp_path / "wd"
    cases = [
        (CaptureSettings(camera="Nope"), "not found"),
        (CaptureSettings(camera="Cube"), "not a camera"),
        (CaptureSettings(frame_start=5, frame_end=2), "empty frame range"),
        (CaptureSettings(step=0), "step"),
        (CaptureSettings(engine="POVRAY"), "unknown render engine"),
        (CaptureSettings(width=10, height=0), "resolution"),
    ]
    for settings, words in cases:
        with pytest.raises(AliveError, match=words):
            capture(scene, wd, settings)
        assert not wd.exists()
    scene.camera = None
    with pytest.raises(AliveError, match="no active camera"):
        capture(scene, wd, CaptureSettings())
    assert not wd.exists()
    # a work directory that cannot be made (its parent is a file)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    scene.camera = scene.objects["Cam"]
    with pytest.raises(AliveError, match="cannot write"):
        capture(scene, blocker / "wd", CaptureSettings(samples=1, width=8, height=6))
    assert blocker.read_text() == "x"


def footage_dir() -> str:
    """The footage sample shipped in tests/data (12 frames of real camera footage at
    64x48 and the same as H.264; see tests/data/make_footage.py): always there."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def test_footage_movie_and_image_sequence(fresh_bpy, tmp_path):
    from alive_blender.blender.capture.movie import capture_movie
    from alive_blender.core.workdir.dataset import load_capture
    from alive_blender.core.workdir.footage import FootageSettings, capture_images
    bpy = fresh_bpy
    data = footage_dir()
    before = settings_snapshot(bpy, bpy.context.scene)
    mv = capture_movie(os.path.join(data, "pedestrians.mp4"), tmp_path / "movie", FootageSettings(frame_end=6))
    assert mv["samples"] == 6 and mv["has_depth"] is False and (mv["width"], mv["height"]) == (64, 48)
    assert settings_snapshot(bpy, bpy.context.scene) == before   # the temporary scene is gone again
    im = capture_images(os.path.join(data, "pedestrians"), tmp_path / "images", FootageSettings(frame_end=6))
    assert im["samples"] == 6
    a, b = load_capture(tmp_path / "movie"), load_capture(tmp_path / "images")
    for cap in (a, b):
        assert cap.depth is None and cap.meta["has_depth"] is False and cap.meta["camera_known"] is False
        assert cap.rgb.shape == (6, 48, 64, 3) and (cap.alpha == 1).all() and cap.is_real_frame.all()
        assert cap.K(0).shape == (3, 3) and np.allclose(cap.world_from_camera(0), np.eye(4))
    assert [s["frame"] for s in b.samples] == [1, 2, 3, 4, 5, 6]
    # the movie's frame k is the folder's frame k (H.264 loses a little), not another one
    diff = np.abs(a.rgb[:, None].astype(float) - b.rgb[None].astype(float)).mean(axis=(2, 3, 4))
    assert (diff.argmin(axis=1) == np.arange(6)).all() and diff.diagonal().max() < 6
    # glob + step + resize; unchanged re-read is free
    spec = os.path.join(data, "pedestrians", "frame_00[0-1]?.png")
    res = capture_images(spec, tmp_path / "glob", FootageSettings(step=5, width=32, height=24))
    assert res["samples"] == 3 and (res["width"], res["height"]) == (32, 24)
    assert capture_images(spec, tmp_path / "glob", FootageSettings(step=5, width=32, height=24))["read"] == 0
    assert [s["frame"] for s in load_capture(tmp_path / "glob").samples] == [1, 6, 11]


def test_exr_plates_are_read_through_blender(fresh_bpy, tmp_path):
    """Scene-linear EXR frames (film plates, earlier renders) through Blender's loader, in sRGB."""
    from alive_blender.blender.capture.movie import capture_image_sequence
    from alive_blender.core.workdir.dataset import load_capture
    bpy = fresh_bpy
    lin = np.linspace(0.0, 1.0, 8, dtype=np.float32)
    for f in (1, 2):
        img = bpy.data.images.new("plate", 8, 6, float_buffer=True, alpha=True)
        px = np.zeros((6, 8, 4), np.float32)
        px[..., 0] = lin[None, :]
        px[..., 1] = 0.2 * f
        px[0, :, 2] = 1.0                     # Blender's row 0 is the bottom row
        px[..., 3] = 1.0
        img.pixels.foreach_set(px.ravel())
        # save_render writes the linear values on every version (4.x's Image.save encodes sRGB into the EXR)
        bpy.context.scene.render.image_settings.file_format = "OPEN_EXR"
        img.save_render(str(tmp_path / f"plate_{f:04d}.exr"), scene=bpy.context.scene)
        bpy.data.images.remove(img)
    res = capture_image_sequence(str(tmp_path / "plate_*.exr"), tmp_path / "wd")
    assert res["samples"] == 2 and len(bpy.data.images) == 0
    cap = load_capture(tmp_path / "wd")
    srgb = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055) * 255
    assert np.abs(cap.rgb[0, 2, :, 0].astype(float) - srgb).max() <= 1.0
    assert (cap.rgb[:, -1, :, 2] == 255).all() and (cap.rgb[:, 0, :, 2] == 0).all()   # bottom row stays bottom
    assert [s["frame"] for s in cap.samples] == [1, 2] and cap.rgb[1, 0, 0, 1] > cap.rgb[0, 0, 0, 1]


def test_bad_footage_is_a_clear_error_and_writes_nothing(fresh_bpy, tmp_path):
    from alive_blender.blender.capture.movie import capture_movie
    from alive_blender.core.errors import AliveError
    from alive_blender.core.workdir.footage import capture_images
    from PIL import Image
    wd = tmp_path / "wd"
    with pytest.raises(AliveError, match="movie not found"):
        capture_movie(tmp_path / "missing.mp4", wd)
    bad_movie = tmp_path / "bad.mp4"
    bad_movie.write_bytes(b"not a movie" * 100)
    with pytest.raises(AliveError, match="cannot read the movie"):
        capture_movie(bad_movie, wd)
    assert len(fresh_bpy.data.scenes) == 1
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(1, 4):
        Image.fromarray(np.full((6, 8, 3), 40 * i, np.uint8)).save(frames / f"f_{i:03d}.png")
    (frames / "f_004.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(AliveError, match="f_004.png"):
        capture_images(str(frames), wd)
    assert not (wd / "capture").exists() and leftovers(wd) == []
    with pytest.raises(AliveError, match="no files match"):
        capture_images(str(tmp_path / "nothing_*.png"), wd)
    with pytest.raises(AliveError, match="not found"):
        capture_images(str(tmp_path / "nowhere"), wd)


def test_cli_capture_cancels_between_frames_on_sigint(known_blend, tmp_path):
    import signal
    import subprocess
    import sys
    from conftest import ROOT
    wd = tmp_path / "wd"
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "alive_blender", "capture", str(known_blend), "--out", str(wd),
                             "--frames", "1-400", "--engine", "CYCLES", "--samples", "1", "--resolution", "8x6"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "%" in line:   # the first per-frame progress line
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.communicate(timeout=300)[1]
    assert proc.returncode == 3, "".join(seen) + rest
    assert "cancelled" in rest
    assert not (wd / "capture").exists() and leftovers(wd) == []


def test_cli_capture_errors(tmp_path):
    res = run_cli("capture", "--out", tmp_path / "wd")
    assert res.returncode == 2 and "nothing to capture" in res.stderr
    res = run_cli("capture", "--movie", tmp_path / "none.mp4", "--out", tmp_path / "wd")
    assert res.returncode == 2 and "movie not found" in res.stderr
    res = run_cli("capture", "--images", tmp_path, "--out", tmp_path / "wd", "--subframes", "2")
    assert res.returncode == 2 and "--subframes" in res.stderr
    assert not (tmp_path / "wd").exists()


def test_scene_state_key_follows_what_renders(fresh_bpy):
    """The static digest changes with what a render reads, not with UI or output settings."""
    from alive_blender.blender.capture.scene_state import static_digest
    bpy = fresh_bpy
    scene = build_known_scene(bpy)
    mat = bpy.data.materials.new("M")
    mat.use_nodes = True
    scene.objects["Cube"].data.materials.append(mat)
    nt = mat.node_tree
    bsdf = nt.nodes["Principled BSDF"]
    tex = nt.nodes.new("ShaderNodeTexChecker")
    nt.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    base = static_digest(scene)
    assert static_digest(scene) == base
    scene.frame_set(3)                                   # animated values are the per-frame part's business
    assert static_digest(scene) == base
    bsdf.location.x += 100                               # node layout: no
    scene.render.filepath = "//elsewhere/"              # output path: no
    scene.render.image_settings.file_format = "JPEG"
    assert static_digest(scene) == base
    changes = [lambda: setattr(bsdf.inputs["Roughness"], "default_value", 0.123),
               lambda: nt.links.new(tex.outputs["Fac"], bsdf.inputs["Base Color"]),
               lambda: setattr(scene.objects["Plane"], "hide_render", True),
               lambda: scene.objects["Cube"].data.vertices[0].co.__setitem__(2, 1.5),
               lambda: setattr(scene.cycles, "max_bounces", 3),
               lambda: setattr(bpy.data.lights["Sun"], "energy", 7.0)]
    seen = {base}
    for change in changes:
        change()
        key = static_digest(scene)
        assert key not in seen
        seen.add(key)
