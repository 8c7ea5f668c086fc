"""The timeline's second and third tabs: a time-sequence graph and throughput.

The time-sequence graph is tcptrace's (its series come from
``visualizer.core.flows.time_sequence``): for one direction of one TCP
stream, each data segment is a vertical bar from its first to its last
sequence number at the time it was seen, the acknowledgements coming back
form a step line below the bars and the advertised receive window
(ack + window) a step line above them. A sender stalled on a full window, a
retransmission (red) or a long gap reads at a glance.

Both plots share the timeline's x axis: seconds since the first packet of
the capture, so the playhead sits at the same time on every tab.
Helpers for palette-aware plots live here too, for timeline.py to share.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QEvent, Qt, pyqtSlot
from PyQt6.QtGui import QColor, QPalette
from PyQt6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from visualizer.core.decode.store import format_endpoint
from visualizer.core.describe.kinds import DATA_K, FIN_K, KINDS, PROBLEM_K, SYN_K
from visualizer.core.flows.analysis import Analysis
from visualizer.core.flows.time_sequence import (
    TimeSequence,
    busier_sender,
    time_sequence,
    with_congestion_window,
)
from visualizer.core.path.tcpinfo import tcp_info_samples

SEGMENT_COLOUR = KINDS[DATA_K].marker
CWND_COLOUR = "#d6336c"
RETRANSMISSION_COLOUR = KINDS[PROBLEM_K].marker
ACK_COLOUR = KINDS[SYN_K].marker
WINDOW_COLOUR = KINDS[FIN_K].marker


# -- shared plot helpers --------------------------------------------------
def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Base).lightness() < 128


def style_plot(plot: pg.PlotWidget, palette: QPalette) -> None:
    """Background and axes from the widget palette (light or dark desktop)."""
    background = palette.color(QPalette.ColorRole.Base)
    text = palette.color(QPalette.ColorRole.Text)
    plot.setBackground(background)
    item = plot.getPlotItem()
    for name in ("left", "bottom"):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen(text))
        axis.setTextPen(pg.mkPen(text))
    item.titleLabel.setAttr("color", text.name())
    legend = item.legend
    if legend is not None:
        legend.setLabelTextColor(text)
        for _sample, label in legend.items:  # setAttr alone does not re-render the text
            label.setText(label.text, color=text)
        shade = QColor(background)
        shade.setAlpha(210)
        legend.setBrush(shade)


# Time axes: milli- and microseconds for short captures, but never "Time (Ms)"
# (megaseconds) for a capture of two weeks, which reads as milliseconds.
TIME_PREFIXES = ((0.0, 1.0),)


def playhead_line(palette: QPalette) -> pg.InfiniteLine:
    """The movable vertical line that marks the current packet's time."""
    line = pg.InfiniteLine(angle=90, movable=True)
    line.addMarker("v", position=1.0, size=12)  # a grip at the top, like a video player's
    style_playhead(line, palette)
    line.setZValue(20)
    line.setCursor(Qt.CursorShape.SizeHorCursor)
    line.setToolTip("The current packet. Drag to seek.")
    return line


def style_playhead(line: pg.InfiniteLine, palette: QPalette) -> None:
    """The text colour, half see-through: unlike any kind colour, and the tick
    it crosses still shows."""
    colour = QColor(palette.color(QPalette.ColorRole.Text))
    colour.setAlpha(150)
    line.setPen(pg.mkPen(colour, width=2))
    line.setHoverPen(pg.mkPen(colour, width=4))


def _step(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points of a step line that holds each y until the next x."""
    if len(x) < 2:
        return x, y
    return np.repeat(x, 2)[1:], np.repeat(y, 2)[:-1]


def legend_text(entries: list[tuple[str, str]]) -> str:
    """A legend as rich text, for a label beside the plot: it never covers the data.

    ``entries``: (colour, name) per line drawn.
    """
    return "&nbsp;&nbsp; ".join(f'<span style="color:{colour}">━━</span>&nbsp;{name}'
                                for colour, name in entries)


def legend_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setContentsMargins(4, 0, 4, 0)
    return label


def _placeholder(text: str) -> QLabel:
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setEnabled(False)  # the palette's dimmed text colour
    return label


# -- time-sequence graph ---------------------------------------------------
class TimeSequenceGraph(QWidget):
    """tcptrace-style seq/ack/window over time for one TCP stream (module docstring).

    The direction shown is the one that sent more bytes, until the user picks
    the other one in the chooser. ``playhead`` is public so the timeline can
    drive it like its own.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._analysis: Analysis | None = None
        self._stream = -1
        self._count = 0
        self._t0_ns = 0
        self._data: TimeSequence | None = None
        self.plot = pg.PlotWidget()
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "Time", units="s", siPrefixEnableRanges=TIME_PREFIXES)
        item.setLabel("left", "Sequence (relative)")
        item.getAxis("left").enableAutoSIPrefix(False)
        item.showGrid(x=True, y=True, alpha=0.15)
        item.setMenuEnabled(False)
        self._bars = pg.PlotDataItem(connect="pairs", pen=pg.mkPen(SEGMENT_COLOUR, width=2))
        self._retrans = pg.PlotDataItem(connect="pairs",
                                        pen=pg.mkPen(RETRANSMISSION_COLOUR, width=2))
        self._ack = pg.PlotDataItem(pen=pg.mkPen(ACK_COLOUR, width=1.5))
        self._window = pg.PlotDataItem(pen=pg.mkPen(WINDOW_COLOUR, width=1.5))
        self._cwnd = pg.PlotDataItem(pen=pg.mkPen(CWND_COLOUR, width=2.0))
        item.addItem(self._cwnd)
        for curve in (self._ack, self._window):
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
        self._marks = pg.ScatterPlotItem(size=7, pen=None)
        for curve in (self._bars, self._retrans, self._ack, self._window, self._marks):
            item.addItem(curve)
        self.legend = legend_label()
        self._legend_entries = [(SEGMENT_COLOUR, "data segment (seq … seq+len)"),
                                (RETRANSMISSION_COLOUR, "retransmission"),
                                (ACK_COLOUR, "ack (from the receiver)"),
                                (WINDOW_COLOUR, "receive window (ack + window)")]
        self.legend.setText(legend_text(self._legend_entries))
        self.playhead = playhead_line(self.palette())
        item.addItem(self.playhead, ignoreBounds=True)
        self.direction = QComboBox()
        self.direction.setToolTip("Which sender's sequence numbers to draw")
        self.direction.activated.connect(self._on_direction_chosen)
        self._empty = _placeholder("Select a TCP conversation to see its time-sequence graph.")
        page = QWidget()
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 0)
        bar.addWidget(QLabel("Sender:"))
        bar.addWidget(self.direction)
        bar.addStretch(1)
        # A row of its own, wrapped: beside the sender it was cut off mid-word
        # at 1366 px ("…above the acks, off the t").
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setContentsMargins(4, 0, 4, 0)
        self.note.hide()
        column = QVBoxLayout(page)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(bar)
        column.addWidget(self.note)
        column.addWidget(self.legend)
        column.addWidget(self.plot, 1)
        self._stack = QStackedWidget()
        self._stack.addWidget(self._empty)
        self._stack.addWidget(page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._stack)
        style_plot(self.plot, self.palette())

    # -- public ------------------------------------------------------------
    def show_stream(self, analysis: Analysis | None, count: int, t0_ns: int, stream: int,
                    note: str = "") -> None:
        """Draw TCP ``stream`` from packets [0, count); ``stream < 0``: the empty state.

        ``note`` replaces the empty-state text (e.g. why a UDP flow has no graph).
        """
        keep_direction = stream == self._stream and analysis is self._analysis
        self._analysis, self._count, self._t0_ns, self._stream = analysis, count, t0_ns, stream
        if analysis is None or stream < 0 or stream >= len(analysis.tcp.connections):
            self._data = None
            self._empty.setText(note or "Select a TCP conversation to see its "
                                        "time-sequence graph.")
            self._stack.setCurrentIndex(0)
            return
        a, b = analysis.endpoint_texts("tcp", stream)
        previous = self.direction.currentIndex() if keep_direction else -1
        self.direction.clear()
        self.direction.addItems([f"{a} → {b}", f"{b} → {a}"])
        self.direction.setCurrentIndex(previous if previous >= 0
                                       else busier_sender(analysis, stream, count))
        self._stack.setCurrentIndex(1)
        self._redraw()

    def segments(self) -> TimeSequence | None:
        """What is drawn (None: nothing)."""
        return self._data

    def changeEvent(self, event: QEvent | None) -> None:
        if event is not None and event.type() == QEvent.Type.PaletteChange:
            style_plot(self.plot, self.palette())
            style_playhead(self.playhead, self.palette())
        super().changeEvent(event)

    # -- drawing -----------------------------------------------------------
    @pyqtSlot(int)
    def _on_direction_chosen(self, _index: int) -> None:
        self._redraw()

    def _redraw(self) -> None:
        analysis = self._analysis
        if analysis is None or self._stream < 0:
            return
        sender = max(self.direction.currentIndex(), 0)
        data = time_sequence(analysis, self._stream, sender, count=self._count,
                             t0_ns=self._t0_ns)
        samples = tcp_info_samples(analysis.store.capture)
        if samples:
            address, port = analysis.tcp.connections[self._stream].endpoints[sender]
            data = with_congestion_window(data, samples, format_endpoint(address, port),
                                          self._t0_ns)
        self._data = data
        for item, mask in ((self._bars, ~data.retransmitted), (self._retrans, data.retransmitted)):
            x = np.repeat(data.time[mask], 2)
            y = np.column_stack([data.seq[mask], data.end[mask]]).ravel().astype(np.float64)
            item.setData(x, y)
        self._ack.setData(*_step(data.ack_time, data.ack.astype(np.float64)))
        self._window.setData(*_step(data.ack_time, data.window.astype(np.float64)))
        self._cwnd.setData(*_step(data.cwnd_time, data.cwnd_edge.astype(np.float64)))
        self.legend.setText(legend_text(self._legend_entries + (
            [(CWND_COLOUR, "congestion window (ack + cwnd × MSS)")] if len(data.cwnd_time)
            else [])))
        # SYN and FIN take one sequence number each: show where
        syn = data.control_syn.tolist()
        self._marks.setData(data.control_time, data.control_seq.astype(np.float64),
                            brush=[pg.mkBrush(KINDS[SYN_K if s else FIN_K].marker) for s in syn],
                            symbol=["t1" if s else "s" for s in syn])
        self._fit(data)

    def _fit(self, data: TimeSequence) -> None:
        """Frame the sequence numbers and acks; the window line only when it is near.

        On loopback the window (64 KiB and more) dwarfs a few hundred bytes of
        data, which would squash the interesting part into one line at the
        bottom; the window matters when the sender gets close to it.
        """
        seconds, sent = data.stream_time, data.sent_seq
        if not len(seconds):
            return
        top = max([float(v.max()) for v in (sent, data.end, data.ack) if len(v)] + [1.0])
        bottom = min([float(v.min()) for v in (sent, data.ack) if len(v)] + [0.0])
        self.note.clear()
        self.note.hide()
        if len(data.window):
            if float(data.window.max()) <= 1.5 * top:
                top = float(data.window.max())
            else:
                ahead = float(np.median(data.window - data.ack))
                self.note.setText(f"The receive window runs {pg.siFormat(ahead, suffix='B')}"
                                  " above the acks, off the top: zoom out to see it.")
                self.note.show()
        item = self.plot.getPlotItem()
        item.setXRange(float(seconds.min()), float(seconds.max()), padding=0.03)
        item.setYRange(bottom, top, padding=0.06)


# -- throughput ----------------------------------------------------------------
def nice_bin(span_s: float, bins: int = 150) -> float:
    """A round bin width (1, 2 or 5 × 10^k s) giving about ``bins`` bins."""
    raw = max(span_s / bins, 1e-9)
    power = 10 ** math.floor(math.log10(raw))
    for step in (1, 2, 5, 10):
        if raw <= step * power:
            return float(step * power)
    return float(10 * power)


class ThroughputGraph(QWidget):
    """Frame bytes per second over time, binned; one curve per direction for a
    conversation, one for all packets otherwise."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "Time", units="s", siPrefixEnableRanges=TIME_PREFIXES)
        item.setLabel("left", "Throughput", units="B/s")
        item.showGrid(x=True, y=True, alpha=0.15)
        item.setMenuEnabled(False)
        self.legend = legend_label()
        self._curves: list[pg.PlotDataItem] = []
        self.playhead = playhead_line(self.palette())
        item.addItem(self.playhead, ignoreBounds=True)
        self.caption = QLabel()
        self.caption.setContentsMargins(4, 2, 4, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.legend)
        layout.addWidget(self.plot, 1)
        self.bin_s = 0.0
        self.rates: list[np.ndarray] = []
        style_plot(self.plot, self.palette())

    def show_packets(self, analysis: Analysis | None, seconds: np.ndarray,
                     members: np.ndarray | None, name: str) -> None:
        """Frame bytes of packets ``members`` (None: all) at ``seconds`` (one per packet).

        A conversation gets a curve per direction, told apart by the sender
        of its first packet.
        """
        if analysis is None or not len(seconds) or (members is not None and not len(members)):
            self.show_bytes(np.zeros(0), np.zeros(0), [], f"No packets: {name}")
            return
        store = analysis.store
        lengths = store.column("origlen")[:len(seconds)].astype(np.float64)
        if members is None:
            self.show_bytes(seconds, lengths, [(name, np.ones(len(seconds), dtype=bool))],
                            f"Frame bytes per second, {name}")
            return
        first = int(members[0])
        src, sport = store.column("src")[members], store.column("sport")[members]
        forward = (src == src[0]) & (sport == sport[0])
        a = format_endpoint(store.address(int(src[0])), int(sport[0]))
        b = format_endpoint(store.address(int(store.column("dst")[first])),
                            int(store.column("dport")[first]))
        self.show_bytes(seconds[members], lengths[members],
                        [(f"{a} → {b}", forward), (f"{b} → {a}", ~forward)],
                        f"Frame bytes per second, {name}")

    def show_bytes(self, seconds: np.ndarray, lengths: np.ndarray,
                   groups: list[tuple[str, np.ndarray]], caption: str) -> None:
        """Bin ``lengths`` at ``seconds``; ``groups``: (legend name, mask) per curve."""
        item = self.plot.getPlotItem()
        for curve in self._curves:
            item.removeItem(curve)
        self._curves.clear()
        self.legend.clear()
        self.rates = []
        self.caption.setText(caption)
        if len(seconds) == 0:
            return
        lo, hi = float(seconds.min()), float(seconds.max())
        self.bin_s = width = nice_bin(hi - lo)
        start = math.floor(lo / width) * width
        n = max(1, math.ceil((hi - start) / width + 1e-9))
        n = min(n, 5000)
        edges = start + width * np.arange(n + 1)
        colours = (KINDS[SYN_K].marker, KINDS[6].marker, KINDS[DATA_K].marker)
        self.legend.setText(legend_text([(colour, name) for (name, _), colour
                                         in zip(groups, colours, strict=False)]))
        for (_name, mask), colour in zip(groups, colours, strict=False):
            counts, _ = np.histogram(seconds[mask], bins=n, range=(edges[0], edges[-1]),
                                     weights=lengths[mask])
            rate = counts / width
            self.rates.append(rate)
            fill = QColor(colour)
            fill.setAlpha(60)
            curve = pg.PlotDataItem(edges, rate, stepMode="center", fillLevel=0,
                                    brush=fill, pen=pg.mkPen(colour, width=1.5))
            item.addItem(curve)
            self._curves.append(curve)
        self.caption.setText(f"{caption}; bins of {pg.siFormat(width, suffix='s')}")
        item.enableAutoRange()

    def changeEvent(self, event: QEvent | None) -> None:
        if event is not None and event.type() == QEvent.Type.PaletteChange:
            style_plot(self.plot, self.palette())
            style_playhead(self.playhead, self.palette())
        super().changeEvent(event)
