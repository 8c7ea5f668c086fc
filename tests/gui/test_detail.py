"""The packet detail: tree and hex view linked both ways, on real widgets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PyQt6.QtCore import QModelIndex, Qt
from PyQt6.QtGui import QColor, QPalette
from PyQt6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from visualizer.core.decode.dissect import Node, analysis_nodes, node_path_at
from visualizer.core.decode.store import PacketStore
from visualizer.core.flows.analysis import analyze
from visualizer.gui.detail import PacketDetail

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


@pytest.fixture(scope="module")
def store() -> PacketStore:
    return PacketStore.from_file(str(SAMPLES / "tcp-handshake.pcapng"))


def shown_detail(qtbot: QtBot, width: int, height: int) -> tuple[QWidget, PacketDetail]:
    """A PacketDetail inside a plain window, as the main window will hold it.

    (Shown as a top-level window itself, its layout's minimum size makes the
    offscreen platform warn that it cannot propagate size hints.) Keep the
    window referenced: it owns the detail.
    """
    window = QWidget()
    qtbot.addWidget(window)
    window.resize(width, height)
    widget = PacketDetail(window)
    widget.setGeometry(0, 0, width, height)
    window.show()
    qtbot.waitExposed(window)
    return window, widget


@pytest.fixture
def detail(qtbot: QtBot) -> Iterator[PacketDetail]:
    window, widget = shown_detail(qtbot, 700, 500)
    yield widget
    del window


def child(nodes: list[Node], label: str) -> Node:
    return next(n for n in nodes if n.label.startswith(label))


def test_selecting_the_tcp_flags_highlights_their_bytes(detail: PacketDetail,
                                                       store: PacketStore, qtbot: QtBot) -> None:
    detail.show_packet(store.frame(0), 1)
    flags = child(child(detail.nodes(), "TCP").children, "Flags")
    with qtbot.waitSignal(detail.field_selected) as signal:
        assert detail.select_node(flags)
    assert flags.start is not None and flags.end is not None
    assert detail.selected_range() == (flags.start, flags.end) == (46, 48)
    assert signal.args == [46, 48]
    assert detail.hex.highlight() == (46, 48)
    index = detail.tree.currentIndex()
    assert index.data() == "Flags" and index.siblingAtColumn(1).data() == "SYN (0x002)"


def test_selecting_a_node_without_bytes_clears_the_highlight(
        detail: PacketDetail, store: PacketStore) -> None:
    analysis = analyze(store)
    detail.show_packet(store.frame(0), 1, analysis_nodes(analysis, 0))
    detail.select_node(child(detail.nodes(), "IPv4"))
    assert detail.selected_range() == (14, 34)
    branch = child(detail.nodes(), "TCP analysis")
    detail.select_node(child(branch.children, "Stream"))
    assert detail.selected_range() is None
    detail.select_node(child(branch.children, "Relative sequence number"))
    assert detail.selected_range() == (38, 42)


def test_top_level_layers_are_expanded(detail: PacketDetail, store: PacketStore) -> None:
    detail.show_packet(store.frame(0), 1)
    model = detail.model
    assert [model.index(r, 0).data() for r in range(model.rowCount())] == [
        "Ethernet II", "IPv4", "TCP"]
    for row in range(model.rowCount()):
        assert detail.tree.isExpanded(model.index(row, 0))
    options = child(child(detail.nodes(), "TCP").children, "Options")
    tcp = model.index(2, 0)
    options_index = next(model.index(r, 0, tcp) for r in range(model.rowCount(tcp))
                         if model.index(r, 0, tcp).data() == options.label)
    assert not detail.tree.isExpanded(options_index)


@pytest.mark.parametrize("offset", [34, 40, 47, 56, 71])
def test_clicking_a_byte_selects_the_node_covering_it(detail: PacketDetail, store: PacketStore,
                                                      qtbot: QtBot, offset: int) -> None:
    detail.show_packet(store.frame(0), 1)
    hexview = detail.hex
    rect = hexview.byte_rect(offset)
    assert hexview.byte_at(rect.center()) == offset
    with qtbot.waitSignal(hexview.byte_clicked) as clicked:
        qtbot.mouseClick(hexview.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert clicked.args == [offset]
    node = detail.current_node()
    assert node is not None and node.start is not None and node.end is not None
    assert node.start <= offset < node.end
    assert node is node_path_at(detail.nodes(), offset)[-1]
    assert detail.selected_range() == (node.start, node.end)
    # the tree shows it: every ancestor expanded, the row current
    index = detail.tree.currentIndex()
    assert index.data() == node.label
    parent = index.parent()
    while parent.isValid():
        assert detail.tree.isExpanded(parent)
        parent = parent.parent()
    tcp = child(detail.nodes(), "TCP")
    assert tcp.start is not None and tcp.end is not None and tcp.start <= offset < tcp.end


def test_geometry_helpers_round_trip(detail: PacketDetail, store: PacketStore) -> None:
    frame = store.frame(3)
    detail.show_packet(frame, 1)
    hexview = detail.hex
    for offset in range(len(frame)):
        assert hexview.byte_at(hexview.byte_rect(offset).center()) == offset
        assert hexview.byte_at(hexview.ascii_rect(offset).center()) == offset
        assert hexview.byte_rect(offset).right() < hexview.ascii_rect(offset).left()


@pytest.mark.parametrize(("offset", "label"), [(13, "Type"), (14, "Version"),
                                               (15, "Type of service (tos)")])
def test_clicking_the_ascii_column_works_too(detail: PacketDetail, store: PacketStore,
                                             qtbot: QtBot, offset: int, label: str) -> None:
    detail.show_packet(store.frame(3), 1)
    rect = detail.hex.ascii_rect(offset)
    qtbot.mouseClick(detail.hex.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    node = detail.current_node()
    assert node is not None and node.label == label


def test_clicking_the_payload_selects_its_data(detail: PacketDetail, store: PacketStore,
                                               qtbot: QtBot) -> None:
    detail.show_packet(store.frame(3), 1)
    payload = detail.nodes()[-1]
    assert payload.label == "Raw payload (64 bytes)" and payload.start is not None
    rect = detail.hex.ascii_rect(payload.start + 5)
    qtbot.mouseClick(detail.hex.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    node = detail.current_node()
    assert node is not None and node.label == "Data (load)"
    assert detail.selected_range() == (payload.start, payload.end)


def test_clicking_outside_the_bytes_selects_nothing(detail: PacketDetail, store: PacketStore,
                                                    qtbot: QtBot) -> None:
    detail.show_packet(store.frame(0), 1)
    last = detail.hex.byte_rect(len(store.frame(0)) - 1)
    below = last.center()
    below.setY(below.y() + 3 * detail.hex.line_height())
    assert detail.hex.byte_at(below) is None
    qtbot.mouseClick(detail.hex.viewport(), Qt.MouseButton.LeftButton, pos=below)
    assert detail.selected_range() is None


def test_highlight_scrolls_into_view(qtbot: QtBot, store: PacketStore) -> None:
    _window, widget = shown_detail(qtbot, 500, 300)
    frame = store.frame(0) + bytes(2000)  # a long frame: the hex view must scroll
    detail_nodes = [Node("Tail", "", 2000, 2010)]
    widget.show_packet(frame, 147, detail_nodes)
    viewport = widget.hex.viewport()
    assert viewport is not None
    assert not viewport.rect().contains(widget.hex.byte_rect(2000).center())
    widget.select_node(widget.nodes()[-1])
    assert widget.selected_range() == (2000, 2010)
    assert viewport.rect().contains(widget.hex.byte_rect(2000).center())
    assert viewport.rect().contains(widget.hex.byte_rect(2009).center())
    widget.select_node(widget.nodes()[0])
    assert viewport.rect().contains(widget.hex.byte_rect(0).center())


def test_the_selected_field_stays_selected_from_packet_to_packet(
        detail: PacketDetail, store: PacketStore) -> None:
    detail.show_packet(store.frame(0), 1)
    detail.select_node(child(child(detail.nodes(), "TCP").children, "Flags"))
    detail.show_packet(store.frame(1), 1)
    node = detail.current_node()
    assert node is not None and node.label == "Flags" and node.value == "SYN, ACK (0x012)"
    assert detail.selected_range() == (46, 48)


def test_a_collapsed_layer_stays_collapsed(detail: PacketDetail, store: PacketStore) -> None:
    detail.show_packet(store.frame(0), 1)
    detail.tree.collapse(detail.model.index(0, 0))
    detail.show_packet(store.frame(1), 1)
    assert not detail.tree.isExpanded(detail.model.index(0, 0))
    assert detail.tree.isExpanded(detail.model.index(1, 0))


@pytest.mark.parametrize("garbage", [
    bytes(12) + b"\x08\x00" + b"\x4f\x00\x01\x02\x03\x04\x05",  # Ethernet, broken IPv4
    bytes(range(7)) * 3,                                        # 802.3 length, LLC junk
    b"\x00\x01\x02",                                            # not even an Ethernet header
])
def test_garbage_frame(detail: PacketDetail, qtbot: QtBot, garbage: bytes) -> None:
    detail.show_packet(garbage, 1)
    assert detail.model.rowCount() == len(detail.nodes()) > 0
    assert detail.hex.data() == garbage
    if garbage[12:14] == b"\x08\x00":
        broken = [n for n in detail.nodes() if n.label == "Malformed"]
        assert broken and broken[0].value.startswith("IPv4 could not be dissected at byte 14")
    rect = detail.hex.byte_rect(2)
    qtbot.mouseClick(detail.hex.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    node = detail.current_node()
    assert node is not None and node.start is not None and node.end is not None
    assert node.start <= 2 < node.end


def test_clear(detail: PacketDetail, store: PacketStore) -> None:
    detail.show_packet(store.frame(0), 1)
    detail.select_node(detail.nodes()[0])
    detail.clear()
    assert detail.model.rowCount() == 0
    assert detail.nodes() == []
    assert detail.selected_range() is None
    assert detail.hex.data() == b""
    assert detail.current_node() is None
    assert not detail.tree.currentIndex().isValid() or detail.tree.currentIndex() == QModelIndex()


def test_dark_palette_uses_the_palette_highlight(detail: PacketDetail,
                                                 store: PacketStore) -> None:
    palette = QPalette(detail.palette())
    palette.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    palette.setColor(QPalette.ColorRole.Text, QColor("#e0e0e0"))
    palette.setColor(QPalette.ColorRole.Highlight, QColor("#2a82da"))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    detail.setPalette(palette)
    detail.show_packet(store.frame(0), 1)
    detail.select_node(child(child(detail.nodes(), "TCP").children, "Flags"))
    viewport = detail.hex.viewport()
    assert viewport is not None
    image = viewport.grab().toImage()
    inside = detail.hex.byte_rect(46)
    outside = detail.hex.byte_rect(45)
    # sample the cell's top-left corner (background, not a glyph)
    corner_in = image.pixelColor(inside.left() + 1, inside.top() + 1)
    corner_out = image.pixelColor(outside.left() + 1, outside.top() + 1)
    assert corner_in.name() == "#2a82da"
    assert corner_out.name() == "#1e1e1e"
