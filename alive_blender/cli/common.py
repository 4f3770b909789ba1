"""Argument helpers shared by the commands (stdlib only)."""

from __future__ import annotations

import re

from ..core.device import BYTES_PER_PIXEL, check_frames_fit
from ..core.errors import AliveError


# Blender renders at most 65536 pixels a side; anything larger is a typo
MAX_SIDE = 65536


def parse_frames(text: str | None) -> tuple[int | None, int | None]:
    """'A-B' -> (A, B); '' -> (None, None) meaning the scene's range."""
    if not text:
        return None, None
    m = re.fullmatch(r"\s*(-?\d+)\s*(?:-|:|\.\.)\s*(-?\d+)\s*", text)
    if not m:
        raise AliveError(f"bad frame range '{text}'", "write it as START-END, e.g. 1-48")
    start, end = int(m.group(1)), int(m.group(2))
    if max(abs(start), abs(end)) > 1_048_574:  # Blender's MAXFRAME
        raise AliveError(f"frame range '{text}' is outside Blender's frames (-1048574..1048574)",
                         "give frames the scene can show, e.g. 1-48")
    return start, end


def parse_size(text: str | None, flag: str = "size") -> tuple[int, int]:
    """'WxH' -> (W, H); '' -> (0, 0) meaning 'from the scene'. A size whose
    single frame would not fit in memory is refused here, before any work."""
    if not text:
        return 0, 0
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise AliveError(f"bad {flag} '{text}'", "write it as WIDTHxHEIGHT, e.g. 128x96")
    w, h = int(m.group(1)), int(m.group(2))
    if max(w, h) > MAX_SIDE:
        raise AliveError(f"{flag} {w}x{h} is larger than Blender renders ({MAX_SIDE} pixels a side) and would "
                         f"need about {w * h * BYTES_PER_PIXEL / 2 ** 30:.0f} GiB per frame",
                         "give a smaller WIDTHxHEIGHT, e.g. 128x96")
    check_frames_fit(1, w, h, f"{flag} {w}x{h}")
    return w, h


def add_encoder_args(p) -> None:
    g = p.add_argument_group("encoder")
    g.add_argument("--clip-model", default="", help="open_clip model name, e.g. ViT-B-32 (default: the offline "
                   "deterministic, non-semantic encoder)")
    g.add_argument("--clip-pretrained", default="", help="open_clip pretrained tag, or a local weights file")
    g.add_argument("--clip-config", default="", help="open_clip model-config JSON for a custom model")
    g.add_argument("--online", action="store_true", help="allow downloading CLIP weights")


def encoder_spec(args):
    from ..core.models.encoder import EncoderSpec
    if args.clip_model:
        return EncoderSpec(kind="open_clip", model=args.clip_model, pretrained=args.clip_pretrained,
                           config=args.clip_config, allow_download=args.online)
    if args.clip_pretrained:
        raise AliveError("--clip-pretrained needs --clip-model", "name the open_clip model the weights belong to")
    return EncoderSpec()
