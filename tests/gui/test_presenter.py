"""Presenter mode: large type, the ladder alone with its explanation, keys still work."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QToolBar

from visualizer.gui.mainwindow import MainWindow

SAMPLES = Path(__file__).parents[2] / "resources" / "samples"


def test_f11_presents_and_gives_everything_back(qtbot, window: MainWindow) -> None:
    window.presenter.full_screen = False          # the test's window keeps its size
    window.resize(1366, 768)
    with qtbot.wait_signal(window.document.finished, timeout=20_000):
        assert window.open_path(str(SAMPLES / "tcp-handshake.pcapng"))
    qtbot.wait_until(lambda: window.document.session.current == 0)
    stage = window.stage
    normal = stage.explanation.text.font().pointSizeF()
    visible_docks = {name for name, d in window.docks.items() if d.isVisible()}
    qtbot.keyClick(window, Qt.Key.Key_F11)
    assert window.presenter.on
    assert not any(d.isVisible() for d in window.docks.values())
    assert not window.menuBar().isVisible()
    assert not any(t.isVisible() for t in window.findChildren(QToolBar))
    assert not stage.timeline.isVisible() and stage.explanation.isVisible()
    assert stage.explanation.text.font().pointSizeF() >= 2 * normal
    assert stage.explanation.title.font().pointSizeF() >= 2 * normal
    qtbot.wait_until(lambda: stage.ladder_view.magnification() > 1.5)
    assert stage.ladder_view.horizontalScrollBar().maximum() == 0   # every lane in sight
    # the keys still work: step, a breakpoint, predict mode (its menu is hidden)
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.wait_until(lambda: window.document.session.current == 1, timeout=10_000)
    qtbot.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    assert window.predict.on
    qtbot.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    assert not window.predict.on
    # four lanes (three clients, one server) still all fit, smaller
    with qtbot.wait_signal(window.document.finished, timeout=20_000):
        assert window.open_path(str(SAMPLES / "tcp-many-clients.pcapng"))
    assert stage.ladder is not None and len(stage.ladder.lanes) == 4
    qtbot.wait_until(lambda: stage.ladder_view.horizontalScrollBar().maximum() == 0)
    # Escape (or F11) gives the window back as it was
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not window.presenter.on
    assert window.menuBar().isVisible() and stage.timeline.isVisible()
    assert {name for name, d in window.docks.items() if d.isVisible()} == visible_docks
    assert stage.explanation.text.font().pointSizeF() == normal
    assert stage.ladder_view.magnification() == 1.0
