"""Save test_capture's known scene: save_known_scene.py OUT.blend TESTS_DIR"""
import bpy, sys
sys.path.insert(0, sys.argv[2])
from test_capture import build_known_scene
bpy.ops.wm.read_factory_settings(use_empty=True)
build_known_scene(bpy, "VERTICAL", (0.08, -0.05), (1.0, 1.5), (30, 24))
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
