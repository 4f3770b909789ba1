"""Reopen a baked .blend WITHOUT the add-on; evaluate points / render frames; print RESULT + JSON.
    check_bake.py FILE.blend ARGS_JSON"""
import bpy, sys, json, numpy as np
args = json.loads(sys.argv[2])
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
assert 'alive_blender' not in bpy.context.preferences.addons.keys()
import alive_blender  # noqa: F401  (importable, but nothing is registered)
assert not hasattr(bpy.types.Scene, 'alive')
scene = bpy.context.scene
out = {'points': {}, 'renders': {}}
pts_obj = args.get('points_object')
for f in args.get('point_frames', []):
    scene.frame_set(f)
    obj = scene.objects[pts_obj]
    from alive_blender.blender import compat   # 4.x has no evaluated_geometry()
    attrs = compat.evaluated_point_attributes(obj, ('alive_rgb', 'radius'))
    pos = attrs['position']
    n = len(pos) // 3
    col = attrs.get('alive_rgb', np.zeros(n * 4, np.float32))
    rad = attrs.get('radius', np.zeros(n, np.float32))
    out['points'][f] = {'count': n, 'pos': pos.reshape(-1, 3).tolist(), 'rgb': col.reshape(-1, 4)[:, :3].tolist(),
                        'radius': float(rad.mean()) if n else 0.0}
if args.get('render_frames'):
    from mathutils import Matrix
    keep = set(args.get('render_objects', []))
    for o in scene.objects:
        if o.type != 'CAMERA':
            o.hide_render = o.name not in keep
    cam = scene.camera
    cam.animation_data_clear()
    cam.matrix_world = Matrix(args['camera_pose'])
    r = scene.render
    r.engine = args.get('engine', 'CYCLES')
    scene.cycles.samples = 2
    scene.cycles.use_denoising = False
    scene.cycles.device = 'CPU'
    r.resolution_x, r.resolution_y, r.resolution_percentage = args['size'][0], args['size'][1], 100
    r.image_settings.file_format = 'PNG'
    scene.view_settings.view_transform = 'Standard'
    from PIL import Image
    def render(f, tag):
        scene.frame_set(f)
        r.filepath = args['render_dir'] + f'/{tag}{f:04d}.png'
        bpy.ops.render.render(write_still=True)
        img = np.asarray(Image.open(r.filepath).convert('RGB'), np.float32) / 255.0
        return img.reshape(-1, 3).mean(0).tolist()
    for f in args['render_frames']:
        out['renders'][f] = render(f, 'r')
    if args.get('world_frames'):  # everything hidden: what shows is the world background
        for o in scene.objects:
            o.hide_render = o.type != 'CAMERA'
        out['world'] = {f: render(f, 'w') for f in args['world_frames']}
    import os
    out['images'] = {i.name: [i.source, i.filepath, i.packed_file is not None,
                              os.path.exists(bpy.path.abspath(i.filepath))] for i in bpy.data.images
                     if i.name.startswith('Alive')}
print('RESULT' + json.dumps(out))
