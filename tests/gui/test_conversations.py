"""The conversations pane: one row per TCP stream / UDP flow; selecting one filters."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from documents import open_document
from PyQt6.QtCore import QItemSelectionModel, Qt

from visualizer.core.session import Conversation as ConversationRow
from visualizer.core.tcp.testing import Capture, Conversation, write_pcap
from visualizer.gui import conversations
from visualizer.gui.conversations import (
    BYTES,
    END_A,
    END_B,
    KEY_ROLE,
    NAME,
    PACKETS,
    PROBLEMS,
    STATES,
    ConversationsModel,
    ConversationsPane,
    _made_anew,
    _new_runs,
)
from visualizer.gui.document import FIRST_BATCH, Document
from visualizer.gui.packet_table import PacketTable

SAMPLES = Path(__file__).parents[2] / "resources" / "samples"


def text(model, row: int, column: int) -> str:
    return model.data(model.index(row, column), Qt.ItemDataRole.DisplayRole)


def conversations_capture(tmp_path: Path, count: int = 2, exchanges: int = 2) -> Path:
    """``count`` TCP conversations, one after another, the last with a retransmission."""
    cap = Capture()
    for k in range(count):
        conv = Conversation(("10.0.0.1", 40000 + k), ("10.0.0.2", 8000 + k), capture=cap)
        conv.handshake()
        for _ in range(exchanges + k % 3):
            conv.c2s("PA", data=10)
            conv.s2c("A")
        if k == count - 1:
            seg = conv.c2s("PA", data=10)
            assert seg is not None
            conv.c2s("PA", data=10, seq=seg.seq)
        conv.close()
    return write_pcap(tmp_path / "convs.pcap", cap.segments)


def pane_noting_fetches(qtbot, qtmodeltester
                        ) -> tuple[Document, ConversationsPane, list[tuple[int, int | None]]]:
    """A pane over a new document whose model notes, at each fetch, its rows
    before it and the rows fetched (None: the loader was busy)."""
    doc = Document()
    pane = ConversationsPane(doc)
    qtbot.addWidget(pane)
    qtmodeltester.check(pane.model)
    fetches: list[tuple[int, int | None]] = []
    fetch = pane.model._fetch

    def noting_fetch():
        before = pane.model.rowCount()
        rows = fetch()
        fetches.append((before, None if rows is None else len(rows)))
        return rows

    pane.model._fetch = noting_fetch  # type: ignore[method-assign]
    return doc, pane, fetches


def test_tcp_sample_is_one_closed_stream(qtbot, qtmodeltester) -> None:
    doc = open_document(qtbot, SAMPLES / "tcp-handshake.pcapng")
    model = ConversationsModel(doc)
    assert model.rowCount() == 1
    assert text(model, 0, NAME) == "TCP 0"
    assert (text(model, 0, END_A), text(model, 0, END_B)) == ("127.0.0.1:37842",
                                                              "127.0.0.1:52147")
    assert text(model, 0, PACKETS) == "14"
    assert text(model, 0, BYTES) == str(6 * 64)
    assert text(model, 0, STATES) == "TIME-WAIT / CLOSED"
    assert text(model, 0, PROBLEMS) == ""
    assert model.data(model.index(0, 0), KEY_ROLE) == ("tcp", 0)
    qtmodeltester.check(model)


def test_udp_sample_is_one_flow(qtbot, qtmodeltester) -> None:
    doc = open_document(qtbot, SAMPLES / "udp-datagrams.pcapng")
    model = ConversationsModel(doc)
    assert model.rowCount() == 1
    assert (text(model, 0, NAME), text(model, 0, PACKETS)) == ("UDP 0", "10")
    qtmodeltester.check(model)


def test_selecting_a_conversation_filters_the_packet_table(qtbot, tmp_path: Path) -> None:
    doc = open_document(qtbot, conversations_capture(tmp_path))
    pane = ConversationsPane(doc)
    table = PacketTable(doc)
    qtbot.addWidget(pane)
    qtbot.addWidget(table)
    assert pane.model.rowCount() == 2
    assert not pane.show_all.isEnabled()
    total = table.model.rowCount()
    with qtbot.wait_signal(doc.conversation_changed):
        pane.view.selectRow(1)
    assert doc.session.conversation == ("tcp", 1)
    second = int(text(pane.model, 1, PACKETS))
    assert table.model.rowCount() == second < total
    assert text(pane.model, 1, PROBLEMS) == "1"
    assert pane.show_all.isEnabled() and "TCP 1" in pane.status.text()
    with qtbot.wait_signal(doc.conversation_changed):
        pane.show_all.click()
    assert doc.session.conversation is None
    assert table.model.rowCount() == total
    assert pane.view.selectionModel().selectedRows() == []


def test_the_document_filter_moves_the_selection(qtbot, tmp_path: Path) -> None:
    doc = open_document(qtbot, conversations_capture(tmp_path))
    pane = ConversationsPane(doc)
    qtbot.addWidget(pane)
    doc.set_conversation(("tcp", 0))
    assert pane.selected_key() == ("tcp", 0)
    doc.set_conversation(("tcp", 1))
    assert pane.selected_key() == ("tcp", 1)
    doc.set_conversation(None)
    assert pane.selected_key() is None
    assert doc.session.conversation is None


def test_sorting_by_packets(qtbot, tmp_path: Path) -> None:
    doc = open_document(qtbot, conversations_capture(tmp_path, count=3))
    pane = ConversationsPane(doc)
    qtbot.addWidget(pane)
    pane.view.sortByColumn(PACKETS, Qt.SortOrder.DescendingOrder)
    counts = [int(text(pane.proxy, r, PACKETS)) for r in range(3)]
    assert counts == sorted(counts, reverse=True) and len(set(counts)) == 3
    pane.view.selectRow(0)
    assert doc.session.conversation == pane.proxy.data(pane.proxy.index(0, 0), KEY_ROLE)


def test_sorted_by_number_the_list_keeps_its_own_order(qtbot, tmp_path: Path) -> None:
    """The list opens sorted by number, its model's own order: the proxy asks
    the model for no sort values (2·log2(n) Python calls a new row, a minute
    for a SYN scan's 200,000), yet the header and the order are as sorted."""
    doc = open_document(qtbot, conversations_capture(tmp_path, count=12))
    pane = ConversationsPane(doc)
    qtbot.addWidget(pane)
    header = pane.view.horizontalHeader()
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (
        NAME, Qt.SortOrder.AscendingOrder)
    assert pane.proxy.sortColumn() == -1

    def names() -> list[str]:
        return [text(pane.proxy, r, NAME) for r in range(pane.proxy.rowCount())]

    numbered = [f"TCP {k}" for k in range(12)]   # "TCP 10" after "TCP 9": by number
    assert names() == numbered
    pane.view.sortByColumn(NAME, Qt.SortOrder.DescendingOrder)
    assert names() == numbered[::-1]
    pane.view.sortByColumn(NAME, Qt.SortOrder.AscendingOrder)
    assert names() == numbered and pane.proxy.sortColumn() == -1


def test_refreshes_while_growing_and_keeps_the_selection(qtbot, qtmodeltester,
                                                         tmp_path: Path) -> None:
    path = conversations_capture(tmp_path, count=600)
    doc, pane, fetches = pane_noting_fetches(qtbot, qtmodeltester)
    picked: list[tuple[str, int]] = []

    def pick_first(count: int) -> None:
        if not picked and pane.model.rowCount():
            pane.view.selectionModel().setCurrentIndex(
                pane.proxy.index(0, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows)
            picked.append(doc.session.conversation)

    pane.model.rowsInserted.connect(lambda *_: pick_first(0))
    with qtbot.wait_signal(doc.finished, timeout=30_000):
        doc.open_file(str(path))
    assert doc.session.count > FIRST_BATCH  # it did arrive in batches
    # the last refresh follows ``finished`` in an event-loop turn of its own
    qtbot.waitUntil(lambda: pane.model.rowCount() == 600, timeout=5_000)
    assert len(doc.session.conversations()) == 600
    assert picked == [("tcp", 0)]
    assert doc.session.conversation == ("tcp", 0) == pane.selected_key()
    last = pane.model.row_of(("tcp", 599))
    assert text(pane.model, last, STATES) == "TIME-WAIT / CLOSED"
    assert text(pane.model, last, PROBLEMS) == "1"
    # looked up a few times while loading (throttled), then once at the end
    fetched = [-1 if rows is None else rows for _, rows in fetches]
    assert 2 <= len(fetched) < 20 and fetched[-1] == 600


def test_a_refresh_makes_a_few_rows_and_the_list_catches_up(qtbot, qtmodeltester,
                                                            tmp_path: Path,
                                                            monkeypatch) -> None:
    """A refresh makes at most ROWS_A_REFRESH rows; once the file is read the
    list catches up in refreshes of their own, with every conversation's
    final numbers."""
    monkeypatch.setattr(conversations, "ROWS_A_REFRESH", 40)
    path = conversations_capture(tmp_path, count=300)
    doc, pane, fetches = pane_noting_fetches(qtbot, qtmodeltester)
    with qtbot.wait_signal(doc.finished, timeout=30_000):
        doc.open_file(str(path))
    qtbot.waitUntil(lambda: pane.model.rowCount() == 300, timeout=10_000)
    assert not doc.session.conversations_behind
    made = [rows - before for before, rows in fetches if rows is not None]
    assert max(made) <= 40 and len(made) >= 300 // 40
    last = pane.model.row_of(("tcp", 299))
    assert text(pane.model, last, STATES) == "TIME-WAIT / CLOSED"
    assert text(pane.model, last, PROBLEMS) == "1"
    assert [text(pane.model, r, PACKETS) for r in range(300)] == [
        f"{c.packets:,}" for c in doc.session.conversations()]


def test_grown_bursts_are_throttled(qtbot, tmp_path: Path) -> None:
    doc = open_document(qtbot, conversations_capture(tmp_path))
    model = ConversationsModel(doc)
    calls: list[int] = []
    fetch = model._fetch
    model._fetch = lambda: calls.append(1) or fetch()  # type: ignore[method-assign]
    for _ in range(50):
        doc.grown.emit(doc.session.count)
    assert len(calls) == 0  # the model was just built: the first refresh waits
    qtbot.wait_until(lambda: len(calls) == 1, timeout=2000)
    qtbot.wait(100)
    assert len(calls) == 1


def test_a_costly_refresh_comes_less_often(qtbot, tmp_path: Path) -> None:
    """Thousands of conversations make a refresh slow: it then takes at most
    a tenth of the time, not a slice twice a second."""
    doc = open_document(qtbot, conversations_capture(tmp_path))
    model = ConversationsModel(doc)
    calls: list[float] = []
    fetch = model._fetch

    def slow_fetch():
        calls.append(time.monotonic())
        time.sleep(0.1)
        return fetch()

    model._fetch = slow_fetch  # type: ignore[method-assign]
    model.refresh()
    for _ in range(30):  # grown signals for 1.5 s
        doc.grown.emit(doc.session.count)
        qtbot.wait(50)
    # it goes on refreshing, but 1 s apart (ten times the 0.1 s a refresh takes),
    # not every REFRESH_SECONDS (0.5 s)
    assert len(calls) >= 2
    assert all(b - a >= 0.95 for a, b in itertools.pairwise(calls)), calls


def test_new_rows_are_found_at_the_end_in_the_middle_or_not_at_all() -> None:
    def row(number: int, packets: int = 1) -> ConversationRow:
        return ConversationRow("tcp", number, ("a:1", "b:2"), packets, 0, 0, 0, "")

    old = [row(0), row(2), row(4)]
    again = [old[0], row(2, packets=5), old[2]]          # one made anew, none new
    assert _new_runs(old, again) == []
    assert _made_anew(old, again) == [1]
    assert _new_runs(old, [*again, row(5), row(6)]) == [(3, 5)]
    # a display filter shows a conversation it hid before: rows in the middle
    assert _new_runs(old, [row(0), row(1), old[1], row(3), old[2], row(7)]) == [
        (1, 2), (3, 4), (5, 6)]
    udp = ConversationRow("udp", 0, ("a:1", "b:2"), 1, 0, 0, 0, "")
    both = [*old, udp]                                   # new TCP rows come before the UDP
    assert _new_runs(both, [*old, row(5), udp, ConversationRow(
        "udp", 1, ("a:1", "b:2"), 1, 0, 0, 0, "")]) == [(3, 4), (5, 6)]
    assert _new_runs(old, [old[0], old[2]]) is None      # one went away
    assert _new_runs(old, [old[1], old[0], old[2]]) is None   # moved


def test_a_screenshot_waits_for_the_list_to_catch_up(qtbot, window, tmp_path: Path,
                                                     monkeypatch) -> None:
    """``gui FILE --screenshot`` shows every conversation, not those the list
    had made when the file was read."""
    from PyQt6.QtWidgets import QApplication

    from visualizer.gui import app

    monkeypatch.setattr(conversations, "ROWS_A_REFRESH", 40)
    monkeypatch.setattr(conversations, "CATCH_UP_MS", 200)   # 7 steps: over a second
    shown: list[int] = []   # the list's rows when the window is grabbed
    grab = window.grab

    def counting_grab(*args):
        shown.append(window.conversations.model.rowCount())
        return grab(*args)

    window.grab = counting_grab
    window.open_path(str(conversations_capture(tmp_path, count=300)))
    assert app._screenshot(QApplication.instance(), window, str(tmp_path / "shot.png"),
                           None, False) == 0
    assert shown == [300]
    assert (tmp_path / "shot.png").stat().st_size > 20_000


def test_a_list_made_after_a_load_catches_up(qtbot, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(conversations, "ROWS_A_REFRESH", 40)
    doc = open_document(qtbot, conversations_capture(tmp_path, count=300))
    model = ConversationsModel(doc)
    assert model.rowCount() == 40
    qtbot.waitUntil(lambda: model.rowCount() == 300, timeout=10_000)
    assert not doc.session.conversations_behind
