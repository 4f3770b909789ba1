"""Strict config dictionaries: an unknown key is an error naming it, never dropped."""

from __future__ import annotations

from dataclasses import asdict, fields
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


class Config:
    """``from_dict`` (strict) and ``to_dict`` for a settings dataclass; ``WHAT``
    names it in errors ("unknown generator setting(s): ...")."""
    WHAT = "config"

    @classmethod
    def from_dict(cls, d: Optional[dict]):
        return strict_from_dict(cls, d, cls.WHAT)

    def to_dict(self) -> dict:
        return asdict(self)
