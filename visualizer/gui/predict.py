"""Predict mode (View › Predict, and its toolbar toggle): guess, then see.

Playback stops before each packet takes off and the question box asks
about it (``core.quiz``: flags, seq, ack, len, the receiver's state; for a
datagram on a path, whether it arrives). Once every question has an answer
(or a skip) the packet flies and lands, and the box says what was right and
why. Until then nothing shows the packet: the ladder hides future packets,
the packet list and the timeline are hidden, the explanation and details
still show the previous packet, and the playback keys are off. Started at
the first packet, it starts before it; elsewhere, from the next one. The end
shows the score and what was missed. Turning the mode off restores the view.
"""

from __future__ import annotations

from PyQt6.QtCore import QObject, Qt, pyqtSlot
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import QDockWidget, QMainWindow, QWidget

from visualizer.core.quiz.lesson import Lesson, LessonWalk
from visualizer.core.quiz.score import Score
from visualizer.gui.docking import show_beside_scenarios
from visualizer.gui.question_box import QuestionBox
from visualizer.gui.stage import Stage

DEFAULT_ASK = ("flags", "seq", "ack", "arrives")
_NO_LESSON = Lesson("", "", "", None, None, (), ())


class Concealer:
    """Hides whatever would show a packet before its time, and shows it all again:
    future packets on the ladder, the given docks (the packet list), the timeline,
    and the playback controls."""

    def __init__(self, stage: Stage, docks: list[QDockWidget]) -> None:
        self.stage, self.docks = stage, docks
        self._restore: dict[str, object] | None = None

    def _controls(self) -> list[QAction | QWidget]:
        s = self.stage
        return [*s.actions(), s.btn_first, s.btn_back, s.btn_play, s.btn_forward, s.btn_last,
                s.scrubber]

    def hide(self) -> None:
        if self._restore is not None:
            return
        stage = self.stage
        self._restore = {"future": stage.ladder_view.future_mode(),
                         "docks": [d for d in self.docks if d.isVisible()],
                         "timeline": stage.timeline.isVisible()}
        stage.set_future_mode("hidden")
        for dock in self.docks:
            dock.hide()
        stage.timeline.hide()
        for control in self._controls():
            control.setEnabled(False)

    def restore(self) -> None:
        if self._restore is None:
            return
        stage, saved = self.stage, self._restore
        self._restore = None
        stage.set_future_mode(str(saved["future"]))
        for dock in saved["docks"]:  # type: ignore[attr-defined]
            dock.show()
        stage.timeline.setVisible(bool(saved["timeline"]))
        for control in self._controls():
            control.setEnabled(True)


class PredictMode(QObject):
    """Predict mode for one window (see module docstring)."""

    def __init__(self, window: QMainWindow, stage: Stage,
                 hidden_docks: list[QDockWidget]) -> None:
        super().__init__(window)
        self.window, self.stage = window, stage
        self.ask_fields: tuple[str, ...] = DEFAULT_ASK
        self.concealer = Concealer(stage, hidden_docks)
        self.box = QuestionBox(Score())
        self.dock = QDockWidget("Predict", window)
        self.dock.setObjectName("dock-predict")
        self.dock.setWidget(self.box)
        window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.dock)
        self.dock.hide()
        self.action = QAction("&Predict", window)
        self.action.setCheckable(True)
        self.action.setShortcut(QKeySequence("Ctrl+P"))
        self.action.setToolTip("Predict mode: guess each packet's numbers before it is "
                               "shown (Ctrl+P)")
        self.action.toggled.connect(self.set_on)
        self.asking = -1            # the played position asked about, -1 when none
        self.box.answered.connect(self._reveal)
        self.box.next_requested.connect(self.ask_next)
        stage.document.current_changed.connect(self._on_current)
        stage.document.reset.connect(self._on_reset)

    @property
    def on(self) -> bool:
        return self.action.isChecked()

    @pyqtSlot(bool)
    def set_on(self, on: bool) -> None:
        if on != self.action.isChecked():
            self.action.setChecked(on)      # comes back here through toggled
            return
        if on:
            self._enter()
        else:
            self._leave()

    def _enter(self) -> None:
        stage = self.stage
        stage.playback.pause()
        self.concealer.hide()
        self.box.score = Score()
        self.box.ask([])
        self._show_dock()
        if stage.playback.index <= 0:   # at the first packet: predict that one too
            stage.rewind()
        self.ask_next()

    def _leave(self) -> None:
        self.asking = -1
        self.concealer.restore()
        self.dock.hide()

    @pyqtSlot()
    def ask_next(self) -> None:
        """Ask about the next packet that has questions, shown up to the one before."""
        if not self.on:
            return
        stage, session = self.stage, self.stage.document.session
        cursor = stage.playback
        if cursor.index >= 0 and cursor.progress < 1.0:
            cursor.seek(cursor.index)          # a packet in flight lands first
        walk = LessonWalk(_NO_LESSON, session, cursor.packets) if session.analysis else None
        position = cursor.index + 1
        while walk is not None and position < len(cursor):
            with session.lock:
                questions = walk.questions(int(cursor.packets[position]), self.ask_fields)
            if questions:
                break
            position += 1
        else:
            self.asking = -1
            if len(cursor):
                stage.show_packet(int(cursor.packets[-1]))
            self.box.finish()
            return
        if position > 0:
            stage.show_packet(int(cursor.packets[position - 1]))
        else:
            stage.rewind()
        self.asking = position
        self.box.ask(questions)

    @pyqtSlot()
    def _reveal(self) -> None:
        if self.asking >= 0:
            self.stage.play_until(self.asking)

    @pyqtSlot(int)
    def _on_current(self, index: int) -> None:
        cursor = self.stage.playback
        if self.on and self.asking >= 0 and self.box.question is None \
                and index == int(cursor.packets[self.asking]):
            self.box.revealed(more=self.asking < len(cursor) - 1)

    @pyqtSlot()
    def _on_reset(self) -> None:
        if self.on:
            self.action.setChecked(False)

    def _show_dock(self) -> None:
        show_beside_scenarios(self.window, self.dock)
