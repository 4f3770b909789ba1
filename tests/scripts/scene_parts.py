"""Parts of the tiny test scenes (imported by the scene scripts as tests.scripts.scene_parts):
an empty scene with a frame range, a floor quad, and a coloured mesh body (Workbench shows the
object colour with ``scene.display.shading.color_type = "OBJECT"``)."""
import bpy
import bmesh


def empty_scene(frames: int = 12):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, frames
    return scene


def add_floor(scene, half: float = 5.0):
    floor = bpy.data.meshes.new("Floor")
    floor.from_pydata([(-half, -half, 0), (half, -half, 0), (half, half, 0), (-half, half, 0)], [], [[0, 1, 2, 3]])
    scene.collection.objects.link(bpy.data.objects.new("Floor", floor))


def body(scene, name: str, make, colour):
    """A mesh object made by ``make(bmesh)``, linked to the scene, with an object colour."""
    bm = bmesh.new()
    make(bm)
    me = bpy.data.meshes.new(name)
    bm.to_mesh(me)
    bm.free()
    ob = bpy.data.objects.new(name, me)
    ob.color = colour
    scene.collection.objects.link(ob)
    return ob


def add_sun(scene):
    import math
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    sun.rotation_euler = (math.radians(30), 0, math.radians(20))
    scene.collection.objects.link(sun)
