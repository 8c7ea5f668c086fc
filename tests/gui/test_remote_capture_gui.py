"""The capture toolbar's "Remote…" entry, driven as a user would, against a real sshd."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QComboBox, QDialogButtonBox
from sshd import TestSshd, sshd_missing

from visualizer.gui.capture_panel import REMOTE, CapturePanel
from visualizer.gui.mainwindow import MainWindow

needs_sshd = pytest.mark.skipif(sshd_missing() is not None, reason=str(sshd_missing()))


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[TestSshd]:
    with TestSshd(tmp_path) as server:
        yield server


def _choose_remote(qtbot, box: QComboBox) -> None:
    for _ in range(box.count()):   # down the list to its last entry: Remote…
        qtbot.keyClick(box, Qt.Key.Key_Down)
    assert box.currentData() == REMOTE


def test_cancelling_the_remote_dialog_goes_back_to_the_interface(qtbot) -> None:
    panel = CapturePanel()
    qtbot.addWidget(panel)
    box = panel.interface_box
    before = box.itemData(box.count() - 2)   # the entry passed last on the way down
    _choose_remote(qtbot, box)
    qtbot.wait_until(lambda: panel.remote_dialog is not None)
    assert panel.remote_dialog is not None
    panel.remote_dialog.reject()
    assert panel.interface() == before and panel.remote is None
    assert panel.start_button.isEnabled() or not panel._permitted


@needs_sshd
def test_remote_entry_shows_a_live_capture(qtbot, window: MainWindow, sshd: TestSshd) -> None:
    panel = window.capture_panel
    box = panel.interface_box
    _choose_remote(qtbot, box)
    qtbot.wait_until(lambda: panel.remote_dialog is not None)
    dialog = panel.remote_dialog
    assert dialog is not None
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert ok is not None and not ok.isEnabled()   # no host yet
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        port = server.getsockname()[1]
        qtbot.keyClicks(dialog.destination_edit, "root@testhost")
        qtbot.keyClicks(dialog.interface_edit, "lo")
        dialog.filter_edit.clear()
        qtbot.keyClicks(dialog.filter_edit, f"tcp port {port}")
        qtbot.keyClicks(dialog.config_edit, sshd.config())
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
        assert panel.remote is not None and panel.remote.destination == "root@testhost"
        assert box.currentText() == "root@testhost: lo (ssh)"
        assert panel.filter_text() == f"tcp port {port}"
        assert panel.start_button.isEnabled()
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        qtbot.wait_until(lambda: window.document.session.store is not None, timeout=30_000)
        # The spool is there once tcpdump there is ready (its pcap header came).
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port)):
                server.accept()[0].close()
        qtbot.wait_until(lambda: window.document.session.count >= 9, timeout=30_000)
        assert "Live capture" in window.windowTitle()
        assert window.packet_table.model.rowCount() >= 3
        with qtbot.wait_signal(window.document.finished, timeout=30_000):
            qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)   # Stop
    assert window.document.capture_pid is None
    assert panel.start_button.text() == "Start"
