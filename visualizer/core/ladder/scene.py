"""The ladder drawn: geometry, a list of drawing primitives, and SVG.

:class:`LadderScene` turns a :class:`~visualizer.core.ladder.build.Ladder` into
plain primitives (rectangles, lines, polygons, text) for one rectangle of
the picture. The GUI's ``LadderView`` paints those primitives with
QPainter and :func:`svg_text` writes the very same ones as SVG, so an
export is what is on screen, with no Qt in the core.

Layout: time runs downward, lanes left to right. Each lane is a band
coloured by its endpoint's TCP state, with the state's name written where
it changes. An arrow leaves the sender's band at the packet's position and
reaches the receiver's band :data:`SLOPE` steps lower. The slope is the
same in every time scale: the tap sees each packet once, so the one-way
delay is not measurable (on loopback it is a few microseconds); the slope
only shows which way a packet travels and that travelling takes time.
Real delays show as the spacing between arrows in the real and log scales.
An arrow never ends below the start of the next packet's arrow (when
packets follow closely it flattens instead), so arrows never cross: a tap
cannot tell whether two packets passed each other in flight.

A recording's socket calls (``Ladder.calls``) are drawn as boxes against
the band of the lane that made them, on its side facing the next lane
(the last lane: the previous one), each in a row of its own between the
arrows, in time order, clear of the arrows' labels. A call that returns
before the next packet is one box; one that spans packets also has a box
for its result, joined to the first by a bracket along the inside of the
band, like an activation bar of a UML sequence diagram. The scene makes
room for the rows, so with calls the arrows' positions are the time
scale's plus that room (``positions`` holds the result); the width is
unchanged.

Only what intersects the requested rectangle is produced (arrows are found
by binary search on their positions), so a 10^4-arrow ladder costs what
its visible part costs.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from visualizer.core.describe.kinds import KINDS, PROBLEM_K
from visualizer.core.ladder.build import (
    NO_PORT,
    CallEvent,
    Ladder,
    LaneCall,
    describe,
    describe_call,
)
from visualizer.core.ladder.labels import (
    LABEL_PAD,
    MAX_LINES,
    SECOND_LINE,
    Measure,
    estimate,
    label_lines,
    make_room,
    split_label,
)
from visualizer.core.ladder.transit import LOST_ARROW, arrival_positions
from visualizer.core.output import written
from visualizer.core.playback.timescale import LOST_REACH
from visualizer.core.tcp.states import TcpState

# -- geometry (px) ---------------------------------------------------------
STEP = 56.0            # between consecutive positions at zoom 1
SLOPE = 0.35           # the receiving end lies this many steps below the sending end
DOT = 8.0              # a packet in the air, on a path, besides the current one
MIN_SLOPE = 3.0        # px, when the next packet follows closer than that
CROSS = 7.0            # px, half the cross's size
LOST_COLOUR = "#e8413c"
ZOOM_MIN, ZOOM_MAX = 0.04, 4.0
HEADER = 80.0          # lane labels and current states (stays on top when scrolling)
TIME_W = 136.0         # the time column: "#100000" beside "1234.567890" (s)
BAND = 112.0           # width of a lane's state band
GAP = 440.0            # between lane centres when nothing asks otherwise
GAP_MIN, GAP_MAX = 320.0, 600.0   # at GAP_MIN two lanes fit a 1366 px window's ladder
BADGE_PAD = 5.0           # px a badge's box reaches beyond its text, each side (text_box)
BADGE_GAP = 10.0          # px between the analysis badge and the flag badge at the head
GAP_FIT_MIN = BAND + 48.0   # the closest lanes come (fit all lanes, zoomed out): room for a tag
# Fit all lanes when even GAP_FIT_MIN is too wide (six lanes in a 1366 px
# window's ladder, ~670 px): the compact layout narrows what it can - the
# bands, whose state names are abbreviated (SHORT_STATES), the time column,
# which then leaves out the frame numbers it has no room for, and the margins.
FIT_BAND = 60.0        # "SYN-RCVD" in 10 px bold, with a little air
FIT_TIME_W = 84.0      # "123.456789" in 10 px
FIT_RIGHT = 12.0
FIT_GAP_MIN = FIT_BAND + 36.0   # the closest lanes ever come: 36 px of arrow between bands
NARROWEST = GAP_MIN - BAND - 2 * LABEL_PAD   # px of label the shortest arrow holds
FIRST = HEADER + 44.0  # y of position 0 (room for the initial state's name)
RIGHT = 40.0
BOTTOM = 48.0
LEFT = TIME_W + 12.0 + BAND / 2  # x of the first lane's centre (Geometry.left)
FIT_LEFT = FIT_TIME_W + 8.0 + FIT_BAND / 2

# The compact layout's state names, short enough for FIT_BAND; the tooltip
# and the explanation keep the full names. ESTAB is ss(8)'s, SYN-RCVD BSD's.
SHORT_STATES: dict[TcpState, str] = {
    TcpState.CLOSED: "CLOSED",
    TcpState.LISTEN: "LISTEN",
    TcpState.SYN_SENT: "SYN-SENT",
    TcpState.SYN_RECEIVED: "SYN-RCVD",
    TcpState.ESTABLISHED: "ESTAB",
    TcpState.FIN_WAIT_1: "FIN-WT1",
    TcpState.FIN_WAIT_2: "FIN-WT2",
    TcpState.CLOSE_WAIT: "CLOSE-WT",
    TcpState.CLOSING: "CLOSING",
    TcpState.LAST_ACK: "LAST-ACK",
    TcpState.TIME_WAIT: "TIME-WT",
    TcpState.JOINED_MID_STREAM: "JOINED",
}

# Level of detail: the room (px) an arrow has to its neighbours decides how
# much of its text fits, so crowded arrows (zoomed out, or bunched in the real
# and log scales) shed their labels rather than overprint each other.
FULL_TEXT_ROOM = 30.0    # the whole label
OPTIONS_ROOM = 40.0      # and the options line below it
TAG_TEXT_ROOM = 14.0     # just the flags; also the time column and the analysis badge
HEAD_STEP = 6.0

FUTURE_MODES = ("faint", "hidden", "solid")
# Socket calls: rows of boxes between the arrows (in steps, so they scale with
# the time axis like the arrows), clear of the line and options above them and
# of the label of the arrow below.
CALL_ROW = 0.42        # steps per row
CALL_ABOVE = SLOPE + 0.12   # steps from the arrow above: its line...
CALL_OPTIONS = 0.3     # ...and more for its options line under it, or a label's second line
CALL_BELOW = 0.55      # steps to the arrow below: its label sits above its line
CALL_TEXT_STEP = 40.0  # px per step from which the boxes have words; below, marks
CALL_SIZE = 10         # font size of the boxes
CALL_GAP = 8.0         # px between the band and a box
TRACK = 5.0            # px between the brackets of calls that overlap in time

FAINT = 0.22           # opacity of arrows not played yet in "faint" mode
FAINT_BAND = 0.4
PROBLEM_COLOUR = KINDS[8].marker


@dataclass(frozen=True)
class Geometry:
    """Where things go, for one zoom and lane spacing."""

    lanes: int
    last: float            # the largest arrow position
    step: float = STEP
    gap: float = GAP
    compact: bool = False  # fit all lanes in a narrow view: the FIT_ sizes, short state names

    @property
    def band(self) -> float:
        """Width of a lane's state band."""
        return FIT_BAND if self.compact else BAND

    @property
    def time_w(self) -> float:
        """Width of the time column at the left."""
        return FIT_TIME_W if self.compact else TIME_W

    @property
    def left(self) -> float:
        """x of the first lane's centre."""
        return FIT_LEFT if self.compact else LEFT

    @property
    def right(self) -> float:
        return FIT_RIGHT if self.compact else RIGHT

    def state_name(self, state: TcpState) -> str:
        return SHORT_STATES.get(state, state.value) if self.compact else str(state)

    @property
    def slope(self) -> float:
        return SLOPE * self.step

    @property
    def width(self) -> float:
        return self.lane_x(max(self.lanes, 1) - 1) + self.band / 2 + self.right

    @property
    def height(self) -> float:
        return self.y(self.last) + self.slope + BOTTOM

    def lane_x(self, lane: int) -> float:
        return self.left + lane * self.gap

    def y(self, position: float) -> float:
        return FIRST + position * self.step

    def position(self, y: float) -> float:
        return (y - FIRST) / self.step


def _badge_along(length: float, badge: float, tag: float) -> float:
    """Where along an arrow (0: its start, 1: its head) the analysis badge's
    centre goes: past the middle, and clear of the flag badge that lands at the
    head (``badge``, ``tag``: their widths in px), as far as the arrow allows."""
    if length <= 0:
        return 0.5
    clear = (length - tag - BADGE_GAP - badge / 2) / length
    return max(min(0.62, clear), min(0.5, badge / 2 / length))


def fit_geometry(lanes: int, last: float, *, zoom: float = 1.0,
                 width: float | None = None, lane_zoom: float = 1.0,
                 fit_lanes: bool = False) -> Geometry:
    """A geometry at ``zoom``; lanes spread to fill ``width`` px within limits.

    ``lane_zoom`` scales the space between lanes (the horizontal zoom);
    ``fit_lanes``: every lane within ``width``, as close as GAP_FIT_MIN allows
    (labels then shrink to their tags); when that is still too wide, the
    compact layout's narrower bands, time column and margins, down to
    FIT_GAP_MIN between lanes.
    """
    gap, compact = GAP, False
    if width is not None and lanes > 1:
        fixed = LEFT + BAND / 2 + RIGHT
        spread = (width - fixed) / (lanes - 1)
        if fit_lanes and spread < GAP_FIT_MIN:
            compact = True
            spread = (width - FIT_LEFT - FIT_BAND / 2 - FIT_RIGHT) / (lanes - 1)
            gap = max(FIT_GAP_MIN, min(GAP_FIT_MIN, spread))
        else:
            gap = (max(GAP_FIT_MIN, min(GAP_MAX, spread)) if fit_lanes
                   else min(GAP_MAX, max(GAP_MIN, spread)))
    if not fit_lanes:
        gap = max(GAP_FIT_MIN, gap * lane_zoom)
    zoom = min(ZOOM_MAX, max(ZOOM_MIN, zoom))
    return Geometry(lanes, last, STEP * zoom, gap, compact)


# -- colours ---------------------------------------------------------------
@dataclass(frozen=True)
class Colours:
    """The palette colours a ladder needs (``#rrggbb``)."""

    background: str
    text: str
    muted: str
    lane: str
    header: str
    highlight: str
    dark: bool = False


def call_fill(colours: Colours, failed: bool = False) -> str:
    """The fill of a socket call's box: neutral, or red for a call that failed."""
    if failed:
        return "#5c2220" if colours.dark else "#ffd8d3"
    return "#2c323b" if colours.dark else "#e6ebf1"


LIGHT = Colours("#ffffff", "#1f2328", "#59636e", "#c9d1d9", "#f6f8fa", "#0969da")
DARK = Colours("#16181d", "#e6edf3", "#9198a1", "#3d444d", "#1f2329", "#4493f8", dark=True)

# (light, dark) band fill per state: families of colour, so opening states read
# green, ESTABLISHED blue, closing states amber to orange, TIME-WAIT violet.
STATE_FILLS: dict[TcpState, tuple[str, str]] = {
    TcpState.CLOSED: ("#e4e7eb", "#30363d"),
    TcpState.LISTEN: ("#dde4f0", "#2b3545"),
    TcpState.SYN_SENT: ("#cdeed6", "#1f4a2c"),
    TcpState.SYN_RECEIVED: ("#c3ebe2", "#1b473f"),
    TcpState.ESTABLISHED: ("#cfe3fb", "#1c3b5e"),
    TcpState.FIN_WAIT_1: ("#fde8b6", "#4f3d12"),
    TcpState.FIN_WAIT_2: ("#fbdf9c", "#5a4513"),
    TcpState.CLOSE_WAIT: ("#fdd9c0", "#55311b"),
    TcpState.CLOSING: ("#f9cfd6", "#552430"),
    TcpState.LAST_ACK: ("#f8c9a8", "#5e3419"),
    TcpState.TIME_WAIT: ("#e4d8fb", "#3b2d5e"),
    TcpState.JOINED_MID_STREAM: ("#e0e6ea", "#2f3a40"),
}


def state_fill(state: TcpState, colours: Colours) -> str:
    light, dark = STATE_FILLS[state]
    return dark if colours.dark else light


@dataclass(frozen=True)
class Cursor:
    """Playback position: arrow number ``arrow`` is ``progress`` (0..1) on its way."""

    arrow: int
    progress: float = 1.0


@dataclass(frozen=True)
class Look:
    """Everything besides geometry that changes the picture."""

    colours: Colours = LIGHT
    cursor: Cursor | None = None   # None: a still diagram, everything played
    future: str = "faint"          # arrows after the cursor: see FUTURE_MODES
    selected: int = -1             # arrow number, -1 for none
    hovered: int = -1
    font_family: str = "sans-serif"
    measure: Measure = estimate   # a text's width in px: the GUI measures, SVG estimates

    def __post_init__(self) -> None:
        if self.future not in FUTURE_MODES:
            raise ValueError(f"unknown future mode {self.future!r}: choose one of "
                             + ", ".join(FUTURE_MODES))


# -- primitives --------------------------------------------------------------
# ``group`` is the arrow number a primitive belongs to (-1: none), ``call``
# the socket call's number (-1: none); ``cls`` names the part for SVG readers
# and tests.
class Rect(NamedTuple):
    x: float
    y: float
    w: float
    h: float
    fill: str
    opacity: float = 1.0
    radius: float = 0.0
    group: int = -1
    cls: str = ""
    call: int = -1


class Line(NamedTuple):
    x1: float
    y1: float
    x2: float
    y2: float
    colour: str
    width: float = 1.0
    opacity: float = 1.0
    dash: bool = False
    group: int = -1
    cls: str = ""
    call: int = -1


class Poly(NamedTuple):
    points: tuple[float, ...]   # x0, y0, x1, y1, ...
    fill: str
    opacity: float = 1.0
    group: int = -1
    cls: str = ""
    call: int = -1


class Text(NamedTuple):
    """Text whose baseline ``anchor`` point is (x, y), turned ``angle`` degrees about it.

    ``box``: fill of a rounded box behind the text (see :func:`text_box`).
    ``room``: the most px it may take, cut short with "…" beyond (0: no limit);
    the GUI measures, SVG estimates (:func:`fit_text`).
    """

    x: float
    y: float
    text: str
    size: int
    colour: str
    anchor: str = "middle"      # start | middle | end
    bold: bool = False
    opacity: float = 1.0
    angle: float = 0.0
    box: str = ""
    group: int = -1
    cls: str = ""
    call: int = -1
    room: float = 0.0


Item = Rect | Line | Poly | Text


def text_width(text: str, size: float, bold: bool = False) -> float:
    """An estimate of the width of ``text`` (the GUI measures; SVG has to guess)."""
    return len(text) * size * (0.64 if bold else 0.58)


def text_box(left: float, baseline: float, width: float, size: float
             ) -> tuple[float, float, float, float]:
    """The box (x, y, w, h) drawn behind a text starting at ``left``."""
    return left - 5.0, baseline - 0.82 * size - 3.0, width + 10.0, 1.08 * size + 6.0


# -- the scene ---------------------------------------------------------------
@dataclass
class LadderScene:
    """A ladder and its arrows' positions (``timescale.positions``), ready to draw.

    ``show_calls``: draw the ladder's socket calls (when it has any); the
    positions then make room for them (see the module docstring).
    """

    ladder: Ladder
    positions: np.ndarray = field(default_factory=lambda: np.zeros(0))
    show_calls: bool = True
    _src: np.ndarray = field(init=False, repr=False)
    _dst: np.ndarray = field(init=False, repr=False)
    _by_packet: dict[int, int] = field(init=False, repr=False)
    _notes: dict[int, str] = field(init=False, repr=False)
    _pos: list[float] = field(init=False, repr=False)
    _arrive: list[float] | None = field(init=False, repr=False)   # on a path: see ends()
    _reach: float = field(init=False, repr=False)    # the longest transit, in positions
    call_layout: CallLayout | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.ladder.arrows)
        pos = (np.arange(n, dtype=np.float64) if len(self.positions) == 0 and n
               else np.asarray(self.positions, dtype=np.float64))
        if len(pos) != n:
            raise ValueError(f"{len(pos)} positions for {n} arrows")
        if n > 1 and bool(np.any(np.diff(pos) < 0)):
            raise ValueError("positions must not decrease")
        pos = make_room(self.ladder, pos, step=STEP, slope=SLOPE * STEP, narrowest=NARROWEST)
        self.call_layout = (CallLayout(self.ladder, pos)
                      if self.show_calls and self.ladder.calls and n else None)
        if self.call_layout is not None:
            pos = self.call_layout.positions
        self.positions = pos
        self._pos = pos.tolist()   # Python floats: quicker one at a time
        arrive = arrival_positions(self.ladder, pos) if n else None
        self._arrive = arrive.tolist() if arrive is not None else None
        self._reach = float(np.max(arrive - pos)) if arrive is not None else 0.0
        self._src = np.fromiter((a.src_lane for a in self.ladder.arrows), np.int32, n)
        self._dst = np.fromiter((a.dst_lane for a in self.ladder.arrows), np.int32, n)
        self._by_packet = {a.index: k for k, a in enumerate(self.ladder.arrows)}
        tcp = {lane for a in self.ladder.arrows if a.conversation.startswith("TCP")
               for lane in (a.src_lane, a.dst_lane)}
        # What a lane without a state band says instead (see combined_ladder).
        # A host lane (ICMP, ARP...) has no connection to speak of: no note.
        self._notes = {lane: "several connections" if lane in tcp else "no connection state"
                       for lane in range(len(self.ladder.lanes))
                       if lane not in self.ladder.initial_states
                       and self.ladder.lanes[lane].port != NO_PORT
                       and not self.ladder.state_changes[lane]}

    def geometry(self, *, zoom: float = 1.0, width: float | None = None,
                 lane_zoom: float = 1.0, fit_lanes: bool = False) -> Geometry:
        last = float(self.positions[-1]) if len(self.positions) else 0.0
        if self._arrive is not None:
            last = max(last, max(self._arrive))
        if self.call_layout is not None:
            last = max(last, self.call_layout.extent)
        return fit_geometry(len(self.ladder.lanes), last, zoom=zoom, width=width,
                            lane_zoom=lane_zoom, fit_lanes=fit_lanes)

    def arrow_for_packet(self, index: int) -> int:
        """The arrow number of packet ``index`` (0-based), -1 if not in this ladder."""
        return self._by_packet.get(index, -1)

    # -- geometry of one arrow ---------------------------------------------
    def ends(self, g: Geometry, n: int) -> tuple[float, float, float, float]:
        """(x1, y1, x2, y2): where arrow ``n`` leaves and reaches the band edges."""
        a, b = int(self._src[n]), int(self._dst[n])
        xa, xb = g.lane_x(a), g.lane_x(b)
        if a == b:
            x1, x2 = xa + g.band / 2, xa + g.band / 2 + 60.0
        else:
            sign = 1.0 if xb > xa else -1.0
            x1, x2 = xa + sign * g.band / 2, xb - sign * g.band / 2
        pos = self._pos
        y1 = g.y(pos[n])
        if self._arrive is not None:   # on a path: it lands when it arrived
            if self.ladder.arrows[n].arrival_ns == LOST_ARROW:   # a cross on the link
                x2 = x1 + (x2 - x1) * LOST_REACH
            return x1, y1, x2, max(g.y(self._arrive[n]), y1 + MIN_SLOPE)
        slope = g.slope
        if n + 1 < len(pos):   # never past the next packet's start: see the module docstring
            slope = min(slope, max(MIN_SLOPE, 0.9 * (pos[n + 1] - pos[n]) * g.step))
        return x1, y1, x2, y1 + slope

    def row(self, g: Geometry, n: int) -> tuple[float, float, float, float]:
        """The box (x, y, w, h) of arrow ``n``'s row between its lanes: hover and click."""
        x1, y1, x2, _ = self.ends(g, n)
        return min(x1, x2), y1 - 0.42 * g.step, abs(x2 - x1), g.step

    def point(self, g: Geometry, n: int) -> tuple[float, float]:
        """A point on arrow ``n``'s line (a third of the way), good for clicking."""
        x1, y1, x2, y2 = self.ends(g, n)
        return x1 + (x2 - x1) / 3, y1 + (y2 - y1) / 3

    def visible(self, g: Geometry, top: float, bottom: float) -> range:
        """Numbers of the arrows whose rows may reach into ``top``..``bottom``."""
        lo = np.searchsorted(self.positions, g.position(top) - 1.0 - self._reach, side="left")
        hi = np.searchsorted(self.positions, g.position(bottom) + 1.0, side="right")
        return range(int(lo), int(hi))

    def call_at(self, g: Geometry, x: float, y: float, look: Look) -> int:
        """The socket call whose box or bracket is at (x, y), or -1."""
        if self.call_layout is None:
            return -1
        for k in self.call_layout.visible(g.position(y - g.step), g.position(y + g.step)):
            if look.future == "hidden" and self._call_alpha(g, k, look)[0] == 0.0:
                continue
            for bx, by, bw, bh in self.call_layout.hit_boxes(g, k):
                if bx <= x <= bx + bw and by <= y <= by + bh:
                    return k
        return -1

    def arrow_at(self, g: Geometry, x: float, y: float, look: Look) -> int:
        """The arrow drawn nearest to (x, y) within its row, or -1."""
        best, best_d = -1, math.inf
        for n in self.visible(g, y - g.step, y + g.step):
            if self._status(g, n, look.cursor)[0] == "future" and look.future == "hidden":
                continue
            rx, ry, rw, rh = self.row(g, n)
            if not (rx - 8 <= x <= rx + rw + 8 and ry <= y <= ry + rh):
                continue
            d = _distance(x, y, *self.ends(g, n))
            if d < best_d:
                best, best_d = n, d
        return best

    # -- drawing ---------------------------------------------------------
    def build(self, g: Geometry, view: tuple[float, float, float, float],
              look: Look) -> list[Item]:
        """The primitives for the ``view`` rectangle (x, y, w, h) of the picture.

        The header is drawn at the top of ``view`` so it stays in sight.
        """
        vx, vy, vw, vh = view
        c = look.colours
        items: list[Item] = [Rect(vx, vy, vw, vh, c.background, cls="background")]
        arrows = list(self.visible(g, vy + HEADER, vy + vh))
        if vx > 0 or vx + vw < g.width:   # lanes off screen: drop arrows between them
            arrows = [n for n in arrows if self._in_x(g, n, vx, vx + vw)]
        now = self._now_y(g, look.cursor)
        for n, alpha in ((look.hovered, 0.08), (look.selected, 0.2)):
            if 0 <= n < len(self.ladder.arrows) and n in arrows:
                _, ry, _, rh = self.row(g, n)
                items.append(Rect(vx, ry, vw, rh, c.highlight, alpha, cls="highlight"))
        for lane in range(len(self.ladder.lanes)):
            x = g.lane_x(lane)
            if x + g.band / 2 + 60 >= vx and x - g.band / 2 - 60 <= vx + vw:
                self._band(items, g, lane, vy + HEADER, vy + vh, now, look)
        if look.cursor is not None and look.cursor.arrow >= 0 and vy + HEADER <= now <= vy + vh:
            items.append(Line(g.time_w, now, g.width - g.right / 2, now, c.highlight, 1.0, 0.55,
                              dash=True, cls="now"))
        for n in arrows:
            self._arrow(items, g, n, look)
        if look.cursor is not None:   # the current packet's cross over the others in the air
            on_top = [i for i in items if i.group == look.cursor.arrow
                      and i.cls in ("cross", "lost")]
            items = [i for i in items if i not in on_top] + on_top
        if self.call_layout is not None:
            for k in self.call_layout.visible(g.position(vy + HEADER), g.position(vy + vh)):
                if self.call_layout.in_x(g, k, vx, vx + vw):
                    self._call(items, g, k, look, now)
        self._header(items, g, view, look)
        if vx > 0:
            items = self._pin_time_column(items, view, c, g.time_w)
        return items

    @staticmethod
    def _pin_time_column(items: list[Item], view: tuple[float, float, float, float],
                         c: Colours, time_w: float = TIME_W) -> list[Item]:
        """Scrolled sideways: the frame and time column stays at the view's left edge.

        Drawn last, over the arrows: a row that has scrolled up into the header
        is left out, or its time would be written over the lanes' names."""
        vx, vy, _, vh = view
        column = ("time", "frame", "time-heading")
        pinned: list[Item] = [Rect(vx, vy + HEADER, time_w, vh - HEADER, c.background,
                                   cls="time-column"),
                              Rect(vx, vy, time_w, HEADER, c.header, cls="time-column")]
        kept: list[Item] = []
        for item in items:
            if isinstance(item, Text) and item.cls in column:
                if item.cls != "time-heading" and item.y - item.size < vy + HEADER:
                    continue
                pinned.append(item._replace(x=item.x + vx))
            else:
                kept.append(item)
        return kept + pinned

    def _in_x(self, g: Geometry, n: int, left: float, right: float) -> bool:
        x1, _, x2, _ = self.ends(g, n)
        return max(x1, x2) >= left - 10 and min(x1, x2) <= right + 10

    def _status(self, g: Geometry, n: int, cursor: Cursor | None) -> tuple[str, float]:
        """("played" | "current" | "future", progress) of arrow ``n``. On a path the
        packets sent before the current one may still be in the air at its time."""
        status, progress = _status(n, cursor)
        if status == "played" and cursor is not None and self._arrive is not None:
            _, y1, _, y2 = self.ends(g, n)
            now = self._now_y(g, cursor)
            if now < y2:
                progress = max(0.0, (now - y1) / (y2 - y1))
        return status, progress

    def _now_y(self, g: Geometry, cursor: Cursor | None) -> float:
        if cursor is None:
            return math.inf
        if not len(self.positions):
            return FIRST - 0.5 * g.step
        if cursor.arrow < 0:   # before the first packet: what came before it has happened
            return g.y(self._pos[0]) - 0.5 * g.step
        if cursor.arrow == len(self._pos) - 1 and cursor.progress >= 1.0:
            return math.inf    # the last packet landed: what follows it (an outcome) too
        _, y1, _, y2 = self.ends(g, cursor.arrow)
        return y1 + cursor.progress * (y2 - y1)

    def _band(self, items: list[Item], g: Geometry, lane: int, top: float, bottom: float,
              now: float, look: Look) -> None:
        """Lane ``lane``'s state band, one run per state, dimmed after ``now``."""
        c = look.colours
        x = g.lane_x(lane)
        start, end = HEADER, g.height - BOTTOM / 2
        state = self.ladder.initial_states.get(lane)
        changes = self.ladder.state_changes[lane]
        if state is None and not changes:   # no TCP states: a plain lane
            runs: list[tuple[float, float, TcpState | None, tuple[TcpState, ...]]] = [
                (start, end, None, ())]
        else:
            runs = []
            y = start
            shown: tuple[TcpState, ...] = (state,) if state else ()
            for change in changes:
                _, y1, _, y2 = self.ends(g, change.arrow)
                at = y1 if change.at_sender else y2
                runs.append((y, at, state, shown))
                y, state, shown = at, change.states[-1], change.states
            runs.append((y, end, state, shown))
        future_alpha = {"solid": 1.0, "faint": FAINT_BAND, "hidden": 0.0}[look.future]
        text_ok = g.step >= TAG_TEXT_ROOM
        for y0, y1, st, names in runs:
            fill = state_fill(st, c) if st else c.lane
            base = 1.0 if st else 0.45
            for a, b, alpha in ((y0, min(y1, now), base), (max(y0, now), y1, base * future_alpha)):
                a, b = max(a, top), min(b, bottom)
                if b > a and alpha > 0:
                    items.append(Rect(x - g.band / 2, a, g.band, b - a, fill, alpha,
                                      cls=f"band {st.value if st else 'none'}"))
            if look.future == "hidden" and y1 > now:
                a, b = max(y0, now, top), min(y1, bottom)
                if b > a:
                    items.append(Line(x, a, x, b, c.lane, 1.0, dash=True, cls="lane"))
            if names and text_ok and top - 30 <= y0 <= bottom:
                alpha = 1.0 if y0 <= now else future_alpha
                if alpha > 0 and y1 - y0 >= 16:
                    size = 10 if g.compact else 11
                    items.append(Text(x, y0 + 17, g.state_name(names[-1]), size, c.text,
                                      bold=True, opacity=alpha, cls="state-name"))
                    via = "via " + ", ".join(map(g.state_name, names[:-1]))
                    if (len(names) > 1 and y1 - y0 >= 30
                            and (not g.compact or look.measure(via, 9, False) <= g.band)):
                        items.append(Text(x, y0 + 31, via, size - 1, c.muted, opacity=alpha,
                                          cls="state-via"))
        if lane in self._notes and text_ok and top - 30 <= start:
            note = self._notes[lane]
            # a narrow band: word by word on lines of their own ("several" / "connections")
            lines = (split_label(note, g.band, look.measure, 9) if g.compact
                     and look.measure(note, 10, False) > g.band else [note])
            for k, line in enumerate(lines):
                items.append(Text(x, start + 17 + 12 * k, line, 10 if len(lines) == 1 else 9,
                                  c.muted, cls="state-none"))

    def _arrow(self, items: list[Item], g: Geometry, n: int, look: Look) -> None:
        arrow = self.ladder.arrows[n]
        status, progress = self._status(g, n, look.cursor)
        if status == "future" and look.future == "hidden":
            return
        faint = FAINT if look.future == "faint" else 1.0
        alpha = faint if status == "future" else 1.0
        kind = KINDS[arrow.kind]
        colour = kind.marker
        x1, y1, x2, y2 = ends = self.ends(g, n)
        dx, dy = x2 - x1, y2 - y1
        length = math.hypot(dx, dy) or 1.0
        ux, uy = dx / length, dy / length
        head = 11.0 if g.step >= HEAD_STEP else 0.0
        width = 1.6 if kind.name == "ack" else 2.2
        dash = kind.name == "icmp"
        # The line, solid up to the travelling packet when it is the current one.
        lx2, ly2 = x2 - ux * head * 0.8, y2 - uy * head * 0.8
        along = 0.08 + 0.82 * progress   # the packet: clear of both bands and the head
        if self._arrive is not None and progress < 1.0:   # on a path: on the now line
            along = progress
        elif self._arrive is not None:   # landed: its tag mid-way, clear of the cross
            along = 0.5
        if status != "future" and progress < 1.0:
            mx, my = x1 + dx * along, y1 + dy * along
            items.append(Line(x1, y1, mx, my, colour, width, 1.0, dash, n, "line"))
            if look.future != "hidden":
                items.append(Line(mx, my, lx2, ly2, colour, width, faint, dash, n, "line"))
            head_alpha = 0.0 if look.future == "hidden" else faint
            if status == "played":   # a dot for the packet, on the line of now
                items.append(Rect(mx - DOT / 2, my - DOT / 2, DOT, DOT, colour, 1.0,
                                  DOT / 2, n, "in-flight"))
        else:
            items.append(Line(x1, y1, lx2, ly2, colour, width, alpha, dash, n, "line"))
            head_alpha = alpha
        if arrow.arrival_ns == LOST_ARROW:   # never arrived: a cross where it was lost
            self._cross(items, x2, y2, arrow.why or arrow.fate or "lost", head_alpha, n,
                        look.colours)
            head = 0.0
        if head and head_alpha > 0:
            px, py = -uy * head * 0.45, ux * head * 0.45
            bx, by = x2 - ux * head, y2 - uy * head
            items.append(Poly((x2, y2, bx + px, by + py, bx - px, by - py), colour,
                              head_alpha, n, "head"))
        pos = self._pos
        below = (pos[n + 1] - pos[n]) * g.step if n + 1 < len(pos) else math.inf
        above = (pos[n] - pos[n - 1]) * g.step if n else math.inf
        # Text runs along the arrow: beside a steep one (a path's packets in real
        # time fly for far longer than the gaps between them) its neighbours are
        # as close as the gap times the cosine, and rotated labels ran into each
        # other. Up to 45 degrees, as every ladder but those, the room is the gap.
        steep = min(1.0, math.sqrt(2.0) * abs(ux))
        below, above = below * steep, above * steep
        room = min(below, above)
        if status == "current" or n == look.selected:   # the arrow in focus is always read
            room = below = above = math.inf
        elif below < math.inf:
            below = self._options_room(g, n, below)
        if room >= TAG_TEXT_ROOM:
            self._arrow_text(items, g, n, ends, (room, above, below), alpha, look)
        if status == "current":
            angle, nx, ny = _slant(dx, dy)
            px, py = x1 + dx * along - nx * 3.5, y1 + dy * along - ny * 3.5
            items.append(Text(px, py, arrow.tag, 10, "#ffffff", bold=True, angle=angle,
                              box=colour, group=n, cls="packet"))

    def _cross(self, items: list[Item], x: float, y: float, why: str, alpha: float, n: int,
               colours: Colours) -> None:
        """The X where a lost packet's arrow ends, and why it was lost."""
        if alpha <= 0:
            return
        r = CROSS
        for sx in (-1.0, 1.0):
            items.append(Line(x - r, y - sx * r, x + r, y + sx * r, LOST_COLOUR, 2.6, alpha,
                              False, n, "cross"))
        items.append(Text(x + r + 4, y + 4, why, 10, LOST_COLOUR, anchor="start", bold=True,
                          opacity=alpha, box=colours.background, group=n, cls="lost"))

    def _options_room(self, g: Geometry, n: int, below: float) -> float:
        """The room under arrow ``n`` for its options line, next to the label
        over arrow ``n + 1``: ``below`` is measured where the arrows start,
        but two arrows slant (a SYN down to the right, its SYN-ACK down to
        the left), so where their texts overlap they can come much closer."""
        arrows = self.ladder.arrows
        options = arrows[n].short_options
        if not options or n + 1 >= len(arrows):
            return below
        spans = []
        widths = (text_width(options, 10), text_width(arrows[n + 1].label, 12))
        for k, width in zip((n, n + 1), widths, strict=True):
            x1, y1, x2, y2 = self.ends(g, k)
            if x1 == x2:
                return below
            middle = (x1 + x2) / 2
            spans.append(((y2 - y1) / (x2 - x1), middle - width / 2, middle + width / 2))
        (a_tilt, a_lo, a_hi), (b_tilt, b_lo, b_hi) = spans
        overlap = min(a_hi, b_hi) - max(a_lo, b_lo)
        if overlap <= 0:  # side by side, not one above the other
            return below
        # the distance between the lines changes linearly along the overlap: at
        # its nearer end it is this much less than in the middle
        return below - abs(b_tilt - a_tilt) * overlap / 2

    def _arrow_text(self, items: list[Item], g: Geometry, n: int,
                    ends: tuple[float, float, float, float],
                    rooms: tuple[float, float, float], alpha: float, look: Look) -> None:
        """Arrow ``n``'s time, label, options and analysis flags, as much as the
        ``rooms`` (px to its neighbours: the nearer, the one above, the one below) allow.

        The label stays between the lanes' bands: too wide for its arrow, it
        goes on two lines above it (see labels.py).
        """
        room, above, below = rooms
        c = look.colours
        arrow = self.ladder.arrows[n]
        x1, y1, x2, y2 = ends
        dx, dy = x2 - x1, y2 - y1
        t = (arrow.ts_ns - self.ladder.arrows[0].ts_ns) / 1e9
        time, frame = f"{t:.6f}", f"#{arrow.index + 1}"
        if not g.compact:
            items.append(Text(TIME_W - 10, y1 + 4, time, 11, c.muted, "end",
                              opacity=alpha, group=n, cls="time"))
            items.append(Text(8, y1 + 4, frame, 10, c.muted, "start",
                              opacity=alpha, group=n, cls="frame"))
        else:   # the narrow column: smaller, and the frame number only where it fits
            items.append(Text(g.time_w - 8, y1 + 4, time, 10, c.muted, "end",
                              opacity=alpha, group=n, cls="time"))
            if 6 + text_width(frame, 9) + 6 + text_width(time, 10) <= g.time_w - 8:
                items.append(Text(6, y1 + 4, frame, 9, c.muted, "start",
                                  opacity=alpha, group=n, cls="frame"))
        # Labels follow the slope, read left to right, above and below the line.
        angle, nx, ny = _slant(dx, dy)
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        if room >= FULL_TEXT_ROOM:
            span = 0.0 if arrow.src_lane == arrow.dst_lane else \
                max(math.hypot(dx, dy) - 2 * LABEL_PAD, 40.0)
            lines = split_label(arrow.label, span, look.measure) if span else [arrow.label]
            fit = max(1, int(min(MAX_LINES, (above - FULL_TEXT_ROOM) / SECOND_LINE + 1)))
            if len(lines) > fit:   # no room for them all: the rest on the last line, cut short
                lines = [*lines[:fit - 1], " ".join(lines[fit - 1:])]
            if span and any(look.measure(line, 12, False) > span for line in lines):
                # lanes too close for words (fit all lanes): the flags, as zoomed out
                items.append(Text(mx + nx * 4, my + ny * 4, arrow.tag, 10, c.text,
                                  opacity=alpha, angle=angle, group=n, cls="label"))
                lines = []
            for k, line in enumerate(lines):   # the last line just above the arrow
                off = 12.0 + (len(lines) - 1 - k) * SECOND_LINE
                items.append(Text(mx + nx * off, my + ny * off, line, 12, c.text, opacity=alpha,
                                  angle=angle, group=n, cls="label", room=span))
            options = arrow.short_options
            if options and below >= OPTIONS_ROOM:
                items.append(Text(mx - nx * 16, my - ny * 16, options, 10, c.muted,
                                  opacity=alpha, angle=angle, group=n, cls="options",
                                  room=span))
        else:
            items.append(Text(mx + nx * 4, my + ny * 4, arrow.tag, 10, c.text, opacity=alpha,
                              angle=angle, group=n, cls="label"))
        if arrow.analysis:
            problem = arrow.kind == PROBLEM_K   # a TCP packet with a PROBLEMS flag
            text = " · ".join(name.replace("_", " ") for name in arrow.analysis)
            along = _badge_along(math.hypot(dx, dy), text_width(text, 10, True) + 2 * BADGE_PAD,
                                 text_width(arrow.tag, 10, True) + 2 * BADGE_PAD)
            bx, by = x1 + dx * along - nx * 4, y1 + dy * along - ny * 4
            items.append(Text(bx, by, text, 10, "#ffffff", bold=True, opacity=alpha,
                              angle=angle, box=PROBLEM_COLOUR if problem else
                              KINDS[arrow.kind].marker, group=n, cls="analysis"))

    def _call_alpha(self, g: Geometry, k: int, look: Look) -> list[float]:
        """The opacity of each mark of call ``k`` (start, then end): played, faint or hidden."""
        assert self.call_layout is not None
        now = self._now_y(g, look.cursor)
        future = {"solid": 1.0, "faint": FAINT, "hidden": 0.0}[look.future]
        return [1.0 if g.y(p) <= now else future for p in self.call_layout.marks[k]]

    def _call(self, items: list[Item], g: Geometry, k: int, look: Look, now: float) -> None:
        """Socket call ``k``: its box, or boxes for its start and result joined by a bracket."""
        layout = self.call_layout
        assert layout is not None
        call = self.ladder.calls[k]
        c = look.colours
        alphas = self._call_alpha(g, k, look)
        side = layout.sides[call.lane]
        edge, near, text_x = layout.x_of(g, k)
        ys = [g.y(p) for p in layout.marks[k]]
        colour = c.muted
        start = edge
        if call.spans:   # the bracket, inside the band: solid up to now, then faint
            start = layout.bracket_x(g, k)
            split = min(max(now, ys[0]), ys[1])
            for a, b, alpha in ((ys[0], split, alphas[0]), (split, ys[1], alphas[1])):
                if b > a and alpha > 0:
                    items.append(Line(start, a, start, b, colour, 2.0, alpha,
                                      cls="call-bracket", call=k))
        fill = call_fill(c, call.failed)
        words = g.step >= CALL_TEXT_STEP
        room = max(g.gap - g.band - 2 * CALL_GAP - 12.0, 60.0)
        for y, alpha, text in zip(ys, alphas, call_texts(call), strict=True):
            if alpha <= 0:
                continue
            items.append(Line(start, y, near, y, colour, 2.0 if call.spans else 1.2, alpha,
                              cls="call-tick", call=k))
            if words:
                items.append(Text(text_x, y + 3.5, text, CALL_SIZE, c.text,
                                  "start" if side > 0 else "end", opacity=alpha, box=fill,
                                  cls="call-box", call=k, room=room))
            else:   # zoomed out: a mark without words
                mark = PROBLEM_COLOUR if call.failed else colour
                items.append(Rect(min(near, near + side * 12.0), y - 2.0, 12.0, 4.0, mark,
                                  alpha, radius=1.5, cls="call-box", call=k))

    def _header(self, items: list[Item], g: Geometry, view: tuple[float, float, float, float],
                look: Look) -> None:
        vx, vy, vw, _ = view
        c = look.colours
        items.append(Rect(vx, vy, vw, HEADER, c.header, cls="header"))
        items.append(Line(vx, vy + HEADER, vx + vw, vy + HEADER, c.lane, 1.0, cls="header"))
        items.append(Text(8, vy + 18, self.ladder.title, 11, c.muted, "start", bold=True,
                          cls="title"))
        items.append(Text(g.time_w - 10, vy + HEADER - 12, "time (s)", 10, c.muted, "end",
                          cls="time-heading"))
        cursor = look.cursor
        if cursor is None:
            states = self.ladder.states_at(len(self.ladder.arrows) - 1)
        else:
            states = self.ladder.states_at(cursor.arrow, cursor.progress)
        left = vx + (g.time_w if vx > 0 else 0.0)   # right of the pinned time column
        for lane, info in enumerate(self.ladder.lanes):
            x = g.lane_x(lane)
            if x + GAP_MIN / 2 < vx or x - GAP_MIN / 2 > vx + vw:
                continue
            state = states.get(lane)
            if g.compact:   # lanes too close for "10.0.0.1:40000": host over port
                self._compact_lane_header(items, g, x, vy, info.endpoint, info.role, state, look)
                continue
            if left <= x <= vx + vw:   # a lane in sight has its name whole (IPv6 is long)
                half = look.measure(info.endpoint, 13, True) / 2 + 4
                x = max(min(x, vx + vw - half), left + half)
            items.append(Text(x, vy + 32, info.endpoint, 13, c.text, bold=True,
                              cls="lane-label"))
            if info.role:
                items.append(Text(x, vy + 48, info.role, 11, c.muted, cls="lane-role"))
            if state is not None:
                items.append(Text(x, vy + 69, str(state), 11, c.text, bold=True,
                                  box=state_fill(state, c), cls="lane-state"))

    @staticmethod
    def _compact_lane_header(items: list[Item], g: Geometry, x: float, top: float,
                             endpoint: str, role: str, state: TcpState | None,
                             look: Look) -> None:
        """A lane's name, role and state in the compact layout, each within the
        lane's spacing: the host (cut short with "…" if it must be; the tooltip
        has it whole) over the port, the state's short name."""
        c = look.colours
        room = g.gap - 8.0
        host, sep, port = endpoint.rpartition(":")
        if not sep or not port.isdigit():
            host, port = endpoint, ""
        host = host.strip("[]")
        if look.measure(host, 10, False) > room:
            while len(host) > 1 and look.measure(host + "…", 10, False) > room:
                host = host[:-1]
            host += "…"
        if not port:
            items.append(Text(x, top + 38, host, 12, c.text, bold=True, cls="lane-label"))
        else:
            items.append(Text(x, top + 30, host, 10, c.muted, cls="lane-host"))
            items.append(Text(x, top + 44, f":{port}", 12, c.text, bold=True,
                              cls="lane-label"))
        if role:
            items.append(Text(x, top + 57, role, 10, c.muted, cls="lane-role"))
        if state is not None:
            items.append(Text(x, top + 72, g.state_name(state), 10, c.text, bold=True,
                              box=state_fill(state, c), cls="lane-state"))


def _status(n: int, cursor: Cursor | None) -> tuple[str, float]:
    """("played" | "current" | "future", progress) of arrow ``n``."""
    if cursor is None or n < cursor.arrow:
        return "played", 1.0
    if n == cursor.arrow:
        return "current", cursor.progress
    return "future", 0.0


def _slant(dx: float, dy: float) -> tuple[float, float, float]:
    """(angle in degrees, "up" unit normal) for text along a line, read left to right."""
    angle = math.atan2(dy, dx) if dx >= 0 else math.atan2(-dy, -dx)
    return math.degrees(angle), math.sin(angle), -math.cos(angle)


def _distance(x: float, y: float, x1: float, y1: float, x2: float, y2: float) -> float:
    dx, dy = x2 - x1, y2 - y1
    t = ((x - x1) * dx + (y - y1) * dy) / ((dx * dx + dy * dy) or 1.0)
    t = min(1.0, max(0.0, t))
    return math.hypot(x - (x1 + t * dx), y - (y1 + t * dy))


def fit_text(text: str, size: float, room: float) -> str:
    """``text``, cut short with "…" when its estimated width exceeds ``room`` px."""
    if text_width(text, size) <= room:
        return text
    keep = max(1, int(room / (size * 0.58)) - 1)
    return text[:keep] + "…"


def call_texts(call: LaneCall) -> list[str]:
    """What a call's boxes say: the call and its result, or its start, then its result."""
    if not call.spans:
        return [call.summary]
    return [call.opening, f"→ {call.result}"]


class CallLayout:
    """Where a ladder's socket calls go: rows between the arrows, sides, brackets.

    Built from the time scale's ``positions``; :attr:`positions` are those
    with room added where a gap between two arrows is too small for its
    rows. Every call event of a gap (a call, its start or its return) has
    a row of its own, in time order across all lanes, so boxes of two lanes
    never meet; rows are placed by time between the two arrows and pushed
    apart to a row each. Before the first arrow they stack up from it,
    after the last down from it. Positions are in steps, so the rows scale
    with the zoom like the arrows do.
    """

    def __init__(self, ladder: Ladder, positions: np.ndarray) -> None:
        n = len(ladder.arrows)
        lanes = len(ladder.lanes)
        # Each lane's boxes face the next lane; the last lane's face the previous one.
        self.sides = tuple(1 if lane < lanes - 1 or lanes == 1 else -1
                           for lane in range(lanes))
        events = ladder.call_events
        rows = np.array([len(gap) for gap in events], dtype=np.float64)
        above = np.array([CALL_ABOVE + (CALL_OPTIONS if a.short_options else 0.0)
                          for a in ladder.arrows])
        below = np.array([CALL_BELOW + CALL_OPTIONS * (label_lines(a, NARROWEST) - 1)
                          for a in ladder.arrows])
        need = np.where(rows[1:n] > 0, above[:n - 1] + rows[1:n] * CALL_ROW + below[1:n], 0.0)
        extra = np.maximum(0.0, need - np.diff(positions))
        lead = rows[0] * CALL_ROW + below[0] if rows[0] else 0.0
        pos = positions + lead
        pos[1:] += np.cumsum(extra)
        self.positions = pos
        ts = np.maximum.accumulate(ladder.timestamps()).tolist()
        at: dict[tuple[int, str], float] = {}
        for g, gap in enumerate(events):
            top = float(pos[g - 1] + above[g - 1]) if g else 0.0
            label = float(below[min(g, n - 1)])
            for event, centre in zip(gap, self._centres(g, gap, pos, ts, top, label),
                                     strict=True):
                at[(event.call, event.part)] = centre
        self.marks: list[tuple[float, ...]] = []
        for k, call in enumerate(ladder.calls):
            self.marks.append((at[(k, "start")], at[(k, "end")]) if call.spans
                              else (at[(k, "whole")],))
        self.extent = max(max(m) for m in self.marks) + CALL_ROW / 2
        self._tops = np.array([m[0] - CALL_ROW / 2 for m in self.marks])
        self._bottoms = np.array([m[-1] + CALL_ROW / 2 for m in self.marks])
        self._lanes = [call.lane for call in ladder.calls]
        self._texts = [max(map(len, call_texts(call))) for call in ladder.calls]
        self.track = [0] * len(ladder.calls)
        ends: dict[int, list[float]] = {}   # lane -> where each track's last bracket ends
        for k in sorted(range(len(ladder.calls)), key=lambda k: self.marks[k][0]):
            if not ladder.calls[k].spans:
                continue
            lane_ends = ends.setdefault(self._lanes[k], [])
            free = [t for t, end in enumerate(lane_ends) if end < self.marks[k][0]]
            t = free[0] if free else len(lane_ends)
            if t == len(lane_ends):
                lane_ends.append(0.0)
            lane_ends[t] = self.marks[k][1]
            self.track[k] = t

    @staticmethod
    def _centres(g: int, events: list[CallEvent], pos: np.ndarray, ts: list[int],
                 top: float, label: float) -> list[float]:
        """Row centres (positions) of the ``events`` of gap ``g``; ``top``: the room's top,
        ``label``: the room the next arrow's label takes above it."""
        n, k = len(pos), len(events)
        half = CALL_ROW / 2
        if g == 0:
            return [float(pos[0]) - label - (k - j - 0.5) * CALL_ROW for j in range(k)]
        if g == n:
            return [top + (j + 0.5) * CALL_ROW for j in range(k)]
        low, high = top + half, float(pos[g]) - label - half
        t0, t1 = ts[g - 1], ts[g]
        span = float(pos[g] - pos[g - 1])
        centres = [float(pos[g - 1]) + span * ((e.ns - t0) / (t1 - t0) if t1 > t0 else 0.5)
                   for e in events]
        for j in range(k):   # down, below the arrow above and the row before...
            centres[j] = max(centres[j], low, centres[j - 1] + CALL_ROW if j else low)
        for j in range(k - 1, -1, -1):   # ...and up, above the arrow below and the row after
            centres[j] = min(centres[j], centres[j + 1] - CALL_ROW if j + 1 < k else high)
        return centres

    def visible(self, top: float, bottom: float) -> list[int]:
        """Numbers of the calls reaching into positions ``top``..``bottom``."""
        return np.flatnonzero((self._tops <= bottom) & (self._bottoms >= top)).tolist()

    def x_of(self, g: Geometry, k: int) -> tuple[float, float, float]:
        """(band edge, box's near edge, text anchor x) of call ``k``."""
        lane = self._lanes[k]
        side = self.sides[lane]
        edge = g.lane_x(lane) + side * g.band / 2
        near = edge + side * CALL_GAP
        return edge, near, near + side * 5.0

    def bracket_x(self, g: Geometry, k: int) -> float:
        """Where call ``k``'s bracket runs: inside its lane's band, along the edge."""
        edge, _, _ = self.x_of(g, k)
        return edge - self.sides[self._lanes[k]] * (5.0 + self.track[k] * TRACK)

    def in_x(self, g: Geometry, k: int, left: float, right: float) -> bool:
        edge, _, _ = self.x_of(g, k)
        return left - g.gap <= edge <= right + g.gap

    def hit_boxes(self, g: Geometry, k: int) -> list[tuple[float, float, float, float]]:
        """Rectangles (x, y, w, h) where call ``k`` answers the mouse: its boxes, its bracket."""
        _, near, _ = self.x_of(g, k)
        side = self.sides[self._lanes[k]]
        width = min(text_width("x" * self._texts[k], CALL_SIZE) + 10.0, g.gap - g.band)
        left = near if side > 0 else near - width
        half = max(CALL_ROW * g.step / 2, 4.0)
        boxes = [(left, g.y(p) - half, width, 2 * half) for p in self.marks[k]]
        if len(self.marks[k]) > 1:
            bx = self.bracket_x(g, k)
            y0, y1 = g.y(self.marks[k][0]), g.y(self.marks[k][1])
            boxes.append((bx - 3.0, y0, 6.0, y1 - y0))
        return boxes


# -- SVG -------------------------------------------------------------------
def svg_text(scene: LadderScene, *, geometry: Geometry | None = None,
             look: Look | None = None,
             view: tuple[float, float, float, float] | None = None) -> str:
    """The ladder as an SVG document: the whole of it, or the ``view`` rectangle.

    Each arrow is one ``<g class="arrow kind-...">`` with the packet's
    summary as its ``<title>`` (a tooltip in browsers), each socket call one
    ``<g class="call">`` with its own; lane labels are
    ``<text class="lane-label">``.
    """
    g = geometry or scene.geometry()
    look = look or Look()
    view = view or (0.0, 0.0, g.width, g.height)
    _, _, vw, vh = view
    root = ET.Element("svg", {
        "xmlns": "http://www.w3.org/2000/svg", "version": "1.1",
        "width": _n(vw), "height": _n(vh), "viewBox": " ".join(map(_n, view)),
        "font-family": look.font_family,
    })
    ET.SubElement(root, "title").text = scene.ladder.title
    parent, owner = root, (-1, -1)
    for item in scene.build(g, view, look):
        if (item.group, item.call) != owner:
            parent, owner = root, (item.group, item.call)
            if item.group >= 0:
                arrow = scene.ladder.arrows[item.group]
                parent = ET.SubElement(root, "g", {
                    "class": f"arrow kind-{KINDS[arrow.kind].name}",
                    "id": f"packet-{arrow.index + 1}", "data-packet": str(arrow.index)})
                ET.SubElement(parent, "title").text = describe(scene.ladder, item.group)
            elif item.call >= 0:
                call = scene.ladder.calls[item.call]
                parent = ET.SubElement(root, "g", {
                    "class": "call failed" if call.failed else "call",
                    "id": f"call-{item.call + 1}", "data-call": call.call,
                    "data-side": call.side})
                ET.SubElement(parent, "title").text = describe_call(scene.ladder, item.call)
        _svg_item(parent, item)
    ET.indent(root, space=" ")
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _svg_item(parent: ET.Element, item: Item) -> None:
    attrs: dict[str, str] = {}
    if item.cls:
        attrs["class"] = item.cls
    if item.opacity < 1.0:
        attrs["opacity"] = f"{item.opacity:.2f}"
    if isinstance(item, Rect):
        attrs |= {"x": _n(item.x), "y": _n(item.y), "width": _n(item.w), "height": _n(item.h),
                  "fill": item.fill}
        if item.radius:
            attrs["rx"] = _n(item.radius)
        ET.SubElement(parent, "rect", attrs)
    elif isinstance(item, Line):
        attrs |= {"x1": _n(item.x1), "y1": _n(item.y1), "x2": _n(item.x2), "y2": _n(item.y2),
                  "stroke": item.colour, "stroke-width": _n(item.width),
                  "stroke-linecap": "butt"}
        if item.dash:
            attrs["stroke-dasharray"] = "6 4"
        ET.SubElement(parent, "line", attrs)
    elif isinstance(item, Poly):
        pts = item.points
        attrs |= {"points": " ".join(f"{_n(pts[k])},{_n(pts[k + 1])}"
                                     for k in range(0, len(pts), 2)), "fill": item.fill}
        ET.SubElement(parent, "polygon", attrs)
    else:
        _svg_text_item(parent, item, attrs)


def _svg_text_item(parent: ET.Element, item: Text, attrs: dict[str, str]) -> None:
    if item.room:
        item = item._replace(text=fit_text(item.text, item.size, item.room))
    target = parent
    if item.angle or item.box:   # a group turns or fades text and box together
        target = ET.SubElement(parent, "g")
        if "opacity" in attrs:
            target.set("opacity", attrs.pop("opacity"))
        if item.angle:
            target.set("transform", f"rotate({item.angle:.2f} {_n(item.x)} {_n(item.y)})")
    if item.box:
        width = text_width(item.text, item.size, item.bold)
        left = item.x - {"start": 0.0, "middle": width / 2, "end": width}[item.anchor]
        bx, by, bw, bh = text_box(left, item.y, width, item.size)
        ET.SubElement(target, "rect", {"x": _n(bx), "y": _n(by), "width": _n(bw),
                                       "height": _n(bh), "rx": "4", "fill": item.box})
    attrs |= {"x": _n(item.x), "y": _n(item.y), "font-size": str(item.size),
              "fill": item.colour, "text-anchor": item.anchor}
    if item.bold:
        attrs["font-weight"] = "bold"
    ET.SubElement(target, "text", attrs).text = item.text


def _n(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def write_svg(scene: LadderScene, path: str, *, geometry: Geometry | None = None,
              look: Look | None = None,
              view: tuple[float, float, float, float] | None = None) -> None:
    """:func:`svg_text` to ``path``, by the rules of :mod:`visualizer.core.output`
    (a regular file through a temporary one: never half-written)."""
    text = svg_text(scene, geometry=geometry, look=look, view=view)
    with written(path, prefix=".export-") as out:
        out.write(text.encode("utf-8"))
