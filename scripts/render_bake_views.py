"""Render a baked scene's points from the scene camera (points + card) and from a side camera (points
alone), Cycles 16 samples at 256x192, at the given scene frames (docs/relational.md, "Interaction benchmark"):

    python scripts/render_bake_views.py BAKED.blend OUT_DIR 10,30
"""
import bpy, sys
from mathutils import Vector
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
out, frames = sys.argv[2], [int(f) for f in sys.argv[3].split(",")]
sc = bpy.context.scene
sc.render.engine = "CYCLES"; sc.cycles.samples = 16; sc.cycles.use_denoising = False
sc.render.resolution_x, sc.render.resolution_y, sc.render.resolution_percentage = 256, 192, 100
sc.render.image_settings.file_format = "PNG"
alive = {o.name for o in bpy.data.collections["Alive alive"].objects}
main_cam = sc.camera
side = bpy.data.objects.new("Side Camera", bpy.data.cameras.new("Side Camera"))
side.data.lens = 30.0
side.location = (-4.6, -2.4, 2.4)
side.rotation_euler = (Vector((-0.1, 0.9, 0.7)) - side.location).to_track_quat("-Z", "Y").to_euler()
sc.collection.objects.link(side)
for f in frames:
    sc.frame_set(f)
    for view, cam, keep in (("camera", main_cam, lambda o: o.name in alive and "Table" not in o.name),
                            ("side", side, lambda o: o.name.startswith("Alive Points"))):
        sc.camera = cam
        for o in sc.objects:
            if o.type == "MESH":
                o.hide_render = not keep(o)
        sc.render.filepath = f"{out}/{view}_{f}.png"
        bpy.ops.render.render(write_still=True)
