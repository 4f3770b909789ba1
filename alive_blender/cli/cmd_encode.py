"""``encode IMAGES --model WORKDIR --out EMB.npy``: embed image files with a work directory's own encoder."""

from __future__ import annotations

import glob
from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def add_parser(sub) -> None:
    p = sub.add_parser("encode", help="encode image files with a work directory's encoder",
                       description="Embeds IMAGES (a folder or a glob pattern; files in sorted name order) with "
                                   "the encoder that made WORKDIR's embeddings, so the result can be decoded "
                                   "by that work directory's generator. Writes float32 (N, D) to EMB.npy.")
    p.add_argument("images", help="a folder of images, or a glob pattern such as 'shots/*.png'")
    p.add_argument("--model", required=True, help="work directory whose encoder to use")
    p.add_argument("--out", required=True, help="output .npy file")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.set_defaults(func=execute)


def image_files(pattern: str) -> list[Path]:
    from ..core.errors import AliveError
    path = Path(pattern).expanduser()
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    elif path.is_file():
        files = [path]
    else:
        files = sorted(Path(f) for f in glob.glob(str(path)) if Path(f).is_file())
    if not files:
        raise AliveError(f"no images found at '{pattern}'",
                         "give a folder holding PNG/JPEG files, or a glob pattern that matches some")
    return files


def execute(args, reporter) -> dict:
    import numpy as np

    from ..core.workdir.artifacts import EMBED, WorkDir, read_json, save_npy
    from ..core.device import pick_device
    from ..core.models.encoder import EncoderSpec, make_encoder
    from ..core.errors import AliveError
    from ..core.workdir.images import read_image
    wd = WorkDir(Path(args.model).expanduser().absolute())
    info = read_json(wd / EMBED / "encoder.json", "encoder settings of the work directory (run train first)")
    out = Path(args.out).expanduser()
    if out.suffix.lower() != ".npy":
        raise AliveError(f"output '{out}' is not a .npy file", "name the output like EMB.npy")
    files = image_files(args.images)
    encoder = make_encoder(EncoderSpec.from_dict(info["spec"]), pick_device(args.device))
    reporter.status(f"encode: {len(files)} images with {encoder.label}")
    embs = []
    for i, f in enumerate(files):
        reporter.check_cancel()
        embs.append(encoder.encode_images(read_image(f)[None])[0])   # one by one: sizes may differ
        reporter.progress((i + 1) / len(files), f"encoded {i + 1}/{len(files)}")
    emb = np.stack(embs).astype(np.float32)
    if emb.shape[1] != int(info["dim"]):
        raise AliveError(f"encoder gave size {emb.shape[1]}, the work directory expects {info['dim']}",
                         "the encoder's weights changed since training: train again")
    save_npy(out, emb)
    return {"out": str(out), "count": int(len(emb)), "dim": int(emb.shape[1]), "encoder": encoder.label,
            "files": [str(f) for f in files]}
