"""Loaded documents that several GUI tests use."""

from __future__ import annotations

from pathlib import Path

import pytest
from PyQt6.QtCore import QSettings

from visualizer.gui.document import Document
from visualizer.gui.mainwindow import MainWindow


def open_document(qtbot, path: Path) -> Document:
    """A Document with ``path`` loaded to the end, without a warning."""
    doc = Document()
    with qtbot.wait_signal(doc.finished, timeout=30_000) as blocker:
        doc.open_file(str(path))
    assert blocker.args == [""]
    return doc


def open_in_window(qtbot, tmp_path: Path, recording: Path,
                   monkeypatch: pytest.MonkeyPatch) -> MainWindow:
    """A 1366x768 window with ``recording`` loaded."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    window = MainWindow(settings=QSettings(str(tmp_path / "s.ini"),
                                           QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    with qtbot.wait_signal(window.document.finished, timeout=20_000):
        assert window.open_path(str(recording))
    return window
