"""Loaded documents that several GUI tests use."""

from __future__ import annotations

from pathlib import Path

from visualizer.gui.document import Document


def open_document(qtbot, path: Path) -> Document:
    """A Document with ``path`` loaded to the end, without a warning."""
    doc = Document()
    with qtbot.wait_signal(doc.finished, timeout=30_000) as blocker:
        doc.open_file(str(path))
    assert blocker.args == [""]
    return doc
