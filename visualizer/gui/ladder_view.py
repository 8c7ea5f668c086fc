"""The animated ladder diagram (DESIGN.md: Views).

What is drawn comes from :class:`visualizer.core.ladder.scene.LadderScene`:
a list of plain primitives for the visible rectangle only, which this
widget paints with QPainter and the SVG export writes out. Off-screen
arrows and lanes are never even turned into primitives, which keeps a
repaint cheap however long the conversation
(``tests/benchmarks/ladder_repaint.py`` measures it).

A recording's socket calls are drawn beside the lanes that made them
(``set_show_calls`` turns them off); hovering one shows what it was.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from PyQt6.QtCore import QEvent, QPoint, QPointF, QRect, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QHelpEvent,
    QImage,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QPolygonF,
    QResizeEvent,
    QWheelEvent,
)
from PyQt6.QtWidgets import QAbstractScrollArea, QScrollBar, QToolTip, QWidget

from visualizer.core.errors import BadInput
from visualizer.core.ladder.build import Ladder, describe, describe_call
from visualizer.core.ladder.scene import (
    FUTURE_MODES,
    HEADER,
    ZOOM_MAX,
    ZOOM_MIN,
    Colours,
    Cursor,
    Geometry,
    Item,
    LadderScene,
    Line,
    Look,
    Poly,
    Rect,
    Text,
    text_box,
    write_svg,
)
from visualizer.core.ladder.transit import LOST_ARROW
from visualizer.core.tcp.states import TcpState

NO_CAPTURE_TEXT = "Nothing to draw: open a capture or a sample recording."
NO_HOSTS_TEXT = ("No packet here has IP or Ethernet addresses to draw between: "
                 "see the packet list and the timeline.")
ZOOM_STEP = 1.15      # per wheel notch or key press
LANE_ZOOM_MIN, LANE_ZOOM_MAX = 0.25, 3.0
MAX_IMAGE_SIDE = 32_000  # QPainter cannot draw into a taller image


class LadderView(QAbstractScrollArea):
    """A ladder: one lane per endpoint, one arrow per packet, time running down.

    Signals:
        packet_clicked(int): the 0-based packet index of an arrow the user clicked.
        packet_hovered(int): the packet index under the mouse, -1 when it leaves arrows.
        lanes_fitted(bool): the fit-all-lanes zoom went on or off.
    """

    packet_clicked = pyqtSignal(int)
    lanes_fitted = pyqtSignal(bool)     # the fit-all-lanes zoom went on or off
    packet_hovered = pyqtSignal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scene: LadderScene | None = None
        self._geometry: Geometry | None = None
        self._zoom = 1.0
        self._magnify = 1.0   # everything drawn this many times larger (presenter mode)
        self._fit = False     # ... or less, so that every lane fits the width
        self._magnify_wanted = 1.0
        self._lane_zoom = 1.0      # the horizontal zoom: space between lanes
        self._fit_lanes = False    # every lane within the view's width
        self.empty_text = NO_CAPTURE_TEXT  # shown when there is no ladder
        self._look = Look()
        self._follow = True
        self._show_calls = True
        self._positions = np.zeros(0)
        self._drawn: list[int] = []
        self._drawn_calls: list[int] = []
        self._painter = _ItemPainter()
        self._look = replace(self._look, measure=self._measure)
        self._vp.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self._update_colours()

    # -- content ---------------------------------------------------------------
    def set_ladder(self, ladder: Ladder | None, positions: np.ndarray | None = None) -> None:
        """Show ``ladder``; ``positions`` per arrow (``timescale.positions``; default: order).

        Keeps the zoom, the selected packet if it is still drawn and the
        cursor if it still fits; a first ladder shows still, everything played.
        """
        old = self._scene
        selected = (old.ladder.arrows[self._look.selected].index
                    if old is not None and self._look.selected >= 0 else -1)
        self._positions = np.zeros(0) if positions is None else positions
        if ladder is None:
            self._scene = None
        else:
            self._scene = LadderScene(ladder, self._positions, show_calls=self._show_calls)
        cursor = self._look.cursor
        if ladder is None or cursor is None or cursor.arrow >= len(ladder.arrows):
            cursor = None
        self._drawn, self._drawn_calls = [], []
        self._look = replace(self._look, cursor=cursor, hovered=-1,
                             selected=self._scene.arrow_for_packet(selected)
                             if self._scene else -1)
        self._relayout()
        self._vp.update()

    def ladder(self) -> Ladder | None:
        return self._scene.ladder if self._scene else None

    def scene(self) -> LadderScene | None:
        return self._scene

    def set_show_calls(self, on: bool) -> None:
        """Draw the recording's socket calls beside the lanes (on by default)."""
        if on == self._show_calls:
            return
        self._show_calls = on
        if self._scene is not None:
            self.set_ladder(self._scene.ladder, self._positions)

    def shows_calls(self) -> bool:
        return self._show_calls

    # -- playback --------------------------------------------------------------
    def set_cursor(self, arrow_number: int, progress: float = 1.0) -> None:
        """Arrow ``arrow_number`` is ``progress`` (0..1) along; -1: nothing played yet.

        Arrows before it are drawn played, later ones per the future mode;
        the state bands and header show the states as of this moment.
        """
        if self._scene is None:
            return
        if not -1 <= arrow_number < len(self._scene.ladder.arrows):
            raise ValueError(f"no arrow {arrow_number} in a ladder of "
                             f"{len(self._scene.ladder.arrows)}")
        progress = min(1.0, max(0.0, progress))
        self._look = replace(self._look, cursor=Cursor(arrow_number, progress))
        if self._follow and arrow_number >= 0:
            self.ensure_visible(arrow_number)
        self._vp.update()

    def clear_cursor(self) -> None:
        """No playback: a still diagram with every arrow played."""
        self._look = replace(self._look, cursor=None)
        self._vp.update()

    def playback_cursor(self) -> Cursor | None:
        return self._look.cursor

    def set_future_mode(self, mode: str) -> None:
        """How arrows not played yet are drawn: "faint", "hidden" or "solid"."""
        if mode not in FUTURE_MODES:
            raise ValueError(f"unknown future mode {mode!r}: choose one of "
                             + ", ".join(FUTURE_MODES))
        self._look = replace(self._look, future=mode)
        self._vp.update()

    def future_mode(self) -> str:
        return self._look.future

    def set_follow(self, on: bool) -> None:
        """Scroll to keep the current arrow in sight (on by default)."""
        self._follow = on

    def states_at_cursor(self) -> dict[int, TcpState]:
        """Each lane's TCP state as the header shows it (lanes without states absent)."""
        if self._scene is None:
            return {}
        ladder, cursor = self._scene.ladder, self._look.cursor
        if cursor is None:
            return ladder.states_at(len(ladder.arrows) - 1)
        return ladder.states_at(cursor.arrow, cursor.progress)

    # -- selection -------------------------------------------------------------
    def set_selected_packet(self, index: int) -> None:
        """Highlight packet ``index``'s arrow (0-based store index; -1 or absent: none)."""
        n = self._scene.arrow_for_packet(index) if self._scene else -1
        if n != self._look.selected:
            self._look = replace(self._look, selected=n)
            if n >= 0:
                self.ensure_visible(n)
            self._vp.update()

    def selected_arrow(self) -> int:
        return self._look.selected

    # -- geometry helpers (also for tests) -------------------------------------
    def point_of(self, arrow_number: int) -> QPoint:
        """A viewport point on arrow ``arrow_number``'s line."""
        scene, g = self._require()
        x, y = scene.point(g, arrow_number)
        return self._to_viewport(x, y).toPoint()

    def arrow_rect(self, arrow_number: int) -> QRect:
        """The viewport rectangle of the arrow's row between its lanes."""
        scene, g = self._require()
        x, y, w, h = scene.row(g, arrow_number)
        return QRectF(self._to_viewport(x, y), QPointF(self._to_viewport(x + w, y + h))
                      ).toAlignedRect()

    def arrow_at(self, pos: QPoint | QPointF) -> int:
        """The arrow number under viewport point ``pos``, or -1."""
        if self._scene is None or self._geometry is None or pos.y() / self._magnify < HEADER:
            return -1
        x, y = self._to_content(pos)
        return self._scene.arrow_at(self._geometry, x, y, self._look)

    def call_at(self, pos: QPoint | QPointF) -> int:
        """The number of the socket call (in ``Ladder.calls``) drawn at ``pos``, or -1."""
        if self._scene is None or self._geometry is None or pos.y() / self._magnify < HEADER:
            return -1
        x, y = self._to_content(pos)
        return self._scene.call_at(self._geometry, x, y, self._look)

    def call_point(self, number: int) -> QPoint:
        """A viewport point on socket call ``number``'s (first) box."""
        scene, g = self._require()
        if scene.call_layout is None:
            raise ValueError("the ladder view shows no socket calls")
        x, y, w, h = scene.call_layout.hit_boxes(g, number)[0]
        return self._to_viewport(x + w / 2, y + h / 2).toPoint()

    def tooltip_at(self, pos: QPoint | QPointF) -> str:
        """The packet or socket call shown when hovering viewport point ``pos`` ("" for none)."""
        if self._scene is None:
            return ""
        n = self.arrow_at(pos)
        if n >= 0:
            return describe(self._scene.ladder, n)
        k = self.call_at(pos)
        if k >= 0:
            return describe_call(self._scene.ladder, k)
        return self.lane_tooltip(pos)

    def lane_tooltip(self, pos: QPoint | QPointF) -> str:
        """Fit lanes, compact: what the header shortens, for the lane at ``pos``
        (its header or band): the whole endpoint, its role and its state's full name."""
        g = self._geometry
        if self._scene is None or g is None or not g.compact:
            return ""
        x, _ = self._to_content(pos)
        lane = round((x - g.left) / g.gap)
        if not 0 <= lane < g.lanes or abs(x - g.lane_x(lane)) > g.band / 2:
            return ""
        info = self._scene.ladder.lanes[lane]
        text = f"{info.endpoint} ({info.role})" if info.role else info.endpoint
        state = self.states_at_cursor().get(lane)
        return f"{text}: {state}" if state is not None else text

    def drawn_arrows(self) -> list[int]:
        """The arrow numbers the last paint drew, in order."""
        return list(self._drawn)

    def drawn_calls(self) -> list[int]:
        """The socket calls (numbers in ``Ladder.calls``) the last paint drew, in order."""
        return list(self._drawn_calls)

    def ensure_visible(self, arrow_number: int) -> None:
        """Scroll so that the arrow's row is in sight, below the header; for a packet
        lost on a path, its cross too (or, when both do not fit, the cross)."""
        scene, g = self._require()
        x, y, w, h = scene.row(g, arrow_number)
        if scene.ladder.arrows[arrow_number].arrival_ns == LOST_ARROW:
            _, _, _, cross = scene.ends(g, arrow_number)
            end = cross + g.step / 2
            if end - y <= self._vh - HEADER - h:
                h = end - y
            else:
                y, h = end - h, h
        bar = self._vbar
        top, bottom = bar.value() + HEADER, bar.value() + self._vh
        margin = min(g.step, max(0.0, (bottom - top - h) / 2))
        if y - margin < top:
            bar.setValue(math.floor(y - margin - HEADER))
        elif y + h + margin > bottom:
            bar.setValue(math.ceil(y + h + margin - self._vh))
        # Sideways: the arrow with both its lanes' bands, clear of the frame and
        # time column pinned over the left edge (it hid half the sender's lane).
        hbar = self._hbar
        band, time_w = g.band, g.time_w
        lo, hi = x - band / 2 - 8, x + w + band / 2 + 8
        if hi - lo > self._vw - time_w:
            lo, hi = x, x + w
        left = hbar.value()
        if lo < left + (time_w if left > 0 else 0) or hi > left + self._vw:
            hbar.setValue(int((lo + hi - time_w - self._vw) / 2))

    # -- zoom ------------------------------------------------------------------
    def zoom(self) -> float:
        return self._zoom

    def set_zoom(self, zoom: float, anchor_y: float | None = None) -> None:
        """Scale the time axis; the content at viewport height ``anchor_y`` stays put."""
        zoom = min(ZOOM_MAX, max(ZOOM_MIN, zoom))
        if zoom == self._zoom:
            return
        bar = self._vbar
        anchor = self._vh / 2 if anchor_y is None else anchor_y / self._magnify
        position = self._geometry.position(bar.value() + anchor) if self._geometry else 0.0
        self._zoom = zoom
        self._relayout()
        if self._geometry is not None:
            bar.setValue(round(self._geometry.y(position) - anchor))
        self._vp.update()

    def magnification(self) -> float:
        return self._magnify

    def set_magnification(self, factor: float, *, fit_lanes: bool = False) -> None:
        """Draw everything ``factor`` times larger (text, arrows, lanes): presenter mode.
        With ``fit_lanes``, at most as large as still fits every lane in the width."""
        self._magnify_wanted = self._magnify = max(0.25, min(4.0, float(factor)))
        self._fit = fit_lanes
        self._relayout()
        self._keep_current_in_view()
        self._vp.update()

    def _keep_current_in_view(self) -> None:
        """After the drawing changed size (magnified, the view resized), the
        current packet's arrow is still in sight: in presenter mode it was left
        below the view."""
        cursor = self._look.cursor
        if self._follow and self._scene is not None and cursor is not None \
                and 0 <= cursor.arrow < len(self._scene.ladder.arrows):
            self.ensure_visible(cursor.arrow)

    @property
    def _vw(self) -> float:
        """The viewport's width in content units."""
        return self._vp.width() / self._magnify

    @property
    def _vh(self) -> float:
        return self._vp.height() / self._magnify

    def lane_zoom(self) -> float:
        return self._lane_zoom

    def set_lane_zoom(self, zoom: float) -> None:
        """Scale the space between lanes (the horizontal zoom); ends fitting them all."""
        self._fit_lanes = False
        self._lane_zoom = min(LANE_ZOOM_MAX, max(LANE_ZOOM_MIN, zoom))
        self._after_lane_change()

    def fits_lanes(self) -> bool:
        return self._fit_lanes

    def set_fit_lanes(self, on: bool) -> None:
        """Every lane within the view's width, as close as they can come and keep a tag."""
        self._fit_lanes, self._lane_zoom = on, 1.0
        self._after_lane_change()

    def _after_lane_change(self) -> None:
        self.lanes_fitted.emit(self._fit_lanes)
        self._relayout()
        cursor = self._look.cursor
        if cursor is not None and cursor.arrow >= 0:
            self.ensure_visible(cursor.arrow)   # the current arrow stays in sight
        self._vp.update()

    # -- export ----------------------------------------------------------------
    def export_svg(self, path: str, *, visible_only: bool = False) -> None:
        """The whole ladder, or what is on screen, as SVG, drawn as on screen."""
        scene, g = self._require()
        write_svg(scene, path, geometry=g, look=self._export_look(),
                  view=self._visible_rect() if visible_only else None)

    def export_png(self, path: str, *, visible_only: bool = False) -> None:
        """The whole ladder, or what is on screen, as PNG."""
        image = self.render_image(visible_only=visible_only)
        if not image.save(path, "PNG"):
            raise OSError(f"{path}: cannot write the PNG image")

    def render_image(self, *, visible_only: bool = False) -> QImage:
        """The ladder painted into an image, exactly as the viewport paints it."""
        scene, g = self._require()
        view = self._visible_rect() if visible_only else (0.0, 0.0, g.width, g.height)
        w, h = math.ceil(view[2]), math.ceil(view[3])
        if max(w, h) > MAX_IMAGE_SIDE:
            raise BadInput(f"the ladder is {h} pixels tall, too tall for a PNG: zoom out, "
                           "export the visible part, or export SVG")
        image = QImage(w, h, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(QColor(self._look.colours.background))
        painter = QPainter(image)
        painter.translate(-view[0], -view[1])
        look = self._export_look()
        self._painter.paint(painter, scene.build(g, view, look), self.font(),
                            look.colours.background)
        painter.end()
        return image

    # -- painting --------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent | None) -> None:
        del event
        painter = QPainter(self._vp)
        colours = self._look.colours
        painter.fillRect(self._vp.rect(), QColor(colours.background))
        if self._scene is None or self._geometry is None:
            painter.setPen(QColor(colours.muted))
            painter.drawText(self._vp.rect(), Qt.AlignmentFlag.AlignCenter,
                             self.empty_text)
            painter.end()
            self._drawn, self._drawn_calls = [], []
            return
        view = self._visible_rect()
        items = self._scene.build(self._geometry, view, self._look)
        painter.scale(self._magnify, self._magnify)
        painter.translate(-view[0], -view[1])
        self._painter.paint(painter, items, self.font(), self._look.colours.background)
        painter.end()
        self._drawn = sorted({item.group for item in items if item.group >= 0})
        self._drawn_calls = sorted({item.call for item in items if item.call >= 0})

    @property
    def _vp(self) -> QWidget:
        viewport = self.viewport()
        assert viewport is not None  # a scroll area always has one
        return viewport

    @property
    def _vbar(self) -> QScrollBar:
        bar = self.verticalScrollBar()
        assert bar is not None
        return bar

    @property
    def _hbar(self) -> QScrollBar:
        bar = self.horizontalScrollBar()
        assert bar is not None
        return bar

    def _visible_rect(self) -> tuple[float, float, float, float]:
        return (self._hbar.value() - self._offset_x(),
                float(self._vbar.value()), self._vw, self._vh)

    def _offset_x(self) -> float:
        """Left margin that centres a ladder narrower than the viewport."""
        if self._geometry is None:
            return 0.0
        return max(0.0, (self._vw - self._geometry.width) / 2)

    def _to_viewport(self, x: float, y: float) -> QPointF:
        vx, vy, _, _ = self._visible_rect()
        m = self._magnify
        return QPointF((x - vx) * m, (y - vy) * m)

    def _to_content(self, pos: QPoint | QPointF) -> tuple[float, float]:
        vx, vy, _, _ = self._visible_rect()
        return pos.x() / self._magnify + vx, pos.y() / self._magnify + vy

    def _relayout(self) -> None:
        if self._scene is None:
            self._geometry = None
            self._vbar.setRange(0, 0)
            self._hbar.setRange(0, 0)
            return
        if self._fit:   # presenter: the narrowest the lanes can be, at this zoom
            narrowest = self._scene.geometry(zoom=self._zoom, width=1).width
            self._magnify = max(0.25, min(self._magnify_wanted, self._vp.width() / narrowest))
        vw, vh = self._vw, self._vh
        g = self._geometry = self._scene.geometry(zoom=self._zoom, width=vw,
                                                  lane_zoom=self._lane_zoom,
                                                  fit_lanes=self._fit_lanes)
        self._vbar.setRange(0, max(0, math.ceil(g.height - vh)))
        self._vbar.setPageStep(round(vh))
        self._vbar.setSingleStep(max(4, round(g.step / 2)))
        self._hbar.setRange(0, max(0, math.ceil(g.width - vw)))
        self._hbar.setPageStep(round(vw))

    def _require(self) -> tuple[LadderScene, Geometry]:
        if self._scene is None or self._geometry is None:
            raise ValueError("the ladder view shows no ladder")
        return self._scene, self._geometry

    def _export_look(self) -> Look:
        return replace(self._look, hovered=-1,
                       font_family=f"'{self.font().family()}', sans-serif")

    def _measure(self, text: str, size: int, bold: bool) -> float:
        """The width (px) ``text`` takes in this view's font: where a label is split."""
        return self._painter.width(self.font().family(), text, size, bold)

    def _update_colours(self) -> None:
        pal = self.palette()

        def hex_of(role: QPalette.ColorRole) -> str:
            return pal.color(role).name()

        base = pal.color(QPalette.ColorRole.Base)
        colours = Colours(
            background=base.name(), text=hex_of(QPalette.ColorRole.Text),
            muted=hex_of(QPalette.ColorRole.PlaceholderText),
            lane=hex_of(QPalette.ColorRole.Mid), header=hex_of(QPalette.ColorRole.AlternateBase),
            highlight=hex_of(QPalette.ColorRole.Highlight), dark=base.lightness() < 128)
        self._look = replace(self._look, colours=colours)

    # -- events ----------------------------------------------------------------
    def changeEvent(self, event: QEvent | None) -> None:
        if event is not None and event.type() == QEvent.Type.PaletteChange:
            self._update_colours()
            self._vp.update()
        super().changeEvent(event)

    def resizeEvent(self, event: QResizeEvent | None) -> None:
        super().resizeEvent(event)
        self._relayout()
        self._keep_current_in_view()

    def mouseMoveEvent(self, event: QMouseEvent | None) -> None:
        if event is not None:
            self._set_hovered(self.arrow_at(event.position()))
        super().mouseMoveEvent(event)

    def leaveEvent(self, event: QEvent | None) -> None:
        self._set_hovered(-1)
        super().leaveEvent(event)

    def mousePressEvent(self, event: QMouseEvent | None) -> None:
        if event is None or event.button() != Qt.MouseButton.LeftButton or self._scene is None:
            super().mousePressEvent(event)
            return
        event.accept()
        n = self.arrow_at(event.position())
        if n >= 0:
            self._look = replace(self._look, selected=n)
            self._vp.update()
            self.packet_clicked.emit(self._scene.ladder.arrows[n].index)

    def mouseReleaseEvent(self, event: QMouseEvent | None) -> None:
        if event is not None and event.button() == Qt.MouseButton.LeftButton:
            event.accept()   # the press selected; nothing more to do
            return
        super().mouseReleaseEvent(event)

    def wheelEvent(self, event: QWheelEvent | None) -> None:
        if event is not None and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            delta = event.angleDelta()
            notches = (delta.y() or delta.x()) / 120   # Shift turns the wheel sideways
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.set_lane_zoom(self.gap_zoom() * ZOOM_STEP ** notches)
            else:
                self.set_zoom(self._zoom * ZOOM_STEP ** notches, event.position().y())
            event.accept()
            return
        super().wheelEvent(event)

    def gap_zoom(self) -> float:
        """The lane zoom that draws the lanes as they are now (fitted or not)."""
        if not self._fit_lanes or self._scene is None or self._geometry is None:
            return self._lane_zoom
        plain = self._scene.geometry(width=self._vw)
        return self._geometry.gap / plain.gap

    def keyPressEvent(self, event: QKeyEvent | None) -> None:
        if event is not None:
            if event.matches(QKeySequence.StandardKey.ZoomIn):
                self.set_zoom(self._zoom * ZOOM_STEP)
                return
            if event.matches(QKeySequence.StandardKey.ZoomOut):
                self.set_zoom(self._zoom / ZOOM_STEP)
                return
        super().keyPressEvent(event)

    def viewportEvent(self, event: QEvent | None) -> bool:
        if (event is not None and event.type() == QEvent.Type.ToolTip
                and isinstance(event, QHelpEvent)):
            text = self.tooltip_at(event.pos())
            if text:
                QToolTip.showText(event.globalPos(), text, self._vp)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().viewportEvent(event)

    def _set_hovered(self, n: int) -> None:
        if n == self._look.hovered:
            return
        self._look = replace(self._look, hovered=n)
        self._vp.update()
        self.packet_hovered.emit(self._scene.ladder.arrows[n].index
                                 if n >= 0 and self._scene else -1)


class _ItemPainter:
    """Paints scene primitives with QPainter, caching colours, pens and fonts."""

    def __init__(self) -> None:
        self._colours: dict[tuple[str, float], QColor] = {}
        self._pens: dict[tuple[str, float, float, bool, str], QPen] = {}
        self._background = "#ffffff"
        self._fonts: dict[tuple[str, int, bool], tuple[QFont, QFontMetricsF]] = {}

    def paint(self, painter: QPainter, items: list[Item], base_font: QFont,
              background: str) -> None:
        """Paint ``items``; translucent lines are drawn opaque, mixed with ``background``.

        Qt's raster engine strokes a translucent antialiased line several times
        slower than an opaque one (300 faint arrows: 28 ms instead of 2.5), and
        lines lie on the background between the lanes, so mixing first looks
        the same.
        """
        self._background = background
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        family = base_font.family()
        no_pen = Qt.PenStyle.NoPen
        for item in items:
            if isinstance(item, Rect):
                painter.setPen(no_pen)
                painter.setBrush(self._colour(item.fill, item.opacity))
                rect = QRectF(item.x, item.y, item.w, item.h)
                if item.radius:
                    painter.drawRoundedRect(rect, item.radius, item.radius)
                else:
                    painter.drawRect(rect)
            elif isinstance(item, Line):
                painter.setPen(self._pen(item.colour, item.width, item.opacity, item.dash))
                painter.drawLine(QPointF(item.x1, item.y1), QPointF(item.x2, item.y2))
            elif isinstance(item, Poly):
                painter.setPen(no_pen)
                painter.setBrush(self._colour(item.fill, item.opacity))
                pts = item.points
                painter.drawPolygon(QPolygonF([QPointF(pts[k], pts[k + 1])
                                               for k in range(0, len(pts), 2)]))
            else:
                self._text(painter, item, family)

    def _text(self, painter: QPainter, item: Text, family: str) -> None:
        font, metrics = self._font(family, item.size, item.bold)
        painter.setFont(font)
        text = item.text
        if item.room:
            text = metrics.elidedText(text, Qt.TextElideMode.ElideRight, item.room)
        width = metrics.horizontalAdvance(text)
        dx = {"start": 0.0, "middle": -width / 2, "end": -width}[item.anchor]
        turned = bool(item.angle)
        if turned:
            painter.save()
            painter.translate(item.x, item.y)
            painter.rotate(item.angle)
            x, y = dx, 0.0
        else:
            x, y = item.x + dx, item.y
        if item.box:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(self._colour(item.box, item.opacity))
            painter.drawRoundedRect(QRectF(*text_box(x, y, width, item.size)), 4, 4)
        painter.setPen(self._colour(item.colour, item.opacity))
        painter.drawText(QPointF(x, y), text)
        if turned:
            painter.restore()

    def _colour(self, name: str, opacity: float) -> QColor:
        colour = self._colours.get((name, opacity))
        if colour is None:
            colour = QColor(name)
            colour.setAlphaF(opacity)
            self._colours[(name, opacity)] = colour
        return colour

    def _pen(self, name: str, width: float, opacity: float, dash: bool) -> QPen:
        key = (name, width, opacity, dash, self._background)
        pen = self._pens.get(key)
        if pen is None:
            colour, under = QColor(name), QColor(self._background)
            if opacity < 1.0:
                colour = QColor(*(round(a * opacity + b * (1 - opacity)) for a, b in zip(
                    colour.getRgb()[:3], under.getRgb()[:3], strict=True)))
            pen = QPen(colour, width)
            pen.setCapStyle(Qt.PenCapStyle.FlatCap)
            if dash:
                pen.setDashPattern([6 / width, 4 / width])
            self._pens[key] = pen
        return pen

    def width(self, family: str, text: str, size: int, bold: bool) -> float:
        return self._font(family, size, bold)[1].horizontalAdvance(text)

    def _font(self, family: str, size: int, bold: bool) -> tuple[QFont, QFontMetricsF]:
        key = (family, size, bold)
        hit = self._fonts.get(key)
        if hit is None:
            font = QFont(family)
            font.setPixelSize(size)
            font.setBold(bold)
            hit = self._fonts[key] = (font, QFontMetricsF(font))
        return hit
