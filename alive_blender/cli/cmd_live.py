"""``live WORKDIR --headless --ticks N --size WxH [--inputs SCRIPT.json] [--record OUT.npy]``:
play the scene live without a UI (the panel's *Play Live* plays it in Blender)."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import AliveError
from ..core.settings import FLAT_DEFAULTS


def add_parser(sub) -> None:
    p = sub.add_parser("live", help="play the alive scene live, headless, under scripted inputs",
                       description="Step the trained behavior of WORKDIR one tick at a time and compose each "
                                   "frame (image and points) at --size, applying the scripted --inputs at their "
                                   "ticks; reports per-tick latency and memory. --record writes the take as a "
                                   "rollout that decode and bake accept. In Blender: Play Live in the panel.")
    p.add_argument("workdir", help="work directory with trained models (from run)")
    p.add_argument("--headless", action="store_true", help="run without a UI (required here: the interactive "
                                                           "mode is the panel's Play Live)")
    p.add_argument("--ticks", type=int, default=240, help="ticks to play (default %(default)s)")
    p.add_argument("--size", default="", metavar="WxH", help="output size (default: the capture's)")
    p.add_argument("--inputs", default="", help='scripted events: {"events": [{"tick": 10, "hold": "Cube"}, ...]}')
    p.add_argument("--record", default="", help="write the take as a rollout: OUT.npy (+ .states/.poses/.json)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start", type=int, default=None, help="captured frame to start from (default: the last)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--anchor", type=float, default=FLAT_DEFAULTS["anchor"],
                   help="pull toward the nearest captured state, 0..1 (default %(default)s, the seed's)")
    p.add_argument("--tempo", type=int, default=1, help="behavior steps per tick")
    p.add_argument("--point-density", type=float, default=None,
                   help="points per output pixel, at most 1 (default: one point per captured pixel)")
    p.add_argument("--no-points", action="store_true", help="compose the image only")
    p.add_argument("--device", default="cpu", help="cpu, cuda or mps (default cpu)")
    p.set_defaults(func=execute)


def execute(args, reporter) -> dict:
    from ..core.live.headless import play_headless
    from .common import parse_size
    if not args.headless:
        raise AliveError("the interactive live mode runs in Blender", "press Play Live in the Alive panel, "
                         "or add --headless to play it here without a UI")
    if args.ticks < 1:
        raise AliveError(f"--ticks {args.ticks} plays nothing", "give --ticks 1 or more")
    if args.record and not args.record.endswith(".npy"):
        raise AliveError(f"--record '{args.record}' is not a .npy file", "name the take like take.npy")
    if args.point_density is not None and not 0 < args.point_density <= 1:
        raise AliveError(f"--point-density {args.point_density:g} is outside (0, 1]",
                         "give at most one point per pixel, e.g. 0.25")
    size = parse_size(args.size, "--size")
    workdir = Path(args.workdir).expanduser().absolute()
    return play_headless(workdir, args.ticks, size, inputs=args.inputs or None, record=args.record or None,
                         seed=args.seed, start=args.start, temperature=args.temperature, anchor=args.anchor,
                         tempo=args.tempo, point_density=args.point_density, points=not args.no_points,
                         device=args.device, reporter=reporter)
