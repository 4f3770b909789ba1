"""A rod bent by a two-bone armature: save_armature_scene.py OUT.blend

The upper bone turns 0, 30, 60 degrees (period 3: three deformation states of
the rod, through its Armature modifier) while the armature, the rod's parent,
slides between two places (period 2). A still camera; frames 1..12 keyed."""
import bpy, bmesh, math, sys
from tests.scripts.scene_parts import add_floor, body, empty_scene
scene = empty_scene(12)
add_floor(scene)
def rod_mesh(bm):   # a 0.4 x 0.4 x 2 box standing on the origin, cut along its height so it can bend
    bmesh.ops.create_cube(bm, size=1.0)
    bmesh.ops.scale(bm, vec=(0.4, 0.4, 2.0), verts=bm.verts)
    bmesh.ops.translate(bm, vec=(0, 0, 1.0), verts=bm.verts)
    bmesh.ops.subdivide_edges(bm, edges=[e for e in bm.edges if abs(e.verts[0].co.z - e.verts[1].co.z) > 1], cuts=4)
rod = body(scene, "Rod", rod_mesh, (1, 0.2, 0.1, 1))
me = rod.data
arm = bpy.data.objects.new("Arm", bpy.data.armatures.new("Arm")); scene.collection.objects.link(arm)
bpy.context.view_layer.objects.active = arm
bpy.ops.object.mode_set(mode="EDIT")
b1 = arm.data.edit_bones.new("Low"); b1.head, b1.tail = (0, 0, 0), (0, 0, 1)
b2 = arm.data.edit_bones.new("High"); b2.head, b2.tail = (0, 0, 1), (0, 0, 2); b2.parent = b1; b2.use_connect = True
bpy.ops.object.mode_set(mode="OBJECT")
rod.parent = arm; rod.parent_type = "OBJECT"
mod = rod.modifiers.new("Armature", "ARMATURE"); mod.object = arm
for name in ("Low", "High"):
    vg = rod.vertex_groups.new(name=name)
for v in me.vertices:
    w = min(max(v.co.z - 0.5, 0), 1)
    rod.vertex_groups["Low"].add([v.index], 1 - w, "REPLACE"); rod.vertex_groups["High"].add([v.index], w, "REPLACE")
pb = arm.pose.bones["High"]; pb.rotation_mode = "XYZ"
for f in range(1, 13):
    pb.rotation_euler = (0, math.radians((0, 30, 60)[(f - 1) % 3]), 0); pb.keyframe_insert("rotation_euler", frame=f)
    arm.location = (-1 + 0.6 * ((f - 1) % 2), 0, 0); arm.keyframe_insert("location", frame=f)
cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
scene.collection.objects.link(cam); scene.camera = cam
cam.location = (0, -7, 2.5); cam.rotation_euler = (math.radians(80), 0, 0)
scene.display.shading.color_type = "OBJECT"
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
