"""The embedded default: a small demo scene built in code.

A static camera looks at a checkered floor with three animated, lit,
textured objects, each on its own cyclic motion: a cube spinning and bobbing
(every 16 frames), a sphere bouncing (every 12) and a drum orbiting (every
24). Over 48 frames each object repeats itself while the three together show
only 48 of their many combinations: what the add-on invents are the others
(new arrangements of things it has seen). Small and deterministic, so the
whole alive loop runs on a laptop CPU in minutes.
"""

from __future__ import annotations

import math

import bpy


CUBE_PERIOD, SPHERE_PERIOD, DRUM_PERIOD = 16, 12, 24   # frames


def _material(name, color, texture=None, scale=4.0):
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nt = mat.node_tree
    bsdf = nt.nodes.get("Principled BSDF")
    bsdf.inputs["Roughness"].default_value = 0.5
    if texture == "checker":
        tex = nt.nodes.new("ShaderNodeTexChecker")
        tex.inputs["Color1"].default_value = color
        tex.inputs["Color2"].default_value = (0.08, 0.08, 0.1, 1.0)
        tex.inputs["Scale"].default_value = scale
        nt.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    elif texture == "noise":
        tex = nt.nodes.new("ShaderNodeTexNoise")
        tex.inputs["Scale"].default_value = scale
        ramp = nt.nodes.new("ShaderNodeValToRGB")
        ramp.color_ramp.elements[0].color = (0.05, 0.05, 0.05, 1.0)
        ramp.color_ramp.elements[1].color = color
        nt.links.new(tex.outputs["Fac"], ramp.inputs["Fac"])
        nt.links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    else:
        bsdf.inputs["Base Color"].default_value = color
    return mat


def _keys(obj, path, frames_values, index=-1):
    for f, v in frames_values:
        if index >= 0:
            getattr(obj, path)[index] = v
            obj.keyframe_insert(path, index=index, frame=f)
        else:
            setattr(obj, path, v)
            obj.keyframe_insert(path, frame=f)


def new_scene(name: str, frames: int, width: int, height: int, sky=(0.25, 0.32, 0.45), strength: float = 0.6):
    """A new scene made current: frames 1..frames at 24 fps, the render size, a plain sky."""
    scene = bpy.data.scenes.new(name)
    if bpy.context.window is not None:
        bpy.context.window.scene = scene
    scene.frame_start, scene.frame_end = 1, frames
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.fps = 24
    world = bpy.data.worlds.new(f"{name} World")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (*sky, 1.0)
    world.node_tree.nodes["Background"].inputs["Strength"].default_value = strength
    scene.world = world
    return scene


def smooth_sphere_mesh(name: str, radius: float, material):
    """A smooth-shaded UV sphere mesh (24 x 12) with one material."""
    import bmesh
    bm = bmesh.new()
    bmesh.ops.create_uvsphere(bm, u_segments=24, v_segments=12, radius=radius)
    mesh = bpy.data.meshes.new(name)
    bm.to_mesh(mesh)
    bm.free()
    for poly in mesh.polygons:
        poly.use_smooth = True
    mesh.materials.append(material)
    return mesh


def build_demo_scene(frames: int = 48, width: int = 128, height: int = 96, name: str = "AliveDemo"):
    """Create (and make current) a new scene; returns it."""
    scene = new_scene(name, frames, width, height)
    coll = scene.collection

    def add(obj):
        coll.objects.link(obj)
        return obj

    # floor
    mesh = bpy.data.meshes.new("Floor")
    s = 6.0
    mesh.from_pydata([(-s, -s, 0), (s, -s, 0), (s, s, 0), (-s, s, 0)], [], [[0, 1, 2, 3]])
    uv = mesh.uv_layers.new(name="UVMap")
    for loop, co in zip(uv.data, [(0, 0), (1, 0), (1, 1), (0, 1)]):
        loop.uv = co
    mesh.materials.append(_material("Floor", (0.85, 0.8, 0.7, 1.0), "checker", 12.0))
    add(bpy.data.objects.new("Floor", mesh))

    # spinning cube
    import bmesh
    bm = bmesh.new()
    bmesh.ops.create_cube(bm, size=1.2)
    cube_mesh = bpy.data.meshes.new("Cube")
    bm.to_mesh(cube_mesh)
    bm.free()
    cube_mesh.materials.append(_material("Cube", (0.9, 0.25, 0.1, 1.0), "noise", 6.0))
    cube = add(bpy.data.objects.new("Cube", cube_mesh))

    # bouncing sphere
    sph_mesh = smooth_sphere_mesh("Sphere", 0.6, _material("Sphere", (0.15, 0.55, 0.95, 1.0), "checker", 5.0))
    sphere = add(bpy.data.objects.new("Sphere", sph_mesh))

    # orbiting drum
    bm = bmesh.new()
    bmesh.ops.create_cone(bm, cap_ends=True, segments=16, radius1=0.5, radius2=0.5, depth=0.5)
    cyl_mesh = bpy.data.meshes.new("Drum")
    bm.to_mesh(cyl_mesh)
    bm.free()
    cyl_mesh.materials.append(_material("Drum", (0.3, 0.85, 0.3, 1.0)))
    drum = add(bpy.data.objects.new("Drum", cyl_mesh))

    # one key per frame from closed-form cyclic motions: exact repeats at whole frames
    for f in range(1, frames + 1):
        t = f - 1
        cube.location = (-1.6, 0.4, 0.6 + 0.4 * (1 - math.cos(2 * math.pi * t / CUBE_PERIOD)))
        cube.rotation_euler = (0.0, 0.0, 2 * math.pi * t / CUBE_PERIOD)
        cube.keyframe_insert("location", frame=f)
        cube.keyframe_insert("rotation_euler", frame=f)
        sphere.location = (1.4, -0.2, 0.6 + 1.4 * abs(math.sin(math.pi * t / SPHERE_PERIOD)))
        sphere.keyframe_insert("location", frame=f)
        a = 2 * math.pi * t / DRUM_PERIOD
        drum.location = (0.3 + 2.0 * math.cos(a), 1.6 + 1.0 * math.sin(a), 0.25)
        drum.keyframe_insert("location", frame=f)

    # lights
    sun_data = bpy.data.lights.new("Sun", "SUN")
    sun_data.energy = 3.0
    sun = add(bpy.data.objects.new("Sun", sun_data))
    sun.rotation_euler = (math.radians(40), math.radians(10), math.radians(30))
    area_data = bpy.data.lights.new("Fill", "AREA")
    area_data.energy = 300.0
    area_data.size = 3.0
    area = add(bpy.data.objects.new("Fill", area_data))
    area.location = (-3.0, -3.0, 4.0)
    area.rotation_euler = (math.radians(45), 0, math.radians(-45))

    # camera
    cam_data = bpy.data.cameras.new("Camera")
    cam_data.lens = 35.0
    cam = add(bpy.data.objects.new("Camera", cam_data))
    cam.location = (0.0, -7.5, 4.2)
    cam.rotation_euler = (math.radians(62), 0.0, 0.0)
    scene.camera = cam
    scene.frame_set(1)
    return scene
