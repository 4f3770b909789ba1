"""How tests/data was made (kept so the sample can be remade; the tests use the committed files).

pedestrians/frame_0001..0012.png: the first 12 frames of ../shared/data/pedestrians (real camera
footage, OpenCV's vtest.avi: Apache-2.0 / BSD-3-Clause) scaled from 192x144 to 64x48.
pedestrians.mp4: those 12 frames as H.264 (10 fps), written by Blender's own movie writer.

    python tests/data/make_footage.py /path/to/shared/data/pedestrians   (with the bpy module)
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FRAMES = 12


def make_frames(source: Path) -> None:
    from PIL import Image
    (HERE / "pedestrians").mkdir(exist_ok=True)
    for i in range(1, FRAMES + 1):
        im = Image.open(source / f"frame_{i:04d}.png").convert("RGB").resize((64, 48), Image.LANCZOS)
        im.save(HERE / "pedestrians" / f"frame_{i:04d}.png", optimize=True)


def make_movie(out: Path) -> None:
    """The frames through the sequencer into Blender's FFmpeg writer."""
    import bpy
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    frames = sorted((HERE / "pedestrians").glob("frame_*.png"))
    seq = scene.sequence_editor_create()
    strip = seq.strips.new_image("frames", str(frames[0]), channel=1, frame_start=1)
    for f in frames[1:]:
        strip.elements.append(f.name)
    r = scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = 64, 48, 100
    r.fps = 10
    scene.frame_start, scene.frame_end = 1, len(frames)
    scene.view_settings.view_transform = "Standard"
    r.image_settings.media_type = "VIDEO"
    r.image_settings.file_format = "FFMPEG"
    r.ffmpeg.format, r.ffmpeg.codec = "MPEG4", "H264"
    r.ffmpeg.constant_rate_factor = "HIGH"
    r.filepath = str(out)
    r.use_file_extension = False
    bpy.ops.render.render(animation=True)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        make_frames(Path(sys.argv[1]))
    make_movie(HERE / "pedestrians.mp4")
