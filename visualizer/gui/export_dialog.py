"""File > Export: which packets, which format, where, and whether to annotate.

Annotating writes each packet's explanation as a pcapng packet comment, so
a teacher can hand the file to students who open it in Wireshark; classic
pcap has no comments, so the option is off for it.
"""

from __future__ import annotations

import os

from PyQt6.QtCore import pyqtSlot
from PyQt6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

SCOPES = ("all", "conversation", "selected")


class ExportDialog(QDialog):
    """Choose the scope (all / conversation / selected packets), format, path and comments."""

    def __init__(self, parent: QWidget | None, *, directory: str, total: int,
                 conversation: str | None, conversation_count: int, selected: int) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export packets")
        self._scope = QButtonGroup(self)
        texts = {
            "all": f"All packets ({total:,})",
            "conversation": (f"The selected conversation, {conversation} "
                             f"({conversation_count:,} packets)" if conversation
                             else "The selected conversation (none selected)"),
            "selected": f"The selected packets ({selected:,})",
        }
        enabled = {"all": total > 0, "conversation": conversation is not None,
                   "selected": selected > 0}
        box = QVBoxLayout()
        for n, scope in enumerate(SCOPES):
            button = QRadioButton(texts[scope])
            button.setEnabled(enabled[scope])
            self._scope.addButton(button, n)
            box.addWidget(button)
        preferred = "conversation" if conversation else "all"
        chosen = self._scope.button(SCOPES.index(preferred))
        if chosen is not None:
            chosen.setChecked(True)
        self.format = QComboBox()
        self.format.addItem("pcapng (keeps comments and the recording's notes)", "pcapng")
        self.format.addItem("pcap (the classic format, read by every tool)", "pcap")
        self.format.currentIndexChanged.connect(self._on_format)
        self.annotate_box = QCheckBox("Add explanations as packet comments (for Wireshark)")
        self.path = QLineEdit(os.path.join(directory, "export.pcapng"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Packets:", box)
        form.addRow("Format:", self.format)
        form.addRow("", self.annotate_box)
        form.addRow("File:", row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.resize(560, 0)
        self._sync_annotate()

    def scope(self) -> str:
        return SCOPES[max(self._scope.checkedId(), 0)]

    def chosen_format(self) -> str:
        return str(self.format.currentData())

    def annotate(self) -> bool:
        """True when each packet's explanation should go in as a packet comment."""
        return self.annotate_box.isEnabled() and self.annotate_box.isChecked()

    def _sync_annotate(self) -> None:
        pcapng = self.chosen_format() == "pcapng"
        self.annotate_box.setEnabled(pcapng)
        self.annotate_box.setToolTip(
            "Each packet gets its plain-language explanation and analysis flags as a "
            "pcapng packet comment, shown by Wireshark under \"Packet comments\"."
            if pcapng else "Classic pcap has no packet comments: choose pcapng to annotate.")

    @pyqtSlot(int)
    def _on_format(self, _index: int) -> None:
        base, ext = os.path.splitext(self.path.text())
        if ext in (".pcap", ".pcapng"):
            self.path.setText(f"{base}.{self.chosen_format()}")
        self._sync_annotate()

    @pyqtSlot()
    def _on_browse(self) -> None:
        fmt = self.chosen_format()
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path.text(),
                                              f"{fmt} files (*.{fmt});;All files (*)")
        if path:
            self.path.setText(path)
