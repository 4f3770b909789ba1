"""Argument helpers shared by the commands (stdlib only)."""

from __future__ import annotations

import re

from ..core.errors import AliveError


def parse_frames(text: str | None) -> tuple[int | None, int | None]:
    """'A-B' -> (A, B); '' -> (None, None) meaning the scene's range."""
    if not text:
        return None, None
    m = re.fullmatch(r"\s*(-?\d+)\s*(?:-|:|\.\.)\s*(-?\d+)\s*", text)
    if not m:
        raise AliveError(f"bad frame range '{text}'", "write it as START-END, e.g. 1-48")
    return int(m.group(1)), int(m.group(2))


def parse_size(text: str | None) -> tuple[int, int]:
    """'WxH' -> (W, H); '' -> (0, 0) meaning 'from the scene'."""
    if not text:
        return 0, 0
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise AliveError(f"bad size '{text}'", "write it as WIDTHxHEIGHT, e.g. 128x96")
    return int(m.group(1)), int(m.group(2))


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
