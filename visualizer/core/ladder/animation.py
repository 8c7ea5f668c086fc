"""The ladder's playback as an animation for slides: the plan of its frames,
and the animated SVG (SMIL, no script).

A :class:`Plan` covers arrows ``first..last`` of a scene: each packet
travels its arrow for ``travel`` frames, then holds for ``hold`` frames
while its explanation is read, as the app plays it. The lanes are as wide
as the frame, the picture scrolls to keep the playing packet in the middle,
and its explanation is in a caption strip below. The raster formats paint
the frames with the GUI's painter (gui/animation.py); the SVG is written
here from the same primitives: one picture per packet before and after it
lands, shown in turn, with the packet as a dot moving along its arrow in
between.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from visualizer.core.describe.kinds import KINDS
from visualizer.core.errors import BadInput
from visualizer.core.ladder.scene import (
    HEADER,
    Cursor,
    Geometry,
    LadderScene,
    Look,
    _n,
    _svg_item,
    text_width,
)
from visualizer.core.output import written

TRAVEL_S = 0.6     # seconds a packet takes along its arrow
HOLD_S = 1.2       # seconds it rests while its explanation is read
CAPTION_H = 96     # px at the foot of a frame for the explanation
CAPTION_SIZE = 15
MARGIN = 12.0


@dataclass(frozen=True)
class Plan:
    scene: LadderScene
    first: int          # arrow numbers, inclusive
    last: int
    width: int
    height: int
    fps: float
    captions: tuple[str, ...]   # one per arrow of the range

    @property
    def travel(self) -> int:
        return max(1, round(self.fps * TRAVEL_S))

    @property
    def hold(self) -> int:
        return max(1, round(self.fps * HOLD_S))

    @property
    def frame_count(self) -> int:
        return (self.last - self.first + 1) * (self.travel + self.hold)

    def cursor(self, frame: int) -> Cursor:
        per = self.travel + self.hold
        arrow, k = self.first + frame // per, frame % per
        return Cursor(arrow, min(1.0, (k + 1) / self.travel))

    def caption(self, frame: int) -> str:
        return self.captions[frame // (self.travel + self.hold)]

    @property
    def geometry(self) -> Geometry:
        return self.scene.geometry()

    @property
    def scale(self) -> float:
        """Picture px per ladder px: the lanes fill the frame's width."""
        return self.width / self.geometry.width

    def view(self, arrow: int, progress: float = 1.0) -> tuple[float, float, float, float]:
        """The rectangle of the picture (x, y, w, h) shown while ``arrow`` plays:
        it scrolls from the previous arrow's to centre this one as it travels."""
        g = self.geometry
        height = (self.height - CAPTION_H) / self.scale
        top = self._top(arrow, height)
        if progress < 1.0 and arrow > self.first:
            before = self._top(arrow - 1, height)
            top = before + (top - before) * progress
        return 0.0, top, g.width, height

    def _top(self, arrow: int, height: float) -> float:
        g = self.geometry
        _, y, _, h = self.scene.row(g, arrow)
        centred = y + h / 2 - HEADER / 2 - height / 2
        return max(0.0, min(centred, g.height - height))


def make_plan(scene: LadderScene, captions: list[str], *, first: int, last: int,
              size: tuple[int, int], fps: float) -> Plan:
    """A plan for arrows ``first..last`` (0-based, inclusive) of ``scene``;
    ``captions`` has one text per arrow of the ladder."""
    count = len(scene.ladder.arrows)
    if count == 0:
        raise BadInput("nothing to animate: no packet of a conversation to show")
    if not 0 <= first <= last < count:
        raise BadInput(f"arrows {first + 1} to {last + 1} are out of range: the ladder has "
                       f"{count}")
    if not 1.0 <= fps <= 60.0:
        raise BadInput(f"--fps {fps:g}: choose 1 to 60 frames a second")
    return Plan(scene, first, last, size[0], size[1], fps, tuple(captions[first:last + 1]))


def caption_lines(text: str, width: float, size: float = CAPTION_SIZE,
                  most: int = 4) -> list[str]:
    """``text`` in lines of at most ``width`` px (estimated), at most ``most``."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and text_width(candidate, size) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    if line:
        lines.append(line)
    if len(lines) > most:
        lines = [*lines[:most - 1], lines[most - 1] + " …"]
    return lines


def animated_svg(plan: Plan, look: Look | None = None) -> str:
    """The animation as an SVG document that plays by itself, looping (SMIL)."""
    look = look or Look()
    g, scale = plan.geometry, plan.scale
    per_packet = TRAVEL_S + HOLD_S
    total = (plan.last - plan.first + 1) * per_packet
    root = ET.Element("svg", {
        "xmlns": "http://www.w3.org/2000/svg", "version": "1.1",
        "width": str(plan.width), "height": str(plan.height),
        "viewBox": f"0 0 {plan.width} {plan.height}", "font-family": look.font_family,
    })
    ET.SubElement(root, "title").text = plan.scene.ladder.title
    ET.SubElement(root, "rect", {"width": "100%", "height": "100%",
                                 "fill": look.colours.background})
    clip = ET.SubElement(ET.SubElement(root, "defs"), "clipPath", {"id": "picture"})
    ET.SubElement(clip, "rect", {"width": str(plan.width),
                                 "height": str(plan.height - CAPTION_H)})
    pictures = ET.SubElement(root, "g", {"clip-path": "url(#picture)"})
    caption_y = plan.height - CAPTION_H + MARGIN + CAPTION_SIZE
    for k, n in enumerate(range(plan.first, plan.last + 1)):
        start = k * per_packet
        landed = start + TRAVEL_S
        end = start + per_packet
        view = plan.view(n)
        picture = ET.SubElement(pictures, "g", {
            "transform": f"scale({scale:.5f}) translate({_n(-view[0])} {_n(-view[1])})"})
        for progress, shown in ((0.0, (start, landed)), (1.0, (landed, end))):
            frame = ET.SubElement(picture, "g", {"class": "frame", "visibility": "hidden"})
            _shown_during(frame, shown, total)
            for item in plan.scene.build(g, view, look_at(look, Cursor(n, progress))):
                _svg_item(frame, item)
        x1, y1, x2, y2 = plan.scene.ends(g, n)
        kind = KINDS[plan.scene.ladder.arrows[n].kind]
        dot = ET.SubElement(picture, "circle", {"class": "packet", "r": "6", "cx": "0",
                                                "cy": "0", "fill": kind.marker,
                                                "visibility": "hidden"})
        _shown_during(dot, (start, landed), total)
        a, b = start / total, landed / total
        ET.SubElement(dot, "animateMotion", {
            "path": f"M {_n(x1)} {_n(y1)} L {_n(x2)} {_n(y2)}", "dur": f"{total:g}s",
            "repeatCount": "indefinite", "calcMode": "linear",
            "keyPoints": "0;0;1;1", "keyTimes": f"0;{a:.5f};{b:.5f};1"})
        caption = ET.SubElement(root, "text", {
            "class": "caption", "x": _n(MARGIN), "y": _n(caption_y),
            "font-size": str(CAPTION_SIZE), "fill": look.colours.text, "visibility": "hidden"})
        _shown_during(caption, (start, end), total)
        for j, line in enumerate(caption_lines(plan.captions[k], plan.width - 2 * MARGIN)):
            ET.SubElement(caption, "tspan", {"x": _n(MARGIN),
                                             "dy": "0" if j == 0 else "1.25em"}).text = line
    ET.indent(root, space=" ")
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_animated_svg(plan: Plan, path: str) -> None:
    text = animated_svg(plan)
    with written(path, prefix=".export-") as out:
        out.write(text.encode("utf-8"))


def look_at(look: Look, cursor: Cursor) -> Look:
    """``look`` with the playback at ``cursor``."""
    return Look(colours=look.colours, cursor=cursor, future=look.future,
                font_family=look.font_family)


def _shown_during(element: ET.Element, span: tuple[float, float], total: float) -> None:
    """Animate ``element`` visible during ``span`` (seconds) of each ``total`` loop."""
    a, b = span[0] / total, span[1] / total
    if a <= 0 and b >= 1:
        element.set("visibility", "visible")
        return
    values, times = ["hidden", "visible", "hidden"], [0.0, a, b]
    if a <= 0:
        values, times = ["visible", "hidden"], [0.0, b]
    elif b >= 1:
        values, times = ["hidden", "visible"], [0.0, a]
    ET.SubElement(element, "animate", {
        "attributeName": "visibility", "values": ";".join(values),
        "keyTimes": ";".join(f"{t:.5f}" for t in times), "dur": f"{total:g}s",
        "calcMode": "discrete", "repeatCount": "indefinite"})
