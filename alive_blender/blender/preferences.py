"""Add-on preferences: encoder, device, work folder, worker interpreter."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

from .. import __name__ as PACKAGE

# Blender names an extension's preferences after the add-on module: the folder
# holding blender_manifest.toml, one level above this package when installed.
ADDON_ID = PACKAGE.rsplit(".", 1)[0] if PACKAGE.startswith("bl_ext.") and PACKAGE.count(".") > 2 else PACKAGE


class AlivePreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    clip_model: StringProperty(name="CLIP Model", default="",
                               description="open_clip model name, e.g. ViT-B-32. Empty: the offline deterministic "
                                           "encoder (not semantic)")
    clip_pretrained: StringProperty(name="Pretrained", default="", subtype="NONE",
                                    description="open_clip pretrained tag (downloaded when online access is "
                                                "allowed) or the path of a local weights file")
    device: EnumProperty(name="Device", default="auto", description="Where training runs",
                         items=[("auto", "Auto", "CUDA, then Apple MPS, then CPU"), ("cuda", "CUDA", "NVIDIA GPU"),
                                ("mps", "MPS", "Apple GPU"), ("cpu", "CPU", "Processor")])
    workdir: StringProperty(name="Work Folder", default="", subtype="DIR_PATH",
                            description="Default work folder for unsaved files (empty: the add-on's user folder)")
    python_path: StringProperty(name="Worker Python", default="", subtype="FILE_PATH",
                                description="Python interpreter for training workers, e.g. a venv with CUDA torch "
                                            "(empty: Blender's own Python)")
    keep_worker_logs: BoolProperty(name="Keep Worker Logs", default=False,
                                   description="Keep worker output in the work folder for bug reports")

    def draw(self, context):
        layout = self.layout
        col = layout.column()
        col.prop(self, "clip_model")
        col.prop(self, "clip_pretrained")
        if self.clip_model and not bpy.app.online_access and not self.clip_pretrained.endswith(
                (".pt", ".pth", ".bin", ".safetensors")):
            col.label(text="Blender is offline: give a local weights file", icon="ERROR")
        col.prop(self, "device")
        col.prop(self, "workdir")
        col.prop(self, "python_path")
        col.prop(self, "keep_worker_logs")


def get_prefs():
    addon = bpy.context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon else None


CLASSES = (AlivePreferences,)
