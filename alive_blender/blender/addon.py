"""Registration of everything the add-on adds to Blender, and its CLI command.

``unregister`` undoes all of it: classes, the Scene property, the file-load
handler, the job timer (a running worker is stopped first), the CLI command.
"""

from __future__ import annotations

import bpy
from bpy.app.handlers import persistent

from .bake import operator as bake_ops
from .ui import operators, panel, preferences, props

MODULES = (props, preferences, operators, bake_ops, panel)
from .live import operator as live_ops  # noqa: E402  (Play Live, Record Take and their panel)
MODULES += (live_ops,)
_CLI = {"handle": None}


def _cli_execute(argv: list[str]) -> int:
    from ..cli import main
    return main(argv)


@persistent
def _stop_jobs_on_load(*_args):
    """A job writes into a scene of the file being closed: stop it first."""
    operators.cancel_all()


def register():
    for mod in MODULES:
        for cls in mod.CLASSES:
            bpy.utils.register_class(cls)
        if hasattr(mod, "register"):
            mod.register()
    bpy.app.handlers.load_pre.append(_stop_jobs_on_load)
    if hasattr(bpy.utils, "register_cli_command"):
        _CLI["handle"] = bpy.utils.register_cli_command("alive", _cli_execute)


def unregister():
    operators.cancel_all()
    while _stop_jobs_on_load in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_stop_jobs_on_load)
    if _CLI["handle"] is not None:
        bpy.utils.unregister_cli_command(_CLI["handle"])
        _CLI["handle"] = None
    for mod in reversed(MODULES):
        if hasattr(mod, "unregister"):
            mod.unregister()
        for cls in reversed(mod.CLASSES):
            bpy.utils.unregister_class(cls)
