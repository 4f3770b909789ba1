"""The scene's Alive properties as the run settings schema (core/settings.py):
the panel's converter. The properties' defaults come from the schema too
(props.py reads FLAT_DEFAULTS), so the panel, the CLI and a batch agree."""

from __future__ import annotations

from ...core.settings import BakeSettings, RunSettings
from .preferences import device, encoder_spec
from .props import MATCH_GENERATOR, sample_control_curves


def rollout_controls(scene) -> dict:
    """The animatable rollout controls (temperature, anchor, steering): per-step
    lists sampled from their F-curves at the frames the steps are baked to;
    constant ones stay scalars. Step k is baked at ``frame_start + k``."""
    s = scene.alive
    steps = s.rollout_frames - 1
    out = {}
    for key, values in sample_control_curves(scene, scene.frame_start + 1, steps).items():
        out[key] = [round(float(v), 6) for v in values] if values.size and values.min() != values.max() \
            else round(float(values[0] if values.size else getattr(s, key)), 6)
    return out


def output_size(s) -> tuple[int, int]:
    """The panel's output size, (0, 0) when unset (output = training size)."""
    return (s.output_width, s.output_height) if s.output_width and s.output_height else (0, 0)


def flat_settings(scene) -> dict:
    """The scene's properties under their flat names (core/settings.FLAT)."""
    s = scene.alive
    flat = {
        "camera": s.camera.name if s.camera else "",
        "frame_start": None if s.use_scene_range else s.frame_start,
        "frame_end": None if s.use_scene_range else s.frame_end,
        "width": s.width, "height": s.height, "engine": s.engine, "samples": s.samples,
        "generator": s.generator, "generator_steps": s.generator_steps, "generator_seconds": s.generator_seconds,
        "moving_camera": s.moving_camera,
        "behavior": None if s.behavior == MATCH_GENERATOR else s.behavior, "behavior_epochs": s.behavior_epochs, "seed": s.seed,
        "rollout_frames": s.rollout_frames, "loop": s.loop, "prompt": s.prompt, "negative_prompt": s.negative_prompt,
        "name": s.bake_name, "bake_points": s.bake_points, "point_bake": s.point_bake, "bake_texture": s.bake_texture,
        "point_density": s.point_density, "dynamism": s.dynamism,
        **rollout_controls(scene),
    }
    # width is the SIREN layer width of film-siren / original-siren; grid-siren sizes itself from the resolution
    if s.generator != "grid-siren":
        flat["generator_width"] = s.generator_width
    return flat


def bake_settings(scene) -> BakeSettings:
    """What the panel's Bake needs, and nothing more: baking decodes with the
    work folder's generator, so it needs no encoder (a CLIP model that cannot
    load offline must not stop it)."""
    s = scene.alive
    out_w, out_h = output_size(s)
    return BakeSettings(name=s.bake_name, start=scene.frame_start, points=s.bake_points, texture=s.bake_texture,
                        point_bake=s.point_bake, width=out_w, height=out_h, point_density=s.point_density)


def run_settings(scene) -> RunSettings:
    out_w, out_h = output_size(scene.alive)
    settings = RunSettings.from_flat({**flat_settings(scene), "device": device(), "output_width": out_w or None,
                                      "output_height": out_h or None})
    settings.encoder = encoder_spec()
    settings.bake = bake_settings(scene)
    return settings


def rollout_settings(scene) -> dict:
    """The rollout stage's settings from the scene (as the worker gets them)."""
    return RunSettings.from_flat(flat_settings(scene)).rollout.to_dict()
