"""The scenario panel: pick a built-in scenario, set its parameters, record it.

A recording runs a capture process and a client/server pair and takes a
second or more, so ``ScenarioRunner`` does it in a background thread and
reports back with queued signals; the GUI thread never waits on a socket.
The panel checks the parameters with the scenario's own checks before
anything runs, so a bad value is a red line in the panel, not a traceback.
"""

from __future__ import annotations

import contextlib
import html
import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from PyQt6.QtCore import QObject, Qt, pyqtBoundSignal, pyqtSignal, pyqtSlot
from PyQt6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from visualizer.core.capture.spool import recordings_dir
from visualizer.core.errors import BadInput, CaptureNotPermitted, VisualizerError
from visualizer.core.record import (
    STAGE_CAPTURE,
    STAGE_RUN,
    STAGE_WRITE,
    RecordingCancelled,
    RecordResult,
    record,
)
from visualizer.core.traffic import Param, ParamValue, Scenario, get_scenario, list_scenarios

log = logging.getLogger(__name__)

STAGE_TEXT = {
    STAGE_CAPTURE: "starting the capture…",
    STAGE_RUN: "running the client and the server…",
    STAGE_WRITE: "writing the recording…",
}
ERROR_STYLE = "color: #c62828;"   # a red that reads on light and dark backgrounds
NOTE_STYLE = "color: #b26a00;"     # amber: a condition to know about, not an error
_INT_LIMIT = 2**31 - 1            # QSpinBox holds a C int


def recording_path(scenario: str) -> Path:
    """A new file in ``recordings_dir()``: ``<scenario>-<YYYYmmdd-HHMMSS>.pcapng``."""
    base = recordings_dir()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = base / f"{scenario}-{stamp}.pcapng"
    n = 1
    while path.exists():  # two runs within a second
        path = base / f"{scenario}-{stamp}-{n}.pcapng"
        n += 1
    return path


def _failure_text(err: VisualizerError) -> str:
    text = str(err)
    if isinstance(err, CaptureNotPermitted) and "CAP_NET_RAW" not in text:
        text = f"capture needs the CAP_NET_RAW capability: {text}"
    return text


@dataclass
class _Job:
    """One recording in the background: its cancel flag and its thread."""

    scenario: str
    cancel: threading.Event
    thread: threading.Thread | None = None


@dataclass(frozen=True)
class _Outcome:
    result: RecordResult | None = None
    error: str = ""
    cancelled: bool = False


class ScenarioRunner(QObject):
    """Records one scenario at a time with ``record()`` in a background thread.

    Recordings go to ``recordings_dir()``. A recording whose scenario
    failed (a reset, a time-out) still finishes: ``result.run.error`` says
    what went wrong.

    Signals:
        stage_changed(str): what the recording does now, as text for the user.
        finished(str): the path of the finished recording.
        failed(str): why the recording failed, one line (nothing was written).
        cancelled(): the recording was cancelled (nothing was written).
    """

    stage_changed = pyqtSignal(str)
    finished = pyqtSignal(str)
    failed = pyqtSignal(str)
    cancelled = pyqtSignal()

    # emitted from the worker thread; queued to the slots below
    _stage = pyqtSignal(object, str)
    _done = pyqtSignal(object, object)

    def __init__(self, parent: QObject | None = None, *, interface: str = "lo",
                 timeout: float = 30.0) -> None:
        super().__init__(parent)
        self.interface = interface
        self.timeout = timeout
        self.result: RecordResult | None = None  # of the last finished recording
        self._job: _Job | None = None
        self._stage.connect(self._on_stage)
        self._done.connect(self._on_done)

    @property
    def running(self) -> bool:
        return self._job is not None

    def start(self, scenario: str, values: Mapping[str, ParamValue]) -> None:
        """Record ``scenario`` with ``values``; the outcome arrives as a signal."""
        if self._job is not None:
            raise RuntimeError("a recording is already running")
        pairs = [f"{name}={value}" for name, value in values.items()]
        job = _Job(scenario, threading.Event())
        job.thread = threading.Thread(target=self._work, args=(job, pairs),
                                      name=f"record {scenario}", daemon=True)
        self._job = job
        self.result = None
        job.thread.start()

    @pyqtSlot()
    def cancel(self) -> None:
        """Ask the running recording to stop; ``cancelled`` follows."""
        if self._job is not None:
            self._job.cancel.set()

    def wait(self, timeout: float = 10.0) -> bool:
        """Block until the worker thread ends (tests, closing the window)."""
        job = self._job
        if job is None or job.thread is None:
            return True
        job.thread.join(timeout)
        return not job.thread.is_alive()

    def _work(self, job: _Job, pairs: list[str]) -> None:
        """The worker thread: one ``record()`` call, its outcome as a signal."""
        try:
            output = recording_path(job.scenario)
            result = record(job.scenario, pairs, str(output), interface=self.interface,
                            timeout=self.timeout, cancel=job.cancel,
                            on_stage=lambda stage: self._emit(self._stage, job, stage))
            outcome = _Outcome(result=result)
        except RecordingCancelled:
            outcome = _Outcome(cancelled=True)
        except VisualizerError as err:
            outcome = _Outcome(error=_failure_text(err))
        except OSError as err:  # the recordings directory itself
            outcome = _Outcome(error=f"cannot write the recording: {err}")
        except Exception as err:  # a bug: say so rather than die silently
            log.exception("recording %s failed", job.scenario)
            outcome = _Outcome(error=f"internal error while recording: {err!r}")
        self._emit(self._done, job, outcome)

    @staticmethod
    def _emit(signal: pyqtBoundSignal, *args: object) -> None:
        """Emit from the worker thread; the runner may be gone (window closed)."""
        with contextlib.suppress(RuntimeError):  # "wrapped C/C++ object ... deleted"
            signal.emit(*args)

    @pyqtSlot(object, str)
    def _on_stage(self, job: _Job, stage: str) -> None:
        if job is self._job:
            self.stage_changed.emit(STAGE_TEXT.get(stage, stage))

    @pyqtSlot(object, object)
    def _on_done(self, job: _Job, outcome: _Outcome) -> None:
        if job is not self._job:
            return
        if job.thread is not None:
            job.thread.join()  # it has emitted its last signal: ends at once
        self._job = None
        if outcome.cancelled:
            self.cancelled.emit()
        elif outcome.result is not None:
            self.result = outcome.result
            self.finished.emit(outcome.result.path)
        else:
            self.failed.emit(outcome.error)


def _description_html(text: str) -> str:
    """The scenario's description with its `names` set as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _tooltip(param: Param) -> str:
    parts = [param.help] if param.help else []
    parts.append(f"allowed: {param.allowed()}; default: {param.default}")
    return "\n".join(parts)


class ScenarioPanel(QWidget):
    """Scenario picker, its description, its parameter form, Run and Cancel.

    Signals:
        recording_finished(str): the path of a new recording, to open.
        run_failed(str): a recording failed; the panel shows the message too.
    """

    recording_finished = pyqtSignal(str)
    run_failed = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None, *,
                 runner: ScenarioRunner | None = None) -> None:
        super().__init__(parent)
        self.runner = runner or ScenarioRunner(self)
        self._scenarios = {cls.name: cls for cls in list_scenarios()}
        self._fields: dict[str, QSpinBox | QComboBox | QLineEdit] = {}
        self._saved: dict[str, dict[str, ParamValue]] = {}  # edits per scenario
        self._shown: type[Scenario] | None = None
        self._permitted = True
        self._recorded = ""        # the path the status line speaks of
        self._not_permitted_reason = ""
        self._build()
        self.runner.stage_changed.connect(self._on_stage_changed)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self._on_scenario_chosen(self.scenario_box.currentIndex())

    # -- building ------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)

        self.scenario_box = QComboBox()
        for cls in self._scenarios.values():
            self.scenario_box.addItem(cls.name, cls.name)
            self.scenario_box.setItemData(self.scenario_box.count() - 1, cls.summary,
                                          Qt.ItemDataRole.ToolTipRole)
        self.scenario_box.currentIndexChanged.connect(self._on_scenario_chosen)
        picker = QFormLayout()
        picker.addRow("Scenario:", self.scenario_box)
        layout.addLayout(picker)

        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        font = self.summary_label.font()
        font.setBold(True)
        self.summary_label.setFont(font)
        layout.addWidget(self.summary_label)

        layout.addWidget(QLabel("What to look for:"))
        self.description = QTextBrowser()
        self.description.setOpenLinks(False)
        self.description.setMinimumHeight(80)
        layout.addWidget(self.description, 1)

        self.params_box = QGroupBox("Parameters")
        params_layout = QVBoxLayout(self.params_box)
        self._form_host = QWidget()
        self.form = QFormLayout(self._form_host)
        self.form.setContentsMargins(0, 0, 0, 0)
        params_layout.addWidget(self._form_host)
        self.defaults_button = QPushButton("Defaults")
        self.defaults_button.setToolTip("Reset every parameter to its default value")
        self.defaults_button.clicked.connect(self._on_defaults_clicked)
        defaults_row = QHBoxLayout()
        defaults_row.addStretch(1)
        defaults_row.addWidget(self.defaults_button)
        params_layout.addLayout(defaults_row)
        layout.addWidget(self.params_box)

        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        layout.addWidget(self.error_label)

        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Record the scenario with capture on (Ctrl+R)")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the recording; nothing is written")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)

        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy: the stages have no measurable length
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.progress.hide()
        layout.addWidget(self.progress)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label.setSizePolicy(QSizePolicy.Policy.Preferred,
                                        QSizePolicy.Policy.Minimum)
        layout.addWidget(self.status_label)

    def _build_form(self, cls: type[Scenario]) -> None:
        """Replace the form's rows by one field per parameter of ``cls``."""
        while self.form.rowCount():
            self.form.removeRow(0)
        self._fields = {}
        for param in cls.params:
            field = self._field(param)
            field.setToolTip(_tooltip(param))
            field.setObjectName(f"param-{param.name}")
            label = QLabel(f"{param.name}:")
            label.setToolTip(_tooltip(param))
            label.setBuddy(field)
            self.form.addRow(label, field)
            self._fields[param.name] = field

    def _field(self, param: Param) -> QSpinBox | QComboBox | QLineEdit:
        field: QSpinBox | QComboBox | QLineEdit
        if param.kind == "int":
            field = QSpinBox()
            field.setRange(-_INT_LIMIT if param.minimum is None else param.minimum,
                           _INT_LIMIT if param.maximum is None else param.maximum)
            field.setGroupSeparatorShown(True)
            field.valueChanged.connect(self._on_value_changed)
        elif param.kind == "choice":
            field = QComboBox()
            field.addItems(param.choices)
            field.currentIndexChanged.connect(self._on_value_changed)
        else:
            field = QLineEdit()
            field.textChanged.connect(self._on_value_changed)
        self._set_field(field, param.default)
        return field

    @staticmethod
    def _set_field(field: QSpinBox | QComboBox | QLineEdit, value: ParamValue) -> None:
        if isinstance(field, QSpinBox):
            field.setValue(int(value))
        elif isinstance(field, QComboBox):
            field.setCurrentText(str(value))
        else:
            field.setText(str(value))

    # -- state -----------------------------------------------------------

    @property
    def scenario(self) -> type[Scenario]:
        """The scenario class chosen in the picker."""
        return get_scenario(str(self.scenario_box.currentData()))

    def values(self) -> dict[str, ParamValue]:
        """The form's values, unchecked."""
        result: dict[str, ParamValue] = {}
        for name, field in self._fields.items():
            if isinstance(field, QSpinBox):
                result[name] = field.value()
            elif isinstance(field, QComboBox):
                result[name] = field.currentText()
            else:
                result[name] = field.text()
        return result

    def select_scenario(self, name: str) -> None:
        """Show scenario ``name``; ``BadInput`` if there is none."""
        index = self.scenario_box.findData(get_scenario(name).name)
        self.scenario_box.setCurrentIndex(index)

    def show_recording(self, scenario: str, params: Mapping[str, object]) -> None:
        """Show the scenario and parameters a recording was made with, so the
        description beside it explains what is on screen and Run repeats it.

        Nothing changes while a recording runs, or for a scenario this
        version does not have; parameters it does not know are left out.
        """
        if self.runner.running:
            return
        try:
            self.select_scenario(scenario)
        except BadInput:
            return
        for name, value in params.items():
            field = self._fields.get(name)
            if field is not None and isinstance(value, int | str):
                self._set_field(field, value)
        self._check()

    def set_live(self, live: bool) -> None:
        """A live capture is on screen (or no longer): the scenario's text would
        describe packets that are not there, so it gives way to a note until the
        scenario is chosen again or a recording is opened."""
        cls = self._shown
        if live:
            self.summary_label.setText("A live capture is on screen.")
            self.description.setHtml(_description_html(
                "Its packets come from the interface, not from this scenario. Choose a "
                "scenario and press Run to record one, or open a recording."))
        elif cls is not None:
            self.summary_label.setText(cls.summary[:1].upper() + cls.summary[1:] + ".")
            self.description.setHtml(_description_html(cls.description))

    def document_opened(self, path: str) -> None:
        """Another file is on screen: "Recorded …" spoke of the last run."""
        if path != self._recorded and not self.runner.running and self._permitted:
            self._recorded = ""
            self._show_status("")

    def set_capture_permitted(self, permitted: bool, reason: str = "") -> None:
        """Enable Run only when capture works; ``reason`` says why it does not."""
        self._permitted = permitted
        self._not_permitted_reason = reason if not permitted else ""
        self._update_buttons()
        if not permitted:
            self._show_status(reason or "capture is not permitted", note=True)
        elif not self.runner.running:
            self._show_status("")

    def _check(self) -> dict[str, ParamValue] | None:
        """The checked values, or None after showing why they are bad."""
        try:
            checked = self.scenario(self.values()).values
        except BadInput as err:
            self._show_error(str(err))
            return None
        self._show_error("")
        return checked

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))

    def _show_status(self, text: str, *, note: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(NOTE_STYLE if note else "")

    def _update_buttons(self) -> None:
        running = self.runner.running
        self.run_button.setEnabled(self._permitted and not running)
        self.run_button.setToolTip(
            self._not_permitted_reason if not self._permitted
            else "Record the scenario with capture on (Ctrl+R)")
        self.cancel_button.setVisible(running)
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)
        self.scenario_box.setEnabled(not running)
        self.params_box.setEnabled(not running)

    # -- slots -----------------------------------------------------------

    @pyqtSlot()
    def run(self) -> None:
        """Record the chosen scenario, if its values are good and nothing runs."""
        if self.runner.running or not self._permitted:
            return
        values = self._check()
        if values is None:
            return
        self.runner.start(self.scenario.name, values)
        self._show_status(STAGE_TEXT[STAGE_CAPTURE])
        self._update_buttons()

    @pyqtSlot()
    def cancel(self) -> None:
        """Cancel the running recording."""
        if self.runner.running:
            self.runner.cancel()
            self.cancel_button.setEnabled(False)
            self._show_status("cancelling…")

    @pyqtSlot(int)
    def _on_scenario_chosen(self, index: int) -> None:
        if index < 0:
            return
        if self._shown is not None:
            self._saved[self._shown.name] = self.values()
        cls = self.scenario
        self._shown = cls
        self.summary_label.setText(cls.summary[:1].upper() + cls.summary[1:] + ".")
        self.description.setHtml(_description_html(cls.description))
        self._build_form(cls)
        for name, value in self._saved.get(cls.name, {}).items():
            self._set_field(self._fields[name], value)
        self._check()

    @pyqtSlot()
    def _on_defaults_clicked(self) -> None:
        if self._shown is None:
            return
        for param in self._shown.params:
            self._set_field(self._fields[param.name], param.default)
        self._check()

    @pyqtSlot()
    def _on_value_changed(self) -> None:
        if self._shown is not None and len(self._fields) == len(self._shown.params):
            self._check()  # at once, so a bad combination shows before Run

    @pyqtSlot(str)
    def _on_stage_changed(self, text: str) -> None:
        if self.cancel_button.isEnabled():  # "cancelling…" stays until the end
            self._show_status(text)

    @pyqtSlot(str)
    def _on_finished(self, path: str) -> None:
        self._update_buttons()
        result = self.runner.result
        text = f"Recorded {Path(path).name}"
        if result is not None:
            text = f"Recorded {result.packets} packets: {Path(path).name}"
            if result.stats.dropped:
                text += (f"\nThe kernel dropped {result.stats.dropped} packets: "
                         "the recording is incomplete.")
            if result.run.error is not None:
                text += (f"\nThe scenario failed: {result.run.error} "
                         "(the recording keeps what was captured).")
        self._show_status(text)
        self._recorded = path
        self.recording_finished.emit(path)

    @pyqtSlot(str)
    def _on_failed(self, message: str) -> None:
        self._update_buttons()
        self._show_status("")
        self._show_error(message)
        self.run_failed.emit(message)

    @pyqtSlot()
    def _on_cancelled(self) -> None:
        self._update_buttons()
        self._show_status("Cancelled: nothing was written.", note=True)
