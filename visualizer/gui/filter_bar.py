"""The display-filter bar above the packet list, as in Wireshark.

Typing checks the expression at once (``visualizer.core.filter``): the
bar turns green when it is valid and red with the reason when it is not,
as the capture filter does (``capture_panel.py``). Enter applies a valid
filter to the document (the table, the ladder and playback, the timeline
and the conversations all read the session's visible packets); an empty
bar shows every packet again. An invalid filter is never applied.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSlot
from PyQt6.QtGui import QKeySequence, QShortcut
from PyQt6.QtWidgets import QDockWidget, QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from visualizer.core.errors import BadInput
from visualizer.core.filter.evaluate import DisplayFilter
from visualizer.gui.capture_panel import _INVALID_STYLE, _MESSAGE_STYLE, _VALID_STYLE
from visualizer.gui.document import Document

_HINT = ("Display filter in Wireshark's syntax, e.g. tcp.analysis.retransmission && "
         "tcp.stream == 3 (Enter applies it; empty: every packet)")


class FilterBar(QWidget):
    """A line edit for the display filter, and the reason when it is invalid."""

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.error: str | None = None   # why the text is not a valid filter
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("display filter, e.g. tcp.port == 80 && tcp.len > 0")
        self.edit.setClearButtonEnabled(True)
        self.edit.setToolTip(_HINT)
        self.message = QLabel()
        self.message.setStyleSheet(_MESSAGE_STYLE)
        self.message.setWordWrap(True)
        self.message.hide()
        label = QLabel("Display &filter:")
        label.setBuddy(self.edit)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(label)
        row.addWidget(self.edit, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addLayout(row)
        layout.addWidget(self.message)
        self.edit.textChanged.connect(self._on_text_changed)
        self.edit.returnPressed.connect(self.apply)
        focus = QShortcut(QKeySequence("Ctrl+/"), self, context=Qt.ShortcutContext.WindowShortcut)
        focus.activated.connect(self._on_focus_requested)

    def _check(self) -> DisplayFilter | None:
        """The filter the text is (None when empty); sets ``error`` and the colours."""
        text = self.edit.text().strip()
        result: DisplayFilter | None = None
        self.error = None
        if text:
            try:
                result = DisplayFilter(text)
            except BadInput as err:
                self.error = str(err)
        self.edit.setStyleSheet(_INVALID_STYLE if self.error else _VALID_STYLE if text else "")
        self.edit.setToolTip(self.error or _HINT)
        self.message.setText(self.error or "")
        self.message.setVisible(self.error is not None)
        return result

    @pyqtSlot()
    def apply(self) -> None:
        """Apply the filter as typed (Enter); an invalid one stays red, unapplied."""
        display_filter = self._check()
        if self.error is None:
            self.document.set_display_filter(display_filter)

    @pyqtSlot(str)
    def _on_text_changed(self, _text: str) -> None:
        self._check()

    @pyqtSlot()
    def _on_focus_requested(self) -> None:
        """Ctrl+/: to the filter, bringing its dock's tab to the front first (at
        1366x768 the packet list, and the filter above it, are a tab away)."""
        dock = self.parentWidget()
        while dock is not None and not isinstance(dock, QDockWidget):
            dock = dock.parentWidget()
        if dock is not None:
            dock.show()
            dock.raise_()
        self.edit.setFocus()
        self.edit.selectAll()


def above(bar: FilterBar, widget: QWidget) -> QWidget:
    """``bar`` above ``widget`` in one widget (the packet list's dock)."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(0)
    layout.addWidget(bar)
    layout.addWidget(widget, 1)
    return box
