"""Every config class of the package is strict: an unknown key is an error
that names it (issue 22, item 5). The classes are found by importing the whole
package, not from a hand-kept list, so a new config is checked too."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil

import pytest

import alive_blender
from alive_blender.core.errors import AliveError

try:
    import bpy  # noqa: F401
    HAVE_BPY = True
except ImportError:
    HAVE_BPY = False


def config_classes() -> list[type]:
    """Every dataclass of the package that is a config: it has ``from_dict``,
    or its name says it is one (…Config, …Settings, …Spec)."""
    found = {}
    for info in pkgutil.walk_packages(alive_blender.__path__, "alive_blender.",
                                      onerror=lambda name: None):
        try:
            module = importlib.import_module(info.name)
        except ModuleNotFoundError as err:   # without Blender (-m "not bpy"): its layer cannot load
            if err.name in ("bpy", "mathutils", "bmesh", "bpy_extras") and not HAVE_BPY:
                continue
            raise
        for obj in vars(module).values():
            if (inspect.isclass(obj) and dataclasses.is_dataclass(obj) and obj.__module__ == module.__name__
                    and (hasattr(obj, "from_dict") or obj.__name__.endswith(("Config", "Settings", "Spec")))):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [found[k] for k in sorted(found)]


CLASSES = config_classes()


def test_the_walk_finds_the_configs():
    names = {c.__name__ for c in CLASSES}
    assert {"ObjectWalkConfig", "BehaviorConfig", "GeneratorConfig", "RolloutConfig", "EncoderSpec",
            "CaptureSettings", "BakeSettings", "RunSettings", "FootageSettings"} <= names, names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_config_refuses_an_unknown_key_by_name(cls):
    assert hasattr(cls, "from_dict"), f"{cls.__name__} has no from_dict: give it core.config.Config"
    with pytest.raises(AliveError, match="'no_such_key'"):
        cls.from_dict({"no_such_key": 1})
    # sizes a network derives from its data (node_in, slots, ...) have no default: give them 1
    required = {f.name: 1 for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    default = cls(**required)
    assert cls.from_dict(default.to_dict()) == default   # what it writes, it reads back


def test_an_object_walk_setting_misspelt_is_refused():
    import numpy as np

    from alive_blender.core.models.object_walk import ObjectWalkConfig, train_object_walk
    with pytest.raises(AliveError, match="'jump_rat'"):
        ObjectWalkConfig.from_dict({"jump_rat": 0.1})

    class Capture:   # footage-like: two real frames, no object ids
        is_real_frame = np.ones(3, bool)
        ids = None
        samples: list = []

    with pytest.raises(AliveError, match="'jump_rat'"):
        train_object_walk(np.eye(3, 4), Capture(), {"jump_rat": 0.1})
    # the run schema's behavior settings (epochs, lr, ...) pass as the schema's; the rest is the walk's
    from alive_blender.core.models.behavior import BehaviorConfig, walk_settings
    with pytest.raises(AliveError, match="'jump_rat'"):
        train_object_walk(np.eye(3, 4), Capture(), walk_settings({**BehaviorConfig().to_dict(), "jump_rat": 0.1}))
    walk = train_object_walk(np.eye(3, 4), Capture(),
                             walk_settings({**BehaviorConfig().to_dict(), "seed": 5, "jump_rate": 0.2}))
    assert (walk.cfg.seed, walk.cfg.jump_rate) == (5, 0.2)
