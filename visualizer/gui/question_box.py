"""The box that asks the questions about one packet, for predict mode and lessons.

One line to type into, as the terminal quiz reads one line: a number, or a
choice's text or number; ``?`` shows the hint; an empty answer skips. Enter
checks. After the last question of a packet the box emits ``answered`` and
the caller reveals the packet, then calls :meth:`QuestionBox.revealed`; the
next Enter emits ``next_requested``.

Signals:
    answered(): every question about the packet has an answer (or a skip).
    next_requested(): Enter after the packet was revealed.
"""

from __future__ import annotations

import html

from PyQt6.QtCore import Qt, pyqtSignal, pyqtSlot
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from visualizer.core.quiz.questions import Question
from visualizer.core.quiz.score import Score, feedback

HINT_REQUESTS = ("?", "hint")


class QuestionBox(QWidget):
    """Asks, checks and explains (see module docstring)."""

    answered = pyqtSignal()
    next_requested = pyqtSignal()

    def __init__(self, score: Score | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.score = score or Score()
        self.questions: list[Question] = []
        self.current = 0
        self.waiting_for_next = False
        self._said: list[str] = []
        self.prompt = QLabel()
        self.prompt.setWordWrap(True)
        self.choices = QLabel()
        self.choices.setWordWrap(True)
        self.entry = QLineEdit()
        # short enough for the pane beside a 1366 px window's ladder; Hint and Skip
        # are the buttons below, and ? or an empty Enter do the same
        self.entry.setPlaceholderText("your answer, then Enter")
        self.entry.setToolTip("Type your answer and press Enter. ? asks for a hint; "
                              "Enter on an empty line skips the question.")
        self.entry.returnPressed.connect(self._on_enter)
        self.hint_button = QPushButton("Hint")
        self.hint_button.clicked.connect(self.show_hint)
        self.skip_button = QPushButton("Skip")
        self.skip_button.clicked.connect(self.skip)
        self.feedback = QLabel()
        self.feedback.setWordWrap(True)
        self.feedback.setTextFormat(Qt.TextFormat.RichText)
        self.score_label = QLabel()
        row = QHBoxLayout()
        row.addWidget(self.hint_button)
        row.addWidget(self.skip_button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.prompt)
        layout.addWidget(self.choices)
        layout.addWidget(self.entry)
        layout.addLayout(row)
        layout.addWidget(self.feedback, 1)
        layout.addWidget(self.score_label)
        self._show_score()

    # -- asking --------------------------------------------------------------
    def ask(self, questions: list[Question]) -> None:
        """Ask ``questions`` (about one packet), one after another."""
        self.questions, self.current, self.waiting_for_next = list(questions), 0, False
        self._said = []
        self.feedback.setText("")
        self._show_question()

    @property
    def question(self) -> Question | None:
        if self.waiting_for_next or self.current >= len(self.questions):
            return None
        return self.questions[self.current]

    def _show_question(self) -> None:
        q = self.question
        if q is None:
            return
        self.prompt.setText(f"<b>{html.escape(q.prompt)}</b>")
        # a number stays with its choice when the line wraps ("8)" / "RST,ACK" did not)
        self.choices.setText("   ".join(f"{k})\u00a0{c}" for k, c in enumerate(q.choices, 1)))
        self.choices.setVisible(bool(q.choices))
        self.entry.setEnabled(True)
        self.entry.clear()
        self.entry.setFocus()
        for button in (self.hint_button, self.skip_button):
            button.setEnabled(True)

    @pyqtSlot()
    def _on_enter(self) -> None:
        if self.waiting_for_next:
            self.next_requested.emit()
            return
        text = self.entry.text().strip()
        if text.lower() in HINT_REQUESTS:
            self.show_hint()
            self.entry.clear()
            return
        self.answer(text)

    @pyqtSlot()
    def show_hint(self) -> None:
        q = self.question
        if q is not None:
            self.feedback.setText(f"Hint: {html.escape(q.hint)}")

    @pyqtSlot()
    def skip(self) -> None:
        self.answer("")

    def answer(self, text: str) -> None:
        """Check ``text`` against the current question (empty: skip)."""
        q = self.question
        if q is None:
            return
        verdict = q.check(text)
        self.score.add(q, verdict)
        self._said.append(feedback(q, verdict))
        self.current += 1
        self._show_score()
        if self.current < len(self.questions):
            self.feedback.setText(html.escape(self._said[-1]))
            self._show_question()
            return
        self.prompt.setText("<b>Watch the packet…</b>")
        self.choices.hide()
        self.entry.clear()
        self.entry.setEnabled(False)
        for button in (self.hint_button, self.skip_button):
            button.setEnabled(False)
        self.feedback.setText("<br>".join(html.escape(s) for s in self._said))
        self.answered.emit()

    def revealed(self, more: bool = True) -> None:
        """The packet is shown: Enter goes on (``more``), or this was the last."""
        self.waiting_for_next = True
        self.prompt.setText("<b>Press Enter for the next packet.</b>" if more
                            else "<b>Done.</b>")
        self.entry.setEnabled(True)
        self.entry.setFocus()

    def finish(self) -> None:
        """The end: the score and what was missed."""
        self.questions, self.waiting_for_next = [], False
        self.prompt.setText(f"<b>The end. {self.score.line}</b>")
        self.choices.hide()
        self.entry.setEnabled(False)
        for button in (self.hint_button, self.skip_button):
            button.setEnabled(False)
        self.feedback.setText("<br>".join(html.escape(s) for s in self.score.summary()))

    def _show_score(self) -> None:
        self.score_label.setText(f"Score {self.score.right} of {self.score.asked}")
