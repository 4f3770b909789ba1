"""Rough time estimates from the sizes, for the panel ("what will this cost").

Per-unit costs measured by scripts/bench_resolution.py on the project's
reference machine (2 CPU cores, heavily loaded by other work, so on the slow
side, by up to ~4x); what a user choosing a size needs is the order of magnitude.
"""

from __future__ import annotations

from dataclasses import dataclass

# seconds per unit on 2 CPU cores, from bench_resolution.py runs at load average 9-15 (docs/resolution.md)
RENDER_S_PER_MEGAPIXEL = 7.0        # Workbench 7 s/MP there; Cycles at 4 samples ~4x that
DECODE_S_PER_MEGAPIXEL = 17.0       # grid-siren at 1280x720: 15.5 s a frame (arrays + PNG written)
BAKE_S_PER_MILLION_POINTS = 0.4     # unproject + attribute writes (the sequence is linked, not encoded)
TRAIN_S_PER_STEP_PER_KILOPIXEL = 0.01  # grid-siren, 8 frames a step: from the quick demo (64x48, 500 steps,
                                       # ~20 s on idle cores); the loaded 128x72 bench took 4.8 s a step
TRAIN_FIXED_S = 10.0                # behavior model, setup


@dataclass
class Estimate:
    render_s: float
    train_s: float
    decode_s: float
    bake_s: float
    points_per_frame: int

    @property
    def total_s(self) -> float:
        return self.render_s + self.train_s + self.decode_s + self.bake_s

    def summary(self) -> str:
        parts = [f"render {seconds_text(self.render_s)}", f"train {seconds_text(self.train_s)}",
                 f"decode {seconds_text(self.decode_s)}", f"bake {seconds_text(self.bake_s)}"]
        return f"~{seconds_text(self.total_s)} ({', '.join(parts)})"


def seconds_text(s: float) -> str:
    if s < 60:
        return f"{max(1, round(s))} s"
    if s < 3600:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def estimate(captured_frames: int, rollout_frames: int, output_size: tuple, working_size: tuple,
             point_density: float = 1.0, steps: int = 500, points: bool = True) -> Estimate:
    """Time for a run that renders ``captured_frames`` at ``output_size`` (W, H),
    trains ``steps`` at ``working_size``, decodes ``rollout_frames`` at the output
    size and bakes points at ``point_density`` points per pixel."""
    ow, oh = output_size
    ww, wh = working_size
    stride = max(1, int(round(1.0 / max(point_density, 1e-6) ** 0.5)))
    per_frame = len(range(stride // 2, oh, stride)) * len(range(stride // 2, ow, stride)) if points else 0
    out_mp = ow * oh / 1e6
    return Estimate(
        render_s=captured_frames * out_mp * RENDER_S_PER_MEGAPIXEL,
        train_s=TRAIN_FIXED_S + steps * ww * wh / 1e3 * TRAIN_S_PER_STEP_PER_KILOPIXEL,
        decode_s=rollout_frames * out_mp * DECODE_S_PER_MEGAPIXEL,
        bake_s=rollout_frames * per_frame / 1e6 * BAKE_S_PER_MILLION_POINTS,
        points_per_frame=int(per_frame))
