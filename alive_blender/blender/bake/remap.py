"""``bake --objects`` for a deforming object: its own animation shows the chosen appearance frame.

A deforming object's shape at invented frame t is the one of the capture
sample it is drawn from (``R.states.npy``). The animation that shapes it is
moved into an NLA strip with animated strip time (track and strip named
``alive remap``), and the strip time is keyed per invented frame (constant
interpolation) to that sample's time: the action itself is untouched (fake
user), and the .blend plays it without the add-on.

Covered: the active action of the object's shape keys, of its mesh data, and
of the armatures that deform it (an Armature modifier's object, or an
armature parent with parent type ARMATURE: remapping one moves its bones, and
its transform too, so it runs before the object's world matrix is keyed).
Not covered: deformation from the object's own action (modifier settings keyed
on the object: that action is replaced by the keyed matrix), drivers,
Scene Time in geometry nodes, simulation and mesh caches (their frame is
the scene's), and NLA tracks that were already there (they keep playing).
"""

from __future__ import annotations

import numpy as np

REMAP = "alive remap"


def deforming_owners(ob) -> list:
    """The IDs whose active action can deform ``ob``: shape keys, mesh data, deforming armatures."""
    data = ob.data
    owners = [idb for idb in (getattr(data, "shape_keys", None), data) if idb is not None]
    arms = [m.object for m in ob.modifiers if m.type == "ARMATURE" and m.object is not None]
    if ob.parent is not None and ob.parent.type == "ARMATURE" and ob.parent_type == "ARMATURE":
        arms.append(ob.parent)
    for arm in arms:
        if arm not in owners:
            owners.append(arm)
    return [idb for idb in owners if getattr(idb, "animation_data", None) is not None]


def remap_time(owner, frames, times) -> bool:
    """Play ``owner``'s active action at action time ``times[i]`` on scene frame ``frames[i]``.
    A re-bake replaces its own strip (the original action is the strip's). False: nothing animates it."""
    ad = owner.animation_data
    track = ad.nla_tracks.get(REMAP)
    if track is not None and len(track.strips):
        action, slot = track.strips[0].action, getattr(track.strips[0], "action_slot", None)
    else:
        action, slot = ad.action, getattr(ad, "action_slot", None)
    if action is None:
        return False
    if track is not None:
        ad.nla_tracks.remove(track)
    action.use_fake_user = True
    track = ad.nla_tracks.new()
    track.name = REMAP
    strip = track.strips.new(REMAP, int(frames[0]), action)
    if slot is not None and hasattr(strip, "action_slot"):
        strip.action_slot = slot
    if ad.action == action:
        ad.action = None
    strip.use_animated_time = True
    strip.extrapolation = "HOLD"
    strip.frame_end_ui = max(float(frames[-1]) + 1.0, strip.frame_start + 1.0)
    for frame, time in zip(frames, times):
        strip.strip_time = float(time)
        strip.keyframe_insert("strip_time", frame=int(frame))
    for fc in strip.fcurves:
        for k in fc.keyframe_points:
            k.interpolation = "CONSTANT"   # the chosen frame, not a blend towards the next one
    return True


def remap_deforming(scene, names: list, samples: np.ndarray, sample_times, deforming: set, frames) -> dict:
    """For each object in ``deforming`` (names), remap its deforming animation so scene frame
    ``frames[t]`` shows capture sample ``samples[t, m]`` (its time ``sample_times[...]``).
    Returns {name: [remapped IDs]}; an object with none is listed with []."""
    out = {}
    for m, name in enumerate(names):
        if name not in deforming:
            continue
        times = np.asarray(sample_times, np.float64)[np.asarray(samples)[:, m]]
        out[name] = [idb.name for idb in deforming_owners(scene.objects[name]) if remap_time(idb, frames, times)]
    return out
