"""Interaction scenes built in code: objects that move *together*.

In the combination scene (``combination_scene.py``) every object ignores the
others, so showing each from any captured frame makes a real new frame. Here
some objects depend on others, which is what a behavior must learn to keep:

* ``build_carried_scene``: a platform rises and falls (period P1), a ball
  rolls along its top with the same period (it rests on the platform: a
  *contact* the capture must detect from geometry, nothing in Blender states
  it), and a cube spins beside them (period P2, coprime to P1). A short
  capture sees some (platform+ball phase, cube phase) combinations; the rest
  are new arrangements, and a ball shown out of step with its platform sinks
  into it or floats above it.
* ``build_rig_scene``: a cart drives back and forth (period P1) with four
  wheels *parented* to it that turn as it rolls (Blender states the relation:
  ``parent``), and a sphere bobs beside it (period P2).
* ``build_collision_scene``: Blender's rigid body world: a ball dropped onto
  a light box hits its edge, pushes it aside and rolls off onto the floor
  (simulated for P1 frames, then baked by hand to keyframes and repeated
  every P1 frames: a drop that starts over), and a cube spins beside them
  (period P2). Nothing states the collision; the capture sees only poses.

Materials follow ``combination_scene`` (a node base colour for Cycles/EEVEE
and the viewport colour for Workbench). Every frame of the full cycle is
keyframed, so the capture's keys see the exact state per frame.
"""

from __future__ import annotations

import math

import bpy

from .combination_scene import _material, _quad, add_camera, add_sun
from .demo_scene import new_scene, smooth_sphere_mesh

CARRIED_PERIODS = (12, 17)
PLATFORM_SIZE = (2.6, 1.2, 0.25)
BALL_RADIUS = 0.32


def _box_mesh(name, size, material):
    import bmesh
    bm = bmesh.new()
    bmesh.ops.create_cube(bm, size=1.0)
    for v in bm.verts:
        v.co.x *= size[0]
        v.co.y *= size[1]
        v.co.z *= size[2]
    mesh = bpy.data.meshes.new(name)
    bm.to_mesh(mesh)
    bm.free()
    mesh.materials.append(material)
    return mesh


def _stage(name, frames, width, height):
    """Scene, Workbench shading, floor and backdrop, sun, camera (as the combination scene)."""
    scene = new_scene(name, frames, width, height, sky=(0.55, 0.62, 0.75), strength=0.5)
    shading = scene.display.shading
    shading.light = "STUDIO"
    shading.color_type = "MATERIAL"
    shading.show_shadows = True
    shading.show_cavity = False
    coll = scene.collection
    coll.objects.link(_quad("Floor", [(-12, -8, 0), (12, -8, 0), (12, 3.2, 0), (-12, 3.2, 0)],
                            _material("Floor", (0.78, 0.76, 0.72, 1.0), ((0.35, 0.35, 0.38, 1.0), 20.0))))
    coll.objects.link(_quad("Backdrop", [(-12, 3.2, 0), (12, 3.2, 0), (12, 3.2, 8), (-12, 3.2, 8)],
                            _material("Backdrop", (0.82, 0.7, 0.55, 1.0))))
    add_sun(coll)
    add_camera(scene, (0.4, -3.6, 1.9), (0.4, 1.0, 0.75))
    return scene


def _key(obj, f, loc, rot):
    obj.location = loc
    obj.rotation_euler = rot
    obj.keyframe_insert("location", frame=f)
    obj.keyframe_insert("rotation_euler", frame=f)


def _cycle(periods) -> int:
    p1, p2 = periods
    if math.gcd(p1, p2) != 1:
        raise ValueError(f"periods must be coprime, got {p1} and {p2}")
    return p1 * p2


def build_carried_scene(periods=CARRIED_PERIODS, width: int = 64, height: int = 48, name: str = "AliveCarried"):
    """Platform + rolling ball (period P1) and a spinning cube (P2); frames 1 .. P1 * P2."""
    p1, p2 = periods
    frames = _cycle(periods)
    scene = _stage(name, frames, width, height)
    coll = scene.collection
    platform = bpy.data.objects.new("Platform", _box_mesh(
        "Platform", PLATFORM_SIZE, _material("Platform", (0.2, 0.6, 0.3, 1.0), ((0.1, 0.35, 0.15, 1.0), 4.0))))
    coll.objects.link(platform)
    ball = bpy.data.objects.new("Ball", smooth_sphere_mesh(
        "Ball", BALL_RADIUS, _material("Ball", (0.1, 0.4, 0.95, 1.0), ((0.95, 0.95, 0.95, 1.0), 6.0))))
    coll.objects.link(ball)
    cube = bpy.data.objects.new("Spinner", _box_mesh(
        "Spinner", (0.8, 0.8, 0.8), _material("Spinner", (0.85, 0.22, 0.1, 1.0), ((0.95, 0.75, 0.2, 1.0), 3.0))))
    coll.objects.link(cube)
    half_top = PLATFORM_SIZE[2] / 2
    for f in range(1, frames + 1):
        t = f - 1
        a = 2.0 * math.pi * (t % p1) / p1
        px, pz = -0.5, 0.55 + 0.4 * math.sin(a)
        _key(platform, f, (px, 1.0, pz), (0.0, 0.0, 0.0))
        along = 0.85 * math.sin(a + math.pi / 3)          # the ball rolls along the platform's top
        _key(ball, f, (px + along, 1.0, pz + half_top + BALL_RADIUS), (0.0, along / BALL_RADIUS, 0.0))
        b = 2.0 * math.pi * (t % p2) / p2
        _key(cube, f, (1.9, 0.2, 0.7), (0.0, 0.0, b))   # one turn per period: its pose is continuous over the wrap
    scene.frame_set(1)
    return scene


def build_rig_scene(periods=CARRIED_PERIODS, width: int = 64, height: int = 48, name: str = "AliveRig"):
    """A cart with four parented, turning wheels (period P1) and a bobbing sphere (P2)."""
    p1, p2 = periods
    frames = _cycle(periods)
    scene = _stage(name, frames, width, height)
    coll = scene.collection
    body = bpy.data.objects.new("Cart", _box_mesh("Cart", (1.6, 0.8, 0.45),
                                                  _material("Cart", (0.85, 0.55, 0.1, 1.0))))
    coll.objects.link(body)
    wheel_r = 0.25
    wheels = []
    for i, (x, y) in enumerate([(-0.55, -0.45), (0.55, -0.45), (-0.55, 0.45), (0.55, 0.45)]):
        import bmesh
        bm = bmesh.new()
        bmesh.ops.create_cone(bm, cap_ends=True, segments=12, radius1=wheel_r, radius2=wheel_r, depth=0.12)
        mesh = bpy.data.meshes.new(f"Wheel{i}")
        bm.to_mesh(mesh)
        bm.free()
        mesh.materials.append(_material(f"Wheel{i}", (0.1, 0.1, 0.12, 1.0), ((0.9, 0.9, 0.9, 1.0), 2.0)))
        w = bpy.data.objects.new(f"Wheel{i}", mesh)
        coll.objects.link(w)
        w.parent = body
        w.location = (x, y, -0.2)
        wheels.append(w)
    bob = bpy.data.objects.new("Bobber", smooth_sphere_mesh("Bobber", 0.45,
                                                            _material("Bobber", (0.1, 0.45, 0.9, 1.0))))
    coll.objects.link(bob)
    for f in range(1, frames + 1):
        t = f - 1
        a = 2.0 * math.pi * (t % p1) / p1
        x = -0.8 + 1.1 * math.sin(a)
        _key(body, f, (x, 1.0, 0.45 + 0.2), (0.0, 0.0, 0.0))
        for w in wheels:   # rolling without slipping: the turn follows the distance driven
            _key(w, f, tuple(w.location), (math.pi / 2, (x + 0.8) / wheel_r, 0.0))
        b = 2.0 * math.pi * (t % p2) / p2
        _key(bob, f, (2.0, 0.2, 0.9 + 0.35 * math.sin(b)), (0.0, 0.0, 0.0))
    scene.frame_set(1)
    return scene


COLLISION_BALL_START = (-0.05, 1.0, 2.1)   # over the box's right edge: the ball glances off it
COLLISION_BOX_START = (-0.6, 1.0, 0.49)    # resting on the floor (0.45 half height + the shape margin)


def _rigid_body(scene, obj, kind: str, shape: str, mass: float = 1.0) -> None:
    view_layer = scene.view_layers[0]
    view_layer.objects.active = obj
    with bpy.context.temp_override(scene=scene, view_layer=view_layer, object=obj, active_object=obj,
                                   selected_objects=[obj]):
        bpy.ops.rigidbody.object_add(type=kind)
    body = obj.rigid_body
    body.collision_shape, body.mass, body.restitution, body.friction = shape, mass, 0.6, 0.5


def _simulate(scene, objects, frames: int) -> list:
    """Step the rigid body world from its start (it only simulates in order) and read each object's
    simulated ``matrix_world`` per frame; then remove the rigid bodies and the world, so what is left
    are plain keys (``bpy.ops.rigidbody.bake_to_keyframes`` needs a UI context: see the field notes)."""
    view_layer = scene.view_layers[0]
    poses = []
    for f in range(1, frames + 1):
        scene.frame_set(f)
        poses.append([o.matrix_world.copy() for o in objects])
    for obj in [o for o in scene.objects if o.rigid_body is not None]:
        view_layer.objects.active = obj
        with bpy.context.temp_override(scene=scene, view_layer=view_layer, object=obj, active_object=obj,
                                       selected_objects=[obj]):
            bpy.ops.rigidbody.object_remove()
    with bpy.context.temp_override(scene=scene, view_layer=view_layer):
        bpy.ops.rigidbody.world_remove()
    return poses


def build_collision_scene(periods=CARRIED_PERIODS, width: int = 64, height: int = 48, name: str = "AliveCollision"):
    """A ball dropped onto a box (rigid bodies, period P1, baked to keys) and a spinning cube (P2)."""
    p1, p2 = periods
    frames = _cycle(periods)
    scene = _stage(name, frames, width, height)
    coll = scene.collection
    box = bpy.data.objects.new("Box", _box_mesh(
        "Box", (0.9, 0.9, 0.9), _material("Box", (0.2, 0.6, 0.3, 1.0), ((0.1, 0.35, 0.15, 1.0), 4.0))))
    coll.objects.link(box)
    box.location = COLLISION_BOX_START
    ball = bpy.data.objects.new("Ball", smooth_sphere_mesh(
        "Ball", BALL_RADIUS, _material("Ball", (0.1, 0.4, 0.95, 1.0), ((0.95, 0.95, 0.95, 1.0), 6.0))))
    coll.objects.link(ball)
    ball.location = COLLISION_BALL_START
    cube = bpy.data.objects.new("Spinner", _box_mesh(
        "Spinner", (0.8, 0.8, 0.8), _material("Spinner", (0.85, 0.22, 0.1, 1.0), ((0.95, 0.75, 0.2, 1.0), 3.0))))
    coll.objects.link(cube)
    with bpy.context.temp_override(scene=scene, view_layer=scene.view_layers[0]):
        bpy.ops.rigidbody.world_add()
    world = scene.rigidbody_world
    world.time_scale = 2.0          # the drop, the hit and the roll off fit in P1 = 12 frames
    world.substeps_per_frame = 20
    world.point_cache.frame_start, world.point_cache.frame_end = 1, p1
    _rigid_body(scene, scene.objects["Floor"], "PASSIVE", "MESH")
    _rigid_body(scene, box, "ACTIVE", "BOX", mass=0.4)     # light: the ball's hit pushes it aside
    _rigid_body(scene, ball, "ACTIVE", "SPHERE", mass=1.0)
    simulated = _simulate(scene, [box, ball], p1)
    for f in range(1, frames + 1):
        t = f - 1
        for obj, matrix in zip((box, ball), simulated[t % p1]):   # the drop starts over every P1 frames
            obj.matrix_world = matrix
            obj.keyframe_insert("location", frame=f)
            obj.keyframe_insert("rotation_euler", frame=f)
        b = 2.0 * math.pi * (t % p2) / p2
        _key(cube, f, (1.9, 0.2, 0.7), (0.0, 0.0, b))
    scene.frame_set(1)
    return scene


SCENES = {"carried": build_carried_scene, "rig": build_rig_scene, "collision": build_collision_scene}
