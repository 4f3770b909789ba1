"""A movie file's frames as a capture, decoded by Blender's own movie reader.

The movie goes into the sequencer of a temporary scene (removed afterwards,
with everything it created), which renders each wanted frame at the movie's
own size to a PNG through the 'Standard' view transform: the decoded frame,
unchanged. Depth-less, like all footage (see core/footage.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional

import bpy
import numpy as np

from ...core.workdir.artifacts import content_key
from ...core.errors import AliveError
from ...core.workdir.footage import (BLENDER_SUFFIXES, IMAGE_SUFFIXES, FootageSettings, capture_frames, capture_images,
                            list_images, read_frame, select, target_size)
from ...core.run.protocol import Reporter
from .. import compat


class _MovieScene:
    """A throwaway scene whose sequencer plays the movie."""

    def __init__(self, path: Path):
        self.path = path
        self.before = {k: set(getattr(bpy.data, k)) for k in ("scenes", "movieclips", "images", "worlds")}
        self.scene = bpy.data.scenes.new(".alive_footage")
        self.tmp = Path(tempfile.mkdtemp(prefix="alive-footage-"))
        try:
            se = self.scene.sequence_editor_create()
            strip = compat.sequencer_strips(se).new_movie("movie", str(path), channel=1, frame_start=1)
            elem = strip.elements[0] if len(strip.elements) else None
            if strip.fps <= 0 or elem is None or elem.orig_width <= 0:
                raise AliveError(f"cannot read the movie '{path}'",
                                 "give a movie Blender can play (e.g. MP4/H.264, MOV, MKV, AVI)")
            self.frames = int(strip.frame_final_duration)
            self.fps = float(strip.fps)
            self.width, self.height = int(elem.orig_width), int(elem.orig_height)
            sc, r = self.scene, self.scene.render
            sc.frame_start, sc.frame_end = 1, self.frames
            r.resolution_x, r.resolution_y, r.resolution_percentage = self.width, self.height, 100
            r.use_sequencer, r.use_compositing, r.dither_intensity = True, False, 0.0
            r.image_settings.file_format, r.image_settings.color_mode = "PNG", "RGB"
            r.image_settings.color_depth, r.image_settings.compression = "8", 0
            sc.view_settings.view_transform, sc.view_settings.look = "Standard", "None"
        except BaseException:
            self.close()
            raise

    def read(self, frame: int):
        self.scene.frame_set(frame)
        out = self.tmp / f"{frame:06d}.png"
        self.scene.render.filepath = str(out)
        # the render operator takes the frame from the context's scene: make it this one
        with bpy.context.temp_override(scene=self.scene):
            bpy.ops.render.render(write_still=True)
        try:
            return read_frame(out)
        finally:
            out.unlink(missing_ok=True)

    def close(self):
        if self.scene is not None and self.scene.name in bpy.data.scenes:
            bpy.data.scenes.remove(self.scene)
        self.scene = None
        for kind, old in self.before.items():
            coll = getattr(bpy.data, kind)
            for idb in [i for i in coll if i not in old and i.users == 0]:
                coll.remove(idb)
        shutil.rmtree(self.tmp, ignore_errors=True)


def read_image_blender(path: Path):
    """(rgb uint8 sRGB, alpha float32) of any image Blender reads (EXR, HDR, DPX, ...):
    float images are scene-linear and get the plain sRGB transfer ('Standard'), clipped."""
    path = Path(path)
    try:
        img = bpy.data.images.load(str(path), check_existing=False)
    except RuntimeError as err:
        raise AliveError(f"cannot read image '{path}': {str(err).strip().splitlines()[-1]}",
                         "replace or remove the file") from None
    try:
        w, h = img.size
        if w == 0 or h == 0:
            raise AliveError(f"cannot read image '{path}': no pixels", "replace or remove the file")
        px = np.empty(w * h * 4, np.float32)
        img.pixels.foreach_get(px)
        px = px.reshape(h, w, 4)[::-1]            # Blender's rows are bottom-up
        rgb = np.clip(px[..., :3], 0.0, 1.0)
        if img.is_float:
            rgb = np.where(rgb <= 0.0031308, 12.92 * rgb, 1.055 * np.power(rgb, 1 / 2.4) - 0.055)
        alpha = np.clip(px[..., 3], 0.0, 1.0) if img.channels == 4 else np.ones((h, w), np.float32)
        return (rgb * 255.0 + 0.5).astype(np.uint8), alpha.astype(np.float32)
    finally:
        bpy.data.images.remove(img)


def capture_image_sequence(spec: str, workdir, settings: Optional[FootageSettings] = None,
                           reporter: Optional[Reporter] = None) -> dict:
    """An image sequence as the capture: PIL for ordinary formats, Blender's loader for
    EXR/HDR/DPX/Cineon (film plates, earlier renders)."""
    files = list_images(spec, IMAGE_SUFFIXES | BLENDER_SUFFIXES)

    def reader(p: Path):
        return read_image_blender(p) if p.suffix.lower() in BLENDER_SUFFIXES else read_frame(p)
    return capture_images(spec, workdir, settings, reporter, files=files, reader=reader)


def capture_movie(path, workdir, settings: Optional[FootageSettings] = None,
                  reporter: Optional[Reporter] = None) -> dict:
    """Every wanted frame of the movie at ``path`` as the capture (frames numbered from 1)."""
    s = settings or FootageSettings()
    rep = reporter or Reporter()
    path = Path(os.path.expanduser(str(path))).absolute()
    if not path.is_file():
        raise AliveError(f"movie not found: '{path}'", "give the path of an existing movie file")
    target_size(1, 1, s)
    movie = _MovieScene(path)
    try:
        numbers = list(range(1, movie.frames + 1))
        picked = [numbers[i] for i in select(numbers, s)]
        st = path.stat()
        file_key = content_key("movie", str(path), st.st_size, st.st_mtime_ns)
        rep.status(f"capture: {len(picked)} frames of the movie '{path.name}' ({movie.width}x{movie.height}, "
                   f"{movie.fps:g} fps)")

        frames = ((n, content_key(file_key, n), (lambda n=n: movie.read(n))) for n in picked)
        meta = {"footage": {"kind": "movie", "path": str(path), "frames": movie.frames},
                "settings": s.to_dict(), "scene": "", "camera": "", "engine": "", "fps": movie.fps,
                "blender_version": bpy.app.version_string}
        return capture_frames(workdir, frames, len(picked), lambda w, h: target_size(w, h, s), meta, rep)
    finally:
        movie.close()
