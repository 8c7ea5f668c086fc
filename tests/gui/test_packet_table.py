"""The packet table: cells from the columns, colours by kind, selection and growth."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from captures import exchanges_pcap
from documents import open_document
from PyQt6.QtCore import QItemSelectionModel, Qt
from PyQt6.QtGui import QColor, QPalette

from visualizer.core.describe.kinds import KINDS
from visualizer.core.tcp.testing import Capture, Conversation, write_pcap
from visualizer.gui.document import FIRST_BATCH, Document
from visualizer.gui.packet_table import (
    ACK,
    FLAGS,
    INFO,
    LEN,
    LOAD_APPEND_SECONDS,
    NUMBER,
    PACKET_INDEX_ROLE,
    PROTOCOL,
    SEQ,
    SOURCE,
    TIME,
    PacketTable,
    PacketTableModel,
)

SAMPLES = Path(__file__).parents[2] / "resources" / "samples"
DISPLAY = Qt.ItemDataRole.DisplayRole


def cell(model: PacketTableModel, row: int, column: int,
         role: int = DISPLAY) -> object:
    return model.data(model.index(row, column), role)


def two_conversations(tmp_path: Path, exchanges: int = 3) -> Path:
    """Two interleaved TCP conversations on different ports."""
    cap = Capture()
    a = Conversation(("10.0.0.1", 40000), ("10.0.0.2", 8000), capture=cap)
    b = Conversation(("10.0.0.1", 40001), ("10.0.0.2", 9000), capture=cap)
    a.handshake()
    b.handshake()
    for _ in range(exchanges):
        a.c2s("PA", data=10)
        b.c2s("PA", data=20)
        a.s2c("A")
        b.s2c("A")
    a.close()
    b.close()
    return write_pcap(tmp_path / "two.pcap", cap.segments)


@pytest.fixture
def handshake(qtbot) -> tuple[Document, PacketTable]:
    doc = open_document(qtbot, SAMPLES / "tcp-handshake.pcapng")
    table = PacketTable(doc)
    qtbot.addWidget(table)
    table.resize(1000, 400)
    table.show()
    return doc, table


def test_rows_show_the_recorded_handshake(handshake) -> None:
    _doc, table = handshake
    m = table.model
    assert m.rowCount() == 14
    row0 = [cell(m, 0, c) for c in range(m.columnCount())]
    assert row0[NUMBER] == "1" and row0[PROTOCOL] == "TCP"
    assert row0[SOURCE] == "127.0.0.1:37842"
    assert (row0[FLAGS], row0[SEQ], row0[ACK], row0[LEN]) == ("SYN", "0", "", "0")
    assert "[SYN]" in str(row0[INFO])
    assert cell(m, 1, FLAGS) == "SYN, ACK" and cell(m, 1, ACK) == "1"
    assert cell(m, 3, LEN) == "64"
    assert cell(m, 5, 0, PACKET_INDEX_ROLE) == 5
    assert m.headerData(SEQ, Qt.Orientation.Horizontal) == "Seq"


def test_rows_are_coloured_by_kind(handshake) -> None:
    _doc, table = handshake
    m = table.model
    background = Qt.ItemDataRole.BackgroundRole
    syn, synack, ack, data, fin = (cell(m, r, INFO, background) for r in (0, 1, 2, 3, 11))
    assert isinstance(syn, QColor)
    assert len({c.name() for c in (syn, synack, ack, data, fin)}) == 5  # type: ignore[union-attr]
    assert syn.name() == KINDS[0].light  # offscreen Qt's default palette is light
    m.set_dark(True)
    assert cell(m, 0, INFO, background).name() == KINDS[0].dark  # type: ignore[union-attr]
    right = cell(m, 0, SEQ, Qt.ItemDataRole.TextAlignmentRole)
    assert right & Qt.AlignmentFlag.AlignRight  # type: ignore[operator]
    left = cell(m, 0, INFO, Qt.ItemDataRole.TextAlignmentRole)
    assert left & Qt.AlignmentFlag.AlignLeft  # type: ignore[operator]
    assert cell(m, 0, INFO, Qt.ItemDataRole.FontRole) is None   # the view's own font


def test_problem_rows_use_the_problem_text_colour(qtbot, tmp_path: Path) -> None:
    conv = Conversation()
    conv.handshake()
    first = conv.c2s("PA", data=100)
    assert first is not None
    conv.c2s("PA", data=100, seq=first.seq)
    doc = open_document(qtbot, write_pcap(tmp_path / "r.pcap", conv.segments))
    m = PacketTableModel(doc)
    problem = next(k for k in KINDS if k.name == "problem")
    assert cell(m, 4, INFO, Qt.ItemDataRole.ForegroundRole) == QColor(problem.text)
    assert cell(m, 3, INFO, Qt.ItemDataRole.ForegroundRole) is None
    assert str(cell(m, 4, INFO)).startswith("[TCP Retransmission] ")
    assert "TCP Retransmission" in str(cell(m, 4, NUMBER, Qt.ItemDataRole.ToolTipRole))


def test_time_formats(handshake) -> None:
    doc, table = handshake
    m = table.model
    ts = doc.session.store.values("ts_ns")
    assert cell(m, 0, TIME) == "0.000000000"
    assert cell(m, 13, TIME) == f"0.{ts[13] - ts[0]:09d}"
    table.set_time_format("delta")
    assert cell(m, 0, TIME) == "0.000000000"
    assert cell(m, 2, TIME) == f"0.{ts[2] - ts[1]:09d}"
    table.set_time_format("absolute")
    absolute = str(cell(m, 0, TIME))
    assert absolute.count("-") == 2 and absolute.endswith(f".{ts[0] % 10**9:09d}")
    with pytest.raises(ValueError, match="time format"):
        table.set_time_format("fortnights")


def test_absolute_sequence_numbers(handshake) -> None:
    doc, table = handshake
    m = table.model
    relative = cell(m, 1, SEQ)
    table.set_absolute(True)
    assert cell(m, 1, SEQ) != relative
    assert cell(m, 1, SEQ) == str(doc.session.store.values("seq")[1])
    assert f"Seq={doc.session.store.values('seq')[1]} " in str(cell(m, 1, INFO))
    table.set_absolute(False)
    assert cell(m, 1, SEQ) == relative


def test_models_pass_the_model_tester(qtbot, qtmodeltester, tmp_path: Path) -> None:
    doc = open_document(qtbot, two_conversations(tmp_path))
    model = PacketTableModel(doc)
    qtmodeltester.check(model)
    doc.set_conversation(("tcp", 1))
    qtmodeltester.check(model)


def test_selection_follows_the_document_and_back(handshake, qtbot) -> None:
    doc, table = handshake
    selection = table.view.selectionModel()
    with qtbot.wait_signal(doc.current_changed) as blocker:
        selection.setCurrentIndex(table.model.index(2, 0),
                                  QItemSelectionModel.SelectionFlag.ClearAndSelect
                                  | QItemSelectionModel.SelectionFlag.Rows)
    assert blocker.args == [2] and doc.session.current == 2
    doc.set_current(5)
    assert [i.row() for i in selection.selectedRows()] == [5]
    assert table.selected_indices() == [5]
    doc.set_current(-1)
    assert table.selected_indices() == []


def test_extended_selection_lists_packets_in_order(handshake) -> None:
    _doc, table = handshake
    table.view.selectRow(7)
    selection = table.view.selectionModel()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    selection.select(table.model.index(2, 0), flags)
    selection.select(table.model.index(3, 0), flags)
    assert table.selected_indices() == [2, 3, 7]


def test_conversation_filter_shows_its_packets_only(qtbot, tmp_path: Path) -> None:
    doc = open_document(qtbot, two_conversations(tmp_path))
    table = PacketTable(doc)
    qtbot.addWidget(table)
    m = table.model
    assert m.rowCount() == doc.session.count == 26
    doc.set_current(4)
    doc.set_conversation(("tcp", 1))
    wanted = doc.session.visible_indices().tolist()
    assert m.rowCount() == len(wanted) == 13
    assert [m.packet_index(r) for r in range(m.rowCount())] == wanted
    assert {cell(m, r, SOURCE) for r in range(m.rowCount())} >= {"10.0.0.1:40001"}
    assert "10.0.0.1:40000" not in {cell(m, r, SOURCE) for r in range(m.rowCount())}
    assert m.row_of(wanted[3]) == 3 and m.row_of(0) == -1
    assert table.selected_indices() == [4] == [wanted[m.row_of(4)]]
    doc.set_conversation(None)
    assert m.rowCount() == 26 and m.row_of(4) == 4


def test_rows_arrive_as_the_document_grows(qtbot, tmp_path: Path) -> None:
    path = exchanges_pcap(tmp_path / "big.pcap", 3000)
    doc = Document()
    table = PacketTable(doc)
    qtbot.addWidget(table)
    inserted: list[tuple[int, int]] = []
    table.model.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    with qtbot.wait_signal(doc.finished, timeout=30_000):
        doc.open_file(str(path))
    assert inserted[0] == (0, FIRST_BATCH - 1)
    assert len(inserted) >= 2
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(inserted))
    assert inserted[-1][1] == doc.session.count - 1 == table.model.rowCount() - 1
    assert cell(table.model, 6002, NUMBER) == "6003"


def test_a_files_rows_are_appended_twice_a_second_at_most(qtbot, tmp_path: Path) -> None:
    """Each insertion makes Qt lay the table out and repaint the rows in view:
    a file's rows come at most every LOAD_APPEND_SECONDS, the last ones as soon
    as it is read (a capture's come at once: the live tests below)."""
    path = exchanges_pcap(tmp_path / "big.pcap", 60_000)
    doc = Document()
    finishing: list[bool] = []
    doc.finished.connect(lambda _m: finishing.append(True))   # before the table's slot
    table = PacketTable(doc)
    qtbot.addWidget(table)
    grown: list[int] = []
    doc.grown.connect(grown.append)
    inserted: list[tuple[float, bool]] = []
    table.model.rowsInserted.connect(
        lambda *_: inserted.append((time.monotonic(), bool(finishing))))
    with qtbot.wait_signal(doc.finished, timeout=60_000):
        doc.open_file(str(path))
    assert table.model.rowCount() == doc.session.count == 120_003
    while_loading = [at for at, at_end in inserted if not at_end]
    assert all(b - a >= LOAD_APPEND_SECONDS - 0.02
               for a, b in itertools.pairwise(while_loading))
    assert len(inserted) < len(grown)


def test_a_packet_held_back_is_selected_at_once(qtbot, tmp_path: Path) -> None:
    """The timeline may show, and a user choose, a packet whose row the list
    holds back: its row comes at once, selected."""
    path = exchanges_pcap(tmp_path / "big.pcap", 60_000)
    doc = Document()
    table = PacketTable(doc)
    qtbot.addWidget(table)
    chosen: list[int] = []

    def choose_a_held_packet(count: int) -> None:
        if not chosen and table.model.rowCount() < count:
            chosen.append(count - 1)
            doc.set_current(count - 1)
            assert table.selected_indices() == [count - 1]

    doc.grown.connect(choose_a_held_packet)
    with qtbot.wait_signal(doc.finished, timeout=60_000):
        doc.open_file(str(path))
    assert chosen, "no packet was held back"
    assert table.selected_indices() == chosen
    assert table.model.rowCount() == doc.session.count


def test_filtered_rows_grow_too(qtbot, qtmodeltester, tmp_path: Path) -> None:
    path = two_conversations(tmp_path, exchanges=1500)
    doc = Document()
    model = PacketTableModel(doc)
    inserted: list[tuple[int, int]] = []

    def filter_once(count: int) -> None:
        if doc.session.conversation is None:
            doc.set_conversation(("tcp", 1))
            qtmodeltester.check(model)  # and keep watching while rows are inserted

    doc.grown.connect(filter_once)
    model.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    with qtbot.wait_signal(doc.finished, timeout=30_000):
        doc.open_file(str(path))
    assert inserted, "rows were inserted while the filter was on"
    wanted = doc.session.visible_indices().tolist()
    assert [model.packet_index(r) for r in range(model.rowCount())] == wanted
    assert len(wanted) == 3000 + 7


def _follow_doc(qtbot, tmp_path: Path) -> tuple[Document, PacketTable, Path]:
    path = exchanges_pcap(tmp_path / "live.pcap", 4000)
    doc = Document()
    table = PacketTable(doc)
    qtbot.addWidget(table)
    table.resize(800, 300)
    table.show()
    return doc, table, path


def test_live_capture_follows_the_newest_packet(qtbot, tmp_path: Path) -> None:
    doc, table, path = _follow_doc(qtbot, tmp_path)
    with qtbot.wait_signal(doc.finished, timeout=30_000):
        doc.open_file(str(path))
        doc.session.live = True  # what start_capture sets: the file stands in for a capture
    bar = table.view.verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == bar.maximum()


def test_live_capture_stays_where_the_user_scrolled(qtbot, tmp_path: Path) -> None:
    doc, table, path = _follow_doc(qtbot, tmp_path)
    table.model.rowsInserted.connect(
        lambda *_: table.view.scrollToTop() if table.model.rowCount() <= FIRST_BATCH else None)
    with qtbot.wait_signal(doc.finished, timeout=30_000):
        doc.open_file(str(path))
        doc.session.live = True
    assert table.model.rowCount() > FIRST_BATCH
    assert table.view.verticalScrollBar().value() == 0


def test_opening_a_file_does_not_scroll(qtbot, tmp_path: Path) -> None:
    doc, table, path = _follow_doc(qtbot, tmp_path)
    with qtbot.wait_signal(doc.finished, timeout=30_000):
        doc.open_file(str(path))
    assert table.view.verticalScrollBar().value() == 0


def test_legend_names_every_kind_and_follows_the_palette(handshake) -> None:
    _doc, table = handshake
    text = table.legend.text()
    for kind in KINDS:
        if kind.name != "other":
            assert kind.label.split()[0] in text
            assert kind.light in text
    dark = QPalette()
    dark.setColor(QPalette.ColorRole.Window, QColor("#202020"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#e0e0e0"))
    table.setPalette(dark)
    assert KINDS[0].dark in table.legend.text()
    assert cell(table.model, 0, INFO, Qt.ItemDataRole.BackgroundRole) == QColor(KINDS[0].dark)


def test_closing_the_document_empties_the_table(handshake) -> None:
    doc, table = handshake
    doc.close()
    assert table.model.rowCount() == 0
    assert table.selected_indices() == []
