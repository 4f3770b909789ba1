"""Text steering: a prompt as a direction on the embedding sphere.

The unCLIP text-diff recipe: direction = normalize(text(prompt) - text(baseline)),
where the baseline is the negative prompt when one is given, else a neutral
caption. The rollout slerps each output embedding toward that direction by a
strength (a scalar or a per-step curve). With the offline deterministic
encoder the text tower is a seeded random vector per prompt: the mechanism
works, the meaning does not (the stage warns).
"""

from __future__ import annotations

import numpy as np

from ..errors import AliveError
from ..sphere import normalize

BASELINE_TEXT = "a photo"


def text_direction(encoder, prompt: str, negative_prompt: str = "", baseline: str = BASELINE_TEXT) -> np.ndarray:
    if not prompt or not prompt.strip():
        raise AliveError("the steering prompt is empty", "type what the scene should move toward")
    away = negative_prompt.strip() if negative_prompt and negative_prompt.strip() else baseline
    if away.strip().lower() == prompt.strip().lower():
        raise AliveError("the steering prompt equals its baseline/negative prompt, so it has no direction",
                         "use a different prompt or negative prompt")
    t, b = encoder.encode_text([prompt.strip(), away])
    d = np.asarray(t, np.float64) - np.asarray(b, np.float64)
    if np.linalg.norm(d) < 1e-8:
        raise AliveError("prompt and baseline encode to the same embedding", "use a more different prompt")
    return normalize(d.astype(np.float32))


def workdir_encoder(workdir, device: str = "cpu"):
    """Rebuild the encoder that made the work directory's embeddings (its spec
    is in embed/encoder.json), for its text tower."""
    from ..workdir.artifacts import EMBED, WorkDir, read_json
    from .encoder import EncoderSpec, make_encoder
    info = read_json(WorkDir(workdir) / EMBED / "encoder.json", "encoder settings (run encode first)")
    enc = make_encoder(EncoderSpec.from_dict(info.get("spec", {})), device)
    if int(enc.dim) != int(info.get("dim", enc.dim)):
        raise AliveError(f"the rebuilt encoder makes {enc.dim}-d embeddings, the work directory holds {info['dim']}-d",
                         "encode again")
    return enc
