"""Blender extension entry point.

Blender imports the folder holding ``blender_manifest.toml`` as the add-on
package; the code lives in the ``alive_blender`` package inside it, which is
also what ``python -m alive_blender`` runs with the bpy module."""

from .alive_blender import register, unregister  # noqa: F401
