"""``decode WORKDIR --embeddings EMB.npy --out DIR [--size WxH]``: images and depth for any embeddings."""

from __future__ import annotations

from pathlib import Path

from .common import check_frames_fit, parse_size


def add_parser(sub) -> None:
    p = sub.add_parser("decode", help="decode embeddings to images and depth with a work directory's generator",
                       description="Decodes every row of EMB.npy (float32 (N, D), or (K, N, D) rollouts, "
                                   "flattened in order) with WORKDIR's trained generator: DIR/frame_NNNNN.png "
                                   "(RGB, names sort in embedding order) and DIR/depth/frame_NNNNN.png (16-bit, "
                                   "millimetres of scene units, 0 = background) plus DIR/depth/depth.npy (float32, "
                                   "scene units, inf = background).")
    p.add_argument("workdir", help="trained work directory")
    p.add_argument("--embeddings", required=True, help=".npy file of embeddings")
    p.add_argument("--out", required=True, help="output folder (created; an earlier decode there is replaced)")
    p.add_argument("--states", default="",
                   help="per-object states of an object-walk rollout (int (N, M) or (K, N, M), the rows of "
                        "EMB.npy in order): compose them with the object layers instead of decoding the "
                        "embeddings (default: EMB.states.npy when it exists beside EMB.npy)")
    p.add_argument("--poses", default="",
                   help="world matrices of a free-pose relational rollout ((N, M, 4, 4) or (K, N, M, 4, 4), with "
                        "--states): drawn by an object-world generator, the states as its hint (default: "
                        "EMB.poses.npy when EMB.json says poses_drawn free)")
    p.add_argument("--size", default="", help="WxH (default: the training resolution); any size works")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.set_defaults(func=execute)


def execute(args, reporter) -> dict:
    from ..core.run import stages
    from ..core.workdir.artifacts import load_npy
    w, h = parse_size(args.size, "--size")
    emb_file = Path(args.embeddings).expanduser()
    emb = load_npy(emb_file, "embeddings file")
    if w and h and emb.ndim >= 2:  # decoded in chunks of 32 frames
        check_frames_fit(min(32, len(emb.reshape(-1, emb.shape[-1]))), w, h, f"--size {w}x{h}")
    states_file = Path(args.states).expanduser() if args.states else emb_file.with_suffix(".states.npy")
    states = load_npy(states_file, "states file") if args.states or states_file.exists() else None
    poses = None
    if args.poses:
        poses = load_npy(Path(args.poses).expanduser(), "poses file")
    elif states is not None and emb_file.with_suffix(".poses.npy").exists() and emb_file.with_suffix(".json").exists():
        from ..core.models.relational.drawing import FREE
        from ..core.workdir.artifacts import read_json
        if read_json(emb_file.with_suffix(".json")).get("poses_drawn") == FREE:
            poses = load_npy(emb_file.with_suffix(".poses.npy"), "poses file")
    return stages.decode_to_dir(Path(args.workdir).expanduser().absolute(), emb, Path(args.out).expanduser(),
                                w, h, args.device, reporter, states=states, poses=poses)
