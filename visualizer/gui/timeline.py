"""The timeline: one row per conversation, a tick per packet, a playhead.

x is seconds since the first packet of the capture; rows are TCP streams,
then UDP flows, then "other" for packets in no conversation. Ticks take the
kind colours of ``visualizer.core.describe.kinds`` so a SYN looks the same here, in
the packet table and on the ladder.

A million packets must repaint in half a frame (8 ms). Drawing a million
items, or even a million-segment path, through QPainter takes 50-100 ms, so
:class:`MarkerLayer` rasterises itself with numpy instead: per kind, the
packets in the visible time range (a binary search, as the packets are kept
sorted by time) are mapped to pixels, deduplicated and only then drawn as
ticks into one image. Zoomed out, when many packets are in view, it reads
pre-binned levels instead (core/timebins.py: each conversation's occupied
time bins, bins half a pixel wide at most), and only for the rows on screen:
the cost is then capped by rows times columns, whatever the number of
packets. The image is kept until the view moves, and the row labels are
cached as a pixmap, since a pan in time does not change them.
tests/benchmarks/timeline_repaint.py measures it: with 10^6 packets on a
2-core machine, about 7 ms a repaint at full zoom after a pan (2 ms of it
rasterising), 6 ms zoomed in to 1 %, 4 ms when only the playhead moves.

The "Time-sequence" and "Throughput" tabs live in tsgraph.py.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QEvent, QPointF, QRectF, Qt, pyqtSignal, pyqtSlot
from PyQt6.QtGui import QColor, QFontMetrics, QImage, QPainter
from PyQt6.QtWidgets import (
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from pyqtgraph.GraphicsScene.mouseEvents import MouseClickEvent, MouseDragEvent

from visualizer.core.describe import kinds as K
from visualizer.core.describe.kinds import KINDS, packet_kinds
from visualizer.core.flows.analysis import Analysis
from visualizer.core.timebins import TimeBins, distinct, level_for, visible
from visualizer.gui.tsgraph import (
    TIME_PREFIXES,
    ThroughputGraph,
    TimeSequenceGraph,
    is_dark,
    playhead_line,
    style_playhead,
    style_plot,
)

# Drawn in this order, later on top where ticks share a pixel: zoomed out, a
# connection's data hides its handshake (an overview shows the bulk), while
# resets, ICMP errors and TCP problems always show.
PAINT_ORDER = (K.ACK_K, K.SYN_K, K.SYNACK_K, K.FIN_K, K.OTHER_K, K.DATA_K, K.UDP_K, K.ICMP_K,
               K.RST_K, K.PROBLEM_K)
MAX_TICK_PX = 18
LABEL_MAX_PX = 340
MEASURED = 32             # of a batch's new row labels, the widest this many are measured
CLICK_SLOP_PX = 8
# A kind's ticks are drawn from its time bins (core/timebins.py) when this many
# of its packets are in view, and at least an eighth of them: a level is built
# over all of them, once, the first time it is needed.
BINNED_FROM = 50_000


def conversation_key(kind: str | None, number: int) -> int:
    """Per-packet conversation keys: 0 none, 1 + 2s TCP stream s, 2 + 2f UDP flow f."""
    if kind == "tcp":
        return 1 + 2 * number
    if kind == "udp":
        return 2 + 2 * number
    return 0


class _Buffer:
    """A growable numpy array: appends for a live capture cost amortised O(batch)."""

    def __init__(self, dtype: type) -> None:
        self._array: np.ndarray = np.empty(256, dtype=dtype)
        self.size = 0

    def append(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self._array):
            # a quarter more, not double: at 10^7 packets the ticks' buffers
            # would otherwise hold up to 200 MB they never use
            grown = np.empty(max(end, len(self._array) + len(self._array) // 4),
                             dtype=self._array.dtype)
            grown[:self.size] = self._array[:self.size]
            self._array = grown
        self._array[self.size:end] = values
        self.size = end

    @property
    def view(self) -> np.ndarray:
        return self._array[:self.size]


class MarkerLayer(pg.GraphicsObject):
    """The packet ticks, rasterised with numpy (see module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._times = [_Buffer(np.float64) for _ in KINDS]
        self._keys = [_Buffer(np.int32) for _ in KINDS]
        self._bins = [TimeBins() for _ in KINDS]
        self.binned_from = BINNED_FROM
        self._key_row = np.full(1, -1, dtype=np.int32)
        self._rows = 0
        self._bounds = QRectF()
        self._colours = np.array([0xFF000000 | int(k.marker[1:], 16) for k in KINDS],
                                 dtype=np.uint32)
        self._version = 0
        self._cache: tuple[object, ...] = ()
        self._image = QImage()

    def clear(self) -> None:
        for buf in (*self._times, *self._keys):
            buf.size = 0
        for bins in self._bins:
            bins.reset()
        self.set_rows(np.full(1, -1, dtype=np.int32), 0)

    def append(self, times: np.ndarray, keys: np.ndarray, kinds: np.ndarray) -> None:
        """Add packets; each kind's packets stay sorted by time."""
        for code in np.unique(kinds):
            mask = kinds == code
            t, k = times[mask], keys[mask]
            tb, kb = self._times[code], self._keys[code]
            if tb.size and len(t) and t.min() < tb.view[-1]:
                # Sorted in with the packets they precede, a few at the end: a capture
                # on several CPUs steps back some microseconds now and then, and a
                # sort of all the kind's packets at each extend held up the window.
                at = int(np.searchsorted(tb.view, t.min(), side="right"))
                t, k = np.concatenate([tb.view[at:], t]), np.concatenate([kb.view[at:], k])
                order = np.argsort(t, kind="stable")
                tb.size = kb.size = at
                tb.append(t[order])
                kb.append(k[order])
                self._bins[code].reordered_from(at)
            elif len(t) and np.any(np.diff(t) < 0):
                order = np.argsort(t, kind="stable")
                tb.append(t[order])
                kb.append(k[order])
            else:
                tb.append(t)
                kb.append(k)
        self._update_bounds()

    def set_rows(self, key_row: np.ndarray, rows: int) -> None:
        """``key_row[key]``: the row of each conversation key (-1: not drawn)."""
        self._key_row, self._rows = key_row, rows
        self._update_bounds()

    def _update_bounds(self) -> None:
        firsts = [b.view[0] for b in self._times if b.size]
        lasts = [b.view[-1] for b in self._times if b.size]
        self.prepareGeometryChange()
        if firsts:
            lo, hi = float(min(firsts)), float(max(lasts))
            self._bounds = QRectF(lo, -0.5, max(hi - lo, 1e-9), max(self._rows, 1))
        else:
            self._bounds = QRectF()
        self._version += 1
        self.update()

    def boundingRect(self) -> QRectF:
        return self._bounds

    def dataBounds(self, axis: int, frac: float = 1.0,
                   orthoRange: object = None) -> tuple[float, float] | None:
        if self._bounds.isNull():
            return None
        if axis == 0:
            return (self._bounds.left(), self._bounds.right())
        return (self._bounds.top(), self._bounds.bottom())

    def paint(self, painter: QPainter, option: object, widget: object = None) -> None:
        vb = self.getViewBox()
        if vb is None or self._bounds.isNull():
            return
        (x0, x1), (y0, y1) = vb.viewRange()
        tr = painter.worldTransform()
        screen = tr.mapRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        left, top = math.floor(screen.left()), math.floor(screen.top())
        device = painter.device()
        dpr = device.devicePixelRatioF() if device is not None else 1.0
        width = max(2, math.ceil((math.ceil(screen.right()) - left) * dpr))
        height = max(1, math.ceil((math.ceil(screen.bottom()) - top) * dpr))
        key = (tr.m11(), tr.m22(), tr.dx(), tr.dy(), left, top, width, height, dpr,
               x0, x1, self._version)
        if key != self._cache:
            tick = int(min(max(abs(tr.m22()) * dpr * 0.6, 1), MAX_TICK_PX * dpr))
            self._image = self._render(x0, x1, width, height, tick,
                                       tr.m11() * dpr, (tr.dx() - left) * dpr,
                                       tr.m22() * dpr, (tr.dy() - top) * dpr)
            self._image.setDevicePixelRatio(dpr)
            self._cache = key
        painter.save()
        painter.resetTransform()
        painter.drawImage(QPointF(left, top), self._image)
        painter.restore()

    def _render(self, x0: float, x1: float, width: int, height: int, tick: int,
                ax: float, bx: float, ay: float, by: float) -> QImage:
        """Ticks ``tick`` pixels tall for times [x0, x1] into a width x height
        image; the pixel of a time or a row is ``a * value + b``."""
        pad = tick
        rows = np.arange(self._rows, dtype=np.float64)
        centre = np.floor(rows * ay + by).astype(np.int64)
        # a row is drawn when its ticks (tick pixels around its centre) fit the padded image
        low = centre + pad - tick // 2
        shown = (low >= 0) & (low + tick <= height + 2 * pad)
        trash = height + 2 * pad
        # one flat-index base per conversation key; key_row -1 takes the last
        # entry, the trash row, as do rows off screen
        row_base = np.append(np.where(shown, centre + pad, trash), trash) * width
        key_base = row_base[self._key_row].astype(np.int32)
        grid: np.ndarray | None = None
        pixels = np.zeros((height + 2 * pad) * width, dtype=np.uint32)
        # a tick is two pixels wide, so a lone one stays visible, and tick tall
        column = np.arange(tick, dtype=np.int64) * width
        on_screen: np.ndarray | None = None   # the keys of the rows shown, when needed
        level = level_for(1 / ax) if ax > 0 else -1
        for code in PAINT_ORDER:
            times = self._times[code].view
            i0 = int(np.searchsorted(times, x0, side="left"))
            i1 = int(np.searchsorted(times, x1, side="right"))
            if i1 <= i0:
                continue
            keys = self._keys[code].view
            binned = None
            if i1 - i0 >= self.binned_from and 8 * (i1 - i0) >= len(times):
                binned = self._bins[code].codes(level, times, keys)
            if binned is not None:   # the occupied bins of the rows on screen
                if on_screen is None:
                    on_screen = np.flatnonzero(np.append(shown, False)[self._key_row])
                seconds, keys = visible(binned, level, on_screen, x0, x1)
            else:
                seconds, keys = times[i0:i1], keys[i0:i1]
            px = (seconds * ax + bx).astype(np.int32)
            np.clip(px, 0, width - 2, out=px)
            flat = key_base[keys]
            flat += px
            if 16 * len(flat) < (trash + 1) * width:   # few ticks (time bins): sort them
                hits = distinct(flat)
                hits = hits[:np.searchsorted(hits, trash * width)]
            else:                                       # many: mark a pixel grid, read it back
                if grid is None:
                    grid = np.zeros((trash + 1) * width, dtype=bool)
                grid[flat] = True
                grid[trash * width:] = False
                hits = np.flatnonzero(grid)
                grid[hits] = False
            tops = hits.astype(np.int64) - (tick // 2) * width
            cells = (tops[:, None] + column).ravel()
            pixels[cells] = self._colours[code]
            pixels[cells + 1] = self._colours[code]
        # drop the padding rows; QImage.copy() so the image owns its memory
        inside = np.ascontiguousarray(pixels.reshape(height + 2 * pad, width)[pad:pad + height])
        return pg.functions.ndarray_to_qimage(
            inside, QImage.Format.Format_ARGB32_Premultiplied).copy()


class RowAxis(pg.AxisItem):
    """Conversation labels on the y axis, thinned so they never overlap."""

    def __init__(self) -> None:
        super().__init__("left")
        self.labels: list[str] = []
        self._widest = 0   # the widest label's width so far, in pixels
        self._advance = np.full(0, -1, np.int32)   # each character's width in pixels,
        self._advance_font = ""                    # by code point (-1: not yet), in this font
        self.setStyle(autoExpandTextSpace=False, tickLength=0)

    def set_labels(self, labels: list[str], added: list[str] | None = None) -> None:
        """Rows' labels, of which ``added`` are new (None: all of them).

        Only new labels are measured, and none once one is as wide as a label
        may be: a live capture's list grows batch by batch, a SYN scan's to
        200,000 rows, and looking at every label again for each batch made
        opening the scan quadratic. Of those, only the few that are widest by
        the sum of their characters' widths: measuring all of 71,000 short
        connections' labels took 0.7 s of a window loading them. (The sum
        leaves out kerning, a pixel or so; by length alone, "ffff" and "1111"
        would tie, 17 and 31 pixels wide.)
        """
        if not labels:
            self._widest = 0
        metrics = QFontMetrics(self.font())
        new = labels if added is None else added
        if len(new) > MEASURED and self._widest < LABEL_MAX_PX:
            new = self._widest_by_advance(new, metrics)
        for text in new:
            if self._widest >= LABEL_MAX_PX:
                break
            self._widest = max(self._widest, min(metrics.horizontalAdvance(text), LABEL_MAX_PX))
        self.labels = labels
        self.setWidth((self._widest or 40) + 12)
        self.picture = None
        self.update()

    def _widest_by_advance(self, texts: list[str], metrics: QFontMetrics) -> list[str]:
        """The MEASURED texts widest by the sum of their characters' widths,
        widest first. Summed with numpy: in Python it took 12 ms of each batch
        of a capture of short connections (thousands of new labels a batch)."""
        font = self.font().key()
        if self._advance_font != font:
            self._advance, self._advance_font = np.full(0, -1, np.int32), font
        codes = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), np.uint32)
        if len(codes) and int(codes.max()) >= len(self._advance):
            grown = np.full(int(codes.max()) + 1, -1, np.int32)
            grown[:len(self._advance)] = self._advance
            self._advance = grown
        advance = self._advance
        present = np.flatnonzero(np.bincount(codes, minlength=len(advance)))
        for code in present[advance[present] < 0].tolist():   # characters new to the font
            advance[code] = metrics.horizontalAdvance(chr(code))
        lengths = np.fromiter(map(len, texts), np.int64, len(texts))
        # each text's sum in one pass over its characters (a running sum of them
        # all, in int64, took a third of this on 3,400 labels); reduceat sums up
        # to the next start, so only texts with characters have one
        filled = lengths > 0
        widths = np.zeros(len(texts), np.int64)
        if filled.any():
            widths[filled] = np.add.reduceat(advance[codes], (np.cumsum(lengths) - lengths)[filled])
        widest = np.argsort(-widths, kind="stable")[:MEASURED]
        return [texts[k] for k in widest.tolist()]

    def tickValues(self, minVal: float, maxVal: float,
                   size: float) -> list[tuple[float, list[float]]]:
        last = len(self.labels) - 1
        minVal, maxVal = min(minVal, maxVal), max(minVal, maxVal)  # the y axis is inverted
        lo, hi = max(0, math.ceil(minVal)), min(last, math.floor(maxVal))
        if hi < lo or size <= 0:
            return []
        per_row = size / max(maxVal - minVal, 1e-9)
        step = max(1, math.ceil(QFontMetrics(self.font()).height() * 1.1 / per_row))
        first = math.ceil(lo / step) * step
        return [(float(step), [float(v) for v in range(first, hi + 1, step)])]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        metrics = QFontMetrics(self.font())
        return [metrics.elidedText(self.labels[int(v)], Qt.TextElideMode.ElideMiddle,
                                   LABEL_MAX_PX) if 0 <= int(v) < len(self.labels) else ""
                for v in values]


class TimelineBox(pg.ViewBox):
    """The timeline's view: a Shift+drag marks a time range instead of panning.

    Signal: range_dragged(float, float): the times under the drag's start and
    current point, emitted as the drag goes on.
    """

    range_dragged = pyqtSignal(float, float)

    def mouseDragEvent(self, ev: MouseDragEvent, axis: int | None = None) -> None:
        if (ev.button() == Qt.MouseButton.LeftButton
                and ev.modifiers() & Qt.KeyboardModifier.ShiftModifier):
            ev.accept()
            start = self.mapSceneToView(ev.buttonDownScenePos()).x()
            here = self.mapSceneToView(ev.scenePos()).x()
            self.range_dragged.emit(min(start, here), max(start, here))
            return
        super().mouseDragEvent(ev, axis)


class Timeline(QWidget):
    """Timeline, time-sequence and throughput tabs over one capture.

    Signals:
        seek_requested(int): the user dragged a playhead or clicked near a
            packet; the index of the packet nearest in time (within the
            selected conversation when one is set).
        range_export_requested(int, int): "Export range…" was pressed; the
            first and last packet index inside the selected range.
    """

    seek_requested = pyqtSignal(int)
    range_export_requested = pyqtSignal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._analysis: Analysis | None = None
        self._count = 0
        self._t0_ns = 0
        self._times = _Buffer(np.float64)
        self._keys = _Buffer(np.int32)
        self._kinds = _Buffer(np.uint8)
        self._sorted = True
        self._span = (math.inf, -math.inf)   # the earliest and latest packet times
        self._labels: list[str] = []
        self._key_row = np.full(1, -1, dtype=np.int32)
        self._tcp = self._udp = 0
        self._has_other = False
        self._conversation = 0      # key of the selected conversation, 0: none
        self._selection: tuple[str, int] | None = None
        self._current = -1
        self._graph_stream = -1     # the stream the time-sequence graph was asked for
        self._stale: set[int] = set()  # tabs to redraw when shown
        self._present = np.zeros(len(KINDS), dtype=bool)  # kinds in the legend
        self._follow = True  # fit the view as packets arrive, until the user pans or zooms

        self.axis = RowAxis()
        self.box = TimelineBox()
        self.box.range_dragged.connect(self.show_range)
        self.plot = pg.PlotWidget(viewBox=self.box, axisItems={"left": self.axis})
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "Time", units="s", siPrefixEnableRanges=TIME_PREFIXES)
        item.setMenuEnabled(False)
        item.hideButtons()
        item.invertY(True)
        item.showGrid(x=True, alpha=0.15)
        # the row labels replayed from their QPicture cost 1.4 ms a paint; a pan
        # in time does not change them
        self.axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        item.getViewBox().sigRangeChangedManually.connect(self._on_range_changed_manually)
        self.highlight = pg.LinearRegionItem(orientation="horizontal", movable=False)
        self.highlight.setZValue(-10)
        self.highlight.hide()
        self.markers = MarkerLayer()
        self.playhead = playhead_line(self.palette())
        self.playhead.setZValue(-5)  # under the ticks: the current packet's stays visible
        self.playhead.hide()
        self.ring = pg.ScatterPlotItem(size=16, symbol="o", brush=None)  # the current packet
        self.ring.setZValue(10)
        self.region = pg.LinearRegionItem(orientation="vertical")
        self.region.setZValue(15)
        self.region.hide()
        item.addItem(self.highlight, ignoreBounds=True)
        item.addItem(self.markers)
        item.addItem(self.region, ignoreBounds=True)
        item.addItem(self.playhead, ignoreBounds=True)
        item.addItem(self.ring, ignoreBounds=True)
        self.time_sequence = TimeSequenceGraph()
        self.throughput = ThroughputGraph()
        for line in (self.playhead, self.time_sequence.playhead, self.throughput.playhead):
            line.sigDragged.connect(self._on_playhead_moved)
            line.sigPositionChangeFinished.connect(self._on_playhead_moved)
        self.region.sigRegionChanged.connect(self._on_region_changed)
        self.plot.scene().sigMouseClicked.connect(self._on_clicked)

        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Show the whole capture")
        self.fit_button.clicked.connect(self.fit)
        self.range_button = QPushButton("Select range")
        self.range_button.setCheckable(True)
        self.range_button.setToolTip("Show a time range to drag and resize, for export "
                                     "(or Shift+drag across the timeline)")
        self.range_button.toggled.connect(self._on_range_toggled)
        self.export_button = QPushButton("Export range…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._on_export_clicked)
        self.range_label = QLabel()
        self.legend = QLabel()
        self.legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.legend.setWordWrap(True)   # at 1366 px seven kinds take two lines, none cut
        self.legend.setToolTip("\n".join(f"{k.label}" for k in KINDS))
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 0)
        for w in (self.fit_button, self.range_button, self.export_button, self.range_label):
            bar.addWidget(w)
        bar.addWidget(self.legend, 1)
        page = QWidget()
        column = QVBoxLayout(page)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(bar)
        column.addWidget(self.plot, 1)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(page, "Timeline")
        self.tabs.addTab(self.time_sequence, "Time-sequence")
        self.tabs.addTab(self.throughput, "Throughput")
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self._size_by_current_tab(0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self._restyle()

    # -- data ---------------------------------------------------------------
    def set_analysis(self, analysis: Analysis, count: int,
                     kinds: np.ndarray | None = None, shown: np.ndarray | None = None) -> None:
        """Show packets [0, count) of ``analysis`` (a new capture)."""
        self.clear()
        self._analysis = analysis
        self.extend(count, kinds, shown)

    def extend(self, count: int, kinds: np.ndarray | None = None,
               shown: np.ndarray | None = None) -> None:
        """Packets up to ``count`` exist now (a live capture grew): add only those.

        ``kinds``: the kind codes of packets [0, count) when the caller has
        them already (the Document keeps them), so they are not computed twice.
        ``shown``: per packet in [0, count), whether it gets a tick (the
        session's display filter; None: all do).
        """
        analysis, start = self._analysis, self._count
        if analysis is None or count <= start:
            return
        if start == 0:
            self._t0_ns = int(analysis.store.values("ts_ns")[0])
        times = (analysis.store.column_slice("ts_ns", start, count) - self._t0_ns) / 1e9
        stream = analysis.column_slice("stream", start, count)
        flow = analysis.column_slice("udp_flow", start, count)
        keys = np.zeros(count - start, dtype=np.int32)
        keys[stream >= 0] = 1 + 2 * stream[stream >= 0]
        keys[flow >= 0] = 2 + 2 * flow[flow >= 0]
        for i, link in dict(analysis.icmp_links).items():  # ICMP errors on their UDP row
            if start <= i < count:
                keys[i - start] = 2 + 2 * link.flow
        kinds = (packet_kinds(analysis, start, count) if kinds is None
                 else kinds[start:count])
        if self._sorted and len(times) and (
                (self._times.size and times[0] < self._times.view[-1])
                or np.any(np.diff(times) < 0)):
            self._sorted = False
        if len(times):   # fit() reads this rather than every time at each batch
            self._span = (min(self._span[0], float(times.min())),
                          max(self._span[1], float(times.max())))
        self._times.append(times)
        self._keys.append(keys)
        self._kinds.append(kinds)
        self._count = count
        self._add_rows(analysis, stream, flow, keys)
        if shown is not None:
            ticked = shown[start:count]
            times, keys, kinds = times[ticked], keys[ticked], kinds[ticked]
        self.markers.append(times, keys, kinds)
        self._update_legend(kinds)
        self._stale.update((1, 2))
        self._refresh_tab()
        if self._follow:
            self.fit()

    def clear(self) -> None:
        self._analysis = None
        self._count, self._t0_ns, self._current, self._follow = 0, 0, -1, True
        self._graph_stream = -1
        for buf in (self._times, self._keys, self._kinds):
            buf.size = 0
        self._sorted = True
        self._span = (math.inf, -math.inf)   # the earliest and latest packet times
        self._labels, self._tcp, self._udp, self._has_other = [], 0, 0, False
        self._key_row = np.full(1, -1, dtype=np.int32)
        self.markers.clear()
        self.axis.set_labels([])
        self.playhead.hide()
        self.range_button.setChecked(False)
        self.set_conversation(None)
        self._present[:] = False
        self.legend.clear()

    def _add_rows(self, analysis: Analysis, stream: np.ndarray, flow: np.ndarray,
                  keys: np.ndarray) -> None:
        tcp = max(self._tcp, int(stream.max()) + 1 if len(stream) else 0)
        udp = max(self._udp, int(flow.max()) + 1 if len(flow) else 0)
        other = self._has_other or bool(np.any(keys == 0))
        if (tcp, udp, other) == (self._tcp, self._udp, self._has_other):
            return
        added = [f"TCP {s}  {a} ↔ {b}" for s, (a, b) in
                 enumerate(analysis.endpoint_texts_of("tcp", self._tcp, tcp), self._tcp)]
        labels = self._labels[:self._tcp] + added
        labels += self._labels[self._tcp:self._tcp + self._udp]
        new_udp = [f"UDP {f}  {a} ↔ {b}" for f, (a, b) in
                   enumerate(analysis.endpoint_texts_of("udp", self._udp, udp), self._udp)]
        added += new_udp
        labels += new_udp
        if other:
            labels.append("other")
            if not self._has_other:
                added.append("other")
        key_row = np.full(2 * max(tcp, udp) + 3, -1, dtype=np.int32)
        key_row[1:1 + 2 * tcp:2] = np.arange(tcp)
        key_row[2:2 + 2 * udp:2] = tcp + np.arange(udp)
        if other:
            key_row[0] = tcp + udp
        self._tcp, self._udp, self._has_other = tcp, udp, other
        self._labels, self._key_row = labels, key_row
        self.markers.set_rows(key_row, len(labels))
        self.axis.set_labels(labels, added)
        self.plot.getPlotItem().getViewBox().setLimits(
            yMin=-0.5, yMax=len(labels) - 0.5, minYRange=min(1.0, len(labels)))
        self._place_highlight()

    # -- reading (tests, the main window) ---------------------------------------
    def has_data(self) -> bool:
        """True once set_analysis() gave packets (then extend() adds more)."""
        return self._analysis is not None and self._count > 0

    def row_labels(self) -> list[str]:
        return list(self._labels)

    def packet_times(self) -> np.ndarray:
        """Seconds since the first packet, per packet [0, count)."""
        return self._times.view

    def packet_rows(self) -> np.ndarray:
        """The row each packet is drawn on (-1: none)."""
        return self._key_row[self._keys.view]

    def packet_kinds(self) -> np.ndarray:
        return self._kinds.view

    # -- playhead --------------------------------------------------------------
    def set_current(self, index: int) -> None:
        """Put the playhead on packet ``index`` (-1: hide it)."""
        self._current = index
        if self._selection is None and self._graph_stream != self.graph_stream():
            self._stale.add(1)   # the graph follows the current packet's stream
            if self.tabs.currentIndex() == 1:
                self._refresh_tab()
                return
        lines = (self.playhead, self.time_sequence.playhead, self.throughput.playhead)
        if not 0 <= index < self._count:
            for line in lines:
                line.hide()
            self.ring.setData([], [])
            return
        x = float(self._times.view[index])
        row = int(self._key_row[self._keys.view[index]])
        if row >= 0:
            self.ring.setData([x], [row])
            vb = self.plot.getPlotItem().getViewBox()
            (_, _), (y0, y1) = vb.viewRange()
            if not min(y0, y1) <= row <= max(y0, y1):   # its row scrolled out of the strip
                vb.setYRange(*self._row_range(), padding=0)
        else:
            self.ring.setData([], [])
        for line in lines:
            if not line.moving:  # never fight a drag in progress
                line.setValue(x)
            line.show()

    def nearest_packet(self, seconds: float, key: int | None = None) -> int:
        """The packet nearest in time to ``seconds`` (in conversation ``key`` if given)."""
        times = self._times.view
        if key is not None:
            candidates = np.flatnonzero(self._keys.view == key)
        elif self._sorted:
            i = int(np.searchsorted(times, seconds))
            candidates = np.arange(max(i - 1, 0), min(i + 1, len(times)))
        else:
            candidates = np.arange(len(times))
        if not len(candidates):
            return -1
        return int(candidates[np.argmin(np.abs(times[candidates] - seconds))])

    @pyqtSlot(object)
    def _on_playhead_moved(self, line: pg.InfiniteLine) -> None:
        if not self._count:
            return
        index = self.nearest_packet(float(line.value()), self._conversation or None)
        if index >= 0 and (index != self._current or not line.moving):
            self._current = index
            self.seek_requested.emit(index)

    @pyqtSlot(object)
    def _on_clicked(self, event: MouseClickEvent) -> None:
        """A left click near a tick seeks to that packet."""
        if (not self._count or event.button() != Qt.MouseButton.LeftButton
                or event.isAccepted()):
            return
        vb = self.plot.getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        point = vb.mapSceneToView(event.scenePos())
        row = round(point.y())
        keys = np.flatnonzero(self._key_row == row)
        if not len(keys):
            return
        index = self.nearest_packet(point.x(), int(keys[0]))
        slop = vb.viewPixelSize()[0] * CLICK_SLOP_PX
        if index >= 0 and abs(self._times.view[index] - point.x()) <= slop:
            self.seek_requested.emit(index)

    # -- conversation -----------------------------------------------------------
    def set_conversation(self, kind: str | None, number: int = -1) -> None:
        """Highlight a conversation's row (``"tcp"``/``"udp"``, number; None: none)."""
        self._selection = None if kind is None else (kind, number)
        self._conversation = conversation_key(kind, number) if kind else 0
        self._place_highlight()
        self._stale.update((1, 2))
        self._refresh_tab()

    def _place_highlight(self) -> None:
        key = self._conversation
        row = int(self._key_row[key]) if 0 < key < len(self._key_row) else -1
        self.highlight.setVisible(row >= 0)
        if row >= 0:
            self.highlight.setRegion((row - 0.5, row + 0.5))

    # -- tabs ------------------------------------------------------------------
    @pyqtSlot(int)
    def _on_tab_changed(self, index: int) -> None:
        self._size_by_current_tab(index)
        self._refresh_tab()

    def _size_by_current_tab(self, index: int) -> None:
        """The tabs take the least height of the page shown, not of the tallest page:
        a graph's notes and legend must not keep the strip tall once it is back."""
        ignored, preferred = QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred
        for k in range(self.tabs.count()):
            page = self.tabs.widget(k)
            if page is not None:
                page.setSizePolicy(*((preferred, preferred) if k == index else (ignored, ignored)))
                page.updateGeometry()

    def _refresh_tab(self) -> None:
        """Redraw the current tab if its data changed (the others wait until shown)."""
        index = self.tabs.currentIndex()
        if index not in self._stale:
            return
        self._stale.discard(index)
        if index == 1:
            self._draw_time_sequence()
        elif index == 2:
            self._draw_throughput()
        self.set_current(self._current)

    def graph_stream(self) -> int:
        """The TCP stream the time-sequence graph draws (-1: none).

        The selected conversation; with none selected, the current packet's
        stream, or else the stream with the most packets: a capture with a
        TCP conversation always has a graph to show.
        """
        kind, number = self._selection or (None, -1)
        if kind is not None:
            return number if kind == "tcp" else -1
        if self._analysis is None or not self._count or not self._tcp:
            return -1
        if 0 <= self._current < self._count:
            stream = int(self._analysis.values("stream")[self._current])
            if stream >= 0:
                return stream
        streams = self._analysis.column_slice("stream", 0, self._count)
        streams = streams[streams >= 0]
        return int(np.bincount(streams).argmax()) if len(streams) else -1

    def _draw_time_sequence(self) -> None:
        kind = self._selection[0] if self._selection else None
        note = ("The time-sequence graph shows TCP sequence numbers; a UDP flow has none. "
                "Its bytes over time are in the Throughput tab." if kind == "udp" else
                "This capture has no TCP conversation: the time-sequence graph shows TCP "
                "sequence numbers." if self._analysis is not None and not self._tcp else "")
        self._graph_stream = self.graph_stream()
        self.time_sequence.show_stream(self._analysis, self._count, self._t0_ns,
                                       self._graph_stream, note)

    def _draw_throughput(self) -> None:
        key = self._conversation
        if not key:
            self.throughput.show_packets(self._analysis, self._times.view, None, "all packets")
            return
        row = int(self._key_row[key]) if key < len(self._key_row) else -1
        self.throughput.show_packets(self._analysis, self._times.view,
                                     np.flatnonzero(self._keys.view == key),
                                     self._labels[row] if row >= 0 else "conversation")

    # -- range --------------------------------------------------------------------
    def selected_range(self) -> tuple[int, int] | None:
        """First and last packet index inside the range selection (None: none)."""
        if not self.region.isVisible() or not self._count:
            return None
        lo, hi = self.region.getRegion()
        inside = np.flatnonzero((self._times.view >= lo) & (self._times.view <= hi))
        if not len(inside):
            return None
        return int(inside[0]), int(inside[-1])

    def show_range(self, start_s: float, stop_s: float) -> None:
        """Turn on the range selection over [start_s, stop_s] seconds."""
        self.range_button.setChecked(True)
        self.region.setRegion((start_s, stop_s))

    @pyqtSlot(bool)
    def _on_range_toggled(self, on: bool) -> None:
        if on:
            (x0, x1), _ = self.plot.getPlotItem().getViewBox().viewRange()
            self.region.setRegion((x0 + (x1 - x0) / 4, x1 - (x1 - x0) / 4))
        self.region.setVisible(on)
        self._on_region_changed()

    @pyqtSlot()
    def _on_region_changed(self) -> None:
        selected = self.selected_range()
        self.export_button.setEnabled(selected is not None)
        if selected is None:
            self.range_label.setText("no packets in range" if self.region.isVisible() else "")
        else:
            first, last = selected
            self.range_label.setText(f"frames {first + 1}–{last + 1}")

    @pyqtSlot()
    def _on_export_clicked(self) -> None:
        selected = self.selected_range()
        if selected is not None:
            self.range_export_requested.emit(*selected)

    # -- view -------------------------------------------------------------------
    @pyqtSlot()
    def fit(self) -> None:
        """Show every packet and every row (and keep doing so as packets arrive)."""
        self._follow = True
        if not self._count:
            return
        lo, hi = self._span
        pad = max((hi - lo) * 0.02, 1e-6)
        vb = self.plot.getPlotItem().getViewBox()
        vb.setLimits(xMin=lo - 50 * pad, xMax=hi + 50 * pad, minXRange=1e-7)
        vb.setRange(xRange=(lo - pad, hi + pad), yRange=self._row_range(), padding=0)

    def _rows_that_fit(self) -> int:
        """How many rows the strip shows with every label readable."""
        height = self.plot.getPlotItem().getViewBox().height()
        if height < 1:   # not laid out yet: every row, until it is
            return max(len(self._labels), 1)
        return max(1, int(height // (QFontMetrics(self.axis.font()).height() * 1.1)))

    def _row_range(self) -> tuple[float, float]:
        """Every row when their labels fit; else as many as fit, around the current
        packet's row (the others a drag away), rather than labels thinned out."""
        rows, fit = len(self._labels), self._rows_that_fit()
        if rows <= fit:
            return -0.5, rows - 0.5
        row = self._current_row()
        top = min(max(row - fit // 2, 0), rows - fit) if row >= 0 else 0
        return top - 0.5, top + fit - 0.5

    def _current_row(self) -> int:
        index = self._current
        if not 0 <= index < self._count:
            return -1
        return int(self._key_row[self._keys.view[index]])

    @pyqtSlot(object)
    def _on_range_changed_manually(self, _axes: object) -> None:
        self._follow = False

    def _update_legend(self, kinds: np.ndarray) -> None:
        """List the kinds seen so far (``kinds``: the packets just added)."""
        present = self._present | (np.bincount(kinds, minlength=len(KINDS)) > 0)
        if np.array_equal(present, self._present):
            return
        self._present = present
        parts = [f'<span style="color:{k.marker}">■</span>&nbsp;{k.label.split(" (")[0]}'
                 for k in KINDS if present[k.code]]
        self.legend.setText("&nbsp;&nbsp; ".join(parts))

    def changeEvent(self, event: QEvent | None) -> None:
        if event is not None and event.type() == QEvent.Type.PaletteChange:
            self._restyle()
        super().changeEvent(event)

    def _restyle(self) -> None:
        palette = self.palette()
        style_plot(self.plot, palette)
        style_playhead(self.playhead, palette)
        self.ring.setPen(pg.mkPen(palette.color(palette.ColorRole.Text), width=2))
        band = QColor(palette.color(palette.ColorRole.Highlight))
        band.setAlpha(70 if is_dark(palette) else 45)
        self.highlight.setBrush(band)
        for line in self.highlight.lines:
            line.setPen(pg.mkPen(None))
        shade = QColor(palette.color(palette.ColorRole.Highlight))
        for line in self.region.lines:
            line.setPen(pg.mkPen(shade, width=1.5))
            line.setHoverPen(pg.mkPen(shade, width=4))
        shade.setAlpha(40)
        self.region.setBrush(shade)
