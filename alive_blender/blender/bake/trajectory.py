"""The embedding trajectory as geometry (the original design's "spaghetti" view).

Observed embeddings and every rollout are projected to 3-D with one PCA (the
three main directions of all of them together) and drawn as poly curves with
a little bevel, each path its own object, all in the collection
``Alive <name> Trajectory`` inside the bake's collection: orbit it in the
viewport to see where the rollouts wander relative to the captured shot.
"""

from __future__ import annotations

import numpy as np

import bpy

from ...core.pointcloud import pca_3d
from .tags import tag

OBSERVED_COLOR = (0.8, 0.8, 0.8, 1.0)
ROLLOUT_COLORS = [(1.0, 0.35, 0.05, 1.0), (0.1, 0.55, 1.0, 1.0), (0.2, 0.9, 0.3, 1.0), (0.95, 0.2, 0.7, 1.0)]


def _curve_object(coll, name: str, label: str, pts: np.ndarray, mat, bevel: float):
    cu = tag(bpy.data.curves.new(f"Alive Trajectory {label} {name}", "CURVE"), name)
    cu.dimensions = "3D"
    cu.bevel_depth = bevel
    sp = cu.splines.new("POLY")
    sp.points.add(len(pts) - 1)
    co = np.concatenate([pts, np.ones((len(pts), 1))], axis=1).astype(np.float32)
    sp.points.foreach_set("co", co.ravel())
    cu.materials.append(mat)
    obj = tag(bpy.data.objects.new(f"Alive Trajectory {label} {name}", cu), name)
    coll.objects.link(obj)
    return obj


def _material(name: str, label: str, color):
    mat = tag(bpy.data.materials.new(f"Alive Trajectory {label} {name}"), name)
    mat.use_nodes = True
    nt = mat.node_tree
    nt.nodes.clear()
    emit = nt.nodes.new("ShaderNodeEmission")
    emit.inputs["Color"].default_value = color
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    nt.links.new(emit.outputs["Emission"], out.inputs["Surface"])
    out.location = (220, 0)
    mat.diffuse_color = color  # the viewport's solid mode shows it too
    return mat


def bake_trajectory(scene, parent_coll, name: str, observed: np.ndarray, rollouts: np.ndarray,
                    size: float = 1.0, bevel: float = 0.01) -> dict:
    p_obs, p_rol = pca_3d(observed, rollouts, size)
    coll = tag(bpy.data.collections.new(f"Alive {name} Trajectory"), name)
    parent_coll.children.link(coll)
    objs = []
    if len(p_obs) >= 2:
        objs.append(_curve_object(coll, name, "observed", p_obs, _material(name, "observed", OBSERVED_COLOR), bevel))
    for k, path in enumerate(p_rol):
        if len(path) >= 2:
            mat = _material(name, f"rollout {k}", ROLLOUT_COLORS[k % len(ROLLOUT_COLORS)])
            objs.append(_curve_object(coll, name, f"rollout {k}", path, mat, bevel))
    return {"collection": coll.name, "objects": [o.name for o in objs]}
