"""A display filter kept while another capture opens: every view starts on a
packet the filter shows. The window selected packet 1 after loading whatever
the filter said, so the explanation told of a packet the ladder, the list and
the counter ("packet 0 of 2") did not show."""

from __future__ import annotations

from pathlib import Path

import pytest
from documents import open_in_window

from visualizer.core.filter.evaluate import DisplayFilter

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


def test_the_first_packet_selected_is_one_the_filter_shows(
        qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    window = open_in_window(qtbot, tmp_path, SAMPLES / "tcp-handshake.pcapng", monkeypatch)
    doc = window.document
    doc.set_display_filter(DisplayFilter("tcp.stream == 2"))
    with qtbot.wait_signal(doc.finished, timeout=20_000):
        assert window.open_path(str(SAMPLES / "tcp-many-clients.pcapng"))
    session = doc.session
    qtbot.waitUntil(lambda: session.current >= 0, timeout=5000)
    visible = session.visible_indices()
    assert visible is not None and 0 < len(visible) < session.count
    assert session.current == visible[0]
    qtbot.waitUntil(lambda: window.stage.playback.packet == session.current, timeout=5000)
    assert window.stage.explanation.title.text().startswith(f"<b>Packet {visible[0] + 1}:")
    assert not window.stage.position_label.text().startswith("packet 0 ")
