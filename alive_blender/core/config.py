"""Strict config dictionaries: an unknown key is an error naming it, never dropped."""

from __future__ import annotations

from dataclasses import fields
from typing import Optional

from .errors import AliveError


def strict_from_dict(cls, d: Optional[dict], what: str):
    """``cls(**d)`` for a dataclass, refusing keys it does not have by name
    (a misspelt setting must not be dropped silently)."""
    d = dict(d or {})
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(d) - set(known))
    if unknown:
        raise AliveError(f"unknown {what} setting(s): {', '.join(map(repr, unknown))}",
                         f"known: {', '.join(known)}")
    return cls(**d)
