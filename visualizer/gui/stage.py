"""The central area: ladder, playback controls, explanation, timeline.

The stage draws the ladder the session gives (``Session.ladder_window``
decides which packets it plays), owns the ``PlaybackCursor`` and the
animation timer, and keeps the ladder, the timeline and the document's
current packet in step (DESIGN: Views).
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QSettings, QSize, Qt, QTimer, pyqtSignal, pyqtSlot
from PyQt6.QtGui import QAction, QActionGroup, QKeySequence, QPainter, QPaintEvent
from PyQt6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QSizePolicy,
    QSlider,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from visualizer.core.errors import VisualizerError
from visualizer.core.ladder.build import Ladder
from visualizer.core.playback.cursor import SPEED_STEPS, PlaybackCursor
from visualizer.core.playback.timescale import SCALES
from visualizer.core.session import LadderWindow
from visualizer.gui.document import LOCK_WAIT_SECONDS, Document
from visualizer.gui.explanation import ExplanationPanel
from visualizer.gui.ladder_view import NO_CAPTURE_TEXT, NO_HOSTS_TEXT, LadderView
from visualizer.gui.resources import icon
from visualizer.gui.timeline import Timeline

FRAME_MS = 16                # ~60 frames per second while animating
REBUILD_MS = 250             # ladder rebuild throttle while a capture grows
TIMELINE_MS = 400            # timeline update throttle while packets arrive
SCRUB_STEPS = 1000
GRAPH_SHARE = 0.5            # of the stage's height the time-sequence and throughput tabs get


def _speed_text(speed: float) -> str:
    return f"{speed:g}×"


class ElidedLabel(QLabel):
    """A one-line label that ends in "…" where it is narrower than its text,
    rather than asking for its text's width: the playback counter of a big
    capture ("#1,234 · 5 of 398 in TCP 17 of 1,100") would otherwise squeeze
    the scrubber to nothing at 1366 px and still be cut. Its tooltip starts
    with the whole text, then says what it means (``about``)."""

    def __init__(self, about: str) -> None:
        super().__init__()
        self._about = about
        self.setToolTip(about)

    def setText(self, text: str | None) -> None:
        super().setText(text)
        self.setToolTip(f"{text}\n\n{self._about}" if text else self._about)

    def minimumSizeHint(self) -> QSize:
        return QSize(self.minimumWidth(), super().minimumSizeHint().height())

    def shown_text(self) -> str:
        """The text as painted."""
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight,
                                             self.contentsRect().width())

    def paintEvent(self, event: QPaintEvent | None) -> None:
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(self.contentsRect(), int(self.alignment().value), self.shown_text())


class Stage(QWidget):
    """Ladder + playback bar + explanation above, timeline below."""

    #: The document finished loading and the ladder of what it loaded (with the
    #: playback cursor's packets) is built: a turn after the document's
    #: ``finished``, so that the two do not hold up the window together.
    loaded = pyqtSignal()

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._real_time_for: str | None = None   # the path recording set to real time
        self._timeline_filter: object = None     # the display filter the timeline ticks
        self.document = document
        self.absolute = False
        self.ladder: Ladder | None = None
        self.playback = PlaybackCursor([], scale="log")
        self.ladder_view = LadderView()
        self.timeline = Timeline()
        self.explanation = ExplanationPanel()
        self._timer = QTimer(self)
        self._timer.setInterval(FRAME_MS)
        self._timer.timeout.connect(self._on_frame)
        self._after_load = False   # the next ladder built is the loaded file's
        self._rebuild = QTimer(self)
        self._rebuild.setSingleShot(True)
        self._rebuild.setInterval(REBUILD_MS)
        self._rebuild.timeout.connect(self._build_ladder)
        self._timeline_timer = QTimer(self)
        self._timeline_timer.setSingleShot(True)
        self._timeline_timer.setInterval(TIMELINE_MS)
        self._timeline_timer.timeout.connect(self._on_timeline_due)
        self._landed = -1          # store index of the last packet that landed
        self._partial = False      # the ladder draws a window of its packets
        self._members = np.zeros(0, dtype=np.int64)  # every packet of its conversations
        self._scope = ""           # which of many conversations the ladder shows, unasked
        self._scrubbing = False
        self._strip_height: int | None = None  # the timeline's height before a graph tab
        self._build()
        self._connect()
        self._sync_controls()

    # -- layout ----------------------------------------------------------------
    def _button(self, name: str, tip: str, slot: object) -> QToolButton:
        button = QToolButton()
        button.setIcon(icon(name))
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.clicked.connect(slot)  # type: ignore[arg-type]
        return button

    def _build(self) -> None:
        self.btn_first = self._button("first", "First packet (Home)", self.first)
        self.btn_back = self._button("step-back", "Step back (Left)", self.step_back)
        self.btn_play = self._button("play", "Play / pause (Space)", self.toggle_play)
        self.btn_forward = self._button("step-forward", "Step forward (Right)",
                                        self.step_forward)
        self.btn_last = self._button("last", "Last packet (End)", self.last)
        self.scrubber = QSlider(Qt.Orientation.Horizontal)
        self.scrubber.setRange(0, SCRUB_STEPS)
        self.scrubber.setToolTip("Drag to move through the conversation")
        # what the counter leaves, but never less than this
        self.scrubber.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.scrubber.setMinimumWidth(44)
        self.speed = QSlider(Qt.Orientation.Horizontal)
        self.speed.setRange(0, len(SPEED_STEPS) - 1)
        self.speed.setValue(SPEED_STEPS.index(1.0))
        self.speed.setMaximumWidth(110)
        self.speed.setToolTip("Playback speed (+ / -)")
        self.speed_label = QLabel(_speed_text(1.0))
        self.speed_label.setMinimumWidth(36)
        self.scale = QComboBox()
        for key, text in SCALES.items():
            self.scale.addItem(text, key)
        self.scale.setCurrentIndex(list(SCALES).index("log"))
        self.scale.setToolTip("Time scale: equal spacing, real time, or the logarithm of "
                              "the gaps (microseconds and seconds both visible)")
        self.position_label = ElidedLabel(
            "Packet N of the ladder's M; '#F' is its frame number when the two differ. "
            "With many conversations the ladder shows the current packet's ('in TCP 3 of "
            "21': stream 3 of the capture's 21 conversations): choose another in "
            "Conversations, or click a packet of it in the list or on the timeline")
        self.position_label.setMinimumWidth(120)
        self.fit_lanes = QToolButton()
        self.fit_lanes.setText("Fit lanes")
        self.fit_lanes.setCheckable(True)
        self.fit_lanes.setToolTip("Every lane in view (Ctrl+Shift+L); Ctrl+Shift+wheel "
                                  "widens or narrows the lanes")
        self.fit_lanes.toggled.connect(self.set_fit_lanes)
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 2, 6, 2)
        for w in (self.btn_first, self.btn_back, self.btn_play, self.btn_forward,
                  self.btn_last):
            bar.addWidget(w)
        bar.addWidget(self.position_label)
        bar.addWidget(self.scrubber, 1)
        bar.addWidget(QLabel("Speed"))
        bar.addWidget(self.speed)
        bar.addWidget(self.speed_label)
        bar.addWidget(QLabel("Time"))
        bar.addWidget(self.scale)
        bar.addWidget(self.fit_lanes)

        upper = QWidget()
        ul = QVBoxLayout(upper)
        ul.setContentsMargins(0, 0, 0, 0)
        ul.setSpacing(0)
        ul.addWidget(self.ladder_view, 1)
        ul.addLayout(bar)
        ul.addWidget(self.explanation)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("stage-splitter")
        self.splitter.addWidget(upper)
        self.splitter.addWidget(self.timeline)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([640, 170])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

    def _connect(self) -> None:
        doc = self.document
        doc.reset.connect(self._on_reset)
        doc.grown.connect(self._on_grown)
        doc.finished.connect(self._on_finished)
        doc.current_changed.connect(self._on_current)
        doc.conversation_changed.connect(self._on_conversation)
        self.ladder_view.packet_clicked.connect(doc.set_current)
        self.ladder_view.lanes_fitted.connect(self._sync_fit)
        self.timeline.seek_requested.connect(doc.set_current)
        self.timeline.range_export_requested.connect(self._on_export_range)
        self.timeline.tabs.currentChanged.connect(self._on_timeline_tab)
        self.scrubber.sliderMoved.connect(self._on_scrub)
        self.scrubber.sliderPressed.connect(self._on_scrub_pressed)
        self.scrubber.sliderReleased.connect(self._on_scrub_released)
        self.speed.valueChanged.connect(self._on_speed)
        self.scale.currentIndexChanged.connect(self._on_scale)

    # -- actions for the window's menus ------------------------------------------
    def add_view_actions(self, menu: QMenu) -> None:
        sub = menu.addMenu("Ladder &Time Scale")
        assert sub is not None
        group = QActionGroup(self)
        self.scale_actions: dict[str, QAction] = {}
        for key, text in SCALES.items():
            action = QAction(text, self)
            action.setCheckable(True)
            action.setChecked(key == "log")
            action.triggered.connect(lambda _=False, k=key: self.set_scale(k))
            group.addAction(action)
            sub.addAction(action)
            self.scale_actions[key] = action
        sub = menu.addMenu("&Future Packets")
        assert sub is not None
        group = QActionGroup(self)
        self.future_actions: dict[str, QAction] = {}
        for key, text in (("faint", "Faint"), ("hidden", "Hidden"), ("solid", "Solid")):
            action = QAction(text, self)
            action.setCheckable(True)
            action.setChecked(key == "faint")
            action.triggered.connect(lambda _=False, k=key: self.set_future_mode(k))
            group.addAction(action)
            sub.addAction(action)
            self.future_actions[key] = action
        self.act_fit_lanes = QAction("Fit All &Lanes", self)
        self.act_fit_lanes.setCheckable(True)
        self.act_fit_lanes.setShortcut(QKeySequence("Ctrl+Shift+L"))
        self.act_fit_lanes.toggled.connect(self.set_fit_lanes)
        menu.addAction(self.act_fit_lanes)
        for text, keys, factor in (("&Wider Lanes", "Ctrl+Shift+Right", 1.25),
                                   ("&Narrower Lanes", "Ctrl+Shift+Left", 0.8)):
            action = QAction(text, self)
            action.setShortcut(QKeySequence(keys))
            action.triggered.connect(lambda _=False, f=factor: self.widen_lanes(f))
            menu.addAction(action)
        export = menu.addAction("Export Ladder as &SVG or PNG…")
        assert export is not None
        export.triggered.connect(self.export_ladder)

    def add_go_actions(self, menu: QMenu) -> None:
        for text, keys, slot in (
                ("&Play / Pause", ["Space"], self.toggle_play),
                ("Step &Forward", ["Right"], self.step_forward),
                ("Step &Back", ["Left"], self.step_back),
                ("F&irst Packet", ["Home"], self.first),
                ("&Last Packet", ["End"], self.last),
                ("&Faster", ["+", "="], self.faster),
                ("&Slower", ["-"], self.slower)):
            action = QAction(text, self)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(slot)
            menu.addAction(action)
            self.addAction(action)

    # -- playback ---------------------------------------------------------------------
    @pyqtSlot()
    def toggle_play(self) -> None:
        self.playback.toggle()
        self._after_control()

    @pyqtSlot()
    def step_forward(self) -> None:
        c = self.playback
        if not (len(c) and c.index == len(c) - 1 and c.progress >= 1.0
                and self._leave_window(+1)):
            c.step_forward()
        self._after_control()

    @pyqtSlot()
    def step_back(self) -> None:
        if not (self.playback.index == 0 and self._leave_window(-1)):
            self.playback.step_back()
        self._after_control()

    @pyqtSlot()
    def first(self) -> None:
        if not (self._partial and len(self._members) and self._go(int(self._members[0]))):
            self.playback.first()
        self._after_control()

    @pyqtSlot()
    def last(self) -> None:
        if not (self._partial and len(self._members) and self._go(int(self._members[-1]))):
            self.playback.last()
        self._after_control()

    def _leave_window(self, step: int) -> bool:
        """At an end of a ladder that draws a window of its packets: go to the
        packet beyond it (the ladder is rebuilt around it). False: none."""
        if not self._partial or self.playback.packet < 0:
            return False
        at = int(np.searchsorted(self._members, self.playback.packet)) + step
        return 0 <= at < len(self._members) and self._go(int(self._members[at]))

    def _go(self, packet: int) -> bool:
        if packet == self.playback.packet:
            return False
        self.playback.pause()
        self.document.set_current(packet)   # _on_current moves the window to it
        return True

    @pyqtSlot()
    def faster(self) -> None:
        self.speed.setValue(self._speed_step(self.playback.faster()))

    @pyqtSlot()
    def slower(self) -> None:
        self.speed.setValue(self._speed_step(self.playback.slower()))

    @staticmethod
    def _speed_step(speed: float) -> int:
        return int(np.argmin([abs(s - speed) for s in SPEED_STEPS]))

    def play_until(self, position: int, *, land: bool = True) -> None:
        """Play on and pause at played packet ``position`` (``PlaybackCursor.play_until``)."""
        self.playback.play_until(position, land=land)
        self._after_control()

    def rewind(self) -> None:
        """Before the first packet: nothing shown landed, no packet current."""
        self.playback.rewind()
        self._landed = -1
        self.document.set_current(-1)
        self._after_control()

    def show_packet(self, index: int) -> None:
        """Select packet ``index`` and show it landed (used by ``--screenshot``)."""
        self.document.set_current(index)
        self.playback.seek_packet(index)
        self._render()

    def _after_control(self) -> None:
        self._render()
        if self.playback.running and not self._timer.isActive():
            self._timer.start()

    @pyqtSlot()
    def _on_frame(self) -> None:
        if self.playback.tick():
            self._render()
        if not self.playback.running:
            self._timer.stop()
            self._render()

    def _render(self) -> None:
        c = self.playback
        self.ladder_view.set_cursor(c.index, c.progress)
        n = len(c)
        if not self._scrubbing:
            self.scrubber.blockSignals(True)
            self.scrubber.setValue(int(SCRUB_STEPS * c.position() / (n - 1)) if n > 1 else 0)
            self.scrubber.blockSignals(False)
        self.position_label.setText(self._position_text())
        self.btn_play.setIcon(icon("pause" if c.playing else "play"))
        # Playing, a packet is current when it lands; stepping, at once: the
        # explanation then says what the counter says while the arrow flies. On a
        # path, where several are in the air at once, when it leaves.
        if c.index >= 0 and (c.progress >= 1.0 or not c.playing or c.concurrent) \
                and c.packet != self._landed:
            self._landed = c.packet
            self.document.set_current(c.packet)

    def _position_text(self) -> str:
        """Where the current packet is among the ladder's, and its frame number
        when the two differ (a conversation, a window of a long one)."""
        members, packet = self._members, self.playback.packet
        if not len(self.playback) or not len(members):
            return "no packets"
        if packet < 0:
            return f"packet 0 of {len(members):,}"
        at = int(np.searchsorted(members, packet)) + 1
        if at == packet + 1:
            return f"packet {at:,} of {len(members):,}{self._scope}"
        return f"#{packet + 1:,} · {at:,} of {len(members):,}{self._scope}"

    def _scope_text(self, window: LadderWindow) -> str:
        """" in TCP 3 of 21" (conversations) when the ladder picked one of many itself:
        short, as the playback bar is 685 px at 1366x768; the label's tooltip says
        what it means and how to choose another."""
        session = self.document.session
        a = session.analysis
        if session.conversation is not None or a is None:
            return ""
        total = len(a.tcp.connections) + len(a.udp_flows)
        shown = len(window.streams) + len(window.flows)
        if shown >= total or shown != 1:
            return ""
        name = f"TCP {window.streams[0]}" if window.streams else f"UDP {window.flows[0]}"
        return f" in {name} of {total:,}"

    def _sync_controls(self) -> None:
        enabled = len(self.playback) > 0
        for w in (self.btn_first, self.btn_back, self.btn_play, self.btn_forward,
                  self.btn_last, self.scrubber):
            w.setEnabled(enabled)
        self._render()

    @pyqtSlot()
    def _on_scrub_pressed(self) -> None:
        self._scrubbing = True

    @pyqtSlot()
    def _on_scrub_released(self) -> None:
        self._scrubbing = False
        self._render()

    @pyqtSlot(int)
    def _on_scrub(self, value: int) -> None:
        n = len(self.playback)
        if n:
            self.playback.seek_position(value / SCRUB_STEPS * (n - 1))
            self._after_control()

    @pyqtSlot(int)
    def _on_speed(self, step: int) -> None:
        speed = self.playback.set_speed(SPEED_STEPS[step])
        self.speed_label.setText(_speed_text(speed))

    @pyqtSlot(int)
    def _on_scale(self, _index: int) -> None:
        self.set_scale(str(self.scale.currentData()))

    def set_scale(self, key: str) -> None:
        if key == self.playback.scale:
            return
        self.playback.set_scale(key)
        self.scale.blockSignals(True)
        self.scale.setCurrentIndex(list(SCALES).index(key))
        self.scale.blockSignals(False)
        if hasattr(self, "scale_actions"):
            self.scale_actions[key].setChecked(True)
        if self.ladder is not None:
            self.ladder_view.set_ladder(self.ladder, self.playback.positions)
        self._render()

    def set_future_mode(self, mode: str) -> None:
        self.ladder_view.set_future_mode(mode)
        if hasattr(self, "future_actions"):
            self.future_actions[mode].setChecked(True)

    @pyqtSlot(bool)
    def set_fit_lanes(self, on: bool) -> None:
        """Every lane in view (the fit-all-lanes zoom), or back to lanes of full width."""
        self.ladder_view.set_fit_lanes(on)

    def widen_lanes(self, factor: float) -> None:
        """The horizontal zoom: more (factor > 1) or less space between lanes."""
        self.ladder_view.set_lane_zoom(self.ladder_view.gap_zoom() * factor)

    @pyqtSlot(bool)
    def _sync_fit(self, on: bool) -> None:
        for widget in (self.fit_lanes, getattr(self, "act_fit_lanes", None)):
            if widget is not None and widget.isChecked() != on:
                widget.blockSignals(True)
                widget.setChecked(on)
                widget.blockSignals(False)

    def set_absolute(self, on: bool) -> None:
        if on != self.absolute:
            self.absolute = on
            self._build_ladder()
            self._on_current(self.document.session.current)

    @property
    def ladder_pending(self) -> bool:
        """A new ladder is due (after a load, ``loaded`` follows it)."""
        return self._rebuild.isActive()

    def _built(self) -> None:
        if self._after_load:
            self._after_load = False
            self.loaded.emit()

    @pyqtSlot()
    def _build_ladder(self) -> None:
        session = self.document.session
        ladder: Ladder | None = None
        if session.analysis is not None and session.count:
            # The loader holds the lock for a batch at a time: never wait for it
            # here (the window would stall); try again a little later instead.
            if not session.lock.acquire(timeout=LOCK_WAIT_SECONDS):
                self._rebuild.start(REBUILD_MS)
                return
            try:
                window = session.ladder_window()
                ladder = session.ladder(window, absolute=self.absolute)
                self._members = session.ladder_members(window)
                self._scope = self._scope_text(window)
            finally:
                session.lock.release()
        if ladder is None:
            self.ladder = None
            self._members = np.zeros(0, dtype=np.int64)
            self.ladder_view.empty_text = NO_HOSTS_TEXT if session.count else NO_CAPTURE_TEXT
            self.ladder_view.set_ladder(None, np.zeros(0))
            self.playback.set_timestamps([], [])
            self._sync_controls()
            self._built()
            return
        self._partial = window.partial
        self.ladder = ladder
        ts = np.array([a.ts_ns for a in ladder.arrows], dtype=np.int64)
        packets = np.array([a.index for a in ladder.arrows], dtype=np.int64)
        arrivals = np.array([a.arrival_ns for a in ladder.arrows], dtype=np.int64)
        # On a path the packets fly for their transit time: the cursor needs the arrivals.
        self.playback.set_timestamps(ts, packets, arrivals if arrivals.any() else None)
        self.ladder_view.set_ladder(ladder, self.playback.positions)
        if session.path_view is not None and session.path != self._real_time_for:
            # On a path transit takes time, and real time shows it: the scale to start with.
            self._real_time_for = session.path
            self.set_scale("real")
        if session.current >= 0 and self.playback.packet < 0:
            self.playback.seek_packet(session.current)
        self._sync_controls()
        self._built()

    # -- document signals ----------------------------------------------------------------
    @pyqtSlot()
    def _on_reset(self) -> None:
        self._after_load = False   # another capture: its own load ends with its own
        self._timer.stop()
        self._landed = -1
        self.timeline.clear()
        self.explanation.clear()
        self._build_ladder()

    @pyqtSlot(int)
    def _on_grown(self, count: int) -> None:
        session = self.document.session
        if session.analysis is None:
            return
        # The timeline redraws a million markers on every extend: coalesce
        # batches (qutebrowser's throttle), except for the very first.
        if not self.timeline.has_data():
            self.timeline.set_analysis(session.analysis, count, session.kinds(), session.shown())
        elif not self._timeline_timer.isActive():
            self._timeline_timer.start()
        # A file being opened: draw the first packets at once, the rest when
        # it is loaded; a live capture: follow it, a few times a second.
        if self.ladder is None or (session.live and not self._rebuild.isActive()):
            self._rebuild.start(0 if self.ladder is None else REBUILD_MS)

    @pyqtSlot()
    def _on_timeline_due(self) -> None:
        session = self.document.session
        if session.analysis is not None and self.timeline.has_data():
            self.timeline.extend(session.count, session.kinds(), session.shown())

    @pyqtSlot()
    def _on_conversation(self) -> None:
        session = self.document.session
        if session.display_filter is not self._timeline_filter:
            # the display filter changed: the ticks are others
            self._timeline_filter = session.display_filter
            if session.analysis is not None and session.count:
                self.timeline.set_analysis(session.analysis, session.count, session.kinds(),
                                           session.shown())
                if session.current >= 0:
                    self.timeline.set_current(session.current)
        conv = session.conversation
        if conv is None:
            self.timeline.set_conversation(None)
        else:
            self.timeline.set_conversation(conv[0], conv[1])
        self._build_ladder()
        current = self.document.session.current
        if self.playback.packet < 0 and len(self._members) and current >= 0 \
                and current not in self._members:
            # every view moves to the conversation chosen, not only the ladder
            self._go(int(self._members[0]))

    @pyqtSlot(str)
    def _on_finished(self, _message: str) -> None:
        self._timeline_timer.stop()
        self._on_timeline_due()
        # the ladder in a turn of its own: with the timeline's last extend it
        # held the event loop for 80-160 ms at the end of a million packets
        self._after_load = True
        self._rebuild.start(0)

    @pyqtSlot(int)
    def _on_current(self, index: int) -> None:
        session = self.document.session
        if index < 0 or session.analysis is None:
            self.explanation.clear()
            return
        self.explanation.show_packet(session.analysis, index, absolute=self.absolute,
                                     path=session.path_view)
        self.timeline.set_current(index)
        self.ladder_view.set_selected_packet(index)
        if self.playback.packet != index:
            self._landed = index
            if not self.playback.seek_packet(index) and (session.conversation is None
                                                         or self._partial):
                # a conversation not on the ladder, or outside its window
                self._build_ladder()
                self.playback.seek_packet(index)
            self._render()

    @pyqtSlot(int)
    def _on_timeline_tab(self, index: int) -> None:
        """A graph needs height to be read: its tab takes half the stage, and
        the timeline's strip gets its own height back."""
        ladder, lower = self.splitter.sizes()
        total = ladder + lower
        if index == 0:
            if self._strip_height is not None:
                self.splitter.setSizes([total - self._strip_height, self._strip_height])
                self._strip_height = None
        elif lower < int(total * GRAPH_SHARE):
            if self._strip_height is None:
                self._strip_height = lower
            want = int(total * GRAPH_SHARE)
            self.splitter.setSizes([total - want, want])

    @pyqtSlot(int, int)
    def _on_export_range(self, first: int, last: int) -> None:
        export = getattr(self.window(), "export_range", None)
        if export is not None:
            export(first, last)

    # -- export --------------------------------------------------------------------
    @pyqtSlot()
    def export_ladder(self) -> None:
        if self.ladder is None:
            return
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export ladder", "ladder.svg",
            "SVG image (*.svg);;PNG image (*.png);;SVG, visible part only (*.svg)")
        if not path:
            return
        visible = "visible" in chosen
        try:
            if path.lower().endswith(".png"):
                self.ladder_view.export_png(path, visible_only=visible)
            else:
                self.ladder_view.export_svg(path, visible_only=visible)
        except (OSError, VisualizerError) as err:
            QMessageBox.warning(self, "Export failed", str(err))

    # -- settings ----------------------------------------------------------------------
    def restore_settings(self, s: QSettings) -> None:
        scale = str(s.value("view/scale", "log"))
        if scale in SCALES:
            self.set_scale(scale)
        future = str(s.value("view/future", "faint"))
        if future in ("faint", "hidden", "solid"):
            self.set_future_mode(future)
        step = s.value("view/speed_step", SPEED_STEPS.index(1.0), type=int)
        if 0 <= step < len(SPEED_STEPS):
            self.speed.setValue(step)

    def save_settings(self, s: QSettings) -> None:
        s.setValue("view/scale", self.playback.scale)
        s.setValue("view/future", next((k for k, a in getattr(self, "future_actions", {})
                                        .items() if a.isChecked()), "faint"))
        s.setValue("view/speed_step", self.speed.value())
