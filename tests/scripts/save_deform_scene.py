"""A tiny scene with a deforming object: save_deform_scene.py OUT.blend

A cube (A_Blob) whose shape key "Bulge" (wider and taller) is keyed 0, 0.5, 1
with period 3 (three deformation states) while it slides between two places
(period 2), and a rigid ball (B_Ball) that bobs (period 4). The camera swings
between two poses (period 2: cyclic, so invented frames past the capture are
seen as the scene's own camera sees them); frames 1..12, every frame keyed
(constant)."""
import bpy, bmesh, math, sys
import numpy as np
from tests.scripts.scene_parts import add_floor, add_sun, body, empty_scene
scene = empty_scene(12)
add_floor(scene)
a = body(scene, "A_Blob", lambda bm: bmesh.ops.create_cube(bm, size=1.0), (1, 0.2, 0.1, 1))
b = body(scene, "B_Ball", lambda bm: bmesh.ops.create_uvsphere(bm, u_segments=12, v_segments=8, radius=0.5), (0.1, 0.4, 1, 1))
a.shape_key_add(name="Basis")
bulge = a.shape_key_add(name="Bulge")
co = np.array([v.co[:] for v in a.data.vertices])
co = co * np.array([1.5, 1.5, 1.0]) + np.where(co[:, 2:] > 0, [0, 0, 0.6], [0, 0, 0])
bulge.data.foreach_set("co", co.ravel())
for f in range(1, 13):
    t = f - 1
    bulge.value = (0.0, 0.5, 1.0)[t % 3]
    bulge.keyframe_insert("value", frame=f)
    a.location = (-1.3 + 0.5 * (t % 2), 0.0, 0.5)
    a.keyframe_insert("location", frame=f)
    b.location = (1.3, -0.3 + 0.6 * math.cos(2 * math.pi * t / 4), 0.8 + 0.4 * math.sin(2 * math.pi * t / 4))
    b.keyframe_insert("location", frame=f)
cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
scene.collection.objects.link(cam); scene.camera = cam
for f in range(1, 13):
    side = (f - 1) % 2
    cam.location = (-0.5 + 1.0 * side, -6.5, 3.2)
    cam.rotation_euler = (math.radians(68), 0, math.radians(-4 + 8 * side))
    cam.keyframe_insert("location", frame=f); cam.keyframe_insert("rotation_euler", frame=f)
from bpy_extras.anim_utils import action_get_channelbag_for_slot
for ad in (a.animation_data, b.animation_data, a.data.shape_keys.animation_data, cam.animation_data):
    for fc in action_get_channelbag_for_slot(ad.action, ad.action_slot).fcurves:
        for k in fc.keyframe_points:
            k.interpolation = "CONSTANT"
add_sun(scene)
scene.display.shading.color_type = "OBJECT"
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
