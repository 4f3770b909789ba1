"""alive_blender: make a Blender scene alive.

Renders the active camera's frames, encodes them with CLIP, trains a
generator (embedding -> image + depth) and a behavior model (embedding ->
next embedding), rolls the behavior out as a feedback loop and bakes the
invented frames into the scene.

``alive_blender.core`` is pure Python + torch and never imports ``bpy``; this
module only imports the Blender layer when Blender asks it to register.
"""

__version__ = "0.1.0"


def register():
    from .blender import addon
    addon.register()


def unregister():
    from .blender import addon
    addon.unregister()
