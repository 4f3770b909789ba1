"""*Play Live* (a modal operator on a timer at the scene's fps) and *Record Take*.

Keys while playing (in the 3D viewport): Tab picks the next object (or click
one), a left click/drag on the ground sets the picked object's goal, H holds
or releases it, + / - raise or lower the temperature, G grounds the scene,
Esc stops and removes everything Play Live added. The header shows ticks per
second. Each timer event runs at most one tick; ticks that were due while a
slow tick ran are stepped but not shown (frames dropped), so the UI never
waits on a backlog.

*Record Take* writes what was played (kept by a ``TakeRecorder`` while
playing, at most ``MAX_TAKE`` ticks) as a rollout in the work folder and
bakes it like any rollout: keyframed, it plays without the add-on.
"""

from __future__ import annotations

import time
from pathlib import Path

import bpy

from ...core.errors import AliveError
from ..ui.polls import NEEDS_MODEL, busy_reason, poll
from ..ui.preferences import device, resolve_workdir
from ..ui.settings import bake_settings, output_size
from .view import LiveView, ground_point, live_tick

MAX_TAKE = 100_000     # ticks a take keeps (a few MB); older ones are dropped, the take stays playable
TEMPERATURE_STEP = 0.25
LIVE = {"session": None, "view": None, "recorder": None, "operator": None}


def key_inputs(session, picked: int, key: str) -> tuple:
    """(picked object slot, inputs for the next tick, handled) for a key press while playing: Tab picks
    the next object, H holds or releases the picked one, + / - change the temperature, G grounds."""
    c = session.controls
    if key == "TAB":
        return (picked + 1) % len(session.object_names), [], True
    if key == "H":
        name = session.object_names[picked]
        return picked, [{"release": name} if picked in c.held else {"hold": name}], True
    if key in ("NUMPAD_PLUS", "EQUAL", "PLUS"):
        return picked, [{"temperature": min(10.0, c.temperature + TEMPERATURE_STEP)}], True
    if key in ("NUMPAD_MINUS", "MINUS"):
        return picked, [{"temperature": max(0.0, c.temperature - TEMPERATURE_STEP)}], True
    if key == "G":
        return picked, [{"ground": True}], True
    return picked, [], False


def start_live(scene, size=(0, 0)):
    """The session, its view in the scene and a recorder (module state: Record Take reads it)."""
    from ...core.device import pick_device
    from ...core.live.record import TakeRecorder
    from ...core.live.session import LiveSession
    stop_live()
    session = LiveSession(resolve_workdir(scene), size, pick_device(device()), seed=scene.alive.seed)
    view = LiveView.create(scene, session)
    LIVE.update(session=session, view=view, recorder=TakeRecorder(session))
    return session, view


def stop_live(keep_take: bool = True) -> None:
    view = LIVE.get("view")
    if view is not None:
        view.remove()
    LIVE.update(view=None, operator=None)
    if not keep_take:
        LIVE.update(session=None, recorder=None)


def record_take(scene, reporter=None) -> dict:
    """Write the take played so far as a rollout (WORKDIR/live/take.npy) and bake it."""
    from ..bake.from_workdir import bake_from_workdir
    rec, session = LIVE.get("recorder"), LIVE.get("session")
    if rec is None or not len(rec):
        raise AliveError("nothing has been played yet", "press Play Live first, then Record Take")
    workdir = Path(session.workdir)
    take = workdir / "live" / "take.npy"
    rec.write(take, reporter)
    settings = bake_settings(scene)
    settings.name = f"{settings.name}_take"
    settings.width, settings.height = session.size
    from ..ui.operators import _blend_dir
    res = bake_from_workdir(scene, workdir, settings, rollout_file=take, blend_dir=_blend_dir(workdir),
                            device=session.device, reporter=reporter)
    res["take"] = str(take)
    return res


class ALIVE_OT_play_live(bpy.types.Operator):
    bl_idname = "alive.play_live"
    bl_label = "Play Live"
    bl_description = ("Play the trained scene live and steer it: Tab/click pick an object, click the ground for "
                      "its goal, H hold, +/- temperature, G ground, Esc stop")
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return poll(cls, context, lambda s: busy_reason(), NEEDS_MODEL)

    def invoke(self, context, event):
        scene = context.scene
        try:
            session, _ = start_live(scene, output_size(scene.alive))
        except AliveError as err:
            self.report({"ERROR"}, f"Alive live: {err}")
            return {"CANCELLED"}
        fps = scene.render.fps / max(scene.render.fps_base, 1e-6)
        self.interval = 1.0 / max(fps, 1.0)
        self.picked = 0
        self.pending = []
        self.dragging = False
        self.last = time.perf_counter()
        self.recent = []
        self.timer = context.window_manager.event_timer_add(self.interval, window=context.window)
        context.window_manager.modal_handler_add(self)
        LIVE["operator"] = self
        self._header(context)
        return {"RUNNING_MODAL"}

    def _header(self, context, tps: float = 0.0, dropped: int = 0) -> None:
        s = LIVE["session"]
        if s is None or context.area is None:
            return
        c = s.controls
        name = s.object_names[self.picked]
        context.area.header_text_set(
            f"Alive Live  {tps:4.1f} ticks/s  dropped {dropped}  |  picked {name}"
            f"{' (held)' if self.picked in c.held else ''}  T {c.temperature:.2f}  |  "
            "Tab pick  click goal  H hold  +/- temperature  G ground  Esc stop")

    def modal(self, context, event):
        s = LIVE["session"]
        if s is None or LIVE["operator"] is not self:
            return self._finish(context)
        if event.type == "ESC" and event.value == "PRESS":
            return self._finish(context)
        if event.type == "TIMER":
            now = time.perf_counter()
            dropped = max(0, int((now - self.last) / self.interval) - 1)
            self.last = now
            try:
                live_tick(LIVE["view"], s, self.pending, LIVE["recorder"], dropped)
            except AliveError as err:
                self.report({"ERROR"}, f"Alive live: {err}")
                return self._finish(context)
            self.pending = []
            rec = LIVE["recorder"]
            if len(rec) > MAX_TAKE:
                del rec.sources[0], rec.poses[0]
            self.recent = (self.recent + [now])[-24:]
            tps = (len(self.recent) - 1) / max(self.recent[-1] - self.recent[0], 1e-6) if len(self.recent) > 1 else 0
            self._header(context, tps, dropped)
            return {"RUNNING_MODAL"}
        if event.value == "PRESS":
            self.picked, inputs, handled = key_inputs(s, self.picked, event.type)
            self.pending.extend(inputs)
            if handled:
                return {"RUNNING_MODAL"}
        if event.type == "LEFTMOUSE" and context.area is not None and context.area.type == "VIEW_3D":
            if event.value == "PRESS":
                self.dragging = self._click(context, event, pick=True)
                return {"RUNNING_MODAL"} if self.dragging else {"PASS_THROUGH"}
            if event.value == "RELEASE":
                self.dragging = False
        if event.type == "MOUSEMOVE" and self.dragging:
            self._click(context, event, pick=False)
            return {"RUNNING_MODAL"}
        return {"PASS_THROUGH"}

    def _click(self, context, event, pick: bool) -> bool:
        """Pick the object under the mouse, or set the picked object's goal where the ray meets its ground."""
        s = LIVE["session"]
        region, rv3d = context.region, context.region_data
        if region is None or rv3d is None:
            return False
        coord = (event.mouse_region_x, event.mouse_region_y)
        if pick:
            from bpy_extras import view3d_utils
            origin = view3d_utils.region_2d_to_origin_3d(region, rv3d, coord)
            direction = view3d_utils.region_2d_to_vector_3d(region, rv3d, coord)
            hit, _, _, _, obj, _ = context.scene.ray_cast(context.evaluated_depsgraph_get(), origin, direction)
            if hit and obj is not None and obj.name in s.object_names:
                self.picked = s.object_names.index(obj.name)
                return False
        height = float(s.frame.poses[self.picked, 2, 3]) if s.frame is not None else 0.0
        at = ground_point(region, rv3d, coord, height)
        if at is None:
            return False
        self.pending.append({"goal": {"object": s.object_names[self.picked], "to": [float(v) for v in at]}})
        return True

    def _finish(self, context):
        if getattr(self, "timer", None) is not None:
            context.window_manager.event_timer_remove(self.timer)
            self.timer = None
        if context.area is not None:
            context.area.header_text_set(None)
        if LIVE.get("operator") in (self, None):
            stop_live()
        return {"CANCELLED"}


class ALIVE_OT_record_take(bpy.types.Operator):
    bl_idname = "alive.record_take"
    bl_label = "Record Take"
    bl_description = "Bake what Play Live played as a normal bake (keyframed: renders without the add-on)"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if LIVE.get("recorder") is None or not len(LIVE["recorder"]):
            cls.poll_message_set("Nothing played yet: press Play Live first")
            return False
        return poll(cls, context, lambda s: busy_reason())

    def execute(self, context):
        try:
            res = record_take(context.scene)
        except AliveError as err:
            self.report({"ERROR"}, f"Alive record take failed: {err}")
            return {"CANCELLED"}
        first, last = res["frames"]
        self.report({"INFO"}, f"Alive: baked the take as '{res['name']}' (frames {first}-{last})")
        return {"FINISHED"}


class ALIVE_PT_live(bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Alive"
    bl_parent_id = "ALIVE_PT_main"
    bl_idname = "ALIVE_PT_live"
    bl_label = "Live"
    bl_order = 5

    @classmethod
    def poll(cls, context):
        return context.scene is not None and hasattr(context.scene, "alive")

    def draw(self, context):
        layout = self.layout
        row = layout.row(align=True)
        row.operator("alive.play_live", icon="PLAY")
        row.operator("alive.record_take", icon="REC")
        col = layout.column(align=True)
        col.scale_y = 0.8
        col.label(text="Tab/click pick, click ground: goal")
        col.label(text="H hold, +/- temperature, G ground, Esc stop")


CLASSES = (ALIVE_OT_play_live, ALIVE_OT_record_take, ALIVE_PT_live)


def unregister():
    stop_live(keep_take=False)   # the view's IDs go with the add-on; a running modal finds LIVE empty and ends
