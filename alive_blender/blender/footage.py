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

from ..core.artifacts import content_key
from ..core.errors import AliveError
from ..core.footage import FootageSettings, capture_frames, read_frame, select, target_size
from ..core.protocol import Reporter


class _MovieScene:
    """A throwaway scene whose sequencer plays the movie."""

    def __init__(self, path: Path):
        self.path = path
        self.before = {k: set(getattr(bpy.data, k)) for k in ("scenes", "movieclips", "images", "worlds")}
        self.scene = bpy.data.scenes.new(".alive_footage")
        self.tmp = Path(tempfile.mkdtemp(prefix="alive-footage-"))
        try:
            se = self.scene.sequence_editor_create()
            strip = se.strips.new_movie("movie", str(path), channel=1, frame_start=1)
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
