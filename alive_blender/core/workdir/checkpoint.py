"""Model files: safetensors weights + a JSON header, with a manifest of checksums.

Loading never unpickles anything: weights come from safetensors, training
state (optimizer moments, step) from ``torch.load(weights_only=True)``.
A model directory's ``manifest.json`` records the versions of alive_blender,
torch and open_clip, the encoder identity and sha256 of every weight file, and
loading checks it, so a tampered or mismatched file is refused with a reason.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from .artifacts import atomic_path, file_sha256, read_json, write_json
from ..errors import AliveError

MANIFEST = "manifest.json"


def versions() -> dict:
    import torch

    from ... import __version__
    info = {"alive_blender": __version__, "torch": torch.__version__.split("+")[0]}
    try:
        import importlib.metadata as md
        info["open_clip"] = md.version("open_clip_torch")
    except Exception:
        info["open_clip"] = None
    return info


def save_model(path: Path, state_dict: dict, header: dict) -> None:
    """Write ``path`` (.safetensors) with ``header`` stored beside it as JSON."""
    from safetensors.torch import save
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    # serialised in memory, written by Python: a full disk is then an OSError with its errno
    # (safetensors' and torch's own writers report it as an unrelated error)
    blob = save(tensors, metadata={"alive_header": json.dumps(header)})
    with atomic_path(path, ".safetensors") as tmp:
        tmp.write_bytes(blob)
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


def load_model_array(path: Path, name: str):
    """One saved array of a checkpoint as numpy (None when the file or the array is not there), read
    alone: a layer generator's checkpoint holds the whole capture, the bake wants its owners only."""
    from safetensors import SafetensorError, safe_open
    path = Path(path)
    if not path.exists():
        return None
    try:
        with safe_open(str(path), framework="numpy") as f:
            return f.get_tensor(name) if name in f.keys() else None
    except (SafetensorError, OSError, ValueError) as err:
        raise AliveError(f"corrupt checkpoint '{path}': {err}", "delete the model folder and train again") from None


MANIFEST_FORMAT = 1


def write_manifest(model_dir: Path, files: list[str], extra: dict[str, Any]) -> None:
    manifest = {"format": MANIFEST_FORMAT, "versions": versions(), **extra,
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


def _major_minor(version) -> tuple:
    parts = str(version or "").split("+")[0].split(".")
    return tuple(parts[:2])


def check_compatible(manifest: dict, model_dir: Path, encoder_identity: str | None = None) -> list[str]:
    """Refuse a model this code cannot use, with the reason; return warnings
    for differences that are safe (weights are plain safetensors, so another
    torch or open_clip version still loads them).

    - alive_blender major.minor must match: the model format follows it.
    - the encoder identity must match the embeddings the model will be fed:
      a generator trained on one encoder's space decodes noise from another's.
    """
    model_dir = Path(model_dir)
    fmt = manifest.get("format", MANIFEST_FORMAT)
    if not isinstance(fmt, int) or fmt > MANIFEST_FORMAT:
        raise AliveError(f"model in '{model_dir}' has manifest format {fmt!r}; this alive_blender reads "
                         f"format {MANIFEST_FORMAT} and older", "update alive_blender or train again")
    saved = manifest.get("versions") or {}
    now = versions()
    if _major_minor(saved.get("alive_blender")) != _major_minor(now["alive_blender"]):
        raise AliveError(f"model in '{model_dir}' was trained by alive_blender {saved.get('alive_blender')}; "
                         f"this is {now['alive_blender']}", "train again with this version (or use the old one)")
    warnings = []
    for lib in ("torch", "open_clip"):
        if saved.get(lib) and now.get(lib) and _major_minor(saved[lib]) != _major_minor(now[lib]):
            warnings.append(f"model was trained with {lib} {saved[lib]}, running {now[lib]}")
    if encoder_identity is not None and manifest.get("encoder") not in (None, encoder_identity):
        raise AliveError(f"model in '{model_dir}' was trained on embeddings from encoder "
                         f"'{manifest.get('encoder_label') or manifest.get('encoder')}', but the work directory's "
                         f"embeddings come from another encoder ('{encoder_identity}')",
                         "train again (run with --force train) or encode with the model's encoder")
    return warnings


def save_training_state(path: Path, state: dict) -> None:
    import torch
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with atomic_path(path, ".pt") as tmp:
        tmp.write_bytes(buffer.getbuffer())


def load_training_state(path: Path) -> dict | None:
    import torch
    if not Path(path).exists():
        return None
    try:
        # weights_only: tensors, numbers, strings and containers only; a file
        # that asks to build any other object is refused, never executed
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise AliveError(f"refused training checkpoint '{path}': it is corrupt or holds more than plain "
                         f"tensors ({first})", "delete it to start training from scratch") from None
