"""Key object poses (and the camera) on a copy of a scene: key_poses.py IN.blend OUT.blend SPEC.npz

SPEC.npz: names (M,) str, poses (F, M, 4, 4), cameras (F, 4, 4); keyed on
scene frames 1..F (the re-render oracle: Blender renders the invented states)."""
import sys
import bpy
import numpy as np
from alive_blender.blender.bake.objects import key_object_poses
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
spec = np.load(sys.argv[3])
scene = bpy.context.scene
F = len(spec["poses"])
scene.frame_start, scene.frame_end = 1, F
key_object_poses(scene, [str(n) for n in spec["names"]], spec["poses"], range(1, F + 1), spec["cameras"])
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[2])
