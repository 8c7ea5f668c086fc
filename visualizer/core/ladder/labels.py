"""Room for the ladder's arrow labels, and labels cut to their arrow.

An arrow's label ("ACK seq=1 ack=2049 len=0 win=2048") is written above its
line, between it and the arrow before. Two rules keep every label whole and
clear of its neighbours at zoom 1:

- :func:`make_room`: packets a few microseconds apart sit closer on the time
  axis than a line of text is tall, and two arrows going opposite ways come
  closer still where they run side by side (one slopes down to the right,
  the other down to the left). The positions get the room a label needs,
  as the socket calls' rows do (scene.CallLayout); zoomed out, the scene's
  level of detail still sheds labels.
- :func:`split_label`: a label wider than its arrow (absolute numbers, lanes
  close together) is wrapped word by word into lines above the arrow,
  rather than run over the lanes' bands.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from visualizer.core.ladder.build import Arrow, Ladder

LABEL_ROOM = 34.0    # px between two arrows for the lower one's label (and a badge's edge)
SECOND_LINE = 16.0   # px for each line more: a label's second, the options
LABEL_PAD = 10.0     # px kept free at each end of an arrow's label
MAX_LINES = 3        # a label takes at most this many lines

Measure = Callable[[str, int, bool], float]


def estimate(text: str, size: int, bold: bool = False) -> float:
    """A generous estimate of ``text``'s width (px): wide enough for DejaVu's digits."""
    return len(text) * size * (0.68 if bold else 0.64)


def make_room(ladder: Ladder, positions: np.ndarray, *, step: float, slope: float,
              narrowest: float) -> np.ndarray:
    """``positions`` with each gap widened to what the labels need at zoom 1.

    ``step``: px per position at zoom 1; ``slope``: px the receiving end lies
    below the sending end; ``narrowest``: px of text the shortest arrow holds.

    The lower arrow of a pair needs LABEL_ROOM above its line, a line more
    when its label may take two; when the two run between the same lanes in
    opposite ways, their lines come a slope closer at one end; when the upper
    one writes its options under its line, a line more.
    """
    arrows = ladder.arrows
    n = len(arrows)
    if n < 2:
        return positions
    src = np.fromiter((a.src_lane for a in arrows), np.float64, n)
    dst = np.fromiter((a.dst_lane for a in arrows), np.float64, n)
    lo, hi = np.minimum(src, dst), np.maximum(src, dst) + 0.25   # a self-arrow has a width
    way = np.sign(dst - src)
    overlap = (lo[1:] < hi[:-1]) & (lo[:-1] < hi[1:])
    opposite = overlap & (way[1:] != way[:-1])
    lines = np.fromiter((label_lines(a, narrowest) for a in arrows[1:]), np.float64, n - 1)
    under = np.fromiter((bool(a.short_options) for a in arrows[:-1]), np.float64, n - 1)
    need = (LABEL_ROOM + np.where(opposite, slope, 0.0)
            + (lines - 1 + under) * SECOND_LINE) / step
    extra = np.maximum(0.0, need - np.diff(positions))
    if not extra.any():
        return positions
    out = np.array(positions, dtype=np.float64)
    out[1:] += np.cumsum(extra)
    return out


def label_lines(arrow: Arrow, narrowest: float) -> int:
    """How many lines ``arrow``'s label may take above it with ``narrowest`` px
    to a line (absolute numbers: three)."""
    return min(MAX_LINES, len(split_label(arrow.label, narrowest, estimate)))


def split_label(label: str, room: float, measure: Measure, size: int = 12) -> list[str]:
    """``label`` in lines of at most ``room`` px, filled word by word, flags and
    numbers kept whole ("seq=2495529198" is never cut in two); a word wider
    than ``room`` gets a line of its own."""
    lines: list[str] = []
    for word in label.split(" "):
        if lines and measure(f"{lines[-1]} {word}", size, False) <= room:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines
