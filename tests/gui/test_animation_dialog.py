"""View › Export Animation…: the progress dialog runs to the end and writes the
file, and its Cancel button stops the export with nothing written."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from PyQt6.QtCore import QSettings, QTimer
from PyQt6.QtWidgets import QApplication, QProgressDialog

from visualizer.core.capture.privileges import check_capture
from visualizer.core.ladder.build import tcp_ladder
from visualizer.core.ladder.scene import LadderScene
from visualizer.core.playback.timescale import positions
from visualizer.core.session import Session
from visualizer.gui.animation_dialog import export_animation
from visualizer.gui.mainwindow import MainWindow

HANDSHAKE = Path(__file__).parents[2] / "resources" / "samples" / "tcp-handshake.pcapng"


def handshake_scene() -> tuple[LadderScene, Session]:
    session = Session.load(str(HANDSHAKE))
    assert session.analysis is not None
    ladder = tcp_ladder(session.analysis, 0)
    return LadderScene(ladder, positions(ladder.timestamps(), "order")), session


def test_export_runs_its_progress_to_the_end(qtbot, tmp_path: Path) -> None:
    scene, session = handshake_scene()
    seen: list[int] = []

    def watch() -> None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, QProgressDialog) and widget.isVisible():
                seen.append(widget.maximum())

    timer = QTimer()
    timer.timeout.connect(watch)
    timer.start(0)
    out = tmp_path / "hs.gif"
    with session:
        assert export_animation(None, scene, session.analysis, str(out), size=(320, 240),
                                fps=2)
    timer.stop()
    assert seen and seen[0] == 14 * 3   # the bar counted the frames
    with Image.open(out) as gif:
        assert gif.size == (320, 240)


def test_cancel_writes_nothing(qtbot, tmp_path: Path) -> None:
    scene, session = handshake_scene()

    def cancel() -> None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, QProgressDialog):
                widget.cancel()

    QTimer.singleShot(0, cancel)   # runs in the dialog's first processEvents
    out = tmp_path / "hs.mp4"
    with session:
        assert not export_animation(None, scene, session.analysis, str(out), size=(320, 240),
                                    fps=2)
    assert list(tmp_path.iterdir()) == []


def test_view_menu_offers_it(qtbot, tmp_path: Path) -> None:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, permission=check_capture())
    qtbot.addWidget(window)
    texts = [a.text() for a in window.view_menu.actions()]
    assert "Export &Animation…" in texts
