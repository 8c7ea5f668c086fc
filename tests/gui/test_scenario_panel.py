"""The scenario panel: its form, its checks, and real recordings in the background."""

from __future__ import annotations

import shutil
import stat
import sys
import threading
import time
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QComboBox, QSpinBox

from visualizer.core.decode.headers import PROTO_TCP
from visualizer.core.decode.store import PacketStore
from visualizer.core.pcap.recording import RecordingInfo
from visualizer.core.traffic import get_scenario
from visualizer.gui import scenario_panel
from visualizer.gui.scenario_panel import ScenarioPanel, ScenarioRunner

RUN_TIMEOUT_MS = 20_000


@pytest.fixture
def recordings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Recordings go to a temporary data directory."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    return tmp_path / "packet-visualizer" / "recordings"


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def _panel(qtbot) -> ScenarioPanel:
    panel = ScenarioPanel()
    qtbot.addWidget(panel)  # not shown: the offscreen platform warns on show()
    return panel


def test_tcp_handshake_form_has_a_field_per_parameter(qtbot) -> None:
    panel = _panel(qtbot)
    assert panel.scenario_box.currentText() == "tcp-handshake"
    cls = get_scenario("tcp-handshake")
    assert panel.summary_label.text().lower().startswith(cls.summary.lower())
    assert "three-way" in panel.summary_label.text()
    assert "SYN-ACK" in panel.description.toPlainText()
    assert panel.description.isReadOnly()
    assert list(panel._fields) == [p.name for p in cls.params] == ["count", "size", "port",
                                                                     "family"]
    for param in cls.params:
        field = panel._fields[param.name]
        assert param.help in field.toolTip()
        assert param.allowed() in field.toolTip()
        if param.kind == "int":
            assert isinstance(field, QSpinBox)
            assert (field.minimum(), field.maximum()) == (param.minimum, param.maximum)
            assert field.value() == param.default
    count = panel._fields["count"]
    assert isinstance(count, QSpinBox) and (count.minimum(), count.maximum()) == (0, 10_000)
    assert count.value() == 3
    family = panel._fields["family"]
    assert isinstance(family, QComboBox)
    assert [family.itemText(i) for i in range(family.count())] == ["ipv4", "ipv6"]
    assert family.currentText() == "ipv4"
    assert panel.values() == {"count": 3, "size": 64, "port": 0, "family": "ipv4"}
    assert panel.run_button.isEnabled() and not panel.cancel_button.isVisibleTo(panel)


def test_choosing_udp_datagrams_rebuilds_the_form(qtbot) -> None:
    panel = _panel(qtbot)
    old_count = panel._fields["count"]
    panel.scenario_box.setCurrentIndex(panel.scenario_box.findText("udp-datagrams"))
    count = panel._fields["count"]
    assert count is not old_count
    assert isinstance(count, QSpinBox)
    assert (count.maximum(), count.value()) == (100_000, 5)
    assert "echoed" in count.toolTip()
    assert "no handshake" in panel.description.toPlainText()
    assert panel.form.rowCount() == len(get_scenario("udp-datagrams").params)


def test_edits_survive_switching_scenarios_and_defaults_resets_them(qtbot) -> None:
    panel = _panel(qtbot)
    count = panel._fields["count"]
    assert isinstance(count, QSpinBox)
    count.setValue(7)
    panel.select_scenario("udp-datagrams")
    panel.select_scenario("tcp-handshake")
    assert panel.values()["count"] == 7
    panel.defaults_button.click()
    assert panel.values() == {"count": 3, "size": 64, "port": 0, "family": "ipv4"}


def test_a_value_the_scenario_refuses_shows_its_message_and_does_not_run(
        qtbot, recordings: Path) -> None:
    panel = _panel(qtbot)
    panel.select_scenario("udp-datagrams")
    size = panel._fields["size"]
    family = panel._fields["family"]
    assert isinstance(size, QSpinBox) and isinstance(family, QComboBox)
    family.setCurrentText("ipv6")
    size.setValue(65_520)  # fits IPv6, not IPv4
    assert not panel.error_label.isVisibleTo(panel)
    family.setCurrentText("ipv4")
    with qtbot.assert_not_emitted(panel.runner.stage_changed, wait=300):
        panel.run_button.click()
    assert not panel.runner.running
    assert panel.error_label.isVisibleTo(panel)
    assert "too big for ipv4" in panel.error_label.text()
    assert "Traceback" not in panel.error_label.text()
    assert _files(recordings) == []
    size.setValue(100)
    assert not panel.error_label.isVisibleTo(panel)


def test_capture_not_permitted_disables_run_with_the_reason(qtbot, recordings: Path) -> None:
    panel = _panel(qtbot)
    panel.set_capture_permitted(False, "capture needs CAP_NET_RAW: see the README")
    assert not panel.run_button.isEnabled()
    assert "CAP_NET_RAW" in panel.run_button.toolTip()
    assert "CAP_NET_RAW" in panel.status_label.text()
    panel.run()  # Ctrl+R in the main window
    assert not panel.runner.running
    panel.set_capture_permitted(True, "")
    assert panel.run_button.isEnabled() and panel.status_label.text() == ""


@pytest.mark.capture
def test_running_tcp_handshake_records_it(qtbot, recordings: Path) -> None:
    panel = _panel(qtbot)
    stages: list[str] = []
    panel.runner.stage_changed.connect(stages.append)
    with qtbot.wait_signal(panel.recording_finished, timeout=RUN_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
        assert panel.runner.running
        assert not panel.run_button.isEnabled()
        assert panel.cancel_button.isVisibleTo(panel) and panel.progress.isVisibleTo(panel)
        panel.run()  # a second run while one is going is ignored
    (path,) = blocker.args
    assert Path(path).parent == recordings
    assert Path(path).name.startswith("tcp-handshake-") and path.endswith(".pcapng")
    assert _files(recordings) == [Path(path).name]  # no spool left beside it
    assert stages == ["starting the capture…", "running the client and the server…",
                      "writing the recording…"]
    store = PacketStore.from_file(path)
    try:
        protos = store.column("proto")
        assert len(store) == 14  # handshake, 3 exchanges with their ACKs, close
        assert (protos == PROTO_TCP).all()
        info = RecordingInfo.from_capture(store.capture)
        assert info is not None and info.scenario == "tcp-handshake"
    finally:
        store.close()
    assert "14 packets" in panel.status_label.text()
    assert panel.run_button.isEnabled() and not panel.cancel_button.isVisibleTo(panel)
    assert not panel.error_label.isVisibleTo(panel)


@pytest.mark.capture
def test_cancel_during_a_run_leaves_no_file(qtbot, recordings: Path) -> None:
    panel = _panel(qtbot)
    panel.select_scenario("udp-datagrams")
    count = panel._fields["count"]
    assert isinstance(count, QSpinBox)
    count.setValue(100_000)  # seconds of traffic
    with qtbot.wait_signal(panel.runner.stage_changed, timeout=RUN_TIMEOUT_MS,
                           check_params_cb=lambda text: text.startswith("running")):
        panel.run()
    with qtbot.assert_not_emitted(panel.recording_finished), \
            qtbot.wait_signal(panel.runner.cancelled, timeout=RUN_TIMEOUT_MS):
        clicked = time.monotonic()
        panel.cancel_button.click()
        assert panel.status_label.text() == "cancelling…"
    # The sides are aborted mid-run, not left to send their 100,000 datagrams.
    assert time.monotonic() - clicked < 3.0
    assert _files(recordings) == []
    assert panel.run_button.isEnabled()
    assert panel.status_label.text().startswith("Cancelled")
    assert not [t for t in threading.enumerate() if t.name.startswith("record ")]


def test_cancel_before_the_capture_starts(qtbot, recordings: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # record() checks the flag before it starts the capture process, so this
    # needs no capture privilege: the outcome is "cancelled", never "failed".
    release = threading.Event()
    real_recording_path = scenario_panel.recording_path

    def held_recording_path(scenario: str) -> Path:
        assert release.wait(10)  # the worker waits here until the flag is set
        return real_recording_path(scenario)

    monkeypatch.setattr(scenario_panel, "recording_path", held_recording_path)
    runner = ScenarioRunner()
    with qtbot.wait_signal(runner.cancelled, timeout=RUN_TIMEOUT_MS), \
            qtbot.assert_not_emitted(runner.failed), \
            qtbot.assert_not_emitted(runner.stage_changed):
        runner.start("tcp-handshake", {"count": 1})
        assert runner.running
        runner.cancel()
        release.set()
    assert runner.wait() and not runner.running and runner.result is None
    assert _files(recordings) == []


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv is not installed")
def test_without_cap_net_raw_the_failure_says_so(qtbot, recordings: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # The capture process is started with sys.executable: run it without the capability.
    wrapper = tmp_path / "python-without-net-raw"
    wrapper.write_text("#!/bin/sh\nexec setpriv --inh-caps=-net_raw --bounding-set=-net_raw "
                       f"-- {sys.executable} \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(sys, "executable", str(wrapper))
    panel = _panel(qtbot)
    with qtbot.wait_signal(panel.run_failed, timeout=RUN_TIMEOUT_MS) as blocker:
        panel.run()
    (message,) = blocker.args
    assert "CAP_NET_RAW" in message
    assert "\n" not in message and "Traceback" not in message
    assert panel.error_label.text() == message and panel.error_label.isVisibleTo(panel)
    assert panel.run_button.isEnabled() and not panel.progress.isVisibleTo(panel)
    assert _files(recordings) == []
