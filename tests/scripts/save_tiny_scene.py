"""Save the demo scene, short and small: save_tiny_scene.py OUT.blend FRAMES camera|no-camera"""
import bpy, sys
from alive_blender.blender.demo_scene import build_demo_scene
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = build_demo_scene(frames=int(sys.argv[2]), width=64, height=48)
for s in [s for s in bpy.data.scenes if s != scene]:
    bpy.data.scenes.remove(s)
if sys.argv[3] != "camera":
    cam = scene.camera
    scene.camera = None
    bpy.data.objects.remove(cam)
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
