"""Labels along steep arrows do not write over each other.

On a network path in real time a packet flies for far longer than the gap to
the next one (tcp-congestion: 20 ms against a fraction of one), so its arrow is
nearly vertical and its label, turned along it, lies beside its neighbours'
as close as the gap times the arrow's cosine. The scene judged the room by the
gap alone, and 250 pairs of labels ran into each other.
"""

from __future__ import annotations

import math
from pathlib import Path

from visualizer.core.ladder.labels import estimate
from visualizer.core.ladder.scene import LadderScene, Look, Text
from visualizer.core.playback.timescale import positions
from visualizer.core.session import Session

CONGESTION = Path(__file__).resolve().parents[2] / "resources" / "samples" / \
    "tcp-congestion.pcapng"

Segment = tuple[float, float, float, float]


def baseline(text: Text) -> Segment:
    """Where ``text`` is written: its baseline, from its first letter to its last."""
    width = estimate(text.text, text.size, text.bold)
    ux, uy = math.cos(math.radians(text.angle)), math.sin(math.radians(text.angle))
    back = {"start": 0.0, "middle": width / 2, "end": width}[text.anchor]
    x0, y0 = text.x - ux * back, text.y - uy * back
    return x0, y0, x0 + ux * width, y0 + uy * width


def distance(x: float, y: float, s: Segment) -> float:
    x1, y1, x2, y2 = s
    dx, dy = x2 - x1, y2 - y1
    k = max(0.0, min(1.0, ((x - x1) * dx + (y - y1) * dy) / ((dx * dx + dy * dy) or 1.0)))
    return math.hypot(x - x1 - k * dx, y - y1 - k * dy)


def test_labels_along_a_paths_steep_arrows_keep_apart() -> None:
    with Session.load(str(CONGESTION)) as session:
        ladder = session.ladder()
    assert ladder is not None
    scene = LadderScene(ladder, positions(ladder.timestamps(), "real"))
    g = scene.geometry()
    items = scene.build(g, (0.0, 0.0, g.width, g.height), Look())
    labels = [t for t in items if isinstance(t, Text) and t.cls == "label"]
    assert sum(abs(t.angle) > 60 for t in labels) > 50   # steep, and many still labelled
    lines = [baseline(t) for t in labels]
    crossing = []
    for i, (a, s) in enumerate(zip(labels, lines, strict=True)):
        points = [(s[0] + (s[2] - s[0]) * f, s[1] + (s[3] - s[1]) * f)
                  for f in (0.0, 0.25, 0.5, 0.75, 1.0)]
        for b, t in zip(labels[i + 1:], lines[i + 1:], strict=True):
            if a.group != b.group and min(distance(x, y, t) for x, y in points) < 0.8 * a.size:
                crossing.append((a.text, b.text))
    assert not crossing, crossing[:5]
