"""The banner that says capture is not permitted, and how to permit it."""

from __future__ import annotations

import html
import os
import sys

from PyQt6.QtCore import pyqtSignal, pyqtSlot
from PyQt6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from visualizer.core.capture.privileges import (
    CAPTURE_HELPER_NAME,
    CAPTURE_PYTHON_NAME,
    CapturePermission,
    grant_commands,
    manual_commands,
)
from visualizer.gui.resources import icon


def how_to_text(permission: CapturePermission) -> str:
    """HTML: what is missing and the ways to get it, with exact commands."""
    venv_bin = os.path.dirname(sys.executable)
    setup = "\n".join(grant_commands())
    manual = "\n".join(manual_commands())
    return (
        f"<p><b>Capturing packets needs CAP_NET_RAW.</b> {html.escape(permission.reason)}.</p>"
        "<p>Everything else works without it: open capture files, the sample "
        "recordings (File &gt; Open Sample), the ladder, the timeline and export.</p>"
        "<p><b>Recommended: give the capability to the capture helper</b>, a small "
        "program that opens the packet socket for the capture process, gives the "
        "capability up and can only capture; the window itself keeps running as you, "
        "without privileges. Run once:</p>"
        f"<pre>{html.escape(setup)}</pre>"
        "<p>then restart Packet Visualizer. It builds "
        f"<code>{html.escape(CAPTURE_HELPER_NAME)}</code> with the system's C compiler, "
        "which only root and your group may run (<code>--group GROUP</code> names another "
        "group, e.g. the students of a lab), gives it CAP_NET_RAW and checks that it "
        "captures. Without a C compiler it copies this installation's Python to "
        f"<code>{html.escape(CAPTURE_PYTHON_NAME)}</code> instead, with which any Python "
        "code can capture and also send packets. A venv that you (not root) own is "
        "refused until you add <code>--allow-user-owned</code>. "
        "<code>--remove</code> undoes it.</p>"
        "<p>The same by hand:</p>"
        f"<pre>{html.escape(manual)}</pre>"
        "<p><b>Or run the whole application as root</b> (simplest, but the whole "
        "GUI, including the code that reads packets from the network, then runs with "
        "every privilege):</p>"
        f"<pre>sudo {html.escape(venv_bin)}/visualizer\n"
        f"pkexec env DISPLAY=$DISPLAY XAUTHORITY=$XAUTHORITY "
        f"{html.escape(venv_bin)}/visualizer</pre>")


class PrivilegeBanner(QFrame):
    """A strip above the views, shown while capture is not permitted.

    Signals:
        dismissed(): the user closed it.
    """

    dismissed = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("privilegeBanner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("#privilegeBanner { background: #fff4d6; border: 1px solid #e0b84c; }"
                           "#privilegeBanner QLabel { color: #3b2a00; }")
        self._permission: CapturePermission | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        badge = QLabel()
        badge.setPixmap(icon("warning").pixmap(20, 20))
        layout.addWidget(badge)
        self.message = QLabel()
        self.message.setWordWrap(True)
        layout.addWidget(self.message, 1)
        how = QPushButton("How to enable capture…")
        how.clicked.connect(self.show_help)
        layout.addWidget(how)
        close = QPushButton("Dismiss")
        close.clicked.connect(self._on_dismiss)
        layout.addWidget(close)
        self.hide()

    def set_permission(self, permission: CapturePermission) -> None:
        self._permission = permission
        if permission.permitted:
            self.hide()
            return
        self.message.setText(
            "<b>Live capture is off:</b> it needs the CAP_NET_RAW capability. "
            "You can still open files and the sample recordings.")
        self.show()

    @pyqtSlot()
    def show_help(self) -> None:
        if self._permission is None:
            return
        dialog = QDialog(self)
        dialog.setWindowTitle("Enable packet capture")
        text = QTextBrowser()
        text.setHtml(how_to_text(self._permission))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dialog.reject)
        layout = QVBoxLayout(dialog)
        layout.addWidget(text)
        layout.addWidget(buttons)
        dialog.resize(640, 460)
        dialog.exec()

    @pyqtSlot()
    def _on_dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()
