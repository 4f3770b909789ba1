"""Render a baked scene's points from the scene camera (points + card) and from a side camera (points
alone), Cycles 16 samples at 256x192, at the given scene frames (docs/relational.md, "Interaction benchmark";
docs/world.md, "The 3-D bake by default"):

    python scripts/render_bake_views.py BAKED.blend OUT_DIR 10,30 [real] [SIDE_CAMERA_JSON]

The points are the per-frame bake's ("Alive Points ...") or the 3-D bake's clouds ("Alive Cloud ...").
With ``real`` (a ``bake --objects`` scene: the real meshes keyed at the invented poses) the scene's
own meshes render from both cameras instead, and no bake: Blender's render of the same state.
SIDE_CAMERA_JSON: {"location": [x, y, z], "look_at": [x, y, z], "lens": mm}; default: the demo's side view.
"""
import json, bpy, sys
from mathutils import Vector
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
out, frames = sys.argv[2], [int(f) for f in sys.argv[3].split(",")]
spec = {"location": [-4.6, -2.4, 2.4], "look_at": [-0.1, 0.9, 0.7], "lens": 30.0}
real = "real" in sys.argv[4:]
spec.update(next((json.loads(a) for a in sys.argv[4:] if a.startswith("{")), {}))
sc = bpy.context.scene
sc.render.engine = "CYCLES"; sc.cycles.samples = 16; sc.cycles.use_denoising = False
sc.render.resolution_x, sc.render.resolution_y, sc.render.resolution_percentage = 256, 192, 100
sc.render.image_settings.file_format = "PNG"
coll = bpy.data.collections.get("Alive alive")
alive = {o.name for o in coll.objects} if coll else set()
main_cam = sc.camera
side = bpy.data.objects.new("Side Camera", bpy.data.cameras.new("Side Camera"))
side.data.lens = spec["lens"]
side.location = spec["location"]
side.rotation_euler = (Vector(spec["look_at"]) - side.location).to_track_quat("-Z", "Y").to_euler()
sc.collection.objects.link(side)
points = lambda o: o.name.startswith(("Alive Points", "Alive Cloud"))   # noqa: E731
for f in frames:
    sc.frame_set(f)
    for view, cam, keep in (("camera", main_cam, lambda o: o.name in alive and "Table" not in o.name),
                            ("side", side, points)):
        sc.camera = cam
        for o in sc.objects:
            if o.type == "MESH":
                o.hide_render = (o.name in alive) if real else not keep(o)
        sc.render.filepath = f"{out}/{view}_{f}.png"
        bpy.ops.render.render(write_still=True)
