"""Go › Play to Next / Back to Previous, with real key presses."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt

from visualizer.core.playback.cursor import SPEED_STEPS
from visualizer.gui.mainwindow import MainWindow

SAMPLES = Path(__file__).parents[2] / "resources" / "samples"
pytestmark = pytest.mark.tshark


def tshark_frames(path: Path, display_filter: str) -> list[int]:
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", display_filter, "-T", "fields",
                          "-e", "frame.number"], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    return [int(n) for n in out.split()]


def status(window: MainWindow) -> str:
    bar = window.statusBar()
    assert bar is not None
    return bar.currentMessage()


def test_keys_play_to_each_zero_window_and_back(qtbot, window: MainWindow) -> None:
    path = SAMPLES / "tcp-zero-window.pcapng"
    zero = tshark_frames(path, "tcp.analysis.zero_window")
    assert len(zero) >= 2
    with qtbot.wait_signal(window.document.finished, timeout=20_000):
        assert window.open_path(str(path))
    doc, stage = window.document, window.stage
    stage.speed.setValue(len(SPEED_STEPS) - 1)
    stage.first()
    qtbot.wait_until(lambda: doc.session.current == 0)
    qtbot.keyClick(window, Qt.Key.Key_W)
    assert status(window).startswith(f"Playing to frame {zero[0]}")
    assert stage.playback.playing           # it plays there, packet by packet
    qtbot.wait_until(lambda: not stage.playback.running, timeout=20_000)
    assert doc.session.current == zero[0] - 1
    assert status(window) == f"Stopped at frame {zero[0]}: a zero window (zero_window)"
    qtbot.keyClick(window, Qt.Key.Key_W)
    qtbot.wait_until(lambda: not stage.playback.running, timeout=20_000)
    assert doc.session.current == zero[1] - 1
    # Shift goes back, at once
    qtbot.keyClick(window, Qt.Key.Key_W, Qt.KeyboardModifier.ShiftModifier)
    assert doc.session.current == zero[0] - 1
    assert status(window).startswith(f"Stopped at frame {zero[0]}: a zero window")
    qtbot.keyClick(window, Qt.Key.Key_W, Qt.KeyboardModifier.ShiftModifier)
    assert doc.session.current == zero[0] - 1
    assert status(window) == "Nothing before this packet to stop at: a zero window"


def test_state_change_and_reset_from_the_menu(qtbot, window: MainWindow) -> None:
    path = SAMPLES / "tcp-abort.pcapng"
    rst = tshark_frames(path, "tcp.flags.reset == 1")
    with qtbot.wait_signal(window.document.finished, timeout=20_000):
        assert window.open_path(str(path))
    stage = window.stage
    stage.speed.setValue(len(SPEED_STEPS) - 1)
    stage.first()
    window.breakpoints.actions[("rst", 1)].trigger()
    qtbot.wait_until(lambda: not stage.playback.running, timeout=20_000)
    assert window.document.session.current == rst[0] - 1
    assert "a reset (RST)" in status(window)
    # back to the last change before the reset: the ACK that ends the handshake
    window.breakpoints.actions[("state", -1)].trigger()
    assert window.document.session.current == 2
    assert status(window) == "Stopped at frame 3: a state change (SYN-RECEIVED → ESTABLISHED)"
