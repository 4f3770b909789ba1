"""Add-on preferences: encoder, device, work folder, worker interpreter.

Respects ``bpy.app.online_access``: with Blender offline, nothing is
downloaded; a CLIP model then needs a local weights file, and the panel and
the operators say so instead of failing after minutes of rendering."""

from __future__ import annotations

import tempfile
import sys
from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

from ... import __name__ as PACKAGE
from ...core.models.encoder import EncoderSpec
from ...core.errors import AliveError

# Blender names an extension's preferences after the add-on module: the folder
# holding blender_manifest.toml, one level above this package when installed.
ADDON_ID = PACKAGE.rsplit(".", 1)[0] if PACKAGE.startswith("bl_ext.") and PACKAGE.count(".") > 2 else PACKAGE

WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")
OFFLINE_HINT = ("Blender is offline (Preferences > System > Network > Allow Online Access), so CLIP weights "
                "are not downloaded: download the model's weights file elsewhere (e.g. open_clip_pytorch_model.bin "
                "from the model's Hugging Face page) and choose it as Weights File, or allow online access")


class AlivePreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    clip_model: StringProperty(name="CLIP Model", default="",
                               description="open_clip model name, e.g. ViT-B-32. Empty: the offline deterministic "
                                           "encoder (not semantic)")
    clip_pretrained: StringProperty(name="Pretrained", default="",
                                    description="open_clip pretrained tag, e.g. laion2b_s34b_b79k (downloaded "
                                                "only when Blender allows online access)")
    clip_weights: StringProperty(name="Weights File", default="", subtype="FILE_PATH",
                                 description="Local CLIP weights file; used instead of the pretrained tag, "
                                             "and needed when Blender is offline")
    device: EnumProperty(name="Device", default="auto", description="Where encoding, training and rollouts run",
                         items=[("auto", "Auto", "CUDA, then Apple MPS, then CPU"), ("cuda", "CUDA", "NVIDIA GPU"),
                                ("mps", "MPS", "Apple GPU"), ("cpu", "CPU", "Processor")])
    workdir_location: EnumProperty(
        name="Work Folders", default="BLEND", description="Where each scene's captures, models and rollouts go",
        items=[("BLEND", "Beside the .blend", "A folder alive_<file name> next to the saved .blend (unsaved "
                                               "files: the add-on's user folder)"),
               ("USER", "Add-on User Folder", "Blender's per-user storage for this extension"),
               ("CUSTOM", "Custom Folder", "Under the folder chosen below")])
    workdir: StringProperty(name="Custom Folder", default="", subtype="DIR_PATH",
                            description="Root folder for work folders when Work Folders is Custom")
    python_path: StringProperty(name="Worker Python", default="", subtype="FILE_PATH",
                                description="Python interpreter for workers, e.g. a venv with CUDA torch and "
                                            "this add-on's requirements (empty: Blender's own Python)")
    keep_worker_logs: BoolProperty(name="Keep Worker Logs", default=False,
                                   description="Write each worker's output to logs/ in the work folder for "
                                               "bug reports")

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        col = layout.column(heading="Encoder")
        col.prop(self, "clip_model")
        sub = col.column()
        sub.active = bool(self.clip_model)
        sub.prop(self, "clip_pretrained")
        sub.prop(self, "clip_weights")
        msg = offline_message(self.clip_model, self.clip_pretrained, self.clip_weights, bool(bpy.app.online_access))
        if msg:
            box = col.box()
            box.alert = True
            for i, line in enumerate(_wrap(msg, 70)):
                box.label(text=line, icon="ERROR" if i == 0 else "BLANK1")
        col = layout.column(heading="Workers")
        col.prop(self, "device")
        col.prop(self, "python_path")
        if not self.python_path and not bundled_torch():
            box = col.box()
            for i, line in enumerate(_wrap(EXTERNAL_HINT, 70)):
                box.label(text=line, icon="INFO" if i == 0 else "BLANK1")
        col.operator("alive.check_worker_python", icon="CONSOLE")
        result = _LAST_CHECK.get(self.python_path)
        if result is not None:
            ok, lines = check_summary(result)
            box = col.box()
            box.alert = not ok
            for i, line in enumerate(lines):
                box.label(text=line, icon=("CHECKMARK" if ok else "ERROR") if i == 0 else "BLANK1")
        col.prop(self, "keep_worker_logs")
        col = layout.column(heading="Work Folders")
        col.prop(self, "workdir_location", text="Location")
        if self.workdir_location == "CUSTOM":
            col.prop(self, "workdir")


def _wrap(text: str, width: int) -> list[str]:
    import textwrap
    return textwrap.wrap(text, width) or [""]


def get_prefs():
    addon = bpy.context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon else None


def offline_message(clip_model: str, pretrained: str, weights: str, online: bool) -> str:
    """Why the chosen CLIP encoder cannot load without a download (or "")."""
    if not clip_model or weights or online:
        return ""
    if pretrained.lower().endswith(WEIGHT_SUFFIXES) and Path(bpy.path.abspath(pretrained)).is_file():
        return ""
    return OFFLINE_HINT


def encoder_spec(prefs=None, online: bool | None = None) -> EncoderSpec:
    """The encoder the preferences ask for. Downloads are allowed only when
    Blender allows online access; offline, a CLIP model without a local
    weights file is refused here, before anything is rendered."""
    prefs = get_prefs() if prefs is None else prefs
    online = bool(bpy.app.online_access) if online is None else online
    if prefs is None or not prefs.clip_model:
        return EncoderSpec()
    weights = bpy.path.abspath(prefs.clip_weights) if prefs.clip_weights else ""
    if weights and not Path(weights).is_file():
        raise AliveError(f"CLIP weights file '{weights}' does not exist",
                         "choose an existing file in the Alive add-on preferences")
    msg = offline_message(prefs.clip_model, prefs.clip_pretrained, weights, online)
    if msg:
        raise AliveError(f"CLIP model '{prefs.clip_model}' needs its weights", msg)
    return EncoderSpec(kind="open_clip", model=prefs.clip_model, pretrained=weights or prefs.clip_pretrained,
                       allow_download=online and not weights)


def user_folder() -> Path:
    """Blender's per-user storage for this extension (a temp folder when the
    code does not run as an installed extension, e.g. from a checkout)."""
    try:
        # not created here (poll functions ask on every redraw); a stage creates it when it writes
        return Path(bpy.utils.extension_path_user(ADDON_ID, path="work", create=False))
    except (ValueError, AttributeError):
        return Path(tempfile.gettempdir()) / "alive_blender"


def resolve_workdir(scene, prefs=None) -> Path:
    """The scene's work folder: its own setting if given, else by the preferences'
    location (beside the .blend by default), one sub-folder per scene."""
    s = scene.alive
    if s.workdir:
        return Path(bpy.path.abspath(s.workdir))
    prefs = get_prefs() if prefs is None else prefs
    where = prefs.workdir_location if prefs is not None else "BLEND"
    scene_part = bpy.path.clean_name(scene.name)
    stem = Path(bpy.data.filepath).stem if bpy.data.filepath else "unsaved"
    if where == "BLEND" and bpy.data.filepath:
        return Path(bpy.path.abspath(f"//alive_{stem}")) / scene_part
    if where == "CUSTOM" and prefs.workdir:
        return Path(bpy.path.abspath(prefs.workdir)) / f"alive_{stem}" / scene_part
    return user_folder() / f"alive_{stem}" / scene_part


def device(prefs=None) -> str:
    prefs = get_prefs() if prefs is None else prefs
    return prefs.device if prefs is not None else "auto"


def keep_logs(prefs=None) -> bool:
    prefs = get_prefs() if prefs is None else prefs
    return bool(prefs.keep_worker_logs) if prefs is not None else False


EXTERNAL_HINT = ("This build bundles no torch: make a Python environment with torch and the add-on's "
                 "requirements (see the README: python -m venv alive-env, then pip install torch open_clip_torch "
                 "safetensors scipy pillow) and choose its python as Worker Python, then press Check")
# what the worker needs; run with the worker's interpreter and environment
CHECK_PROBE = r"""
import importlib, json, sys
out = {"python": sys.version.split()[0], "executable": sys.executable}
def attempt(key, fn):
    try:
        out[key] = fn()
    except Exception as err:
        out[key + "_error"] = (type(err).__name__ + ": " + str(err)).splitlines()[0][:200]
def torch_info():
    import torch
    out["device"] = ("cuda" if torch.cuda.is_available() else
                     "mps" if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() else "cpu")
    if out["device"] == "cuda":
        out["gpu"] = torch.cuda.get_device_name(0)
    return torch.__version__
attempt("torch", torch_info)
attempt("open_clip", lambda: importlib.import_module("open_clip").__version__)
attempt("worker", lambda: importlib.import_module(sys.argv[1] + ".core.run.worker").__file__)
print("ALIVE_CHECK" + json.dumps(out))
"""
_LAST_CHECK: dict[str, dict] = {}


def bundled_torch() -> bool:
    """Does Blender's own Python have torch (the CPU-torch build, or a dev checkout)?"""
    import importlib.util
    return importlib.util.find_spec("torch") is not None


def worker_python() -> str:
    """The interpreter for workers: preferences' external Python, else this one.

    Inside Blender ``sys.executable`` is Blender's bundled Python; in the bpy
    module it is the venv's python."""
    try:
        prefs = get_prefs()
        if prefs is not None and prefs.python_path:
            import bpy
            return bpy.path.abspath(prefs.python_path)
    except (ImportError, AttributeError):
        pass
    return sys.executable


def check_worker_python(python: str = "", timeout: float = 120.0) -> dict:
    """Run the interpreter workers will use (``python``, else the preferences' choice, else
    Blender's) with the workers' environment; report its version, torch, device, open_clip
    and whether it imports this add-on's worker. Never raises: failures are in the result."""
    import subprocess
    from ...core.run.worker_process import PACKAGE_NAME, worker_env
    exe = bpy.path.abspath(python) if python else worker_python()
    out = {"executable": exe}
    if not Path(exe).is_file():
        out["error"] = f"no such file: {exe}"
        return out
    try:
        res = subprocess.run([exe, "-c", CHECK_PROBE, PACKAGE_NAME], env=worker_env(exe),
                             cwd=tempfile.gettempdir(), capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as err:
        out["error"] = f"could not run it: {err}"
        return out
    if "ALIVE_CHECK" not in res.stdout:
        out["error"] = "it did not run the check: " + (res.stderr.strip().splitlines() or ["no output"])[-1][:200]
        return out
    import json
    out.update(json.loads(res.stdout.split("ALIVE_CHECK", 1)[1].splitlines()[0]))
    return out


def check_summary(result: dict) -> tuple[bool, list[str]]:
    """(usable, lines to show) for a check_worker_python result."""
    if "error" in result:
        return False, [f"Worker Python: {result['error']}"]
    lines = [f"Python {result['python']}: {result['executable']}"]
    ok = True
    for key, what in (("torch", "torch"), ("open_clip", "open_clip"), ("worker", "Alive worker")):
        if key in result:
            lines.append(f"{what}: " + (f"{result[key]}, device {result['device']}" + (f" ({result['gpu']})" if
                                        "gpu" in result else "") if key == "torch" else
                                        "imports" if key == "worker" else result[key]))
        else:
            ok = False
            lines.append(f"{what} missing: {result.get(key + '_error', 'not importable')}")
    return ok, lines


class ALIVE_OT_check_worker_python(bpy.types.Operator):
    """Run the Worker Python (or Blender's own) and check it can train: torch, its version and
    device, open_clip, and this add-on's worker"""
    bl_idname = "alive.check_worker_python"
    bl_label = "Check Worker Python"
    bl_options = {"INTERNAL"}

    def execute(self, context):
        prefs = get_prefs()
        path = prefs.python_path if prefs is not None else ""
        result = check_worker_python(path)
        _LAST_CHECK[path] = result
        ok, lines = check_summary(result)
        self.report({"INFO"} if ok else {"ERROR"}, "; ".join(lines))
        for area in (context.screen.areas if context.screen else []):
            area.tag_redraw()
        return {"FINISHED"} if ok else {"CANCELLED"}


CLASSES = (AlivePreferences, ALIVE_OT_check_worker_python)
