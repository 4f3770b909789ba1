"""Which bake made an ID: every datablock a bake creates carries its name in a
custom property, so a re-bake or a removal finds exactly what it made."""

from __future__ import annotations

import bpy

TAG = "alive_bake"          # custom property naming the bake an ID belongs to
# ID collections a bake may add to, in the order they are removed (users first)
BAKE_DATA = ("objects", "meshes", "pointclouds", "curves", "materials", "node_groups", "images", "worlds",
             "actions", "collections")


def tag(idblock, name):
    idblock[TAG] = name
    return idblock


def tagged(coll_name: str, name: str) -> list:
    return [i for i in getattr(bpy.data, coll_name) if i.get(TAG) == name]


def bake_counts() -> dict:
    """How many IDs of each kind a bake may make exist now (for re-bake checks)."""
    return {c: len(getattr(bpy.data, c)) for c in BAKE_DATA}
