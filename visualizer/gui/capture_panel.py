"""Live-capture controls: interface, BPF filter checked as it is typed, Start/Stop.

The filter is compiled with libpcap for the chosen interface's link type
about 200 ms after the last keystroke (compiling needs no privilege), so a
mistake shows while the user is still looking at it. A filter that does
not compile disables Start: capturing everything instead of what the user
asked for would be a silent surprise.

The last entry of the chooser, "Remote…", asks for a host (``RemoteDialog``)
and makes Start a capture there over ssh; its filter is then checked by
tcpdump on that host, and it needs no capture privilege here.

The panel only asks: the main window starts and stops the capture and
tells the panel with ``set_running``.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt, QTimer, pyqtSignal, pyqtSlot
from PyQt6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from visualizer.core.capture.interfaces import Interface, check_filter, list_interfaces
from visualizer.core.capture.remote import RemoteTarget
from visualizer.gui.remote_dialog import RemoteDialog

CHECK_DELAY_MS = 200
_INVALID_STYLE = "QLineEdit { border: 2px solid #c62828; border-radius: 3px; padding: 1px; }"
_VALID_STYLE = "QLineEdit { border: 2px solid #2e7d32; border-radius: 3px; padding: 1px; }"
_MESSAGE_STYLE = "color: #c62828;"
_FILTER_HINT = "BPF filter, e.g. tcp port 80 (empty: capture everything)"
REMOTE = "\0remote"   # the data of the "Remote…" entry
_REMOTE_TEXT = "Remote…"


def _interface_text(iface: Interface) -> str:
    if iface.linktype is None:
        return f"{iface.name} (unsupported)"
    return f"{iface.name} ({'up' if iface.up else 'down'})"


def _interface_tooltip(iface: Interface) -> str:
    lines = [iface.name + (" (loopback)" if iface.loopback else "")]
    lines.append("up" if iface.up else "down: no packets will arrive until it is up")
    if iface.addresses:
        lines.append("addresses: " + ", ".join(iface.addresses))
    if iface.problem:
        lines.append(iface.problem)
    return "\n".join(lines)


class CapturePanel(QWidget):
    """Interface chooser, capture filter and a Start/Stop button.

    Signals:
        start_requested(str, str): capture on this interface with this
            filter ("" = no filter, capture everything).
        remote_start_requested(object, str): capture on this RemoteTarget
            with this filter.
        stop_requested(): stop the running capture.
    """

    start_requested = pyqtSignal(str, str)
    remote_start_requested = pyqtSignal(object, str)
    stop_requested = pyqtSignal()

    def __init__(self, parent: QWidget | None = None, *,
                 interfaces: list[Interface] | None = None) -> None:
        super().__init__(parent)
        self._interfaces: list[Interface] = []
        self._running = False
        self._permitted = True
        self._not_permitted_reason = ""
        self.filter_error: str | None = None  # libpcap's message for the current filter
        self._checked: tuple[str, str] | None = None  # (interface, filter) last checked
        self.remote: RemoteTarget | None = None   # the host chosen with "Remote…"
        self.remote_dialog: RemoteDialog | None = None   # while it is open
        self._before_remote = 0   # the entry to go back to when the dialog is cancelled

        self.interface_box = QComboBox()
        self.interface_box.setToolTip("Network interface to capture on")
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("capture filter, e.g. tcp port 80")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setToolTip(_FILTER_HINT)
        self.filter_edit.setMinimumWidth(160)
        self.keep_box = QSpinBox()
        self.keep_box.setRange(0, 100_000_000)
        self.keep_box.setSingleStep(100_000)
        self.keep_box.setSpecialValueText("all packets")
        self.keep_box.setSuffix(" packets")
        self.keep_box.setToolTip(
            "Ring buffer for long captures: show only the most recent packets, so memory "
            "stays bounded however long the capture runs (the spool file on disk keeps "
            "everything). 'all packets' keeps everything in view.")
        self.start_button = QPushButton("Start")
        self.message_label = QLabel()
        self.message_label.setStyleSheet(_MESSAGE_STYLE)
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.setSizePolicy(QSizePolicy.Policy.Preferred,
                                         QSizePolicy.Policy.Minimum)
        self.message_label.hide()

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        interface_label = QLabel("&Interface:")
        interface_label.setBuddy(self.interface_box)
        filter_label = QLabel("&Filter:")
        filter_label.setBuddy(self.filter_edit)
        row.addWidget(interface_label)
        row.addWidget(self.interface_box)
        row.addWidget(filter_label)
        row.addWidget(self.filter_edit, 1)
        keep_label = QLabel("&Keep last:")
        keep_label.setBuddy(self.keep_box)
        row.addWidget(keep_label)
        row.addWidget(self.keep_box)
        row.addWidget(self.start_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(row)
        layout.addWidget(self.message_label)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(CHECK_DELAY_MS)
        self._timer.timeout.connect(self._check_filter)
        self.filter_edit.textChanged.connect(self._on_filter_edited)
        self.filter_edit.returnPressed.connect(self._on_return_pressed)
        self.interface_box.currentIndexChanged.connect(self._on_interface_chosen)
        self.interface_box.activated.connect(self._on_activated)
        self.start_button.clicked.connect(self._on_start_clicked)

        self.set_interfaces(list_interfaces() if interfaces is None else interfaces)

    # -- public ------------------------------------------------------------

    def interface(self) -> str:
        """The chosen interface's name ("" when there is none, or it is remote)."""
        data = self.interface_box.currentData()
        return str(data) if data is not None and data != REMOTE else ""

    def remote_chosen(self) -> bool:
        """The "Remote…" entry is chosen."""
        return self.interface_box.currentData() == REMOTE

    def keep_last(self) -> int:
        """Ring-buffer size in packets; 0 keeps every packet."""
        return self.keep_box.value()

    def filter_text(self) -> str:
        return self.filter_edit.text().strip()

    def set_interfaces(self, interfaces: list[Interface]) -> None:
        """Fill the chooser (keeping the current choice when it is still there)."""
        current, was_remote = self.interface(), self.remote_chosen()
        self._interfaces = list(interfaces)
        self.interface_box.blockSignals(True)
        self.interface_box.clear()
        for iface in self._interfaces:
            self.interface_box.addItem(_interface_text(iface), iface.name)
            self.interface_box.setItemData(self.interface_box.count() - 1,
                                           _interface_tooltip(iface),
                                           Qt.ItemDataRole.ToolTipRole)
        self.interface_box.addItem(self._remote_text(), REMOTE)
        self.interface_box.setItemData(self.interface_box.count() - 1,
                                       "Capture on another host, over ssh",
                                       Qt.ItemDataRole.ToolTipRole)
        wanted = REMOTE if was_remote else current
        index = self.interface_box.findData(wanted) if wanted else -1
        self.interface_box.setCurrentIndex(max(index, 0) if self._interfaces or was_remote
                                           else -1)
        self.interface_box.blockSignals(False)
        self._on_interface_chosen(self.interface_box.currentIndex())

    @pyqtSlot()
    def refresh_interfaces(self) -> None:
        """Read the interfaces again (one was added, or went up or down)."""
        self.set_interfaces(list_interfaces())

    def set_running(self, running: bool) -> None:
        """The main window says whether a capture is running now."""
        self._running = running
        self._update()

    def set_capture_permitted(self, permitted: bool, reason: str = "") -> None:
        """Enable Start only when capture works; ``reason`` says why it does not."""
        self._permitted = permitted
        self._not_permitted_reason = "" if permitted else reason
        self._update()

    @property
    def filter_valid(self) -> bool:
        """The filter as last checked compiles for the chosen interface."""
        return self.filter_error is None

    # -- checking ----------------------------------------------------------

    def _selected(self) -> Interface | None:
        index = self.interface_box.currentIndex()
        return self._interfaces[index] if 0 <= index < len(self._interfaces) else None

    @pyqtSlot()
    def _check_filter(self) -> None:
        """Compile the filter now and show the result (tcpdump checks a remote one)."""
        self._timer.stop()
        iface, text = self.interface(), self.filter_text()
        self._checked = (iface, text)
        self.filter_error = check_filter(text, iface) if iface else None
        if self.remote_chosen():
            self.filter_edit.setStyleSheet("")
            self.filter_edit.setToolTip("checked by tcpdump on the remote host at Start")
            self.message_label.hide()
            self._update()
            return
        if self.filter_error is not None:
            self.filter_edit.setStyleSheet(_INVALID_STYLE)
            self.filter_edit.setToolTip(self.filter_error)
        else:
            self.filter_edit.setStyleSheet(_VALID_STYLE if text else "")
            self.filter_edit.setToolTip(f"valid filter: captures only {text}" if text
                                        else _FILTER_HINT)
        self.message_label.setText(self.filter_error or "")
        self.message_label.setVisible(self.filter_error is not None)
        self._update()

    def _update(self) -> None:
        iface = self._selected()
        problem = ""
        if self.remote_chosen():   # no privilege needed here; tcpdump there checks the rest
            problem = "" if self.remote is not None else "choose Remote… to name a host"
        elif not self._permitted:
            problem = self._not_permitted_reason or "capture is not permitted"
        elif iface is None:
            problem = "there is no network interface to capture on"
        elif iface.linktype is None:
            problem = iface.problem
        elif self.filter_error is not None:
            problem = "fix the capture filter first: " + self.filter_error
        if self._running:
            self.start_button.setText("Stop")
            self.start_button.setEnabled(True)
            self.start_button.setToolTip("Stop the capture; the packets so far stay")
        else:
            self.start_button.setText("Start")
            self.start_button.setEnabled(not problem)
            self.start_button.setToolTip(problem or "Start capturing")
        self.interface_box.setEnabled(not self._running)
        self.filter_edit.setReadOnly(self._running)

    # -- slots -------------------------------------------------------------

    @pyqtSlot(str)
    def _on_filter_edited(self, _text: str) -> None:
        self._timer.start()  # restarts: one check after the typing pauses

    @pyqtSlot(int)
    def _on_interface_chosen(self, _index: int) -> None:
        iface = self._selected()
        if self.remote_chosen():
            self.interface_box.setToolTip("Capture on another host, over ssh")
        else:
            self._before_remote = max(self.interface_box.currentIndex(), 0)
            self.interface_box.setToolTip(_interface_tooltip(iface) if iface is not None
                                          else "no network interface found")
        self._check_filter()  # the link type may differ: check again at once

    @pyqtSlot(int)
    def _on_activated(self, _index: int) -> None:
        if self.remote_chosen():   # also when chosen again: change the host
            self.ask_remote()

    def ask_remote(self) -> None:
        """Open the "Remote…" dialog (not blocking); OK makes its host the target."""
        dialog = RemoteDialog(self, target=self.remote, bpf=self.filter_text())
        self.remote_dialog = dialog
        dialog.accepted.connect(self._on_remote_accepted)
        dialog.rejected.connect(self._on_remote_rejected)
        dialog.open()

    def _remote_text(self) -> str:
        return f"{self.remote.label()} (ssh)" if self.remote is not None else _REMOTE_TEXT

    @pyqtSlot()
    def _on_remote_accepted(self) -> None:
        dialog, self.remote_dialog = self.remote_dialog, None
        assert dialog is not None
        self.remote = dialog.target()
        self.interface_box.setItemText(self.interface_box.findData(REMOTE), self._remote_text())
        self.filter_edit.setText(dialog.filter_text())
        dialog.deleteLater()
        self._check_filter()

    @pyqtSlot()
    def _on_remote_rejected(self) -> None:
        dialog, self.remote_dialog = self.remote_dialog, None
        if dialog is not None:
            dialog.deleteLater()
        if self.remote is None:   # nothing to capture there: back to the interface before
            self.interface_box.setCurrentIndex(self._before_remote)

    @pyqtSlot()
    def request_start(self) -> None:
        """Start as the Start button would (Ctrl+K): only with a valid filter."""
        if not self._running:
            self._on_start_clicked()

    @pyqtSlot()
    def _on_return_pressed(self) -> None:
        if not self._running:  # Enter starts; it never stops a running capture
            self._on_start_clicked()

    @pyqtSlot()
    def _on_start_clicked(self) -> None:
        if self._running:
            self.stop_requested.emit()
            return
        if self._timer.isActive() or self._checked != (self.interface(), self.filter_text()):
            self._check_filter()  # typed just now: never start on an unchecked filter
        if not self.start_button.isEnabled():
            return
        if self.remote_chosen() and self.remote is not None:
            self.remote_start_requested.emit(self.remote, self.filter_text())
            return
        self.start_requested.emit(self.interface(), self.filter_text())
