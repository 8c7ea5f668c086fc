"""Fixtures for the tests that drive the whole main window."""

from __future__ import annotations

from pathlib import Path

import pytest
from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QMessageBox

from visualizer.core.capture.privileges import check_capture
from visualizer.gui.mainwindow import MainWindow


@pytest.fixture
def messages(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Message boxes are modal; record what they would have said instead."""
    said: list[str] = []

    def record(_parent: object, title: str, text: str, *args: object) -> object:
        said.append(f"{title}: {text}")
        return QMessageBox.StandardButton.Yes

    for name in ("warning", "information", "question", "critical"):
        monkeypatch.setattr(QMessageBox, name, record)
    return said


@pytest.fixture
def window(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, messages: list[str]):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings, permission=check_capture())
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    yield win
    win.document.close()


