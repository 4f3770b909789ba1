"""Pure-Python core of alive_blender: no ``bpy`` anywhere below this package.

Encoding, generator, behavior model, rollout, metrics, camera math and the
work-directory format live here so that they can be imported, tested and run
(e.g. on a GPU machine without Blender) on their own. Heavy dependencies
(torch, open_clip) are imported by the submodules that need them, not here.
"""

from .errors import AliveError, Cancelled  # noqa: F401
