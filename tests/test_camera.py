"""Intrinsics from Blender camera settings match Blender's own projection."""

import numpy as np
import pytest

from alive_blender.core.camera import CameraParams, intrinsics, project, unproject


@pytest.mark.parametrize("fit,shift,aspect,size", [
    ("AUTO", (0.0, 0.0), (1.0, 1.0), (64, 48)),
    ("AUTO", (0.12, -0.07), (1.0, 1.0), (64, 48)),
    ("VERTICAL", (0.05, 0.1), (1.0, 1.0), (40, 60)),
    ("HORIZONTAL", (-0.1, 0.0), (2.0, 1.0), (64, 48)),
    ("AUTO", (0.0, 0.2), (1.0, 1.5), (48, 64)),
])
def test_K_matches_world_to_camera_view(fresh_bpy, fit, shift, aspect, size):
    bpy = fresh_bpy
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    from alive_blender.blender.capture.render import camera_params
    scene = bpy.data.scenes.new("cam")
    W, H = size
    scene.render.resolution_x, scene.render.resolution_y = W, H
    scene.render.resolution_percentage = 100
    scene.render.pixel_aspect_x, scene.render.pixel_aspect_y = aspect
    cam = bpy.data.objects.new("C", bpy.data.cameras.new("C"))
    scene.collection.objects.link(cam)
    cam.data.sensor_fit = fit
    cam.data.sensor_width, cam.data.sensor_height = 36.0, 24.0
    cam.data.lens = 42.0
    cam.data.shift_x, cam.data.shift_y = shift
    cam.location = (1.0, -6.0, 2.5)
    cam.rotation_euler = (1.2, 0.1, 0.3)
    scene.camera = cam
    bpy.context.view_layer.update()
    scene.frame_set(1)
    K = intrinsics(camera_params(scene, cam, W, H))
    m = np.array(cam.matrix_world)
    rng = np.random.default_rng(0)
    pts = (m @ np.c_[rng.uniform(-1, 1, (20, 2)) * 2, -rng.uniform(3, 8, 20), np.ones(20)].T).T[:, :3]
    uv, z = project(pts, K, m)
    for p, (u, v), d in zip(pts, uv, z):
        ndc = world_to_camera_view(scene, cam, Vector(p))
        assert abs(ndc.x * W - u) < 1e-3
        assert abs((1 - ndc.y) * H - v) < 1e-3
        assert abs(ndc.z - d) < 1e-6


def test_unproject_inverts_project():
    cam = CameraParams(lens=50, sensor_width=36, sensor_height=24, sensor_fit="AUTO", shift_x=0.1, shift_y=-0.05,
                       width=32, height=24, pixel_aspect_x=1.0, pixel_aspect_y=1.3)
    K = intrinsics(cam)
    m = np.eye(4)
    m[:3, 3] = (1, 2, 3)
    depth = np.random.default_rng(1).uniform(2, 9, (24, 32))
    pts = unproject(depth, K, m)
    uv, z = project(pts.reshape(-1, 3), K, m)
    u, v = np.meshgrid(np.arange(32) + 0.5, np.arange(24) + 0.5)
    assert np.allclose(uv[:, 0], u.ravel()) and np.allclose(uv[:, 1], v.ravel())
    assert np.allclose(z, depth.ravel())
