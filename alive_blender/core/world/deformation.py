"""Deforming objects: which captured samples show an object in the same shape.

The capture records, per sample, a digest of each possibly deforming id
object's evaluated geometry in its own frame (``deformation`` in a sample's
record: ``{"id": digest}``, written by ``blender/capture/deformation.py``).
Equal digests are one *deformation state*; an object with more than one state
deforms (armature, shape keys, modifiers, a simulation), and its cloud is
fused per state (``world_layers.py``): points of different shapes must not be
mixed. A capture without the record (older ones, footage) is rigid.

The capture also records the object's whole surface in each state (at most
``MAX_SURFACE_STATES`` of them: ``surface_states``), from which the 3-D bake
completes that state's cloud (``capture_clouds.py``).
"""

from __future__ import annotations

import numpy as np

KEY = "deformation"
MAX_SURFACE_STATES = 16   # surfaces recorded per deforming object, at most (each up to 200,000 samples)


def deformation_states(samples, object_id: int) -> np.ndarray:
    """(N,) int32: the deformation state of ``object_id`` in each sample (0, 1, ... in order of
    first appearance; equal recorded geometry = same state). All 0 when nothing was recorded."""
    digests = [(s.get(KEY) or {}).get(str(object_id)) for s in samples]
    seen: dict = {}
    return np.array([seen.setdefault(d, len(seen)) for d in digests], np.int32)


def deforming_objects(samples, objects) -> dict:
    """{object id: number of states} for the objects among ``objects`` with more than one state."""
    out = {}
    for o in objects:
        k = int(deformation_states(samples, int(o)).max(initial=0)) + 1
        if k > 1:
            out[int(o)] = k
    return out


def describe(samples, objects, names: dict) -> str:
    """'A_Cube 3 states, ...' or 'none' (for train and info)."""
    d = deforming_objects(samples, objects)
    return ", ".join(f"{names.get(str(o), str(o))} {k} states" for o, k in d.items()) or "none"


def state_samples(states: np.ndarray) -> list:
    """For each state index, the samples that show it."""
    return [np.flatnonzero(states == s) for s in range(int(states.max(initial=0)) + 1)]



def surface_states(samples, object_id: int, cap: int = MAX_SURFACE_STATES) -> tuple[list, int]:
    """([(state, sample)], states): the deformation states of ``object_id`` whose surface the
    capture records, each with the first sample that shows it, and how many states there are.
    At most ``cap``: the states shown in the most samples first (ties: the first seen), so a
    capped object has its surface in the shapes the bake draws most; listed in state order."""
    states = deformation_states(samples, object_id)
    if not len(states):
        return [], 0
    groups = state_samples(states)
    keep = sorted(sorted(range(len(groups)), key=lambda s: -len(groups[s]))[:max(int(cap), 0)])
    return [(s, int(groups[s][0])) for s in keep], len(groups)
