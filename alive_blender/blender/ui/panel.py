"""The "Alive" tab in the 3D viewport's sidebar.

A main panel (Make Alive, job progress, Cancel) with sub-panels in the order
of the work: Capture, Train, Rollout, Bake, and Preview. Each stage's button
greys out (with a tooltip saying why) until its inputs exist."""

from __future__ import annotations

import bpy

from ...core.run.estimate import estimate
from .jobs import RUNNER
from .settings import output_size


class _AlivePanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Alive"

    @classmethod
    def poll(cls, context):
        return context.scene is not None and hasattr(context.scene, "alive")


class _AliveSubPanel(_AlivePanel):
    bl_parent_id = "ALIVE_PT_main"

    def settings_layout(self):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = True
        return layout


class ALIVE_PT_main(_AlivePanel, bpy.types.Panel):
    bl_idname = "ALIVE_PT_main"
    bl_label = "Alive"

    def draw(self, context):
        layout = self.layout
        s = context.scene.alive
        row = layout.row(align=True)
        row.scale_y = 1.5
        row.operator("alive.make_alive", icon="PLAY")
        row.operator("alive.cancel", text="", icon="CANCEL")
        if RUNNER.busy:
            layout.progress(factor=s.job_progress, type="BAR", text=s.job_status[:80] or "working")
        elif s.job_status:
            failed = "failed" in s.job_status
            col = layout.column()
            col.alert = failed
            col.label(text=s.job_status[:80], icon="ERROR" if failed else "INFO")
        layout.prop(s, "workdir")
        if not s.workdir:
            from .preferences import resolve_workdir
            where = str(resolve_workdir(context.scene))
            layout.label(text=where if len(where) <= 60 else "..." + where[-57:], icon="FILE_FOLDER")


def draw_cost(layout, scene) -> None:
    """What the chosen sizes will cost: a rough estimate from the sizes (core.run.estimate)."""
    s = scene.alive
    out_w, out_h = output_size(s)
    work = (s.width, s.height)
    frames = (scene.frame_end - scene.frame_start + 1) if s.use_scene_range else (s.frame_end - s.frame_start + 1)
    est = estimate(max(1, frames), s.rollout_frames, (out_w, out_h) if out_w else work, work, s.point_density,
                   s.generator_steps, s.bake_points)
    col = layout.column(align=True)
    col.scale_y = 0.8
    col.label(text=est.summary(), icon="TIME")
    if s.bake_points:
        col.label(text=f"{est.points_per_frame:,} points per frame")


class ALIVE_PT_capture(_AliveSubPanel, bpy.types.Panel):
    bl_idname = "ALIVE_PT_capture"
    bl_label = "Capture"
    bl_order = 0

    def draw(self, context):
        layout = self.settings_layout()
        s = context.scene.alive
        col = layout.column()
        col.prop(s, "camera")
        col.prop(s, "use_scene_range")
        sub = col.column(align=True)
        sub.active = not s.use_scene_range
        sub.prop(s, "frame_start")
        sub.prop(s, "frame_end")
        sub = col.column(align=True)
        sub.prop(s, "width")
        sub.prop(s, "height")
        sub = col.column(align=True)
        sub.prop(s, "output_width")
        sub.prop(s, "output_height")
        col.prop(s, "point_density")
        draw_cost(col, context.scene)
        col.prop(s, "engine")
        if s.engine == "CYCLES":
            col.prop(s, "samples")
        layout.operator("alive.capture", icon="RENDER_ANIMATION")


class ALIVE_PT_train(_AliveSubPanel, bpy.types.Panel):
    bl_idname = "ALIVE_PT_train"
    bl_label = "Train"
    bl_order = 1

    def draw(self, context):
        layout = self.settings_layout()
        s = context.scene.alive
        col = layout.column()
        col.prop(s, "generator")
        row = col.row()
        row.active = s.generator == "object-layers"   # what object-layers does when the camera moves
        row.prop(s, "moving_camera")
        col.prop(s, "generator_steps")
        row = col.row()
        row.active = s.generator in ("film-siren", "original-siren")   # the others size themselves
        row.prop(s, "generator_width")
        col.prop(s, "generator_seconds")
        col.prop(s, "behavior")
        col.prop(s, "behavior_epochs")
        col.prop(s, "seed")
        layout.operator("alive.train", icon="SHADERFX")
        if s.train_loss or s.train_psnr:
            row = layout.row()
            row.label(text=f"Loss {s.train_loss:.5f}")
            row.label(text=f"PSNR {s.train_psnr:.2f} dB" if s.train_psnr else "PSNR -")


class ALIVE_PT_rollout(_AliveSubPanel, bpy.types.Panel):
    bl_idname = "ALIVE_PT_rollout"
    bl_label = "Rollout"
    bl_order = 2

    def draw(self, context):
        layout = self.settings_layout()
        s = context.scene.alive
        col = layout.column()
        col.prop(s, "rollout_frames")
        col.prop(s, "temperature")  # keyframable: the decorator shows the keyframe button
        col.prop(s, "anchor")
        col.prop(s, "dynamism")
        col.prop(s, "loop")
        col = layout.column(heading="Steering")
        col.prop(s, "prompt", text="Prompt")
        col.prop(s, "negative_prompt", text="Negative")
        col.prop(s, "steer_strength", text="Strength")
        layout.operator("alive.rollout", icon="FORCE_TURBULENCE")


class ALIVE_PT_bake(_AliveSubPanel, bpy.types.Panel):
    bl_idname = "ALIVE_PT_bake"
    bl_label = "Bake"
    bl_order = 3

    def draw(self, context):
        layout = self.settings_layout()
        s = context.scene.alive
        col = layout.column()
        col.prop(s, "bake_name")
        col.prop(s, "bake_points")
        sub = col.row()
        sub.enabled = s.bake_points
        sub.prop(s, "point_bake")
        col.prop(s, "bake_texture")
        row = layout.row(align=True)
        row.operator("alive.bake", icon="OUTLINER_OB_POINTCLOUD")
        row.operator("alive.bake_options", text="", icon="PREFERENCES")


class ALIVE_PT_preview(_AliveSubPanel, bpy.types.Panel):
    bl_idname = "ALIVE_PT_preview"
    bl_label = "Preview"
    bl_order = 4
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        from .previews import PREVIEW_IMAGE
        layout = self.layout
        img = bpy.data.images.get(PREVIEW_IMAGE)
        if img is None:
            layout.label(text="No preview yet: train or roll out", icon="IMAGE_DATA")
            return
        if img.preview is not None and img.preview.icon_id:
            layout.template_icon(icon_value=img.preview.icon_id, scale=8.0)
        layout.operator("alive.show_preview", icon="IMAGE")


CLASSES = (ALIVE_PT_main, ALIVE_PT_capture, ALIVE_PT_train, ALIVE_PT_rollout, ALIVE_PT_bake, ALIVE_PT_preview)
