"""A picture of training as it goes: the generator's latest checkpoint decoded.

The worker wraps its reporter for the train stage in ``PreviewReporter``:
whenever generator training has written a new resumable checkpoint, it
decodes the last captured frame's embedding with those weights and writes
WORKDIR/train_preview.png (the captured frame | the decoded frame) atomically.
The add-on's job runner shows that file as the "Alive Preview" image while
training runs. Previews cost one small decode per checkpoint; any failure
turns them off with a warning and never disturbs training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..workdir.artifacts import EMBED, MODEL
from .protocol import Reporter

PREVIEW_FILE = "train_preview.png"
STATE_FILE = "generator.train.pt"


def write_train_preview(workdir: Path, device: str = "cpu") -> Path | None:
    """Decode the last captured frame with the latest training checkpoint.
    Returns the PNG written, or None when there is no checkpoint yet."""
    from ..workdir.checkpoint import load_training_state
    from ..workdir.dataset import open_capture
    from ..models.generator import Generator, GeneratorConfig
    from ..workdir.images import write_png
    workdir = Path(workdir)
    state = load_training_state(workdir / MODEL / STATE_FILE)
    if state is None:
        return None
    emb = np.load(workdir / EMBED / "embeddings.npy")
    cfg = GeneratorConfig.from_dict(state["config"])
    cap = open_capture(workdir)   # one frame, at the working size the generator trains at
    size = (cfg.out_width, cfg.out_height) if cfg.out_width > 0 and cfg.out_height > 0 else None
    target = cap.read(len(cap) - 1, size if size and size[0] <= cap.width and size[1] <= cap.height else None)[0]
    H, W = target.shape[:2]
    gen = Generator(cfg, int(state["dim"]), 1.0, device)
    if hasattr(gen.net, "set_stats"):
        gen.net.set_stats(emb)
    gen.net.load_state_dict(state["net"])
    gen.net.eval()
    decoded = gen.decode(emb[-1:], W, H)["rgb"][0]
    decoded8 = (np.clip(decoded, 0, 1) * 255 + 0.5).astype(np.uint8)
    out = workdir / PREVIEW_FILE
    write_png(out, np.concatenate([target, decoded8], axis=1))
    return out


class PreviewReporter(Reporter):
    """Passes every message on to ``inner`` and writes a preview after each new checkpoint."""

    def __init__(self, inner: Reporter, workdir, device: str = "cpu"):
        super().__init__(inner.emit, inner._should_stop)
        self.workdir = Path(workdir)
        self.device = device
        self._seen_mtime = None
        self._enabled = True
        self._state = self.workdir / MODEL / STATE_FILE

    def emit(self, msg: dict) -> None:
        super().emit(msg)
        if self._enabled and msg.get("type") == "metric" and msg.get("name") == "generator_loss":
            self._maybe_preview()

    def _maybe_preview(self):
        try:
            mtime = self._state.stat().st_mtime_ns
        except OSError:
            return
        if mtime == self._seen_mtime:
            return
        self._seen_mtime = mtime
        try:
            write_train_preview(self.workdir, self.device)
        except Exception as err:  # a preview must never stop training
            self._enabled = False
            super().emit({"type": "warning", "message": f"training previews turned off: {err}"})
