"""The rigid-body collision scene (``blender/interaction_scenes.build_collision_scene``) in Blender.

It is built with Blender's rigid body world, baked by hand to keys (the field notes' recipe):
the keyed ball first falls freely (Blender's gravity, the world's time scale), then glances off
the box's edge (it ends beside the box, the box is pushed the other way); no rigid body is left;
every frame of the cycle is keyed and the drop starts over every P1 frames.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import run_python

PROBE = """
import bpy, json, sys, time
t0 = time.monotonic()
bpy.ops.wm.read_factory_settings(use_empty=True)
from alive_blender.blender import compat
from alive_blender.blender.interaction_scenes import SCENES
scene = SCENES['collision'](periods=(12, 17), width=32, height=24)
built = time.monotonic() - t0
out = {"built_s": built, "rigid_world": scene.rigidbody_world is not None,
       "rigid_bodies": [o.name for o in scene.objects if o.rigid_body is not None],
       "frame_end": scene.frame_end, "fps": scene.render.fps, "gravity": list(scene.gravity),
       "keys": {o.name: sorted({int(k.co[0]) for fc in compat.action_fcurves(o.animation_data)
                                if fc.data_path == "location" for k in fc.keyframe_points})
                for o in scene.objects if o.animation_data is not None},
       "poses": {}}
for f in range(1, scene.frame_end + 1):
    scene.frame_set(f)
    out["poses"][f] = {n: list(scene.objects[n].matrix_world.translation) for n in ("Ball", "Box", "Spinner")}
print(json.dumps(out))
"""


@pytest.mark.timeout(90)
def test_collision_scene_simulates_and_is_keyed():
    t0 = time.monotonic()
    res = run_python(PROBE, timeout=80)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["built_s"] < 30 and time.monotonic() - t0 < 60
    assert not out["rigid_world"] and out["rigid_bodies"] == []   # baked: plain keys are left
    cycle = 12 * 17
    assert out["frame_end"] == cycle
    poses = {int(f): p for f, p in out["poses"].items()}
    ball0, box0 = poses[1]["Ball"], poses[1]["Box"]
    # before it reaches the box the keyed ball falls as Blender's gravity says (time scale 2: 2/24 s a frame)
    g = -out["gravity"][2]
    for f in (3, 4, 5):
        t = 2.0 * (f - 1) / out["fps"]
        assert abs(poses[f]["Ball"][2] - (ball0[2] - 0.5 * g * t * t)) < 0.05, (f, poses[f]["Ball"])
        assert abs(poses[f]["Ball"][0] - ball0[0]) < 1e-3
    # then it glances off the box: thrown clear past the box's side, the box pushed the other way
    end_ball, end_box = poses[12]["Ball"], poses[12]["Box"]
    assert end_ball[0] - ball0[0] > 0.3 and end_ball[2] < 0.6
    assert end_box[0] - box0[0] < -0.1
    # the drop starts over every 12 frames; the spinner keeps its own period: every combination is keyed
    for f in range(1, cycle - 12 + 1):
        assert poses[f + 12]["Ball"] == pytest.approx(poses[f]["Ball"], abs=1e-5)
        assert poses[f + 12]["Box"] == pytest.approx(poses[f]["Box"], abs=1e-5)
    assert out["keys"]["Ball"] == list(range(1, cycle + 1))
    assert out["keys"]["Box"] == list(range(1, cycle + 1))
