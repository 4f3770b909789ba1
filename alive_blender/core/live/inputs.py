"""Scripted live inputs: ``{"events": [{"tick": 10, "hold": "Cube"}, ...]}``, parsed strictly.

Each event has a ``tick`` (>= 0: applied before that tick is stepped) and one
or more actions:

=================  ===========================================================
``hold``           an object name: it holds still (keeps its source sample)
``release``        an object name: it moves again
``goal``           ``{"object": NAME, "to": [x, y, z]}`` (``"to": null`` clears it)
``temperature``    >= 0: the behavior's randomness
``anchor``         0..1: pull toward the nearest captured joint state
``tempo``          0..16 behavior steps per tick (0 pauses)
``ground``         true: snap to the nearest captured state this tick
``prompt``         text the composed frames are scored against ("" clears it)
=================  ===========================================================

An unknown key, a wrong type or an object the scene does not have is an
``AliveError`` naming it, before the session starts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..errors import AliveError

ACTIONS = ("hold", "release", "goal", "temperature", "anchor", "tempo", "ground", "prompt")
MAX_TEMPO = 16


@dataclass
class LiveEvent:
    """The inputs of one tick (every field optional: None = unchanged)."""
    tick: int = 0
    hold: Optional[str] = None
    release: Optional[str] = None
    goal: Optional[tuple] = None          # (object name, (x, y, z) or None to clear)
    temperature: Optional[float] = None
    anchor: Optional[float] = None
    tempo: Optional[int] = None
    ground: bool = False
    prompt: Optional[str] = None


@dataclass
class LiveScript:
    events: list = field(default_factory=list)   # LiveEvent, sorted by tick

    def at(self, tick: int) -> list:
        return [e for e in self.events if e.tick == tick]

    def check_objects(self, names) -> None:
        """Every object an event names is one of ``names`` (the session's)."""
        known = list(names)
        for e in self.events:
            for what, name in (("hold", e.hold), ("release", e.release), ("goal", e.goal[0] if e.goal else None)):
                if name is not None and name not in known:
                    raise AliveError(f"the live inputs' {what} at tick {e.tick} names object '{name}', "
                                     f"which the scene's behavior does not move",
                                     f"name one of: {', '.join(known)}")


def _number(value, what: str, lo: float, hi: Optional[float] = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AliveError(f"the live inputs' {what} is {value!r}, not a finite number", f"give a number for {what}")
    if value < lo or (hi is not None and value > hi):
        rng = f"{lo:g}..{hi:g}" if hi is not None else f">= {lo:g}"
        raise AliveError(f"the live inputs' {what} is {value:g}, outside {rng}", f"keep {what} in {rng}")
    return float(value)


def _name(value, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise AliveError(f"the live inputs' {what} is {value!r}, not an object name", "give the object's name")
    return value


def parse_event(d, index: int = 0) -> LiveEvent:
    where = f"event {index}"
    if not isinstance(d, dict):
        raise AliveError(f"live input {where} is {type(d).__name__}, not an object",
                         'write events like {"tick": 10, "hold": "Cube"}')
    unknown = sorted(set(d) - {"tick", *ACTIONS})
    if unknown:
        raise AliveError(f"live input {where} has unknown key '{unknown[0]}'",
                         f"use tick and any of: {', '.join(ACTIONS)}")
    if "tick" not in d:
        raise AliveError(f"live input {where} has no tick", "say at which tick it applies, e.g. \"tick\": 10")
    tick = d["tick"]
    if isinstance(tick, bool) or not isinstance(tick, int) or tick < 0:
        raise AliveError(f"live input {where} has tick {tick!r}", "give a whole number >= 0")
    if not set(d) & set(ACTIONS):
        raise AliveError(f"live input {where} (tick {tick}) does nothing", f"add one of: {', '.join(ACTIONS)}")
    e = LiveEvent(tick=tick)
    where = f"event {index} (tick {tick})"
    if "hold" in d:
        e.hold = _name(d["hold"], f"{where} hold")
    if "release" in d:
        e.release = _name(d["release"], f"{where} release")
    if "goal" in d:
        g = d["goal"]
        if not isinstance(g, dict) or set(g) != {"object", "to"}:
            raise AliveError(f"the live inputs' {where} goal is {g!r}",
                             'write it as {"object": "Sphere", "to": [x, y, z]} ("to": null clears it)')
        to = g["to"]
        if to is not None:
            if not isinstance(to, list) or len(to) != 3:
                raise AliveError(f"the live inputs' {where} goal 'to' is {to!r}", "give a world position [x, y, z]")
            to = tuple(_number(v, f"{where} goal coordinate", -math.inf) for v in to)
        e.goal = (_name(g["object"], f"{where} goal object"), to)
    if "temperature" in d:
        e.temperature = _number(d["temperature"], f"{where} temperature", 0.0, 10.0)
    if "anchor" in d:
        e.anchor = _number(d["anchor"], f"{where} anchor", 0.0, 1.0)
    if "tempo" in d:
        t = d["tempo"]
        if isinstance(t, bool) or not isinstance(t, int):
            raise AliveError(f"the live inputs' {where} tempo is {t!r}", f"give whole steps per tick, 0..{MAX_TEMPO}")
        e.tempo = int(_number(t, f"{where} tempo", 0, MAX_TEMPO))
    if "ground" in d:
        if not isinstance(d["ground"], bool):
            raise AliveError(f"the live inputs' {where} ground is {d['ground']!r}", "write \"ground\": true")
        e.ground = d["ground"]
    if "prompt" in d:
        if not isinstance(d["prompt"], str):
            raise AliveError(f"the live inputs' {where} prompt is {d['prompt']!r}", "give text (\"\" clears it)")
        e.prompt = d["prompt"]
    return e


def parse_script(data) -> LiveScript:
    if not isinstance(data, dict) or set(data) != {"events"}:
        keys = sorted(set(data) - {"events"}) if isinstance(data, dict) else []
        raise AliveError("the live inputs " + (f"have unknown key '{keys[0]}'" if keys else "have no 'events' list"),
                         'write {"events": [{"tick": 10, "hold": "Cube"}, ...]}')
    if not isinstance(data["events"], list):
        raise AliveError("the live inputs' 'events' is not a list", 'write {"events": [...]}')
    events = [parse_event(d, i) for i, d in enumerate(data["events"])]
    return LiveScript(sorted(events, key=lambda e: e.tick))


def load_script(path) -> LiveScript:
    path = Path(path).expanduser()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise AliveError(f"live inputs file not found: '{path}'", "give an existing .json file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AliveError(f"cannot read the live inputs '{path}': {err}", "give a JSON file of events") from None
    return parse_script(data)
