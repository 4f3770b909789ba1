"""The bake as an undoable operator: ``alive.bake_options`` re-bakes the work
directory's rollout into the current scene with the options in its redo
panel (point cloud, texture mode and targets, hold, start, density, ...).
Ctrl+Z takes the whole bake back: it is one operator with the UNDO flag."""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from ...core.errors import AliveError
from ...core.run.protocol import Reporter
from ...core.settings import FLAT_DEFAULTS, BakeSettings
from ..ui.preferences import resolve_workdir
from ..ui.settings import output_size
from .from_workdir import bake_from_workdir


def _workdir(context, explicit: str) -> Path:
    if explicit:
        return Path(bpy.path.abspath(explicit))
    return resolve_workdir(context.scene)


class ALIVE_OT_bake_options(bpy.types.Operator):
    bl_idname = "alive.bake_options"
    bl_label = "Bake with Options"
    bl_description = ("Bake the work folder's rolled-out frames into the scene as a point cloud and/or "
                      "keyframed textures; re-baking a name replaces what it made")
    bl_options = {"REGISTER", "UNDO"}

    name: StringProperty(name="Name", default="alive", description="Bake name (collection 'Alive NAME')")
    workdir: StringProperty(name="Work Folder", default="", subtype="DIR_PATH",
                            description="Work folder to bake from (empty: the scene's)")
    rollout: StringProperty(name="Rollout", default="", subtype="FILE_PATH",
                            description="Rollout .npy (empty: the work folder's)")
    points: BoolProperty(name="Point Cloud", default=True, description="Bake the point cloud")
    texture_mode: EnumProperty(name="Texture", default="SEQUENCE", description="How the frames are stored",
                               items=[("NONE", "None", "No texture"),
                                      ("SEQUENCE", "Image Sequence", "PNG files next to the .blend"),
                                      ("ATLAS", "Packed Atlas", "One image packed into the .blend "
                                                                "(self-contained)")])
    card: BoolProperty(name="Card", default=True, description="Texture on a card in the camera's frustum")
    world: BoolProperty(name="World", default=False, description="Texture as the world background")
    target_object: StringProperty(name="Object", default="", description="Texture as a material on this mesh")
    hold: IntProperty(name="Hold", default=1, min=1, soft_max=8, description="Scene frames per generated frame")
    use_scene_start: BoolProperty(name="From Scene Start", default=True,
                                  description="Start at the scene's first frame")
    start: IntProperty(name="Start", default=1, description="Scene frame of the first baked frame")
    density: FloatProperty(name="Density", default=1.0, min=0.05, soft_max=4.0,
                           description="Decode at this multiple of the training resolution")
    point_density: FloatProperty(name="Point Density", default=1.0, min=0.01, max=1.0, subtype="FACTOR",
                                 description="Points per decoded pixel (1: one per pixel, 0.25: one per 2x2)")
    allow_upscale: BoolProperty(name="Allow Upscale", default=False,
                                description="Decode above the capture's size (reported as upscaled); "
                                            "otherwise refused")
    pointcloud_object: BoolProperty(name="Point Cloud Object", default=False,
                                    description="Make the points a Point Cloud object instead of a mesh")
    point_bake: EnumProperty(name="Points", default=FLAT_DEFAULTS["point_bake"], description="Which point cloud",
                             items=[("3d", "3-D Objects", "One fused cloud per object plus the background, "
                                     "moved per frame: solid from every side"),
                                    ("per-frame", "Per-Frame Depth", "Each invented frame's depth surface")])
    camera_pose: EnumProperty(name="Camera Pose", default="start", description="Which camera pose unprojects",
                              items=[("start", "Start Frame", "The pose of the frame the rollout started from"),
                                     ("per-frame", "Per Frame", "The scene camera at each shown frame")])
    trajectory: BoolProperty(name="Trajectory", default=False, description="Embedding trajectory as curves")

    def settings(self, context):
        texture = self.texture_mode != "NONE"
        alive = getattr(context.scene, "alive", None)
        out_w, out_h = output_size(alive) if alive is not None else (0, 0)   # the panel's output size
        return BakeSettings(name=self.name, start=None if self.use_scene_start else self.start,
                            points=self.points, point_bake=self.point_bake, texture=texture,
                            texture_mode="atlas" if self.texture_mode == "ATLAS" else "sequence",
                            card=texture and self.card, world=texture and self.world,
                            target_object=self.target_object if texture else "", hold=self.hold,
                            density=self.density, pointcloud_object=self.pointcloud_object,
                            camera_pose=self.camera_pose, trajectory=self.trajectory,
                            width=out_w, height=out_h, point_density=self.point_density,
                            allow_upscale=self.allow_upscale)

    def execute(self, context):
        try:
            workdir = _workdir(context, self.workdir)
            settings = self.settings(context)
            # the run's own decoded frames serve when nothing asks for another decode
            decoded = workdir / "decoded"
            reuse = not self.rollout and self.density == 1.0 and (decoded / "rgb.npy").exists() \
                and (not settings.width or _decoded_size(decoded) == (settings.width, settings.height))
            blend_dir = Path(bpy.path.abspath("//")) if bpy.data.filepath else workdir
            result = bake_from_workdir(context.scene, workdir, settings, rollout_file=self.rollout or None,
                                       blend_dir=blend_dir, device="cpu", reporter=Reporter(),
                                       decoded_dir=decoded if reuse else None)
        except AliveError as err:
            self.report({"ERROR"}, str(err))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Alive: baked '{result['name']}' on frames {result['frames'][0]}-"
                              f"{result['frames'][1]}")
        return {"FINISHED"}

    def invoke(self, context, event):
        return context.window_manager.invoke_props_dialog(self)


def _decoded_size(decoded_dir: Path) -> tuple[int, int]:
    """(W, H) of the frames in a decoded folder, read from the .npy header only."""
    import numpy as np
    shape = np.load(decoded_dir / "rgb.npy", mmap_mode="r").shape
    return int(shape[2]), int(shape[1])


CLASSES = (ALIVE_OT_bake_options,)
