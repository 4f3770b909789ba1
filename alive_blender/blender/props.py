"""Scene settings (a PropertyGroup on the scene, saved with the .blend)."""

from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty,
                       StringProperty)

from ..core.behavior import ARCHITECTURES as BEHAVIOR_ARCHS, DEFAULT_ARCH as BEHAVIOR_DEFAULT
from ..core.generator import ARCHITECTURES as GENERATOR_ARCHS, DEFAULT_ARCH as GENERATOR_DEFAULT


def _camera_poll(self, obj):
    return obj.type == "CAMERA"


class AliveSettings(bpy.types.PropertyGroup):
    camera: PointerProperty(type=bpy.types.Object, poll=_camera_poll, name="Camera",
                            description="Camera to capture; empty uses the scene's active camera")
    use_scene_range: BoolProperty(name="Scene Range", default=True,
                                  description="Capture the scene's frame range instead of the range below")
    frame_start: IntProperty(name="Start", default=1, description="First frame to capture")
    frame_end: IntProperty(name="End", default=48, description="Last frame to capture")
    width: IntProperty(name="Width", default=64, min=8, max=4096,
                       description="Training resolution width in pixels (renders are made at this size)")
    height: IntProperty(name="Height", default=48, min=8, max=4096, description="Training resolution height in pixels")
    engine: EnumProperty(name="Engine", default="CYCLES", description="Render engine used for capture",
                         items=[("CYCLES", "Cycles", "Path traced; exact depth"),
                                ("WORKBENCH", "Workbench", "Fast solid shading"),
                                ("EEVEE", "EEVEE", "Rasterised; needs OpenGL"),
                                ("SCENE", "Scene's Engine", "Keep the scene's own engine")])
    samples: IntProperty(name="Samples", default=8, min=1, max=4096, description="Cycles samples per capture render")
    generator: EnumProperty(name="Generator", default=GENERATOR_DEFAULT, description="Generator architecture",
                            items=[(a, a, f"Generator architecture {a}") for a in GENERATOR_ARCHS])
    generator_steps: IntProperty(name="Steps", default=1500, min=1, description="Generator training steps")
    generator_seconds: FloatProperty(name="Time Budget", default=0.0, min=0.0, subtype="TIME_ABSOLUTE",
                                     description="Stop generator training after this many seconds (0: no limit)")
    behavior: EnumProperty(name="Behavior", default=BEHAVIOR_DEFAULT, description="Behavior model architecture",
                           items=[(a, a, f"Behavior architecture {a}") for a in BEHAVIOR_ARCHS])
    behavior_epochs: IntProperty(name="Epochs", default=150, min=1, description="Behavior model training epochs")
    rollout_frames: IntProperty(name="Frames", default=48, min=2, description="Number of frames to invent and bake")
    seed: IntProperty(name="Seed", default=0, min=0, description="Random seed for training and rollout")
    temperature: FloatProperty(name="Temperature", default=1.0, min=0.0, soft_max=4.0, options={"ANIMATABLE"},
                               description="Scale of each invented step; higher is livelier")
    anchor: FloatProperty(name="Anchor", default=0.1, min=0.0, max=1.0, options={"ANIMATABLE"},
                          description="Pull toward the nearest observed frame each step; higher stays closer to "
                                      "the captured shot")
    bake_name: StringProperty(name="Bake Name", default="alive",
                              description="Name of the bake; re-baking a name replaces what it made")
    workdir: StringProperty(name="Work Folder", default="", subtype="DIR_PATH",
                            description="Where captures, models and rollouts go (empty: next to the .blend, or the "
                                        "add-on's user folder for unsaved files)")
    # job state shown in the panel (not user settings)
    job_status: StringProperty(name="Status", default="", description="What the running job is doing",
                               options={"SKIP_SAVE"})
    job_progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR",
                                description="Progress of the running job", options={"SKIP_SAVE"})


CLASSES = (AliveSettings,)


def register():
    bpy.types.Scene.alive = PointerProperty(type=AliveSettings, name="Alive",
                                            description="alive_blender settings for this scene")


def unregister():
    del bpy.types.Scene.alive
