"""Captures and loaded documents that several GUI tests use."""

from __future__ import annotations

from pathlib import Path

from visualizer.core.tcp.testing import Conversation, write_pcap
from visualizer.gui.document import Document


def exchanges_pcap(path: Path, exchanges: int) -> Path:
    """One TCP connection: the handshake, then ``exchanges`` 10-byte requests,
    each acknowledged (3 + 2 × exchanges packets), written to ``path``."""
    conv = Conversation()
    conv.handshake()
    for _ in range(exchanges):
        conv.c2s("PA", data=10)
        conv.s2c("A")
    return write_pcap(path, conv.segments)


def open_document(qtbot, path: Path) -> Document:
    """A Document with ``path`` loaded to the end, without a warning."""
    doc = Document()
    with qtbot.wait_signal(doc.finished, timeout=30_000) as blocker:
        doc.open_file(str(path))
    assert blocker.args == [""]
    return doc
