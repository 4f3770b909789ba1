"""Render objects alone from a side camera (alpha masks), in a fresh Blender with no add-on:
side_render.py BLEND OUT_DIR FRAME NAMES_JSON [full]

For each object name: everything else hidden from render, film transparent,
Cycles (4 samples) at 64x48 from a camera at +x looking at the stage; writes
OUT_DIR/<i>.png (RGBA). With "full": also OUT_DIR/full.png, all visible. A name that is no
object but has clouds "<name> state S" (a deforming object's 3-D bake) is the one of them
shown (not hidden from render) at FRAME; keyed visibility is muted after FRAME is set, so
hiding the others holds at render time."""
import json, math, sys
import bpy
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
out, frame, names = sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
scene = bpy.context.scene
cam = bpy.data.objects.new("Side Camera", bpy.data.cameras.new("Side Camera"))
cam.location = (7.5, 0.0, 2.5)
cam.rotation_euler = (math.radians(75), 0, math.radians(90))
scene.collection.objects.link(cam)
scene.camera = cam
scene.render.engine = "CYCLES"
scene.cycles.samples = 4
scene.cycles.use_denoising = False
scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 64, 48, 100
scene.render.film_transparent = True
scene.render.image_settings.file_format = "PNG"
scene.render.image_settings.color_mode = "RGBA"
scene.frame_set(frame)
hidden = {o.name: o.hide_render for o in scene.objects}
for i, name in enumerate(names):
    if name not in scene.objects:
        shown = [o.name for o in scene.objects if o.name.startswith(name + " state ") and not o.hide_render]
        assert len(shown) == 1, f"{name}: not one state shown at frame {frame}: {shown}"
        names[i] = shown[0]
from bpy_extras.anim_utils import action_get_channelbag_for_slot
for o in scene.objects:   # keyed visibility (state clouds) would undo the hiding below at render time
    ad = o.animation_data
    if ad and ad.action:
        for fc in action_get_channelbag_for_slot(ad.action, ad.action_slot).fcurves:
            fc.mute = fc.mute or fc.data_path in ("hide_render", "hide_viewport")
if sys.argv[5:] == ["full"]:
    scene.render.filepath = f"{out}/full.png"
    bpy.ops.render.render(write_still=True)
for i, name in enumerate(names):
    for o in scene.objects:
        o.hide_render = o.name != name and o.type != "LIGHT"
    scene.render.filepath = f"{out}/{i}.png"
    bpy.ops.render.render(write_still=True)
