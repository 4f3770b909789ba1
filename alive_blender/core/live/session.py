"""A live session: step the behavior one tick at a time under inputs and compose each frame.

``LiveSession(workdir, size)`` loads the work directory's generator and
behavior, takes the behavior's ``Stepper`` (``steppers.stepper_for``) and
keeps the controls the inputs set (held objects, goals, temperature, anchor,
tempo, prompt). ``step(inputs)`` applies the inputs, advances ``tempo``
behavior steps and composes the frame at the session's output size: the
image, and the points (depth unprojected through the capture camera of the
start frame, as the bake does: ``core/pointcloud.py``).

It keeps only the current state and frame (the stepper's memory is bounded),
so memory stays flat however long it runs; a take is recorded only when
asked (``record.TakeRecorder``).

A prompt scores the composed frames against the text through the work
directory's encoder: each tick a few candidate next states are stepped,
composed small and encoded, and the best-scoring one is played. With the
offline deterministic encoder (no pretrained CLIP weights reachable) the
text tower is a seeded random vector per prompt: the mechanism works, the
meaning does not (``prompt_semantic`` says which).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import AliveError
from ..stepping import StepControls, StepState
from .compose import FrameResizer, PointProjector, compose_state  # noqa: F401  (compose_state: re-exported)
from .inputs import MAX_TEMPO, LiveEvent, parse_event
from .steppers import stepper_for

PROMPT_CANDIDATES = 4          # candidate next states scored per tick while a prompt is set
PROMPT_SIZE = (48, 32)         # composed this small to be scored (the encoder reads a thumbnail)


@dataclass
class LiveFrame:
    """One composed tick. ``depth`` (H, W) float32 (inf: background) and ``alpha`` (H, W) at the
    output size are made when first read (the points and the scene need neither at full size)."""
    tick: int
    rgb: np.ndarray                # (H, W, 3) uint8 sRGB bytes
    positions: Optional[np.ndarray]   # (P, 3) float32 world positions of the points (None: points off)
    colors: Optional[np.ndarray]      # (P, 4) uint8 sRGB
    sources: np.ndarray            # (M,) capture sample per object slot
    poses: np.ndarray              # (M, 4, 4) world matrix per object slot
    timings: dict = field(default_factory=dict)   # step_ms, compose_ms, points_ms
    prompt_score: Optional[float] = None
    rgba: Optional[np.ndarray] = None   # (H, W, 4) uint8 whose first three channels are rgb
    planes: dict = field(default_factory=dict, repr=False)   # depth, alpha at the capture's size
    resize: Optional[FrameResizer] = field(default=None, repr=False)
    _made: dict = field(default_factory=dict, repr=False)

    def _plane(self, name: str) -> np.ndarray:
        if name not in self._made:
            self._made[name] = self.resize.near(self.planes[name]) if self.resize is not None else self.planes[name]
        return self._made[name]

    @property
    def depth(self) -> np.ndarray:
        return self._plane("depth")

    @property
    def alpha(self) -> np.ndarray:
        return self._plane("alpha")


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux /proc; elsewhere the peak from resource)."""
    try:
        with open("/proc/self/statm") as f:
            import os
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except (OSError, ValueError, IndexError):
        import resource
        import sys
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2 ** 20 if sys.platform == "darwin" else peak / 1024


class LiveSession:
    """See the module docstring."""

    def __init__(self, workdir, size=(0, 0), device: str = "cpu", seed: int = 0, start=None,
                 points: bool = True, point_density: Optional[float] = None, reporter=None):
        from ..camera import scale_intrinsics
        from ..pointcloud import point_stride
        from ..rollout import start_frame
        from ..run import stages
        from ..workdir.artifacts import EMBED, WorkDir, load_npy
        from ..workdir.dataset import load_capture_info
        self.workdir = WorkDir(workdir).root
        self.device = device
        self.generator = stages.load_generator(self.workdir, device, reporter)
        self.behavior = stages.load_behavior(self.workdir, device, reporter)
        self.stepper = stepper_for(self.behavior, self.generator)
        self.object_names = list(self.stepper.object_names)
        cap = load_capture_info(self.workdir)
        width, height = (int(size[0]), int(size[1])) if size and size[0] and size[1] else (cap.width, cap.height)
        if width < 1 or height < 1:
            raise AliveError(f"cannot play live at {width}x{height}", "give a positive WIDTHxHEIGHT")
        self.size = (width, height)
        emb = load_npy(Path(self.workdir) / EMBED / "embeddings.npy", "embeddings")
        self.start_sample = start_frame(emb, start)          # the camera the frames are seen through
        frames = np.asarray(getattr(self.stepper, "frames", getattr(self.behavior, "frames", np.arange(len(emb)))))
        self.start_index = int(np.argmin(np.abs(frames - self.start_sample)))
        self.K = scale_intrinsics(cap.K(self.start_sample), width / cap.width, height / cap.height)
        self.world_from_camera = np.asarray(cap.world_from_camera(self.start_sample), np.float64)
        self.has_depth = bool(cap.has_depth)
        self.points = bool(points)
        # points no denser than the capture's pixels by default: above its size they would only repeat
        # the enlarged pixels (and cost a million points a tick at 1280x720)
        self.stride = point_stride(point_density) if point_density else max(1, int(round(min(
            width / cap.width, height / cap.height))))
        self.resize = FrameResizer(self._native_size(cap), self.size)
        self.project = PointProjector(self.K, self.world_from_camera, self.size, self.stride)
        self.seed = int(seed)
        self.controls = StepControls()
        self.tempo = 1
        self.prompt = ""
        self.prompt_semantic = None
        self._direction = None
        self._encoder = None
        self.state = self.stepper.start(self.start_index, self.seed)
        self.tick = 0
        self.frame: Optional[LiveFrame] = None

    def _native_size(self, cap) -> tuple:
        rgb = getattr(self.generator, "a", {}).get("rgb")   # object layers: composed at the capture's size
        return (int(rgb.shape[2]), int(rgb.shape[1])) if rgb is not None else (cap.width, cap.height)

    # -- inputs

    def slot(self, name: str) -> int:
        try:
            return self.object_names.index(name)
        except ValueError:
            raise AliveError(f"object '{name}' is not moved by this scene's behavior",
                             f"name one of: {', '.join(self.object_names)}") from None

    def apply(self, event: LiveEvent) -> None:
        """Set the controls an event changes (they last until changed again; ground lasts one tick)."""
        c = self.controls
        if event.hold is not None:
            c.held = frozenset(c.held | {self.slot(event.hold)})
        if event.release is not None:
            c.held = frozenset(c.held - {self.slot(event.release)})
        if event.goal is not None:
            name, to = event.goal
            goals = dict(c.goals)
            if to is None:
                goals.pop(self.slot(name), None)
            else:
                goals[self.slot(name)] = np.asarray(to, np.float64)
            c.goals = goals
        if event.temperature is not None:
            c.temperature = float(event.temperature)
        if event.anchor is not None:
            c.anchor = float(event.anchor)
        if event.tempo is not None:
            self.tempo = int(event.tempo)
        if event.ground:
            c.ground = True
        if event.prompt is not None:
            self.set_prompt(event.prompt)

    def set_prompt(self, prompt: str) -> None:
        self.prompt = prompt.strip()
        self._direction = None
        if not self.prompt:
            return
        from ..models.steering import text_direction, workdir_encoder
        if self._encoder is None:
            self._encoder = workdir_encoder(self.workdir, self.device)
        self.prompt_semantic = bool(self._encoder.semantic)
        self._direction = text_direction(self._encoder, self.prompt)

    def _inputs(self, inputs) -> list:
        if inputs is None:
            return []
        if isinstance(inputs, (LiveEvent, dict)):
            inputs = [inputs]
        return [e if isinstance(e, LiveEvent) else parse_event({"tick": self.tick, **e}, i)
                for i, e in enumerate(inputs)]

    # -- stepping

    def _advance(self, state: StepState, steps: int) -> StepState:
        if self.controls.ground:
            steps = max(1, steps)   # a snap is answered even while paused (tempo 0)
        for s in range(steps):
            controls = self.controls if s == 0 or not self.controls.ground else replace(self.controls, ground=False)
            state = self.stepper.step(state, controls)
        return state

    def advance(self, steps: int) -> None:
        """Step the behavior without composing (a live view that fell behind drops these frames)."""
        self.state = self._advance(self.state, int(steps))
        self.controls.ground = False

    def step(self, inputs=None) -> LiveFrame:
        """Apply ``inputs`` (events or dicts of actions), advance ``tempo`` steps, compose the frame."""
        for e in self._inputs(inputs):
            self.apply(e)
        t0 = time.perf_counter()
        score = None
        if self._direction is not None and self.tempo > 0 and not self.controls.ground:
            self.state, score = self._prompted()
        else:
            self.state = self._advance(self.state, self.tempo)
        self.controls.ground = False
        t1 = time.perf_counter()
        self.tick += 1
        self.frame = self.compose(self.state, timings={"step_ms": (t1 - t0) * 1e3})
        self.frame.prompt_score = score
        return self.frame

    def _prompted(self):
        """Of a few candidate next states, the one whose composed frame the prompt scores highest."""
        cands = [self._advance(self.state, self.tempo) for _ in range(PROMPT_CANDIDATES)]
        imgs = np.stack([compose_state(self.generator, s, *PROMPT_SIZE)["rgb"] for s in cands])
        emb = self._encoder.encode_images((imgs * 255 + 0.5).astype(np.uint8))
        emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        scores = emb @ self._direction
        best = int(np.argmax(scores))
        return cands[best], float(scores[best])

    def compose(self, state: StepState, timings: Optional[dict] = None) -> LiveFrame:
        timings = dict(timings or {})
        t0 = time.perf_counter()
        native = compose_state(self.generator, state)
        res = self.resize(native)
        t1 = time.perf_counter()
        positions = colors = None
        if self.points:
            alpha = self.resize.on_grid(native["alpha"], self.stride)
            depth = self.resize.on_grid(native["depth"], self.stride) if self.has_depth else \
                np.full(alpha.shape, 5.0, np.float32)   # footage: a flat card of points, as the bake makes
            positions, colors = self.project(res["rgb"], depth, alpha)
        t2 = time.perf_counter()
        timings.update(compose_ms=(t1 - t0) * 1e3, points_ms=(t2 - t1) * 1e3)
        return LiveFrame(tick=self.tick, rgb=res["rgb"], rgba=res["rgba"], positions=positions, colors=colors,
                         sources=np.asarray(state.sources).copy(), poses=np.asarray(state.poses).copy(),
                         timings=timings, planes={"depth": native["depth"], "alpha": native["alpha"]},
                         resize=self.resize)

    def set_tempo(self, tempo: int) -> None:
        if not 0 <= int(tempo) <= MAX_TEMPO:
            raise AliveError(f"tempo {tempo} is outside 0..{MAX_TEMPO}", f"give 0..{MAX_TEMPO} steps per tick")
        self.tempo = int(tempo)
