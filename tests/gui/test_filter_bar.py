"""The display-filter bar, driven with real key presses: the table, the
ladder (and so playback), the timeline and the conversations follow it; an
invalid filter turns the bar red with the reason and is not applied."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PyQt6.QtCore import Qt

from visualizer.gui.mainwindow import MainWindow

HANDSHAKE = Path(__file__).parents[2] / "resources" / "samples" / "tcp-handshake.pcapng"


def _open(qtbot, win: MainWindow) -> None:
    with qtbot.wait_signal(win.document.finished, timeout=20_000):
        assert win.open_path(str(HANDSHAKE))


def _type(qtbot, win: MainWindow, text: str) -> None:
    edit = win.filter_bar.edit
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClick(edit, Qt.Key.Key_Delete)
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


def test_a_valid_filter_narrows_every_view_and_playback(qtbot, window: MainWindow) -> None:
    _open(qtbot, window)
    doc, stage = window.document, window.stage
    store = doc.session.store
    assert store is not None
    data = np.flatnonzero(store.column("payload_len")).tolist()   # the packets with data
    assert 0 < len(data) < 14
    assert window.packet_table.model.rowCount() == 14
    _type(qtbot, window, "tcp.len > 0")
    assert window.filter_bar.error is None
    assert window.packet_table.model.rowCount() == len(data)
    assert [window.packet_table.model.packet_index(r) for r in range(len(data))] == data
    assert stage.ladder is not None and [a.index for a in stage.ladder.arrows] == data
    assert len(stage.playback) == len(data)
    assert window.conversations.model.rowCount() == 1
    # playback steps through the matching packets only, key by key
    stage.first()
    qtbot.wait_until(lambda: doc.session.current == data[0])
    stage.ladder_view.setFocus()
    for expected in data[1:]:
        qtbot.keyClick(window, Qt.Key.Key_Right)
        qtbot.wait_until(lambda expected=expected: doc.session.current == expected,
                         timeout=5_000)
    # an empty bar shows everything again
    _type(qtbot, window, "")
    assert window.packet_table.model.rowCount() == 14
    assert stage.ladder is not None and len(stage.ladder.arrows) == 14


def test_a_filter_no_conversation_matches_empties_the_lists(qtbot, window: MainWindow) -> None:
    _open(qtbot, window)
    _type(qtbot, window, "udp")
    assert window.filter_bar.error is None
    assert window.packet_table.model.rowCount() == 0
    assert window.conversations.model.rowCount() == 0
    assert window.stage.ladder is None and len(window.stage.playback) == 0


def test_an_invalid_filter_is_red_with_the_reason_and_not_applied(qtbot,
                                                                   window: MainWindow) -> None:
    _open(qtbot, window)
    bar = window.filter_bar
    _type(qtbot, window, "tcp.flags.syn == 1")
    assert window.packet_table.model.rowCount() == 2
    _type(qtbot, window, "tcp.flags.sin == 1")
    assert bar.error == ('display filter: "tcp.flags.sin" is not a field or protocol this '
                         "app knows (column 1)")
    assert "#c62828" in bar.edit.styleSheet()
    assert bar.message.isVisible() and bar.message.text() == bar.error
    assert bar.edit.toolTip() == bar.error
    assert window.packet_table.model.rowCount() == 2   # the last valid filter stays
    # fixing it as one types clears the red at once, before Enter
    bar.edit.end(False)
    qtbot.keyClick(bar.edit, Qt.Key.Key_Backspace)
    assert bar.error is not None   # "tcp.flags.sin == " ends too early
    qtbot.keyClicks(bar.edit, "0")
    assert bar.error is not None and "tcp.flags.sin" in bar.error
    bar.edit.setCursorPosition(12)
    qtbot.keyClick(bar.edit, Qt.Key.Key_Backspace)
    qtbot.keyClicks(bar.edit, "y")
    assert bar.edit.text() == "tcp.flags.syn == 0"
    assert bar.error is None and "#2e7d32" in bar.edit.styleSheet()
    assert not bar.message.isVisible()
    qtbot.keyClick(bar.edit, Qt.Key.Key_Return)
    assert window.packet_table.model.rowCount() == 12
