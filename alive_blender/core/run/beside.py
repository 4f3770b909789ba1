"""The relational behavior trained beside the generator's layer build, one core each.

The layer generators (``object-layers``, ``object-world``) are built from the
capture's pixels with numpy, one core; the relational behavior trains a small
graph network on the objects' world matrices alone, on one torch thread
(``relational/train.py``: intra-op threads only add synchronisation). Neither
needs the other's result, so ``train`` starts the behavior in a thread before
the build and collects it after: on a 2-core laptop the 1280x720 demo's train
stage took the build's 34 s plus the behavior's 33 s one after the other.

The behavior needs only which objects the generator will have; it is trained
for the objects ``moving_objects`` gives before the build, and ``train`` uses
it only when the built generator has those same objects (otherwise it is
dropped and trained again after the build, as before).
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional

from ..errors import Cancelled
from .protocol import Reporter


LAYER_OBJECT_ARCHS = ("object-layers", "object-world")   # layer generators whose objects are known before the build


class _BesideReporter(Reporter):
    """The stage's reporter for the thread: its messages go to the stage's sink; it stops at the
    user's cancel and when the build failed (``stop``)."""

    def __init__(self, rep: Reporter, stop: threading.Event):
        super().__init__(rep.emit)
        self._rep = rep
        self._stop = stop

    def status(self, message: str) -> None:
        self.emit({"type": "status", "message": message})   # the build's "doing" stays the stage's

    def check_cancel(self) -> None:
        if self._stop.is_set():
            raise Cancelled("the generator's build stopped")
        self._rep.check_cancel()


class BesideTraining:
    """``call(reporter)`` run in a thread from construction; ``result()`` waits for it (its
    exception raised here), ``abandon()`` stops it at its next cancel check and waits."""

    def __init__(self, call: Callable[[Reporter], object], reporter: Reporter, objects: list):
        self.objects = list(objects)
        self.seconds = 0.0
        self._stop = threading.Event()
        self._value, self._error = None, None
        self._reporter = _BesideReporter(reporter, self._stop)
        self._thread = threading.Thread(target=self._run, args=(call,), name="alive-behavior", daemon=True)
        self._thread.start()

    def _run(self, call) -> None:
        t0 = time.monotonic()
        try:
            self._value = call(self._reporter)
        except BaseException as exc:   # handed to the caller in result()
            self._error = exc
        self.seconds = time.monotonic() - t0

    def fits(self, generator, arch: str) -> bool:
        """Whether the built generator (``arch``: what it came out as) draws the objects this behavior
        was trained for."""
        return arch in LAYER_OBJECT_ARCHS and self.objects == list(getattr(generator, "objects", []) or [])

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value

    def abandon(self) -> None:
        self._stop.set()
        self._thread.join()


def relational_beside(embeddings, capture, gcfg, bcfg, reporter: Reporter) -> Optional[BesideTraining]:
    """The relational behavior for ``capture`` started in a thread, when the generator is a layer
    generator whose objects are known before its build (object-layers, object-world: their moving
    objects; region-layers walks regions instead); else None (train it after the build)."""
    from ..models.layers import moving_objects
    if bcfg.arch != "relational" or gcfg.arch not in LAYER_OBJECT_ARCHS:
        return None
    world = gcfg.arch == "object-world"
    objects = moving_objects(capture, moving_camera=world)
    if not objects:
        return None

    def call(rep):
        from ..models.relational.train import train_relational
        return train_relational(embeddings, capture, bcfg, rep, regions=None, objects=objects, free_poses=world)
    return BesideTraining(call, reporter, objects)
