"""The preview image the panel and Image Editors show (training frames, then
captured vs. rolled-out frames)."""

from __future__ import annotations

from pathlib import Path

import bpy

PREVIEW_IMAGE = "Alive Preview"


def load_preview(path: Path):
    """Show ``path`` as the image PREVIEW_IMAGE (reloaded when it changes), also in
    any Image Editor that shows it or nothing."""
    path = Path(path)
    if not path.exists():
        return None
    img = bpy.data.images.get(PREVIEW_IMAGE)
    if img is None:
        img = bpy.data.images.load(str(path), check_existing=False)
        img.name = PREVIEW_IMAGE
    else:
        img.filepath = str(path)
        img.reload()
    wm = bpy.context.window_manager
    for win in (wm.windows if wm else []):
        for area in win.screen.areas:
            if area.type == "IMAGE_EDITOR" and area.spaces.active.image in (None, img):
                area.spaces.active.image = img
    if not bpy.app.background:
        img.preview_ensure()
        img.preview.reload()  # the panel's thumbnail follows the new pixels
    return img
