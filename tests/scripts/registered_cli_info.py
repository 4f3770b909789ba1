"""`blender -c alive info WORKDIR` through the registered command handler; prints RESULT + JSON."""
import json, sys, io, contextlib
import bpy
import alive_blender
alive_blender.register()
from alive_blender.blender import addon
assert addon._CLI["handle"] is not None            # `blender -c alive` is registered
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    code = addon._cli_execute(["info", sys.argv[1]])
print("RESULT" + json.dumps({"code": code, "out": buf.getvalue()}))
alive_blender.unregister()
