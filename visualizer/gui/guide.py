"""The user guide, shown inside the window (Help > User Guide, F1).

The guide is docs/user-guide.md beside the program: Qt renders its
Markdown, pictures included (their paths are relative to docs/). Without
the file (an installation without docs), the quick start is shown instead.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import QUrl
from PyQt6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

QUICK_START = """# Quick start

1. Pick a scenario on the left (tcp-handshake) and press **Run** (Ctrl+R).
2. Press **Space** to play: watch the SYN, SYN-ACK and ACK travel between the
   client and server lanes.
3. **Left**/**Right** step one packet; the explanation says why each number is
   what it is.
4. Click a field in Packet details to see its bytes highlighted.
5. **File > Export** (Ctrl+E) writes the conversation for Wireshark.
"""


class GuideDialog(QDialog):
    """A window with the guide, rendered, its links followed inside it."""

    def __init__(self, guide: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Packet Visualizer — User Guide")
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        if guide.is_file():
            self.browser.setSearchPaths([str(guide.parent)])
            self.browser.setSource(QUrl.fromLocalFile(str(guide)))
        else:
            self.browser.setMarkdown(QUICK_START)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser, 1)
        layout.addWidget(buttons)
        if parent is not None:
            self.resize(min(900, parent.width()), int(parent.height() * 0.85))
