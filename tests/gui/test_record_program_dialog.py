"""Capture > Record My Program…: the dialog records real programs and opens the result."""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path

import pytest
from PyQt6.QtCore import QSettings

from visualizer.gui.record_program import ProgramEntry, RecordProgramDialog, load_recent

EXAMPLES = Path(__file__).parents[2] / "resources" / "examples" / "python"
pytestmark = pytest.mark.skipif(shutil.which("strace") is None,
                                reason="strace is not installed (.ci/setup installs it)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.capture
def test_record_my_program_opens_both_programs_calls(qtbot, window, tmp_path: Path) -> None:
    window.act_record_program.trigger()
    dialog = window.program_dialog
    assert dialog.isVisible()
    port = free_port()
    server = f"{sys.executable} tcp_server.py {port}"
    client = f"{sys.executable} tcp_client.py {port}"
    dialog.server.setText(server)
    dialog.clients.setPlainText(client)
    dialog.cwd.setText(str(EXAMPLES))
    with qtbot.waitSignal(dialog.recorded, timeout=60_000) as recorded:
        dialog.record_button.click()
    path = recorded.args[0]
    qtbot.wait_until(lambda: Path(path).name in window.windowTitle(), timeout=10_000)
    recording = window.document.session.recording
    assert recording is not None
    sides = {(call["side"], call["call"]) for call in recording.calls}
    assert {("server", "listen"), ("server", "accept4"), ("client", "connect")} <= sides
    assert [p["command"] for p in recording.programs] == [server, client]
    assert not dialog.isVisible()
    # the entry is remembered and offered the next time
    window.act_record_program.trigger()
    again = window.program_dialog
    assert again.entry() == ProgramEntry(server, (client,), str(EXAMPLES), "")
    assert again.recent.count() == 2
    again.reject()


def test_an_empty_entry_is_refused_in_the_dialog(qtbot, tmp_path: Path) -> None:
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    dialog = RecordProgramDialog(settings=settings)
    qtbot.addWidget(dialog)
    dialog.record_button.click()
    assert "Give a server command" in dialog.status.text()
    assert not dialog.runner.running and load_recent(settings) == []


@pytest.mark.capture
def test_a_server_that_never_starts_says_why(qtbot, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    dialog = RecordProgramDialog(settings=settings)
    qtbot.addWidget(dialog)
    dialog.server.setText("no-such-server-anywhere")
    dialog.clients.setPlainText("true")
    with qtbot.waitSignal(dialog.runner.failed, timeout=60_000):
        dialog.record_button.click()
    assert "no-such-server-anywhere" in dialog.status.text()
    assert "exit code" in dialog.status.text()
    assert dialog.record_button.isEnabled()
