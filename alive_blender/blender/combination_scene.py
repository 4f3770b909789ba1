"""A combination scene built in code: objects on independent cyclic paths.

Two objects move on their own loops with coprime periods P1 and P2, so the
first P1 * P2 frames show every combination of their phases exactly once and
frame P1 * P2 + 1 starts over. A short capture (the first N frames) sees only
some combinations; the rest are arrangements the capture never had, which is
what `scripts/bench_alive.py` asks a trained model to invent.

* "Orbiter": a cube that circles the stage and turns once per loop (P1
  frames; every phase looks different).
* "Swinger": a sphere that swings left and right, x = cos(2 pi t / P2). Its
  path is symmetric (phases t and P2 - t put it at the same place), so only
  P2 // 2 + 1 of its phases look different: several frames share one
  configuration, and the benchmark groups them by their renders. With
  ``swing=False`` it circles instead (all P2 phases differ).

A checkered floor, a backdrop wall, a sun with shadows and a world light;
materials set for Cycles/EEVEE (node base colour) and Workbench (the
viewport colour, with studio light and shadows), so the shot reads as a
render in either engine. Every frame of the full cycle is keyframed (no
modifiers, no drivers): the capture's keys see the exact state per frame.
"""

from __future__ import annotations

import math

import bpy

from .demo_scene import new_scene, smooth_sphere_mesh

DEFAULT_PERIODS = (12, 17)
DOLLY_REACH = 1.0   # scene units the dolly moves in and out of its rest position (6.6 from the stage)


def add_sun(coll):
    """The benchmark scenes' sun: soft shadows from the front left."""
    sun_data = bpy.data.lights.new("Sun", "SUN")
    sun_data.energy = 3.5
    sun_data.angle = math.radians(3.0)
    sun = bpy.data.objects.new("Sun", sun_data)
    sun.rotation_euler = (math.radians(35), math.radians(-25), math.radians(20))
    coll.objects.link(sun)
    return sun


def add_camera(scene, location, target, lens: float = 30.0):
    """The scene's camera at ``location`` looking at ``target``."""
    from mathutils import Vector
    cam_data = bpy.data.cameras.new("Camera")
    cam_data.lens = lens
    cam = bpy.data.objects.new("Camera", cam_data)
    cam.location = location
    cam.rotation_euler = (Vector(target) - cam.location).to_track_quat("-Z", "Y").to_euler()
    scene.collection.objects.link(cam)
    scene.camera = cam
    return cam


def cycle_length(periods=DEFAULT_PERIODS) -> int:
    p1, p2 = periods
    if math.gcd(p1, p2) != 1:
        raise ValueError(f"periods must be coprime, got {p1} and {p2}")
    return p1 * p2


def configuration_of(frame: int, periods=DEFAULT_PERIODS, swing: bool = True) -> tuple[int, int]:
    """The scene-state identity of a frame (1-based): (orbiter phase, swinger position index)."""
    p1, p2 = periods
    t = frame - 1
    b = t % p2
    return t % p1, (min(b, p2 - b) if swing else b)


def dolly_position_of(frame: int, dolly: int) -> int:
    """The dolly camera's position index at a frame (1-based): phases t and P - t are one position."""
    b = (frame - 1) % dolly
    return min(b, dolly - b)


def configuration_count(periods=DEFAULT_PERIODS, swing: bool = True) -> int:
    p1, p2 = periods
    return p1 * ((p2 // 2 + 1) if swing else p2)


def _material(name, color, checker=None):
    mat = bpy.data.materials.new(name)
    mat.diffuse_color = color  # Workbench's colour (shading color_type MATERIAL)
    mat.use_nodes = True
    nt = mat.node_tree
    bsdf = nt.nodes.get("Principled BSDF")
    bsdf.inputs["Roughness"].default_value = 0.45
    if checker is not None:
        second, scale = checker
        tex = nt.nodes.new("ShaderNodeTexChecker")
        tex.inputs["Color1"].default_value = color
        tex.inputs["Color2"].default_value = second
        tex.inputs["Scale"].default_value = scale
        nt.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    else:
        bsdf.inputs["Base Color"].default_value = color
    return mat


def _quad(name, corners, material):
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(corners, [], [[0, 1, 2, 3]])
    uv = mesh.uv_layers.new(name="UVMap")
    for loop, co in zip(uv.data, [(0, 0), (1, 0), (1, 1), (0, 1)]):
        loop.uv = co
    mesh.materials.append(material)
    return bpy.data.objects.new(name, mesh)


def _keyframe_every_frame(obj, frames: int, pose) -> None:
    """Key location and rotation at every frame 1..frames; ``pose(t)`` -> (location, z rotation)."""
    for f in range(1, frames + 1):
        loc, rot_z = pose(f - 1)
        obj.location = loc
        obj.rotation_euler = (0.0, 0.0, rot_z)
        obj.keyframe_insert("location", frame=f)
        obj.keyframe_insert("rotation_euler", frame=f)


def build_combination_scene(periods=DEFAULT_PERIODS, width: int = 64, height: int = 48, swing: bool = True,
                            name: str = "AliveCombination", pan: int = 0, dolly: int = 0):
    """Create (and make current) a new scene whose frame range is one full cycle
    (1 .. P1 * P2); returns it. ``pan`` > 0: the camera pans left and right
    (keyed every frame, period ``pan`` frames) while looking at the stage: a
    moving-camera shot (issue 19); ``dolly`` > 0: the camera moves along its
    view axis toward the stage and back (period ``dolly`` frames, its aim
    fixed); both 0: the camera stands still."""
    if pan and dolly:
        raise ValueError("a pan or a dolly, not both")
    import bmesh

    p1, p2 = periods
    frames = cycle_length(periods)
    scene = new_scene(name, frames, width, height, sky=(0.55, 0.62, 0.75), strength=0.5)
    shading = scene.display.shading  # what a Workbench render uses
    shading.light = "STUDIO"
    shading.color_type = "MATERIAL"
    shading.show_shadows = True
    shading.show_cavity = False
    coll = scene.collection

    floor = _quad("Floor", [(-12, -8, 0), (12, -8, 0), (12, 3.2, 0), (-12, 3.2, 0)],
                  _material("Floor", (0.78, 0.76, 0.72, 1.0), ((0.35, 0.35, 0.38, 1.0), 20.0)))
    coll.objects.link(floor)
    wall = _quad("Backdrop", [(-12, 3.2, 0), (12, 3.2, 0), (12, 3.2, 8), (-12, 3.2, 8)],
                 _material("Backdrop", (0.82, 0.7, 0.55, 1.0)))
    coll.objects.link(wall)

    # the orbiter: a turning cube on a circle, one turn per P1 frames
    bm = bmesh.new()
    bmesh.ops.create_cube(bm, size=1.1)
    cube_mesh = bpy.data.meshes.new("Orbiter")
    bm.to_mesh(cube_mesh)
    bm.free()
    cube_mesh.materials.append(_material("Orbiter", (0.85, 0.22, 0.1, 1.0), ((0.95, 0.75, 0.2, 1.0), 3.0)))
    cube = bpy.data.objects.new("Orbiter", cube_mesh)
    coll.objects.link(cube)

    def orbit(t):
        a = 2.0 * math.pi * (t % p1) / p1
        return (-0.9 + 1.3 * math.cos(a), 1.3 + 1.0 * math.sin(a), 0.55), a

    _keyframe_every_frame(cube, frames, orbit)

    # the swinger: a sphere swinging left-right (or circling), period P2
    sph_mesh = smooth_sphere_mesh("Swinger", 0.6, _material("Swinger", (0.1, 0.45, 0.9, 1.0)))
    sphere = bpy.data.objects.new("Swinger", sph_mesh)
    coll.objects.link(sphere)

    def swinger(t):
        a = 2.0 * math.pi * (t % p2) / p2
        if swing:
            return (0.3 + 1.9 * math.cos(a), -1.3, 0.6), 0.0
        return (0.8 + 1.2 * math.cos(a), -0.8 + 0.5 * math.sin(a), 0.6), 0.0

    _keyframe_every_frame(sphere, frames, swinger)

    add_sun(coll)
    cam = add_camera(scene, (0.3, -5.6, 3.0), (-0.1, 0.5, 0.5))
    if pan > 0:
        from mathutils import Vector

        def camera_pose(t):
            x = 0.3 + 1.8 * math.sin(2.0 * math.pi * (t % pan) / pan)
            loc = Vector((x, -5.6, 3.0))
            return loc, (Vector((0.4 * x - 0.1, 0.5, 0.5)) - loc).to_track_quat("-Z", "Y").to_euler()
        for f in range(1, frames + 1):
            cam.location, cam.rotation_euler = camera_pose(f - 1)
            cam.keyframe_insert("location", frame=f)
            cam.keyframe_insert("rotation_euler", frame=f)
    if dolly > 0:
        # matrix_world is not evaluated yet: the view axis (-Z) from the rotation itself
        base, forward = cam.location.copy(), -cam.rotation_euler.to_matrix().col[2].normalized()
        for f in range(1, frames + 1):
            # nearest at frame 1 (DOLLY_REACH in), farthest half a period later (as far out): a cosine,
            # so phases t and P - t share a camera position (dolly_position_of)
            cam.location = base + forward * (DOLLY_REACH * math.cos(2.0 * math.pi * ((f - 1) % dolly) / dolly))
            cam.keyframe_insert("location", frame=f)
    scene.frame_set(1)
    return scene
