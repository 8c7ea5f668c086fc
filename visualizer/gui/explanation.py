"""The explanation panel: what the current packet is and why its numbers are so."""

from __future__ import annotations

import html

from PyQt6.QtCore import QEvent, Qt
from PyQt6.QtWidgets import QFrame, QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from visualizer.core.describe.explain import explain
from visualizer.core.describe.transit import explain_on_path
from visualizer.core.flows.analysis import Analysis
from visualizer.core.path.view import PathView

TEXT_LINES = 4   # the panel's height in lines of text: longer texts scroll, the ladder stays put


class ExplanationPanel(QWidget):
    """A title and a few sentences about one packet (``visualizer.core.describe.explain``).

    Its height is fixed (TEXT_LINES lines): a panel growing and shrinking with
    each packet's text would make the ladder above it jump at every step.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        # Wrapped, it takes a line from the text below: on one line, a title with
        # IPv6 endpoints stretched a 1366 px window to 1444. What still does not
        # fit (a word wider than the panel) is cut at its edge, the tooltip has it
        # whole: as its minimum width, a 312-fragment datagram's title once made
        # the window 10,841 px wide.
        self.title.setWordWrap(True)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(2)
        self.scroller = QScrollArea()
        self.scroller.setWidget(self.text)
        self.scroller.setWidgetResizable(True)
        self.scroller.setFrameShape(QFrame.Shape.NoFrame)
        self.scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self.title)
        layout.addWidget(self.scroller, 1)
        self._fit_height()
        self.clear()

    def _fit_height(self) -> None:
        line = self.fontMetrics().lineSpacing()
        self.setFixedHeight(12 + 2 + line + 4 + TEXT_LINES * line)

    def changeEvent(self, event: QEvent | None) -> None:
        """In larger type (presenter mode) it keeps its lines: with the height of
        the normal type it showed one and a half."""
        super().changeEvent(event)
        if event is not None and event.type() == QEvent.Type.FontChange:
            self._fit_height()

    def clear(self) -> None:
        self.title.setText("<b>Nothing selected</b>")
        self.title.setToolTip("")
        self.text.setText("Run a scenario (Ctrl+R) or open a capture, then press Space to "
                          "play it or Right to step through it packet by packet.")

    def show_packet(self, analysis: Analysis, index: int, *, absolute: bool = False,
                    path: PathView | None = None) -> None:
        """Explain packet ``index``; on a ``path``, what happened to it on the way too."""
        e = (explain(analysis, index, absolute=absolute) if path is None
             else explain_on_path(analysis, path, index, absolute=absolute))
        self.title.setText(f"<b>Packet {index + 1}: {html.escape(e.title)}</b>")
        self.title.setToolTip(e.title)
        self.text.setText(html.escape(e.text).replace("\n", "<br>"))
