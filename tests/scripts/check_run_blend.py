"""Reopen what `alive run` saved, without the add-on: points at two frames, card keys, image.
    check_run_blend.py FILE.blend FIRST LAST"""
import bpy, sys, json, numpy as np
from alive_blender.blender import compat
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
assert 'alive_blender' not in bpy.context.preferences.addons.keys()
scene = bpy.context.scene
obj = next(o for o in scene.objects if o.name.startswith('Alive Points'))
out = {}
for f in (int(sys.argv[2]), int(sys.argv[3])):
    scene.frame_set(f)
    pos = compat.evaluated_point_attributes(obj, ())['position']
    out[f] = {'count': len(pos) // 3, 'mean': pos.reshape(-1, 3).mean(0).tolist()}
mat = next(m for m in bpy.data.materials if m.name.startswith('Alive Card'))
ad = mat.node_tree.animation_data
keys = [len(fc.keyframe_points) for fc in compat.action_fcurves(ad) if 'frame_offset' in fc.data_path]
img = next(i for i in bpy.data.images if i.name.startswith('Alive Frames'))
out['offset_keys'] = keys
out['image'] = [img.filepath, img.source]
print('RESULT' + json.dumps(out))
