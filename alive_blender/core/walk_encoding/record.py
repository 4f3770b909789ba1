"""What R.json says about a walk's embeddings, and the check before encoding
missing rows later: only with the generator and encoder that made the rest."""

from __future__ import annotations

import numpy as np

from ..errors import AliveError

NOTE_SKIPPED = ("composed frames not encoded (nothing needed them at rollout time): their rows of R.npy are NaN; "
                "alive evaluate and the trajectory bake encode them on demand from R.states.npy")
NOTE_FULL = "every row is an embedding: captured frames from embed/embeddings.npy, composed frames encoded"


def record(stats: dict, models: dict) -> dict:
    """R.json's ``embeddings``: counts, and the models an on-demand encode must match."""
    return {**stats, "models": models, "note": NOTE_SKIPPED if stats.get("not_encoded") else NOTE_FULL}


def missing_rows(traj: np.ndarray) -> np.ndarray:
    """Rows that are NaN throughout: a walk's states not encoded."""
    traj = np.asarray(traj)
    return np.isnan(traj).all(-1)


def check_record(info: dict, models: dict, name: str) -> None:
    """Refuse to encode a walk's missing rows with other models than the walk's."""
    rec = (info or {}).get("embeddings")
    if rec is None:
        raise AliveError(f"'{name}' has rows that are not embeddings (NaN) and no record of how it was made",
                         "roll out again (alive rollout)")
    if rec.get("models") != models:
        raise AliveError(f"'{name}' left its composed frames unencoded and the work directory's generator or "
                         "encoder changed since, so they cannot be encoded as they were",
                         "roll out again (alive rollout, or run --force rollout)")
