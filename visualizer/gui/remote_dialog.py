"""The "Remote…" dialog: where a remote capture over ssh runs.

It asks for USER@HOST, the interface there, a capture filter and, for a
lab's own set-up, an ssh config file. ssh logs in with the user's keys and
never prompts (``visualizer.core.capture.remote``); a failure to log in or
to capture there comes back as the capture's one-line reason.
"""

from __future__ import annotations

from PyQt6.QtCore import pyqtSlot
from PyQt6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from visualizer.core.capture.remote import RemoteTarget, check_destination
from visualizer.core.errors import BadInput


class RemoteDialog(QDialog):
    """USER@HOST, interface, filter and ssh config; OK only with a usable destination."""

    def __init__(self, parent: QWidget | None = None, *, target: RemoteTarget | None = None,
                 bpf: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Remote capture over ssh")
        self.destination_edit = QLineEdit(target.destination if target else "")
        self.destination_edit.setPlaceholderText("user@host or ssh://user@host:port")
        self.interface_edit = QLineEdit(target.interface or "" if target else "")
        self.interface_edit.setPlaceholderText("e.g. eth0 (empty: tcpdump's default there)")
        self.filter_edit = QLineEdit(bpf)
        self.filter_edit.setPlaceholderText("e.g. tcp port 80 (empty: everything but this ssh)")
        self.config_edit = QLineEdit(target.ssh_config or "" if target else "")
        self.config_edit.setPlaceholderText("empty: your ~/.ssh/config")
        note = QLabel("Runs tcpdump on the host over ssh with your keys (no password "
                      "prompt). Capturing there needs root or CAP_NET_RAW for tcpdump.")
        note.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("&Host:", self.destination_edit)
        form.addRow("&Interface:", self.interface_edit)
        form.addRow("&Filter:", self.filter_edit)
        form.addRow("ssh &config:", self.config_edit)
        form.addRow(note)
        form.addRow(self.buttons)
        self.destination_edit.textChanged.connect(self._on_edited)
        self._on_edited()

    def target(self) -> RemoteTarget:
        return RemoteTarget(self.destination_edit.text().strip(),
                            self.interface_edit.text().strip() or None,
                            self.config_edit.text().strip() or None)

    def filter_text(self) -> str:
        return self.filter_edit.text().strip()

    @pyqtSlot()
    def _on_edited(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        assert ok is not None
        try:
            check_destination(self.destination_edit.text().strip())
        except BadInput as err:
            ok.setEnabled(False)
            ok.setToolTip(str(err))
            return
        ok.setEnabled(True)
        ok.setToolTip("")
