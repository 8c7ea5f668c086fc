"""``visualizer ladder``: the ladder diagram as text.

A recording's socket calls appear between the packets, in time order, in
the column of the lane that made them: a call that returns before the next
packet on one line (``send(64 bytes) → 64``), one that spans packets as
``connect(127.0.0.1:80) …`` before them and ``→ connect() returned 0``
after.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable
from typing import TextIO

from visualizer.commands import warn_about
from visualizer.core.ladder.build import (
    CallEvent,
    Ladder,
    all_ladders,
    attach_calls,
    other_ladder,
    tcp_ladder,
)
from visualizer.core.ladder.transit import LOST_ARROW
from visualizer.core.session import Session
from visualizer.core.tcp.states import TcpState

TIME_WIDTH = 12
LANE_GAP = 66


def render(ladder: Ladder) -> list[str]:
    """The ladder as lines of text: lanes as columns, packets as arrows.

    Rows that repeat from ladder to ladder (the lanes' states, an arrow
    without its time) are made once: a SYN scan is 200,000 ladders that
    differ in little more than their endpoints.
    """
    n = len(ladder.lanes)
    lines = [ladder.title, _row(n, {k: lane.label for k, lane in enumerate(ladder.lanes)})]
    if ladder.initial_states:
        lines.append(_initial_row(n, tuple(ladder.initial_states.items())))
    t0 = ladder.arrows[0].ts_ns if ladder.arrows else 0

    def calls(events: list[CallEvent]) -> None:
        for event in events:
            call = ladder.calls[event.call]
            text = {"whole": call.summary, "start": f"{call.opening} …",
                    "end": f"→ {call.returned}"}[event.part]
            if call.lane < n - 1 and len(text) > LANE_GAP - 2:   # keep the next lane's column
                text = text[:LANE_GAP - 3] + "…"
            lines.append(_row(n, {call.lane: text}))

    gaps = ladder.call_events if ladder.calls else []
    for number, arrow in enumerate(ladder.arrows):
        if gaps:
            calls(gaps[number])
        label = f" {arrow.label} "
        if arrow.analysis:
            label += "[" + " ".join(arrow.analysis) + "] "
        lost = arrow.arrival_ns == LOST_ARROW
        if lost:
            label += f"LOST: {arrow.why or arrow.fate} "
        elif arrow.arrival_ns:
            label += f"({(arrow.arrival_ns - arrow.ts_ns) / 1e6:.1f} ms) "
        time = f"{(arrow.ts_ns - t0) / 1e9:>10.6f}"
        if len(time) <= TIME_WIDTH:
            lines.append(time.ljust(TIME_WIDTH)
                         + _arrow_lanes(n, arrow.src_lane, arrow.dst_lane, label, lost))
        else:
            lines.append(_arrow_row(n, arrow.src_lane, arrow.dst_lane, label, lost, time))
        if arrow.transitions:
            lines.append(_transitions_row(n, tuple(arrow.transitions.items())))
    if gaps:
        calls(gaps[-1])
    return lines


@functools.lru_cache(maxsize=64)
def _grid(n: int) -> tuple[list[int], int, str]:
    """For ``n`` lanes: their columns, the line's width, a row with only the lanes."""
    xs = [TIME_WIDTH + k * LANE_GAP for k in range(n)]
    return xs, xs[-1] + 30, "|".ljust(LANE_GAP) * (n - 1) + "|"


def _row(n: int, texts: dict[int, str], time: str = "") -> str:
    """A row of ``n`` lanes: ``texts[k]`` on lane k, its line ("|") elsewhere."""
    xs, width, lanes = _grid(n)
    if not texts and len(time) <= TIME_WIDTH:
        return (time.ljust(TIME_WIDTH) + lanes).rstrip()
    if len(time) <= TIME_WIDTH and max(map(len, texts.values())) <= LANE_GAP:
        # each text ends before the next lane: joined, as placing them would give
        get = texts.get
        parts = [time.ljust(TIME_WIDTH)]
        for k in range(n - 1):
            parts.append(get(k, "|").ljust(LANE_GAP))
        parts.append(get(n - 1, "|"))
        return "".join(parts).rstrip()
    line = [" "] * width
    line[:len(time)] = time
    for k, x in enumerate(xs):
        text = texts.get(k, "|")
        line[x:x + len(text)] = text
    return "".join(line).rstrip()


@functools.lru_cache(maxsize=1024)
def _initial_row(n: int, states: tuple[tuple[int, TcpState], ...]) -> str:
    return _row(n, {k: str(state) for k, state in states})


@functools.lru_cache(maxsize=1024)
def _transitions_row(n: int, transitions: tuple[tuple[int, tuple[TcpState, ...]], ...]) -> str:
    return _row(n, {k: " → ".join(map(str, states)) for k, states in transitions})


@functools.lru_cache(maxsize=4096)
def _arrow_lanes(n: int, src: int, dst: int, label: str, lost: bool) -> str:
    """An arrow's row from the first lane on (the time column is the caller's)."""
    return _arrow_row(n, src, dst, label, lost, "")[TIME_WIDTH:]


def _arrow_row(n: int, src: int, dst: int, label: str, lost: bool, time: str) -> str:
    xs, width, _ = _grid(n)
    a, b = xs[src], xs[dst]
    left, right = min(a, b), max(a, b)
    span = right - left - 1
    if len(label) < span - 2:
        body = label.center(span, "-")
        if lost:   # it never reaches the other lane
            body = (body[:-1] + "X") if a < b else ("X" + body[1:])
        else:
            body = ">".join(body.rsplit("-", 1)) if a < b else "<" + body[1:]
    else:   # cut to fit, but never its head: an arrow without one has no direction
        cut = label[:max(span - 2, 0)] + "…"
        head = "X" if lost else (">" if a < b else "<")
        body = cut + head if a < b else head + cut
    line = list(_row(n, {}, time).ljust(width))
    line[left + 1:right] = body
    return "".join(line).rstrip()


def ladder_command(path: str, *, stream: int | None, absolute: bool, out: TextIO) -> int:
    with Session.load(path) as session:
        analysis = session.analysis
        assert analysis is not None
        if stream is None and session.path_view is not None:   # one ladder, with the losses
            on_path = session.ladder(absolute=absolute)
            if on_path is not None:
                out.write("\n".join(render(on_path)) + "\n")
                return warn_about(session)
        ladders: Iterable[Ladder]
        if stream is not None:
            ladders = [tcp_ladder(analysis, stream, absolute=absolute)]
        else:
            others = other_ladder(analysis)
            ladders = itertools.chain(all_ladders(analysis, absolute=absolute),
                                      [others] if others.arrows else [])
        drawn = 0
        for ladder in ladders:   # one at a time: written, then forgotten
            if drawn:
                out.write("\n")
            out.write("\n".join(render(attach_calls(ladder, session.recording))) + "\n")
            drawn += 1
        if not drawn:
            out.write("nothing to draw: no packet of this capture has IP or Ethernet "
                      "addresses\n")
        return warn_about(session)
