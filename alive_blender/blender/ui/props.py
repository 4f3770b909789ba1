"""Scene settings (a PropertyGroup on the scene, saved with the .blend).

Grouped in the order of the work: capture, train, rollout, bake. Temperature,
anchor and steering strength are animatable: the rollout samples their
F-curves over the frames it bakes to (``sample_control_curves``)."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import (BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty,
                       StringProperty)

from ...core.models.behavior import ARCHITECTURES as BEHAVIOR_ARCHS, EMBEDDING_DEFAULT
from ...core.models.generator import ARCHITECTURES as GENERATOR_ARCHS
from ...core.settings import FLAT_DEFAULTS as DEFAULTS  # every default is the run schema's

# the Behavior menu's "not given": the schema picks the behavior that goes with the generator
# (core/models/behavior.config_for_generator), as the CLI does without --behavior
MATCH_GENERATOR = "MATCH_GENERATOR"

# animatable rollout controls: property name -> key in the rollout settings dict
CONTROL_CURVES = {"temperature": "temperature", "anchor": "anchor", "steer_strength": "steer_strength"}


def _camera_poll(self, obj):
    return obj.type == "CAMERA"


class AliveSettings(bpy.types.PropertyGroup):
    # -- capture
    camera: PointerProperty(type=bpy.types.Object, poll=_camera_poll, name="Camera",
                            description="Camera to capture; empty uses the scene's active camera")
    use_scene_range: BoolProperty(name="Scene Range", default=True,
                                  description="Capture the scene's frame range instead of the range below")
    frame_start: IntProperty(name="Start", default=1, description="First frame to capture")
    frame_end: IntProperty(name="End", default=48, description="Last frame to capture")
    width: IntProperty(name="Width", default=DEFAULTS["width"], min=8, max=4096,
                       description="Training (working) resolution width in pixels; renders are made at this "
                                   "size unless an output size is set")
    height: IntProperty(name="Height", default=DEFAULTS["height"], min=8, max=4096, description="Training resolution height in pixels")
    output_width: IntProperty(name="Output Width", default=DEFAULTS["output_width"], min=0, max=8192,
                              description="Render the capture and decode the invented frames at this size (e.g. "
                                          "1280); training stays at the resolution above. 0: the training size")
    output_height: IntProperty(name="Output Height", default=DEFAULTS["output_height"], min=0, max=8192,
                               description="Output height in pixels (e.g. 720); 0: the training size")
    point_density: FloatProperty(name="Point Density", default=DEFAULTS["point_density"], min=0.01, max=1.0,
                                 subtype="FACTOR", description="Points per output pixel in the baked point cloud "
                                                               "(1: one per pixel, 0.25: one per 2x2 pixels)")
    engine: EnumProperty(name="Engine", default=DEFAULTS["engine"], description="Render engine used for capture",
                         items=[("CYCLES", "Cycles", "Path traced; exact depth"),
                                ("WORKBENCH", "Workbench", "Fast solid shading"),
                                ("EEVEE", "EEVEE", "Rasterised; needs OpenGL"),
                                ("SCENE", "Scene's Engine", "Keep the scene's own engine")])
    samples: IntProperty(name="Samples", default=DEFAULTS["samples"], min=1, max=4096, description="Cycles samples per capture render")
    # -- train
    generator: EnumProperty(name="Generator", default=DEFAULTS["generator"], description="Generator architecture",
                            items=[(a, a, f"Generator architecture {a}") for a in GENERATOR_ARCHS])
    moving_camera: EnumProperty(name="Moving Camera", default=DEFAULTS["moving_camera"],
                                description="What object-layers does on a shot whose camera moves",
                                items=[("world", "3-D Objects", "Draw the objects in 3-D (object-world): invented "
                                        "arrangements seen through the shot's own camera"),
                                       ("frames", "Whole Frames", "Replay whole captured frames (invents no "
                                        "new arrangement)")])
    generator_steps: IntProperty(name="Steps", default=DEFAULTS["generator_steps"], min=1, description="Generator training steps")
    generator_width: IntProperty(name="Width", default=DEFAULTS["generator_width"], min=8, max=2048,
                                 description="Neurons per layer of the film-siren and original-siren generators: smaller "
                                             "trains faster, larger gives sharper frames (grid-siren sizes itself)")
    generator_seconds: FloatProperty(name="Time Budget", default=DEFAULTS["generator_seconds"], min=0.0, subtype="TIME_ABSOLUTE",
                                     description="Stop generator training after this many seconds (0: no limit)")
    # explicit item numbers: what a saved .blend stores; the architectures keep their old ones
    behavior: EnumProperty(name="Behavior", default=MATCH_GENERATOR, description="Behavior model architecture",
                           items=[(MATCH_GENERATOR, "Match Generator",
                                   f"{DEFAULTS['behavior']} with an object-layers generator, {EMBEDDING_DEFAULT} "
                                   f"with the others (what the CLI picks without --behavior)", 100)]
                           + [(a, a, f"Behavior architecture {a}", i) for i, a in enumerate(BEHAVIOR_ARCHS)])
    behavior_epochs: IntProperty(name="Epochs", default=DEFAULTS["behavior_epochs"], min=1, description="Behavior model training epochs")
    seed: IntProperty(name="Seed", default=DEFAULTS["seed"], min=0, description="Random seed for training and rollout")
    # -- rollout
    rollout_frames: IntProperty(name="Frames", default=DEFAULTS["rollout_frames"], min=2, description="Number of frames to invent and bake")
    temperature: FloatProperty(name="Temperature", default=DEFAULTS["temperature"], min=0.0, soft_max=4.0, options={"ANIMATABLE"},
                               description="Scale of each invented step; higher is livelier. Keyframe it to "
                                           "vary it over the baked frames")
    anchor: FloatProperty(name="Anchor", default=DEFAULTS["anchor"], min=0.0, max=1.0, options={"ANIMATABLE"},
                          description="Pull toward the nearest observed frame each step; higher stays closer to "
                                      "the captured shot. Keyframe it to vary it over the baked frames")
    prompt: StringProperty(name="Prompt", default="",
                           description="Text that steers the invented motion (needs a CLIP encoder in the "
                                       "add-on preferences)")
    negative_prompt: StringProperty(name="Negative Prompt", default="",
                                    description="Text to steer away from (optional)")
    steer_strength: FloatProperty(name="Steering", default=DEFAULTS["steer_strength"], min=0.0, max=1.0, options={"ANIMATABLE"},
                                  description="How strongly the prompt steers each step (0: not at all). "
                                              "Keyframe it to vary it over the baked frames")
    dynamism: FloatProperty(name="Dynamism", default=DEFAULTS["dynamism"], min=0.0, max=1.0,
                            description="0: a still frame .. 1: every region (footage) or object moves; the "
                                        "least active ones hold first (object walks)")
    loop: BoolProperty(name="Loop", default=DEFAULTS["loop"],
                       description="End the rollout near its start so the baked frames loop seamlessly")
    # -- bake
    bake_name: StringProperty(name="Bake Name", default=DEFAULTS["name"],
                              description="Name of the bake; re-baking a name replaces what it made")
    bake_points: BoolProperty(name="Point Cloud", default=DEFAULTS["bake_points"],
                              description="Bake the frames as an animated point cloud (needs depth)")
    point_bake: EnumProperty(name="Points", default=DEFAULTS["point_bake"], description="Which point cloud to bake",
                             items=[("3d", "3-D Objects", "One fused cloud per object plus the background, moved "
                                     "per frame: solid from every side (a rendered capture with object ids)"),
                                    ("per-frame", "Per-Frame Depth", "Each invented frame's depth surface, "
                                     "seen from the capture camera")])
    bake_texture: BoolProperty(name="Image Card", default=DEFAULTS["bake_texture"],
                               description="Bake the frames as an image sequence on a card in the camera's view")
    workdir: StringProperty(name="Work Folder", default="", subtype="DIR_PATH",
                            description="Where captures, models and rollouts go (empty: from the add-on "
                                        "preferences, by default next to the .blend)")
    # -- job state shown in the panel (written by the job runner, not user settings)
    job_status: StringProperty(name="Status", default="", description="What the last or running Alive job is "
                                                                      "doing")
    job_progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR",
                                description="Progress of the running Alive job")
    train_loss: FloatProperty(name="Loss", default=0.0, precision=5,
                              description="Latest generator training loss (lower is better)")
    train_psnr: FloatProperty(name="PSNR", default=0.0, precision=2, subtype="NONE",
                              description="Generator PSNR on the captured frames in dB after training "
                                          "(higher is better)")


def control_value(scene, name: str, frame: float) -> float:
    """Value of an Alive control at ``frame``: its F-curve if animated, else the property."""
    fc = _control_fcurve(scene, name)
    return float(fc.evaluate(frame)) if fc is not None else float(getattr(scene.alive, name))


def _control_fcurve(scene, name: str):
    from .. import compat
    return compat.find_fcurve(scene.animation_data, f"alive.{name}")


def sample_control_curves(scene, start: int, n: int) -> dict[str, np.ndarray]:
    """The animatable rollout controls over ``n`` scene frames from ``start``:
    {"temperature", "anchor", "steer_strength"} -> float32 arrays of length n.
    Reads F-curves without changing the current frame. Step k of a rollout
    (k = 1..steps) makes the frame baked at ``bake_start + k``, so callers pass
    ``start = bake_start + 1`` and ``n = steps``."""
    out = {}
    for prop, key in CONTROL_CURVES.items():
        fc = _control_fcurve(scene, prop)
        if fc is None:
            out[key] = np.full(n, float(getattr(scene.alive, prop)), np.float32)
        else:
            out[key] = np.array([fc.evaluate(start + i) for i in range(n)], np.float32)
    return out


CLASSES = (AliveSettings,)


def register():
    bpy.types.Scene.alive = PointerProperty(type=AliveSettings, name="Alive",
                                            description="alive_blender settings for this scene")


def unregister():
    del bpy.types.Scene.alive
