"""The redo-panel bake operator on a saved scene: bake_operator.py FILE.blend WORKDIR; prints RESULT + JSON."""
import bpy, sys, json
import alive_blender
alive_blender.register()
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
op = bpy.types.ALIVE_OT_bake
assert 'UNDO' in op.bl_options
r = bpy.ops.alive.bake_options(name='ui', workdir=sys.argv[2], texture_mode='ATLAS', hold=3)
coll = bpy.data.collections['Alive ui']
print('RESULT' + json.dumps({'ret': list(r), 'objects': sorted(o.name for o in coll.objects)}))
alive_blender.unregister()   # as Blender does on quit (4.2's bpy module crashes at exit otherwise)
