"""``rollout WORKDIR --steps N --count K --out ROLLOUT.npy``: invent embeddings."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import AliveError
from ..core.settings import FLAT_DEFAULTS


def add_parser(sub) -> None:
    p = sub.add_parser("rollout", help="roll the behavior model out into new embeddings",
                       description="Run the trained behavior model of WORKDIR as a feedback loop; writes "
                                   "K x (N+1) x D embeddings (index 0 is the start) to --out.")
    p.add_argument("workdir", help="work directory with model/behavior.safetensors and embed/")
    p.add_argument("--steps", type=int, default=FLAT_DEFAULTS["rollout_frames"] - 1,
                   help="steps per variation (default: run's, %(default)s: with the start, "
                        f"{FLAT_DEFAULTS['rollout_frames']} frames)")
    p.add_argument("--count", type=int, default=1, help="number of variations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start", default="", help="frame index (0-based) or an .npy file with one embedding "
                   "(default: the last frame)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--anchor", type=float, default=FLAT_DEFAULTS["anchor"],
                   help="pull toward the nearest observed state, 0..1 (default %(default)s, the seed's)")
    p.add_argument("--prompt", default="", help="steer toward this text (through the encoder's text tower)")
    p.add_argument("--negative-prompt", default="", help="steer away from this text")
    p.add_argument("--steer-strength", type=float, default=0.3, help="steering strength 0..1 (with --prompt)")
    p.add_argument("--loop", action="store_true", help="end near the start (or --loop-target) so it loops")
    p.add_argument("--dynamism", type=float, default=FLAT_DEFAULTS["dynamism"],
                   help="object walks: 0 (still) .. 1 (every region or object moves); the least active hold first")
    p.add_argument("--loop-target", type=int, default=None, help="frame index the loop closes on")
    p.add_argument("--video-texture", action="store_true",
                   help="random walk over observed frames instead of the model (baseline / safe fallback)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--out", required=True, help="output .npy")
    p.set_defaults(func=execute)


def parse_start(text: str):
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    path = Path(text).expanduser()
    if path.suffix != ".npy" or not path.is_file():
        raise AliveError(f"bad --start '{text}'", "give a frame index or an existing .npy file with one embedding")
    import numpy as np
    arr = np.load(path)
    return np.asarray(arr, np.float32).reshape(-1).tolist()


def execute(args, reporter) -> dict:
    from ..core.run import stages
    out = Path(args.out).expanduser().absolute()
    if out.suffix != ".npy":
        raise AliveError(f"--out '{args.out}' is not a .npy file", "name the output like rollout.npy")
    settings = {"steps": args.steps, "count": args.count, "seed": args.seed, "start": parse_start(args.start),
                "temperature": args.temperature, "anchor": args.anchor, "loop": args.loop,
                "loop_target": args.loop_target, "mode": "video-texture" if args.video_texture else "model",
                "prompt": args.prompt, "negative_prompt": args.negative_prompt,
                "steer_strength": args.steer_strength if args.prompt else 0.0, "dynamism": args.dynamism}
    return stages.rollout(Path(args.workdir).expanduser().absolute(), settings, out, args.device, reporter)
