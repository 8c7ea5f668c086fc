"""Capture > Record My Program…: the user's own server and clients, with their socket calls.

The dialog takes a server command, client commands (one per line), a working
directory and an optional capture filter, and records them with
``core.program.record.record_program`` in a background thread, as the
scenario panel records a scenario; the GUI thread never waits on a program.
The last entries are remembered (QSettings) and offered again in "Recent".
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from dataclasses import dataclass

from PyQt6.QtCore import QCoreApplication, QObject, QSettings, pyqtBoundSignal, pyqtSignal, pyqtSlot
from PyQt6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from visualizer.core.errors import VisualizerError
from visualizer.core.program.record import ProgramResult, record_program
from visualizer.core.record import RecordingCancelled
from visualizer.gui.scenario_panel import ERROR_STYLE, STAGE_TEXT, recording_path

log = logging.getLogger(__name__)

RECENT_KEY = "record_program/recent"
MAX_RECENT = 10
PROGRAM_STAGE_TEXT = {**STAGE_TEXT, "run": "running your server and clients…"}


@dataclass(frozen=True)
class ProgramEntry:
    """What the dialog's fields hold."""

    server: str = ""
    clients: tuple[str, ...] = ()
    cwd: str = ""
    bpf: str = ""

    def label(self) -> str:
        parts = [self.server] if self.server else []
        return " + ".join(parts + list(self.clients)) or "(empty)"

    def to_dict(self) -> dict[str, object]:
        return {"server": self.server, "clients": list(self.clients), "cwd": self.cwd,
                "filter": self.bpf}

    @classmethod
    def from_dict(cls, data: object) -> ProgramEntry | None:
        if not isinstance(data, dict):
            return None
        clients = data.get("clients")
        if not isinstance(clients, list) or not all(isinstance(c, str) for c in clients):
            return None
        fields = [data.get(k, "") for k in ("server", "cwd", "filter")]
        if not all(isinstance(f, str) for f in fields):
            return None
        return cls(str(fields[0]), tuple(clients), str(fields[1]), str(fields[2]))


def load_recent(settings: QSettings) -> list[ProgramEntry]:
    """The remembered entries, newest first (a damaged setting gives none)."""
    try:
        items = json.loads(str(settings.value(RECENT_KEY, "[]")))
    except ValueError:
        return []
    entries = [ProgramEntry.from_dict(item) for item in items] if isinstance(items, list) else []
    return [e for e in entries if e is not None]


def remember(settings: QSettings, entry: ProgramEntry) -> None:
    entries = [entry] + [e for e in load_recent(settings) if e != entry]
    settings.setValue(RECENT_KEY, json.dumps([e.to_dict() for e in entries[:MAX_RECENT]]))


class ProgramRunner(QObject):
    """Records one entry at a time in a background thread; signals as ScenarioRunner's."""

    stage_changed = pyqtSignal(str)
    finished = pyqtSignal(str)
    failed = pyqtSignal(str)
    cancelled = pyqtSignal()
    _done = pyqtSignal(object)
    _stage = pyqtSignal(str)

    def __init__(self, parent: QObject | None = None, *, interface: str = "lo") -> None:
        super().__init__(parent)
        self.interface = interface
        self.result: ProgramResult | None = None
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._done.connect(self._on_done)
        app = QCoreApplication.instance()
        if app is not None:   # quitting mid-recording: no program is left running
            app.aboutToQuit.connect(self._stop_now)
        self._stage.connect(lambda s: self.stage_changed.emit(PROGRAM_STAGE_TEXT.get(s, s)))

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, entry: ProgramEntry) -> None:
        if self._thread is not None:
            raise RuntimeError("a recording is already running")
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._work, args=(entry, self._cancel),
                                        name="record program", daemon=True)
        self._thread.start()

    @pyqtSlot()
    def cancel(self) -> None:
        self._cancel.set()

    @pyqtSlot()
    def _stop_now(self) -> None:
        self.cancel()
        self.wait()

    def wait(self, timeout: float = 30.0) -> bool:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def _work(self, entry: ProgramEntry, cancel: threading.Event) -> None:
        outcome: object
        try:
            outcome = record_program(
                entry.server or None, list(entry.clients), str(recording_path("program")),
                bpf=entry.bpf or None, cwd=entry.cwd or None, interface=self.interface,
                cancel=cancel, on_stage=lambda stage: self._emit(self._stage, stage))
        except RecordingCancelled:
            outcome = None
        except VisualizerError as err:
            outcome = str(err)
        except OSError as err:
            outcome = f"cannot record: {err}"
        except Exception as err:  # a bug: say so rather than die silently
            log.exception("recording a program failed")
            outcome = f"internal error while recording: {err!r}"
        self._emit(self._done, outcome)

    @staticmethod
    def _emit(signal: pyqtBoundSignal, *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # the runner is gone (window closed)
            signal.emit(*args)

    @pyqtSlot(object)
    def _on_done(self, outcome: object) -> None:
        if self._thread is not None:
            self._thread.join()
        self._thread = None
        if outcome is None:
            self.cancelled.emit()
        elif isinstance(outcome, ProgramResult):
            self.result = outcome
            self.finished.emit(outcome.path)
        else:
            self.failed.emit(str(outcome))


class RecordProgramDialog(QDialog):
    """The fields, Record and Cancel; ``recorded(path)`` once a recording is written."""

    recorded = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None, *, settings: QSettings,
                 interface: str = "lo") -> None:
        super().__init__(parent)
        self.setWindowTitle("Record My Program")
        self.settings = settings
        self.runner = ProgramRunner(self, interface=interface)
        self.recent = QComboBox()
        self.server = QLineEdit()
        self.server.setPlaceholderText("node server.js   (leave empty for clients only)")
        self.clients = QPlainTextEdit()
        self.clients.setPlaceholderText("node client.js   (one command per line)")
        self.clients.setFixedHeight(70)
        self.cwd = QLineEdit()
        self.cwd.setPlaceholderText("the folder the commands run in (default: this one)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.bpf = QLineEdit()
        self.bpf.setPlaceholderText("default: the ports your programs use")
        self.status = QLabel("Commands run as argument lists (no shell), traced by strace.")
        self.status.setWordWrap(True)
        self.record_button = QPushButton("Record")
        self.record_button.setDefault(True)
        self.cancel_button = QPushButton("Close")
        self.record_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self._cancel_or_close)

        form = QFormLayout()
        form.addRow("Recent:", self.recent)
        form.addRow("Server command:", self.server)
        form.addRow("Client command(s):", self.clients)
        row = QHBoxLayout()
        row.addWidget(self.cwd)
        row.addWidget(browse)
        form.addRow("Working directory:", row)
        form.addRow("Capture filter:", self.bpf)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.record_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.resize(620, self.sizeHint().height())

        self._entries = load_recent(settings)
        self.recent.addItem("(a recent entry)" if self._entries else "(none yet)")
        for entry in self._entries:
            self.recent.addItem(entry.label())
        self.recent.setEnabled(bool(self._entries))
        self.recent.currentIndexChanged.connect(self._on_recent)
        if self._entries:
            self.fill(self._entries[0])
        self.runner.stage_changed.connect(self._show)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(lambda: self._done("Cancelled: nothing was written."))

    def entry(self) -> ProgramEntry:
        clients = tuple(line.strip() for line in self.clients.toPlainText().splitlines()
                        if line.strip())
        return ProgramEntry(self.server.text().strip(), clients, self.cwd.text().strip(),
                            self.bpf.text().strip())

    def fill(self, entry: ProgramEntry) -> None:
        self.server.setText(entry.server)
        self.clients.setPlainText("\n".join(entry.clients))
        self.cwd.setText(entry.cwd)
        self.bpf.setText(entry.bpf)

    @pyqtSlot()
    def start(self) -> None:
        entry = self.entry()
        if not entry.server and not entry.clients:
            self._error("Give a server command, client commands, or both.")
            return
        remember(self.settings, entry)
        self.record_button.setEnabled(False)
        self.cancel_button.setText("Cancel")
        self._show(PROGRAM_STAGE_TEXT["capture"])
        self.runner.start(entry)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Working directory", self.cwd.text())
        if folder:
            self.cwd.setText(folder)

    def _on_recent(self, index: int) -> None:
        if 1 <= index <= len(self._entries):
            self.fill(self._entries[index - 1])

    def _cancel_or_close(self) -> None:
        if self.runner.running:
            self.runner.cancel()
        else:
            self.reject()

    def _show(self, text: str) -> None:
        self.status.setStyleSheet("")
        self.status.setText(text)

    def _error(self, text: str) -> None:
        self.status.setStyleSheet(ERROR_STYLE)
        self.status.setText(text)

    def _done(self, text: str) -> None:
        self.record_button.setEnabled(True)
        self.cancel_button.setText("Close")
        self._show(text)

    @pyqtSlot(str)
    def _on_finished(self, path: str) -> None:
        result = self.runner.result
        self._done(f"Recorded {path}")
        if result is not None and result.problems:
            self._error(" ".join(result.problems))
        self.recorded.emit(path)
        if result is None or not result.problems:
            self.accept()

    @pyqtSlot(str)
    def _on_failed(self, message: str) -> None:
        self._done("")
        self._error(message)

    def reject(self) -> None:
        if self.runner.running:   # Escape or the close button while recording: cancel first
            self.runner.cancel()
            self.runner.wait()
        super().reject()
