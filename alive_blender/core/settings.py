"""One settings schema for a run: capture, encoder, generator, behavior,
rollout, bake, plus device and seed. Every default is defined once, here or
in the model's own config (GeneratorConfig, BehaviorConfig, RolloutConfig,
EncoderSpec), and every way of saying what to run converts into it:

* the CLI (``cli/run_args.py``): argparse flags whose default is "not given";
* the panel (``blender/ui/settings.py``): the scene's ``alive`` properties,
  whose defaults are read from ``FLAT_DEFAULTS``;
* a batch (``core/run/batch.py``): [defaults] and [[shot]] keys of SHOTS.toml,
  which are the run flags' names.

So ``alive capture`` then ``alive run`` on the same work directory agree on
what to render, and ``train``, ``run``, the panel and a batch train alike.
``from_dict`` is strict: an unknown key is an error that names it.

Never imports bpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Optional

from .config import Config
from .errors import AliveError
from .models.behavior import BehaviorConfig, config_for_generator
from .models.encoder import EncoderSpec
from .models.generator import LAYER_ARCHS, MOVING_CAMERA, GeneratorConfig
from .rollout import RolloutConfig

ENGINES = ("CYCLES", "WORKBENCH", "EEVEE", "SCENE")
# Blender's own identifiers (scene.render.engine values) as aliases, so pipeline
# scripts can pass what the scene says; EEVEE is BLENDER_EEVEE_NEXT in 4.2-4.5
ENGINE_ALIASES = {"BLENDER_WORKBENCH": "WORKBENCH", "BLENDER_EEVEE": "EEVEE", "BLENDER_EEVEE_NEXT": "EEVEE"}
ENGINE_CHOICES = ENGINES + tuple(ENGINE_ALIASES)   # both spellings, for argparse and --help


def engine_name(name) -> str:
    """The schema's name of an engine given in any case, as ours or Blender's
    identifier; an unknown name comes back upper-cased for the caller to refuse."""
    up = str(name).strip().upper()
    return ENGINE_ALIASES.get(up, up)
TEXTURE_MODES = ("sequence", "atlas")
CAMERA_POSES = ("start", "per-frame")
# "3d": fused clouds per object + background, keyed transforms (solid from every side; needs a rendered
# capture with ids and an object generator, else per-frame); "per-frame": each decoded frame's depth surface
POINT_BAKES = ("3d", "per-frame")


@dataclass
class CaptureSettings(Config):
    """What to render. The defaults render a small training set fast on a
    CPU: Cycles at 8 samples without denoising; ``engine="SCENE"`` keeps the
    scene's own engine (EEVEE without a GPU is about 1000x slower here)."""
    WHAT = "capture"
    camera: str = ""                 # object name; "" = the scene's active camera
    frame_start: Optional[int] = None  # None = the scene's range
    frame_end: Optional[int] = None
    step: int = 1
    subframes: int = 0               # extra renders between consecutive captured frames
    width: int = 64                  # the training resolution; 0 with height 0: from percent of the scene's
    height: int = 48
    percent: int = 0                 # with width/height 0: percentage of the scene's resolution (0 = 100)
    engine: str = "CYCLES"           # CYCLES | WORKBENCH | EEVEE | SCENE (keep the scene's)
    samples: int = 8                 # Cycles / EEVEE render samples; 0 = the scene's
    denoise: Optional[bool] = False  # Cycles denoising; None = the scene's

    def __post_init__(self):
        if self.engine is not None:
            self.engine = engine_name(self.engine)   # Blender's identifiers and any case


@dataclass
class BakeSettings(Config):
    WHAT = "bake"
    name: str = "alive"
    start: Optional[int] = None      # scene frame of the first baked frame; None = scene start
    points: bool = True
    point_bake: str = "3d"           # "3d" | "per-frame" (POINT_BAKES)
    texture: bool = True             # bake the frames as a texture (shown on the targets below)
    texture_mode: str = "sequence"   # "sequence": PNGs next to the .blend; "atlas": one packed image
    card: bool = True                # the texture on a card filling the capture camera's frustum
    world: bool = False              # the texture as the world background (seen through the camera)
    target_object: str = ""          # the texture as a material on this object (its UV map)
    hold: int = 1                    # scene frames each generated frame stays ("on twos" = 2)
    density: float = 1.0             # decode size relative to training; used by callers that decode
    width: int = 0                   # output (decode) size; 0 = from density x the working size
    height: int = 0
    allow_upscale: bool = False      # decode above the capture's size (reported); otherwise refused
    point_density: float = 1.0       # fraction of decoded pixels that become points (1 = one per pixel)
    pointcloud_object: bool = False  # convert the points mesh into a Point Cloud object
    camera_pose: str = "start"       # "start": one pose for all frames; "per-frame": the scene camera's
    trajectory: bool = False         # embedding trajectory curves (needs embeddings)
    card_distance: float = 0.0       # 0 = median decoded depth
    radius: float = 0.0              # 0 = from the pixel footprint


    def check(self) -> None:
        if not self.name or self.name.strip() != self.name:
            raise AliveError(f"bad bake name {self.name!r}", "use a non-empty name without surrounding spaces")
        if self.texture_mode not in TEXTURE_MODES:
            raise AliveError(f"unknown texture mode '{self.texture_mode}'", "use 'sequence' or 'atlas'")
        if int(self.hold) < 1:
            raise AliveError(f"hold must be at least 1 scene frame, got {self.hold}", "use --hold 1 or more")
        if not self.density > 0:
            raise AliveError(f"point density must be positive, got {self.density}", "use e.g. --density 0.5 or 2")
        if not 0 < self.point_density <= 1:
            raise AliveError(f"point density must be in (0, 1] (points per decoded pixel), got {self.point_density}",
                             "use e.g. --point-density 0.25 (one point per 2x2 pixels) or 1")
        if (self.width > 0) != (self.height > 0) or self.width < 0 or self.height < 0:
            raise AliveError(f"bad output size {self.width}x{self.height}", "give both, e.g. --output-size 1280x720")
        if self.point_bake not in POINT_BAKES:
            raise AliveError(f"unknown point bake '{self.point_bake}'", "use '3d' or 'per-frame'")
        if self.camera_pose not in CAMERA_POSES:
            raise AliveError(f"unknown camera pose mode '{self.camera_pose}'", "use 'start' or 'per-frame'")


@dataclass
class RunSettings:
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    encoder: EncoderSpec = field(default_factory=EncoderSpec)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    behavior: BehaviorConfig = field(default_factory=BehaviorConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    bake: BakeSettings = field(default_factory=BakeSettings)
    device: str = "auto"             # auto | cpu | cuda | mps
    seed: int = 0                    # one seed for training and rollout
    working_width: int = 0           # train at this size, the capture reduced (0: the capture's size);
    working_height: int = 0          # set when an output size (bake.width/height) renders the capture larger

    TOP_LEVEL = ("device", "seed", "working_width", "working_height")
    SECTIONS = {"capture": CaptureSettings, "encoder": EncoderSpec, "generator": GeneratorConfig,
                "behavior": BehaviorConfig, "rollout": RolloutConfig, "bake": BakeSettings}

    def __post_init__(self):
        # one seed: the sections' own seeds follow the run's
        self.generator = replace(self.generator, seed=self.seed)
        self.behavior = replace(self.behavior, seed=self.seed)
        self.rollout = replace(self.rollout, seed=self.seed)

    @classmethod
    def from_dict(cls, d: dict) -> "RunSettings":
        d = dict(d or {})
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise AliveError(f"unknown run setting(s): {', '.join(map(repr, unknown))}",
                             f"known: {', '.join(f.name for f in fields(cls))}")
        kw = {name: kind.from_dict(d[name]) for name, kind in cls.SECTIONS.items() if name in d}
        run = cls(**kw, **{k: d[k] for k in cls.TOP_LEVEL if k in d})
        run.behavior = replace(config_for_generator(d.get("behavior"), run.generator.arch in LAYER_ARCHS),
                               seed=run.seed)
        return run

    def check(self) -> None:
        """What can be checked without a scene or a work directory."""
        c, g, b = self.capture, self.generator, self.behavior
        if str(c.engine).upper() not in ENGINES:
            raise AliveError(f"unknown render engine '{c.engine}'", f"use {', '.join(ENGINES)}")
        if c.samples < 0:
            raise AliveError(f"samples must be 0 or more, got {c.samples}", "use --samples 1 or more")
        if g.steps < 1:
            raise AliveError(f"--generator-steps must be at least 1 (got {g.steps})",
                             "give a positive step count, or use --generator-seconds for a time budget")
        if g.moving_camera not in MOVING_CAMERA:
            raise AliveError(f"unknown --moving-camera '{g.moving_camera}'", f"use {' or '.join(MOVING_CAMERA)}")
        if g.seconds < 0:
            raise AliveError(f"--generator-seconds must not be negative (got {g.seconds})", "use 0 for no time limit")
        if b.epochs < 1:
            raise AliveError(f"--behavior-epochs must be at least 1 (got {b.epochs})", "give a positive count")
        self.bake.check()

    def to_dict(self) -> dict:
        return {"capture": self.capture.to_dict(), "encoder": self.encoder.to_dict(),
                "generator": self.generator.to_dict(), "behavior": self.behavior.to_dict(),
                "rollout": self.rollout.to_dict(), "bake": self.bake.to_dict(),
                "device": self.device, "seed": self.seed,
                "working_width": self.working_width, "working_height": self.working_height}

    @classmethod
    def from_flat(cls, flat: dict) -> "RunSettings":
        """From the flat names the CLI flags, the scene properties and a
        batch's TOML keys share (see ``FLAT``); a value of None means "not
        given": the schema's default."""
        nested: dict[str, Any] = {}
        unknown = sorted(k for k in flat if k not in FLAT)
        if unknown:
            raise AliveError(f"unknown run setting(s): {', '.join(map(repr, unknown))}",
                             "use the flag names of 'alive run' with underscores (alive run --help)")
        for key, value in flat.items():
            if value is None:
                continue
            section, name = FLAT[key]
            if key == "rollout_frames":
                value = int(value) - 1  # the start frame counts: N frames are N-1 steps
                if value < 1:
                    raise AliveError(f"rollout frames must be at least 2, got {value + 1}", "use 2 or more")
            if section is None:
                nested[name] = value
            else:
                nested.setdefault(section, {})[name] = value
        return cls.from_dict(nested).with_output_size(bool(flat.get("width") and flat.get("height")))

    @property
    def working_size(self) -> Optional[tuple]:
        """(W, H) to train at, or None: the capture's own size."""
        return (self.working_width, self.working_height) if self.working_width and self.working_height else None

    def with_output_size(self, working_given: bool) -> "RunSettings":
        """An output size (bake.width x bake.height) renders the capture at that size
        and trains at a working size: the capture's width/height when they were given
        (``working_given``), else the output reduced to 128 pixels wide."""
        out_w, out_h = int(self.bake.width), int(self.bake.height)
        if not (out_w and out_h):
            return self
        c = self.capture
        w, h = (c.width, c.height) if working_given and c.width and c.height else working_for(out_w, out_h)
        if w > out_w or h > out_h:
            raise AliveError(f"training resolution {w}x{h} is larger than the output size {out_w}x{out_h}",
                             f"train at most at {out_w}x{out_h} (--resolution), or raise --output-size")
        self.capture = replace(c, width=out_w, height=out_h, percent=0)
        self.working_width, self.working_height = w, h
        return self


def working_for(width: int, height: int, wide: int = 128) -> tuple[int, int]:
    """The default working size for an output size: ``wide`` pixels wide, same aspect."""
    if width <= wide:
        return width, height
    return wide, max(1, round(height * wide / width))


# flat name (CLI flag with underscores, TOML key, scene property) -> (section, field)
FLAT: dict[str, tuple[Optional[str], str]] = {
    "camera": ("capture", "camera"), "frame_start": ("capture", "frame_start"),
    "frame_end": ("capture", "frame_end"), "step": ("capture", "step"), "subframes": ("capture", "subframes"),
    "width": ("capture", "width"), "height": ("capture", "height"), "percent": ("capture", "percent"),
    "engine": ("capture", "engine"), "samples": ("capture", "samples"), "denoise": ("capture", "denoise"),
    "generator": ("generator", "arch"), "generator_steps": ("generator", "steps"),
    "generator_seconds": ("generator", "seconds"), "generator_width": ("generator", "hidden"),
    "moving_camera": ("generator", "moving_camera"),
    "behavior": ("behavior", "arch"), "behavior_epochs": ("behavior", "epochs"),
    "rollout_frames": ("rollout", "steps"), "temperature": ("rollout", "temperature"),
    "anchor": ("rollout", "anchor"), "prompt": ("rollout", "prompt"),
    "negative_prompt": ("rollout", "negative_prompt"), "steer_strength": ("rollout", "steer_strength"),
    "loop": ("rollout", "loop"), "dynamism": ("rollout", "dynamism"),
    "name": ("bake", "name"), "bake_points": ("bake", "points"), "point_bake": ("bake", "point_bake"),
    "bake_texture": ("bake", "texture"),
    "density": ("bake", "density"), "output_width": ("bake", "width"), "output_height": ("bake", "height"),
    "allow_upscale": ("bake", "allow_upscale"), "point_density": ("bake", "point_density"),
    "device": (None, "device"), "seed": (None, "seed"),
}


def _flat_defaults() -> dict:
    run = RunSettings()
    out = {}
    for key, (section, name) in FLAT.items():
        value = getattr(run if section is None else getattr(run, section), name)
        out[key] = value + 1 if key == "rollout_frames" else value
    return out


# the default of every flat setting, for argparse help and the scene properties' defaults
FLAT_DEFAULTS = _flat_defaults()
