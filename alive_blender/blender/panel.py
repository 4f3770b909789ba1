"""The "Alive" tab in the 3D viewport's sidebar."""

from __future__ import annotations

import bpy


class ALIVE_PT_main(bpy.types.Panel):
    bl_idname = "ALIVE_PT_main"
    bl_label = "Alive"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Alive"

    def draw(self, context):
        layout = self.layout
        s = context.scene.alive
        layout.use_property_split = True
        layout.use_property_decorate = True
        col = layout.column(heading="Capture")
        col.prop(s, "camera")
        col.prop(s, "use_scene_range")
        if not s.use_scene_range:
            col.prop(s, "frame_start")
            col.prop(s, "frame_end")
        col.prop(s, "width")
        col.prop(s, "height")
        col.prop(s, "engine")
        if s.engine == "CYCLES":
            col.prop(s, "samples")
        col = layout.column(heading="Train")
        col.prop(s, "generator")
        col.prop(s, "generator_steps")
        col.prop(s, "behavior")
        col.prop(s, "behavior_epochs")
        col = layout.column(heading="Rollout")
        col.prop(s, "rollout_frames")
        col.prop(s, "temperature")
        col.prop(s, "anchor")
        col.prop(s, "seed")
        col = layout.column(heading="Bake")
        col.prop(s, "bake_name")
        col.prop(s, "workdir")
        layout.separator()
        row = layout.row(align=True)
        row.scale_y = 1.5
        row.operator("alive.make_alive", icon="PLAY")
        row.operator("alive.cancel", text="", icon="CANCEL")
        if s.job_status:
            layout.progress(factor=s.job_progress, text=s.job_status[:60])


CLASSES = (ALIVE_PT_main,)
