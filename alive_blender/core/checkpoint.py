"""Model files: safetensors weights + a JSON header, with a manifest of checksums.

Loading never unpickles anything: weights come from safetensors, training
state (optimizer moments, step) from ``torch.load(weights_only=True)``.
A model directory's ``manifest.json`` records the versions of alive_blender,
torch and open_clip, the encoder identity and sha256 of every weight file, and
loading checks it, so a tampered or mismatched file is refused with a reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .artifacts import atomic_path, file_sha256, read_json, write_json
from .errors import AliveError

MANIFEST = "manifest.json"


def versions() -> dict:
    import torch

    from .. import __version__
    info = {"alive_blender": __version__, "torch": torch.__version__.split("+")[0]}
    try:
        import importlib.metadata as md
        info["open_clip"] = md.version("open_clip_torch")
    except Exception:
        info["open_clip"] = None
    return info


def save_model(path: Path, state_dict: dict, header: dict) -> None:
    """Write ``path`` (.safetensors) with ``header`` stored beside it as JSON."""
    from safetensors.torch import save_file
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    with atomic_path(path, ".safetensors") as tmp:
        save_file(tensors, str(tmp), metadata={"alive_header": json.dumps(header)})
    write_json(path.with_suffix(".json"), header)


def load_model(path: Path, what: str) -> tuple[dict, dict]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    path = Path(path)
    if not path.exists():
        raise AliveError(f"no trained {what} in '{path.parent}'", "run the train stage first")
    header = read_json(path.with_suffix(".json"), f"{what} settings")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise AliveError(f"corrupt {what} checkpoint '{path}': {err}",
                         "delete the model folder and train again") from None
    return state, header


def write_manifest(model_dir: Path, files: list[str], extra: dict[str, Any]) -> None:
    manifest = {"versions": versions(), **extra,
                "files": {name: file_sha256(model_dir / name) for name in files if (model_dir / name).exists()}}
    write_json(model_dir / MANIFEST, manifest)


def verify_manifest(model_dir: Path, names: list[str]) -> dict:
    """Check checksums of ``names`` against the manifest; return the manifest."""
    manifest = read_json(model_dir / MANIFEST, "model manifest")
    for name in names:
        expected = manifest.get("files", {}).get(name)
        if expected is None:
            raise AliveError(f"'{name}' is not listed in {model_dir / MANIFEST}",
                             "the model folder is incomplete: train again")
        if not (model_dir / name).exists():
            raise AliveError(f"model file missing: '{model_dir / name}'", "train again")
        if file_sha256(model_dir / name) != expected:
            raise AliveError(f"checksum mismatch for '{model_dir / name}': the file was changed after training",
                             "restore the original file or train again")
    return manifest


def save_training_state(path: Path, state: dict) -> None:
    import torch
    with atomic_path(path, ".pt") as tmp:
        torch.save(state, tmp)


def load_training_state(path: Path) -> dict | None:
    import torch
    if not Path(path).exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise AliveError(f"corrupt training checkpoint '{path}': {err}",
                         "delete it to start training from scratch") from None
