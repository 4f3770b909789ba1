"""Why an Alive operator cannot run now: the poll checks and their messages
(shown greyed out in the panel, and as the error when called from Python)."""

from __future__ import annotations

from ...core.errors import AliveError
from .jobs import RUNNER
from .preferences import resolve_workdir


def stage_state(scene) -> dict:
    """What the scene's work folder already holds (drives the poll functions)."""
    wd = resolve_workdir(scene)
    return {"workdir": wd, "capture": (wd / "capture" / "meta.json").exists(),
            "model": (wd / "model" / "manifest.json").exists(),
            "decoded": (wd / "decoded" / "rgb.npy").exists()}


def camera_reason(scene) -> str:
    s = scene.alive
    if s.camera is None and scene.camera is None:
        return "The scene has no active camera: add one (or pick a camera in the Alive panel)"
    return ""


def busy_reason() -> str:
    return "An Alive job is running: wait for it or cancel it" if RUNNER.busy else ""


def poll(cls, context, *checks) -> bool:
    if context.scene is None or not hasattr(context.scene, "alive"):
        cls.poll_message_set("No scene")
        return False
    for check in checks:
        reason = check(context.scene)
        if reason:
            cls.poll_message_set(reason)
            return False
    return True


def needs(what: str, message: str):
    def check(scene):
        try:
            return "" if stage_state(scene)[what] else message
        except (AliveError, OSError, ValueError):
            return message
    return check


NEEDS_CAPTURE = needs("capture", "Nothing captured yet: run Capture first")
NEEDS_MODEL = needs("model", "No trained model yet: run Train first")
NEEDS_DECODED = needs("decoded", "No rolled-out frames yet: run Rollout first")
