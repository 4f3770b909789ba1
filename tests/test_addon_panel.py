"""Every panel (and the preferences) draws without exceptions, in several states.

How: the bpy module has a window but cannot draw one (``wm.call_panel`` and
``popup_menu`` crash headless, checked on bpy 5.0.1), so no real UILayout can
be had. Each panel's own ``draw`` runs with the real ``bpy.context`` against a
``CheckedLayout``: every method it calls must exist on ``bpy.types.UILayout``
with parameters of those names (read from UILayout's RNA), every attribute it
sets must be a UILayout property, every ``prop`` must name a real property of
the real data it passes, every ``operator`` a registered operator, every icon
a real icon. A typo, a removed property or a stale operator name fails here.
"""

from __future__ import annotations

import bpy
import pytest

from tests.test_addon import _disable, _enable

UI = bpy.types.UILayout.bl_rna
ICONS = set(UI.functions["label"].parameters["icon"].enum_items.keys())
LAYOUT_RETURNING = {name for name, fn in UI.functions.items()
                    if any(p.is_output and getattr(p, "fixed_type", None) is not None
                           and p.fixed_type.identifier == "UILayout" for p in fn.parameters)}


class CheckedLayout:
    def __init__(self, log):
        object.__setattr__(self, "_log", log)

    def __setattr__(self, name, value):
        if name not in UI.properties or UI.properties[name].is_readonly:
            raise AttributeError(f"UILayout has no writable property '{name}'")
        object.__setattr__(self, name, value)

    def __getattr__(self, name):
        if name not in UI.functions:
            raise AttributeError(f"UILayout has no function '{name}'")
        params = [p for p in UI.functions[name].parameters if not p.is_output]
        names = [p.identifier for p in params]

        def call(*args, **kwargs):
            if len(args) > len(names):
                raise TypeError(f"{name}() takes {len(names)} arguments")
            bound = dict(zip(names, args))
            for k, v in kwargs.items():
                if k not in names:
                    raise TypeError(f"{name}() has no parameter '{k}'")
                bound[k] = v
            for p in params:
                if p.is_required and p.identifier not in bound:
                    raise TypeError(f"{name}() needs '{p.identifier}'")
            icon = bound.get("icon")
            if icon is not None and icon not in ICONS:
                raise ValueError(f"unknown icon '{icon}'")
            if name in ("prop", "prop_search", "prop_enum", "prop_menu_enum", "props_enum"):
                data, prop = bound["data"], bound["property"]
                if prop not in data.bl_rna.properties:
                    raise AttributeError(f"{data.bl_rna.identifier} has no property '{prop}'")
            if name in ("operator", "operator_menu_enum", "operator_enum"):
                mod, op = bound["operator"].split(".")
                getattr(getattr(bpy.ops, mod), op).get_rna_type()  # KeyError if not registered
            self._log.append((name, bound))
            if name in LAYOUT_RETURNING:
                return CheckedLayout(self._log)
            return None

        return call


class PanelSelf:
    """``self`` for an unbound ``draw``: the layout plus the panel class's own attributes."""

    def __init__(self, cls, layout, data=None):
        self.layout = layout
        self._cls = cls
        self._data = data  # the real struct behind ``self`` (preferences), if any

    def __getattr__(self, name):
        if self._data is not None and hasattr(self._data, name):
            return getattr(self._data, name)
        attr = getattr(self._cls, name)
        return attr.__get__(self) if callable(attr) and hasattr(attr, "__get__") else attr


def draw_all(context) -> dict:
    from alive_blender.blender.ui.panel import CLASSES
    drawn = {}
    for cls in CLASSES:
        log = []
        if cls.poll(context):
            cls.draw(PanelSelf(cls, CheckedLayout(log)), context)
        drawn[cls.bl_idname] = log
    return drawn


@pytest.fixture
def addon(fresh_bpy):
    _enable(fresh_bpy)
    yield fresh_bpy
    _disable(fresh_bpy)


def test_sub_panels_in_work_order_under_the_alive_tab(addon):
    from alive_blender.blender.ui.panel import CLASSES
    main, *subs = CLASSES
    assert (main.bl_category, main.bl_space_type, main.bl_region_type) == ("Alive", "VIEW_3D", "UI")
    assert [c.bl_label for c in subs] == ["Capture", "Train", "Rollout", "Bake", "Preview"]
    assert all(c.bl_parent_id == main.bl_idname for c in subs)
    assert [c.bl_order for c in subs] == sorted(c.bl_order for c in subs)


def test_every_panel_draws_in_every_state(addon, tmp_path):
    bpy = addon
    from alive_blender.blender.ui.jobs import RUNNER
    from alive_blender.blender.ui.operators import PREVIEW_IMAGE
    from alive_blender.blender.ui.props import AliveSettings
    context = bpy.context
    drawn = draw_all(context)
    ops = {b["operator"] for log in drawn.values() for name, b in log if name == "operator"}
    assert ops == {"alive.make_alive", "alive.cancel", "alive.capture", "alive.train", "alive.rollout", "alive.bake", "alive.bake_options"}
    props = {b["property"] for log in drawn.values() for name, b in log if name == "prop"}
    settings = {p.identifier for p in AliveSettings.bl_rna.properties} - {"rna_type", "name"}
    shown_elsewhere = {"job_status", "job_progress", "train_loss", "train_psnr"}  # as labels and a progress bar
    assert settings - shown_elsewhere <= props, settings - shown_elsewhere - props
    assert any(name == "label" and "No preview" in b["text"] for name, b in drawn["ALIVE_PT_preview"])

    # other states: a job running, a failed job, readouts, another engine, a preview image
    s = context.scene.alive
    s.engine, s.use_scene_range, s.train_loss, s.train_psnr = "WORKBENCH", False, 0.01, 21.5
    s.job_status, s.job_progress = "Train: generator step 25", 0.25
    RUNNER.capture_busy = True
    try:
        drawn = draw_all(context)
    finally:
        RUNNER.capture_busy = False
    assert any(name == "progress" and b["factor"] == pytest.approx(0.25) for name, b in drawn["ALIVE_PT_main"])
    assert any(name == "label" and b["text"] == "PSNR 21.50 dB" for name, b in drawn["ALIVE_PT_train"])
    s.job_status = "Train failed: worker stopped unexpectedly"
    bpy.data.images.new(PREVIEW_IMAGE, 8, 4)
    drawn = draw_all(context)
    assert any(name == "label" and b.get("icon") == "ERROR" for name, b in drawn["ALIVE_PT_main"])
    assert any(name == "operator" and b["operator"] == "alive.show_preview" for name, b in drawn["ALIVE_PT_preview"])


def test_preferences_draw_with_the_offline_message(addon):
    bpy = addon
    from alive_blender.blender.ui.preferences import AlivePreferences, get_prefs
    prefs = get_prefs()
    log = []
    AlivePreferences.draw(PanelSelf(AlivePreferences, CheckedLayout(log), prefs), bpy.context)
    assert not any(name == "label" for name, _ in log)
    prefs.clip_model, prefs.workdir_location = "ViT-B-32", "CUSTOM"
    log = []
    AlivePreferences.draw(PanelSelf(AlivePreferences, CheckedLayout(log), prefs), bpy.context)
    text = " ".join(b["text"] for name, b in log if name == "label")
    assert "offline" in text and "Weights File" in text
    assert {b["property"] for name, b in log if name == "prop"} == {
        p.identifier for p in AlivePreferences.bl_rna.properties} - {"rna_type", "bl_idname"}


def test_checked_layout_catches_mistakes(addon):
    """The checker is not a pass-through: it refuses what a real UILayout refuses."""
    s = bpy.context.scene.alive
    layout = CheckedLayout([])
    with pytest.raises(AttributeError):
        layout.prop(s, "temprature")
    with pytest.raises(KeyError):
        layout.operator("alive.no_such_operator")
    with pytest.raises(AttributeError):
        layout.no_such_method()
    with pytest.raises(TypeError):
        layout.label(txt="x")
    with pytest.raises(ValueError):
        layout.label(text="x", icon="NO_SUCH_ICON")
    with pytest.raises(AttributeError):
        layout.use_property_splitt = True
    row = layout.row(align=True)
    assert isinstance(row, CheckedLayout)
