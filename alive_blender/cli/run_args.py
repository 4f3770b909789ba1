"""The run settings (core/settings.py) as command-line flags, shared by
``run``, ``demo``, ``capture`` and ``train``. A flag's name is its flat
setting's name (``--generator-steps`` = ``generator_steps``, also the
SHOTS.toml key and the scene property); its argparse default is None ("not
given"), so the schema's one default applies and ``--help`` shows it."""

from __future__ import annotations

from ..core.settings import ENGINE_CHOICES, FLAT_DEFAULTS, POINT_BAKES, RunSettings, engine_name
from .common import add_encoder_args, encoder_spec, parse_frames, parse_size


def _d(key: str) -> str:
    return f" (default: {FLAT_DEFAULTS[key]})"


def add_capture_args(p) -> None:
    p.add_argument("--camera", default=None, help="camera object name (default: the scene's active camera)")
    p.add_argument("--frames", default=None, help="frame range A-B (default: the scene's)")
    p.add_argument("--step", type=int, default=None, help="capture every K-th frame" + _d("step"))
    p.add_argument("--subframes", type=int, default=None, help="extra renders between captured frames" +
                   _d("subframes"))
    size = p.add_mutually_exclusive_group()
    size.add_argument("--resolution", default=None, help="capture and training size WxH (default: "
                      f"{FLAT_DEFAULTS['width']}x{FLAT_DEFAULTS['height']})")
    size.add_argument("--percent", type=int, default=None, help="capture size as a percentage of the scene's")
    p.add_argument("--engine", default=None, choices=ENGINE_CHOICES, type=engine_name,
                   help="render engine, in any case, also by Blender's identifier (BLENDER_WORKBENCH = WORKBENCH, "
                        "BLENDER_EEVEE[_NEXT] = EEVEE); SCENE keeps the scene's own (EEVEE is very slow without "
                        "a GPU)" +
                        _d("engine"))
    p.add_argument("--samples", type=int, default=None, help="render samples for Cycles/EEVEE (0: the scene's)" +
                   _d("samples"))
    dn = p.add_mutually_exclusive_group()
    dn.add_argument("--denoise", dest="denoise", action="store_true", default=None, help="Cycles denoising on")
    dn.add_argument("--no-denoise", dest="denoise", action="store_false", help="Cycles denoising off (default)")


def add_train_args(p) -> None:
    from ..core.models.behavior import ARCHITECTURES as BEHAVIORS
    from ..core.models.generator import ARCHITECTURES as GENERATORS, MOVING_CAMERA
    p.add_argument("--generator", default=None, choices=GENERATORS, help="generator architecture" +
                   _d("generator"))
    p.add_argument("--generator-steps", type=int, default=None, help="generator training steps (at most)" +
                   _d("generator_steps"))
    p.add_argument("--generator-seconds", type=float, default=None,
                   help="wall-clock budget for generator training; whichever of steps/seconds ends first (0: none). "
                        "With a budget the learning-rate schedule follows the clock, so results are not bit-exact")
    p.add_argument("--generator-width", type=int, default=None,
                   help="neurons per layer of film-siren / original-siren" + _d("generator_width"))
    p.add_argument("--moving-camera", default=None, choices=MOVING_CAMERA,
                   help="object-layers on a shot whose camera moves: world draws the objects in 3-D "
                        "(object-world), so invented arrangements are seen through the shot's camera; frames "
                        "replays whole captured frames" + _d("moving_camera"))
    p.add_argument("--behavior", default=None, choices=BEHAVIORS, help="behavior architecture" + _d("behavior"))
    p.add_argument("--behavior-epochs", type=int, default=None, help="behavior training epochs" +
                   _d("behavior_epochs"))
    p.add_argument("--seed", type=int, default=None, help="one seed for training and rollout" + _d("seed"))
    p.add_argument("--device", default=None, help="auto, cpu, cuda or mps" + _d("device"))
    add_encoder_args(p)


def add_rollout_args(p) -> None:
    p.add_argument("--rollout-frames", type=int, default=None, help="frames to invent and bake" +
                   _d("rollout_frames"))
    p.add_argument("--temperature", type=float, default=None, help="scale of each invented step" +
                   _d("temperature"))
    p.add_argument("--anchor", type=float, default=None,
                   help="pull toward the nearest observed frame per step (the default model needs none; "
                        "original-vae used 0.1)" + _d("anchor"))
    p.add_argument("--dynamism", type=float, default=None,
                   help="0 (still) .. 1 (every region or object moves): the least active hold first" +
                        _d("dynamism"))


def add_output_args(p) -> None:
    """The output size and point density of what a run bakes (docs/resolution.md)."""
    p.add_argument("--output-size", default=None, metavar="WxH",
                   help="render the capture and decode the invented frames at this size (e.g. 1280x720), while "
                        "training at --resolution (default there: the output reduced to 128 pixels wide); "
                        "default: the training resolution")
    p.add_argument("--allow-upscale", action="store_const", const=True, default=None,
                   help="allow decoding above the capture's size (reported as upscaled); otherwise refused")
    p.add_argument("--point-density", type=float, default=None,
                   help="points per decoded pixel, at most 1 (0.25: one point per 2x2 pixels)" + _d("point_density"))
    p.add_argument("--point-bake", choices=POINT_BAKES, default=None,
                   help="3d: one fused cloud per object + the background, keyed per frame (solid from every side; "
                        "a rendered capture with ids); per-frame: each invented frame's depth surface" +
                        _d("point_bake"))


def add_run_args(p) -> None:
    """Every setting of a whole run."""
    add_capture_args(p)
    add_train_args(p)
    add_rollout_args(p)
    p.add_argument("--name", default=None, help="bake name (its collection is 'Alive NAME')" + _d("name"))
    add_output_args(p)
    p.add_argument("--save", default="", help="save the baked scene here (default: WORKDIR/alive.blend)")


def flat_from_args(args) -> dict:
    """The flat settings the user gave (None where not given)."""
    given = {k: getattr(args, k) for k in FLAT_DEFAULTS if getattr(args, k, None) is not None}
    frames = getattr(args, "frames", None)
    if frames:
        given["frame_start"], given["frame_end"] = parse_frames(frames)
    output_size = getattr(args, "output_size", None)
    if output_size:
        given["output_width"], given["output_height"] = parse_size(output_size, "--output-size")
    resolution = getattr(args, "resolution", None)
    if resolution:
        given["width"], given["height"] = parse_size(resolution, "--resolution")
    elif given.get("percent"):
        given["width"] = given["height"] = 0
    return given


def settings_from_args(args) -> RunSettings:
    settings = RunSettings.from_flat(flat_from_args(args))
    if hasattr(args, "clip_model"):
        settings.encoder = encoder_spec(args)
    settings.check()
    return settings
