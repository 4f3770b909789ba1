"""A tiny moving-camera scene for the 3-D layers: save_world_scene.py OUT.blend [still]

Two objects on cyclic paths of 3 and 4 frames (12 configurations over frames
1..12): a cube that circles and turns a quarter per step (every side is seen
from some frame), and a ball that bobs. The camera pans linearly over frames
1..12 (not cyclic); with "still" it stays at its first pose. Keyed every frame."""
import bpy, bmesh, math, sys
from tests.scripts.scene_parts import add_floor, add_sun, body, empty_scene
scene = empty_scene(12)
add_floor(scene)
a = body(scene, "A_Cube", lambda bm: bmesh.ops.create_cube(bm, size=1.0), (1, 0.2, 0.1, 1))
b = body(scene, "B_Ball", lambda bm: bmesh.ops.create_uvsphere(bm, u_segments=12, v_segments=8, radius=0.5), (0.1, 0.4, 1, 1))
cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
scene.collection.objects.link(cam); scene.camera = cam
for f in range(1, 13):
    t = f - 1
    a.location = (-1.2 + 0.8 * math.cos(2 * math.pi * t / 3), 0.8 * math.sin(2 * math.pi * t / 3), 0.5)
    a.rotation_euler = (0, 0, 2 * math.pi * t / 3 + 0.3)
    a.keyframe_insert("location", frame=f); a.keyframe_insert("rotation_euler", frame=f)
    b.location = (1.2, -0.5 + 1.0 * math.cos(2 * math.pi * t / 4), 0.8 + 0.5 * math.sin(2 * math.pi * t / 4))
    b.keyframe_insert("location", frame=f)
    t = 0 if sys.argv[2:] == ["still"] else t
    cam.location = (-2.0 + 4.0 * t / 11, -7, 5)
    cam.rotation_euler = (math.radians(55), 0, math.radians(-12 + 24 * t / 11))
    cam.keyframe_insert("location", frame=f); cam.keyframe_insert("rotation_euler", frame=f)
for ob in (a, b, cam):
    for fc in (ob.animation_data.action.fcurves if hasattr(ob.animation_data.action, "fcurves") else []):
        for k in fc.keyframe_points:
            k.interpolation = "LINEAR"
add_sun(scene)
scene.display.shading.color_type = "OBJECT"
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
