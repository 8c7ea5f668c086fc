"""A recording on a path in the window: each packet once, sloped arrows, a cross
for the lost one, what happened on the way in the explanation, real time."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import can_capture
from documents import open_in_window

from visualizer.core.ladder.transit import LOST_ARROW
from visualizer.core.path.netns import missing_capabilities
from visualizer.core.record import record
from visualizer.gui.packet_table import HEADERS

pytestmark = pytest.mark.skipif(
    bool(missing_capabilities()) or shutil.which("ip") is None
    or not os.path.exists("/dev/net/tun") or not can_capture(),
    reason="recording on a path needs root (namespaces, TUN, capture)")


@pytest.fixture(scope="module")
def lost_ack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tcp-handshake over 20 ms, the client's 4th packet (an ACK) lost."""
    out = tmp_path_factory.mktemp("path") / "lost.pcapng"
    result = record("tcp-handshake", ["count=2", "rtt=20", "drop=4"], str(out))
    assert result.run.error is None
    return out


def test_the_window_shows_a_path_recording_as_textbooks_draw_it(
        qtbot, tmp_path: Path, lost_ack: Path, monkeypatch: pytest.MonkeyPatch,
        messages: list[str]) -> None:
    window = open_in_window(qtbot, tmp_path, lost_ack, monkeypatch)
    session = window.document.session
    view = session.path_view
    assert view is not None
    # each packet once: the table lists the view's rows, not both ends' copies
    assert window.packet_table.model.rowCount() == len(view.rows) < len(session.store)
    ladder = window.stage.ladder
    assert ladder is not None and "on a path" in ladder.title
    assert window.stage.playback.scale == "real"
    lost = [a for a in ladder.arrows if a.arrival_ns == LOST_ARROW]
    assert len(lost) == 1 and lost[0].why == "loss plan"
    assert all(a.arrival_ns > a.ts_ns for a in ladder.arrows if a.arrival_ns != LOST_ARROW)
    window.stage.show_packet(lost[0].index)
    qtbot.waitUntil(lambda: "Lost on the way" in window.stage.explanation.title.text())
    # Its row reads like its stream's others: flags, relative numbers, scaled window,
    # as the ladder's label has them (the receiving end's analysis never saw it).
    model = window.packet_table.model
    row = session.visible_indices().tolist().index(lost[0].index)
    cells = {HEADERS[c]: model.data(model.index(row, c)) for c in range(len(HEADERS))}
    assert cells["Flags"] == "ACK" and cells["Seq"] != ""
    assert f"seq={cells['Seq']} ack={cells['Ack']}" in lost[0].label
    assert "Win=" in cells["Info"] and f"win={cells['Info'].split('Win=')[1].split()[0]}" \
        in lost[0].label
    delivered = next(a for a in ladder.arrows if a.arrival_ns != LOST_ARROW)
    window.stage.show_packet(delivered.index)
    qtbot.waitUntil(lambda: "one-way delay is 10.0 ms"
                    in window.stage.explanation.text.text())
    assert not window.stage.ladder_view.render_image(visible_only=True).isNull()
    assert not messages
    window.document.close()


def test_playback_on_a_path_flies_packets_for_their_transit_several_at_once(
        qtbot, tmp_path: Path, lost_ack: Path, monkeypatch: pytest.MonkeyPatch,
        messages: list[str]) -> None:
    window = open_in_window(qtbot, tmp_path, lost_ack, monkeypatch)
    stage, view = window.stage, window.stage.ladder_view
    cursor = stage.playback
    assert cursor.concurrent and cursor.scale == "real"
    scene = view.scene()
    assert scene is not None
    most = 0
    for step in range(400):   # scrub through the recording, as the timer would play it
        cursor.seek_position(step / 400 * (len(cursor) - 1))
        stage._render()
        items = scene.build(view._geometry, (0, 0, 4000, 1e6), view._look)
        partial = [n for n in {i.group for i in items if i.cls == "line"}
                   if sum(1 for i in items if i.group == n and i.cls == "line") == 2]
        # An arrow partway along is one in the air: sent, not yet arrived (or lost).
        for n in partial:
            assert n <= cursor.index
        most = max(most, len(partial))
        if partial:
            assert window.document.session.current == cursor.packet
    # The handshake's ACK and the client's first data leave together, 10 ms apart from
    # arriving: a window of packets in flight, as textbooks draw it.
    assert most >= 2
    assert not messages
    window.document.close()


def test_selecting_a_packets_copy_at_the_other_end_selects_the_packet(
        qtbot, tmp_path: Path, lost_ack: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--select N or a click elsewhere may name a frame the view does not list: the
    copy captured where the packet left. It stands for the packet the view shows."""
    window = open_in_window(qtbot, tmp_path, lost_ack, monkeypatch)
    session = window.document.session
    view = session.path_view
    assert view is not None
    rows = set(view.rows.tolist())
    copies = [f for f in range(session.count) if f not in rows]
    assert copies   # each delivered packet has a copy at the sending end
    for frame in copies:
        window.document.set_current(frame)
        shown = session.current
        assert shown in rows and view.record.packet[shown] == view.record.packet[frame]
    assert "neither TCP nor UDP" not in window.stage.explanation.text.text()
    window.document.close()
