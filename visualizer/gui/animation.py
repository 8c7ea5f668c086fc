"""The ladder's playback as GIF (Pillow) or MP4/WebM (imageio-ffmpeg's ffmpeg):
the frames of a core :class:`~visualizer.core.ladder.animation.Plan`, painted
with the ladder view's own painter, so a frame is what the app shows.

Used by ``visualizer export --animate`` (offscreen) and View › Export
Animation…. Every file goes through core/output.py: a video is encoded
into a temporary folder, then copied there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator

import numpy as np
from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QImage, QPainter

from visualizer.core.errors import BadInput
from visualizer.core.ladder.animation import CAPTION_H, CAPTION_SIZE, MARGIN, Plan, look_at
from visualizer.core.ladder.scene import Look
from visualizer.core.output import written
from visualizer.gui.ladder_view import _ItemPainter

VIDEO_CODECS = {"mp4": "libx264", "webm": "libvpx-vp9"}
FORMATS = ("gif", "mp4", "webm")


class Cancelled(Exception):
    """The user stopped the export: nothing was written."""


def frame_image(plan: Plan, frame: int, painter_cache: _ItemPainter | None = None,
                look: Look | None = None) -> QImage:
    """Frame ``frame`` of ``plan`` as an RGB image of the plan's size."""
    look = look or Look()
    image = QImage(plan.width, plan.height, QImage.Format.Format_RGB888)
    image.fill(QColor(look.colours.background))
    painter = QPainter(image)
    font = QFont()
    font.setPixelSize(12)
    cursor = plan.cursor(frame)
    view = plan.view(cursor.arrow, cursor.progress)
    painter.save()
    painter.setClipRect(QRectF(0, 0, plan.width, plan.height - CAPTION_H))
    painter.scale(plan.scale, plan.scale)
    painter.translate(-view[0], -view[1])
    items = plan.scene.build(plan.geometry, view, look_at(look, cursor))
    (painter_cache or _ItemPainter()).paint(painter, items, font, look.colours.background)
    painter.restore()
    caption = QFont()
    caption.setPixelSize(CAPTION_SIZE)
    painter.setFont(caption)
    painter.setPen(QColor(look.colours.text))
    box = QRectF(MARGIN, plan.height - CAPTION_H + MARGIN / 2, plan.width - 2 * MARGIN,
                 CAPTION_H - MARGIN)
    painter.drawText(box, int(Qt.TextFlag.TextWordWrap) | int(Qt.AlignmentFlag.AlignTop),
                     plan.caption(frame))
    painter.end()
    return image


def frame_array(image: QImage) -> np.ndarray:
    """An RGB888 image as a (height, width, 3) array (Qt pads lines to 4 bytes)."""
    width, height, line = image.width(), image.height(), image.bytesPerLine()
    bits = image.constBits()
    assert bits is not None
    bits.setsize(line * height)
    rows = np.frombuffer(bits.asstring(line * height), dtype=np.uint8).reshape(height, line)
    return rows[:, :width * 3].reshape(height, width, 3).copy()


def frames(plan: Plan, progress: Callable[[int], None] | None = None) -> Iterator[np.ndarray]:
    painter = _ItemPainter()
    for k in range(plan.frame_count):
        yield frame_array(frame_image(plan, k, painter))
        if progress is not None:
            progress(k + 1)   # may raise Cancelled


def write_animation(plan: Plan, path: str, fmt: str,
                    progress: Callable[[int], None] | None = None) -> None:
    """Write ``plan`` as ``fmt`` (gif, mp4, webm) to ``path``."""
    if fmt == "gif":
        _write_gif(plan, path, progress)
    elif fmt in VIDEO_CODECS:
        _write_video(plan, path, fmt, progress)
    else:
        raise BadInput(f"cannot animate to {fmt}: choose one of gif, mp4, webm, svg")


def _write_gif(plan: Plan, path: str, progress: Callable[[int], None] | None) -> None:
    from PIL import Image

    pictures = [Image.fromarray(a).convert("P", palette=Image.Palette.ADAPTIVE, colors=128)
                for a in frames(plan, progress)]
    delay = round(1000 / plan.fps)
    with written(path, prefix=".export-") as out:
        pictures[0].save(out, format="GIF", save_all=True, append_images=pictures[1:],
                         duration=delay, loop=0, optimize=False, disposal=1)


def _write_video(plan: Plan, path: str, fmt: str,
                 progress: Callable[[int], None] | None) -> None:
    import imageio_ffmpeg

    if plan.width % 2 or plan.height % 2:
        raise BadInput(f"--size {plan.width}x{plan.height}: a video needs an even width "
                       "and height")
    folder = tempfile.mkdtemp(prefix="visualizer-video-")
    try:
        encoded = os.path.join(folder, f"animation.{fmt}")
        writer = imageio_ffmpeg.write_frames(
            encoded, (plan.width, plan.height), fps=plan.fps, codec=VIDEO_CODECS[fmt],
            pix_fmt_out="yuv420p", macro_block_size=1, quality=None,
            output_params=(["-crf", "32", "-b:v", "0", "-deadline", "realtime",
                            "-cpu-used", "8"] if fmt == "webm" else ["-crf", "23"]),
            ffmpeg_log_level="error")
        writer.send(None)
        try:
            for array in frames(plan, progress):
                writer.send(array.tobytes())
        finally:
            writer.close()
        with written(path, prefix=".export-") as out, open(encoded, "rb") as video:
            shutil.copyfileobj(video, out)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
