"""File › Open Lesson: a lesson (``core/quiz/lesson.py``) walked step by step.

The Lesson dock shows the step's text and, for a predict step, the question
box; Next (Page Down) and Back (Page Up) walk the steps, as a presenter's
remote does. Opening a lesson opens its recording, or runs its scenario
with capture on, then shows the first step. A lesson that is not right is
refused with its one line (file, line, problem) before anything opens.
"""

from __future__ import annotations

import html

from PyQt6.QtCore import QObject, Qt, pyqtSlot
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from visualizer.core.errors import BadInput
from visualizer.core.path.link import split_path_pairs
from visualizer.core.quiz.lesson import Lesson, LessonWalk, Step, load_lesson
from visualizer.core.quiz.score import Score
from visualizer.core.traffic.registry import get_scenario
from visualizer.gui.docking import show_beside_scenarios
from visualizer.gui.predict import Concealer
from visualizer.gui.question_box import QuestionBox
from visualizer.gui.resources import RESOURCES

LESSONS = RESOURCES / "lessons"


class LessonPanel(QObject):
    """The lesson walker of one main window (see module docstring)."""

    def __init__(self, window) -> None:  # the MainWindow: open_path, scenarios, stage
        super().__init__(window)
        self.window = window
        self.stage = window.stage
        self.lesson: Lesson | None = None
        self.walk: LessonWalk | None = None
        self._waiting = False          # for the lesson's recording to load
        self.asking = -1               # the played position a predict step asks about
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.where = QLabel()   # wrapped: a long summary stretched the window past 1366 px
        self.where.setWordWrap(True)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.box = QuestionBox(Score())
        self.box.hide()
        self.concealer = Concealer(self.stage, [window.docks["packets"]])
        self.back_button = QPushButton("Back")
        self.next_button = QPushButton("Next")
        widget = QWidget()
        layout = QVBoxLayout(widget)
        layout.addWidget(self.title)
        layout.addWidget(self.where)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.box, 1)
        row = QHBoxLayout()
        row.addWidget(self.back_button)
        row.addStretch(1)
        row.addWidget(self.next_button)
        layout.addLayout(row)
        self.dock = QDockWidget("Lesson", window)
        self.dock.setObjectName("dock-lesson")
        self.dock.setWidget(widget)
        window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.dock)
        self.dock.hide()
        self.act_open = QAction("Open &Lesson…", window)
        self.act_open.triggered.connect(self.open_dialog)
        self.act_next = QAction("Next Lesson Step", window)
        self.act_next.setShortcut(QKeySequence("PgDown"))
        self.act_next.triggered.connect(self.next)
        self.act_back = QAction("Previous Lesson Step", window)
        self.act_back.setShortcut(QKeySequence("PgUp"))
        self.act_back.triggered.connect(self.back)
        for action in (self.act_next, self.act_back):
            window.addAction(action)
        self.next_button.clicked.connect(self.next)
        self.back_button.clicked.connect(self.back)
        self.box.answered.connect(self._reveal)
        self.box.next_requested.connect(self.next)
        # the walk needs the ladder's packets, built a turn after the file loaded
        self.stage.loaded.connect(self._on_loaded)
        window.document.current_changed.connect(self._on_current)
        self._sync()

    # -- opening --------------------------------------------------------------------
    @pyqtSlot()
    def open_dialog(self) -> None:
        start = str(LESSONS) if LESSONS.is_dir() else ""
        path, _ = QFileDialog.getOpenFileName(self.window, "Open lesson", start,
                                              "Lessons (*.toml);;All files (*)")
        if path:
            self.open_path(path)

    def open_path(self, path: str) -> bool:
        try:
            lesson = load_lesson(path)
        except BadInput as err:
            QMessageBox.warning(self.window, "Cannot open lesson", str(err))
            return False
        return self.open(lesson)

    def open(self, lesson: Lesson) -> bool:
        """Open ``lesson``'s recording (or run its scenario); the first step follows."""
        self.lesson, self.walk, self._waiting = lesson, None, True
        self.box.score = Score()
        self.title.setText(f"<b>{html.escape(lesson.title)}</b>")
        self.where.setText(html.escape(lesson.summary))
        self.text.setText("Loading the recording…" if lesson.recording
                          else f"Running the scenario {html.escape(lesson.scenario or '')}…")
        self._show_dock()
        self._sync()
        if lesson.recording is not None:
            if not self.window.open_path(lesson.recording):
                self._waiting = False
                return False
            return True
        assert lesson.scenario is not None
        cls = get_scenario(lesson.scenario)
        own, _path = split_path_pairs(lesson.params, (p.name for p in cls.params))
        values = cls.parse_params(own)   # the window's panel runs it on loopback
        self.window.scenarios.select_scenario(lesson.scenario)
        self.window.scenarios.show_recording(lesson.scenario, values)
        self.window.scenarios.run()
        return True

    @pyqtSlot()
    def _on_loaded(self) -> None:
        if not self._waiting or self.lesson is None:
            return
        session = self.window.document.session
        if session.analysis is None or not session.count:
            return
        self._waiting = False
        try:
            self.walk = LessonWalk(self.lesson, session, self.stage.playback.packets)
        except BadInput as err:
            self.text.setText(html.escape(str(err)))
            return
        self.stage.rewind()
        self.next()

    # -- walking ------------------------------------------------------------------------
    @pyqtSlot()
    def next(self) -> None:
        walk = self.walk
        if walk is None or walk.done or self.box.question is not None:
            return
        self._go(walk.next)

    @pyqtSlot()
    def back(self) -> None:
        walk = self.walk
        if walk is None or walk.step <= 0:
            return
        self._go(walk.back, back=True)

    def _go(self, move, *, back: bool = False) -> None:
        walk = self.walk
        assert walk is not None
        cursor = self.stage.playback
        before = cursor.index
        try:
            step, questions = move()
        except BadInput as err:
            self.text.setText(f"<i>{html.escape(str(err))}</i>")
            return
        self._show(step)
        self.concealer.restore()
        self.asking = -1
        if step.action == "predict" and questions:
            self.asking = walk.asked
            self._show_position(walk.asked - 1)
            self.concealer.hide()
            self.box.show()
            self.box.ask(questions)
        elif step.action == "play_to" and not back and walk.position > max(before, -1):
            self.stage.play_until(walk.position)
        elif step.action in ("go", "play_to") or back:
            self._show_position(walk.position)
        self._sync()

    def _show_position(self, position: int) -> None:
        if position < 0:
            self.stage.rewind()
        else:
            self.stage.show_packet(int(self.stage.playback.packets[position]))

    def _show(self, step: Step) -> None:
        walk = self.walk
        assert walk is not None and self.lesson is not None
        self.where.setText(f"Step {walk.step + 1} of {len(self.lesson.steps)}")
        self.text.setText(html.escape(step.text).replace("\n", "<br>"))
        self.box.setVisible(step.action == "predict")
        if step.action != "predict":
            self.box.ask([])

    @pyqtSlot()
    def _reveal(self) -> None:
        if self.asking >= 0:
            self.stage.play_until(self.asking)
        self._sync()

    @pyqtSlot(int)
    def _on_current(self, index: int) -> None:
        cursor = self.stage.playback
        if self.asking >= 0 and self.box.question is None and self.asking < len(cursor) \
                and index == int(cursor.packets[self.asking]):
            self.concealer.restore()
            self.box.revealed(more=self.walk is not None and not self.walk.done)

    def _sync(self) -> None:
        walk = self.walk
        asking = self.box.isVisible() and self.box.question is not None
        self.next_button.setEnabled(walk is not None and not walk.done and not asking)
        self.back_button.setEnabled(walk is not None and walk.step > 0)
        self.act_next.setEnabled(self.next_button.isEnabled())
        self.act_back.setEnabled(self.back_button.isEnabled())

    def _show_dock(self) -> None:
        show_beside_scenarios(self.window, self.dock)
