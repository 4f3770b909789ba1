"""Registration of everything the add-on adds to Blender, and its CLI command."""

from __future__ import annotations

import bpy

from . import bake_ops, operators, panel, preferences, props

MODULES = (props, preferences, operators, bake_ops, panel)
_CLI = {"handle": None}


def _cli_execute(argv: list[str]) -> int:
    from ..cli import main
    return main(argv)


def register():
    for mod in MODULES:
        for cls in mod.CLASSES:
            bpy.utils.register_class(cls)
        if hasattr(mod, "register"):
            mod.register()
    if hasattr(bpy.utils, "register_cli_command"):
        _CLI["handle"] = bpy.utils.register_cli_command("alive", _cli_execute)


def unregister():
    operators.cancel_all()
    if _CLI["handle"] is not None:
        bpy.utils.unregister_cli_command(_CLI["handle"])
        _CLI["handle"] = None
    for mod in reversed(MODULES):
        if hasattr(mod, "unregister"):
            mod.unregister()
        for cls in reversed(mod.CLASSES):
            bpy.utils.unregister_class(cls)
