"""The packet detail: scapy's dissection as a tree over a hex dump of the frame.

Selecting a field highlights its bytes; clicking a byte selects the deepest
field that covers it, as in Wireshark. The tree and the byte ranges come from
``visualizer.core.decode.dissect``; this module only shows them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from PyQt6.QtCore import QModelIndex, QPoint, QRect, QSize, Qt, pyqtSignal, pyqtSlot
from PyQt6.QtGui import (
    QFontDatabase,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QResizeEvent,
    QStandardItem,
    QStandardItemModel,
)
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QScrollBar,
    QSplitter,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from visualizer.core.decode.dissect import Node, dissect, node_path_at

NODE_ROLE = Qt.ItemDataRole.UserRole + 1
_CACHE_SIZE = 64


class HexView(QAbstractScrollArea):
    """Offset | 16 bytes in hex | the same bytes as ASCII, one byte range highlighted.

    Signals:
        byte_clicked(int): the user clicked the byte at this offset (hex or ASCII column).
    """

    byte_clicked = pyqtSignal(int)

    BYTES_PER_ROW = 16

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self._port().setBackgroundRole(QPalette.ColorRole.Base)
        self._port().setCursor(Qt.CursorShape.IBeamCursor)
        self._data = b""
        self._highlight: tuple[int, int] | None = None
        self.placeholder = "No packet selected"

    # -- parts (PyQt's stubs make them Optional; they always exist) ----------------
    def _vbar(self) -> QScrollBar:
        bar = self.verticalScrollBar()
        assert bar is not None
        return bar

    def _hbar(self) -> QScrollBar:
        bar = self.horizontalScrollBar()
        assert bar is not None
        return bar

    def _port(self) -> QWidget:
        port = self.viewport()
        assert port is not None
        return port

    # -- data ----------------------------------------------------------------
    def set_data(self, data: bytes) -> None:
        self._data = bytes(data)
        self._highlight = None
        self._update_scrollbars()
        self._vbar().setValue(0)
        self._port().update()

    def data(self) -> bytes:
        return self._data

    def set_highlight(self, start: int, end: int) -> None:
        """Highlight ``data[start:end]`` and scroll it into view (empty: no highlight)."""
        start, end = max(start, 0), min(end, len(self._data))
        self._highlight = (start, end) if end > start else None
        if self._highlight is not None:
            self.ensure_visible(start, end)
        self._port().update()

    def clear_highlight(self) -> None:
        self._highlight = None
        self._port().update()

    def highlight(self) -> tuple[int, int] | None:
        return self._highlight

    # -- geometry ------------------------------------------------------------
    def _char_width(self) -> int:
        return max(self.fontMetrics().horizontalAdvance("0"), 1)

    def line_height(self) -> int:
        return self.fontMetrics().height() + 2

    def _offset_digits(self) -> int:
        return 4 if len(self._data) <= 0x10000 else 8

    def _columns(self) -> tuple[int, int, int]:
        """x of the offset, hex and ASCII columns in content coordinates."""
        cw = self._char_width()
        offset_x = cw
        hex_x = offset_x + (self._offset_digits() + 2) * cw
        ascii_x = hex_x + (3 * self.BYTES_PER_ROW + 2) * cw
        return offset_x, hex_x, ascii_x

    def _content_width(self) -> int:
        return self._columns()[2] + (self.BYTES_PER_ROW + 1) * self._char_width()

    def _rows(self) -> int:
        return (len(self._data) + self.BYTES_PER_ROW - 1) // self.BYTES_PER_ROW

    def _hex_cell_x(self, column: int) -> int:
        cw = self._char_width()
        return self._columns()[1] + (3 * column + (1 if column >= 8 else 0)) * cw

    def _origin(self) -> QPoint:
        """Content coordinates of the viewport's top-left corner."""
        return QPoint(self._hbar().value(),
                      self._vbar().value() * self.line_height())

    def byte_rect(self, offset: int) -> QRect:
        """Where byte ``offset``'s two hex digits are drawn, in viewport coordinates."""
        row, column = divmod(offset, self.BYTES_PER_ROW)
        cw, lh = self._char_width(), self.line_height()
        rect = QRect(self._hex_cell_x(column), row * lh, 2 * cw, lh)
        return rect.translated(-self._origin())

    def ascii_rect(self, offset: int) -> QRect:
        """Where byte ``offset``'s ASCII character is drawn, in viewport coordinates."""
        row, column = divmod(offset, self.BYTES_PER_ROW)
        cw, lh = self._char_width(), self.line_height()
        rect = QRect(self._columns()[2] + column * cw, row * lh, cw, lh)
        return rect.translated(-self._origin())

    def byte_at(self, pos: QPoint) -> int | None:
        """The offset of the byte drawn at viewport point ``pos`` (None: no byte there)."""
        p = pos + self._origin()
        cw, lh = self._char_width(), self.line_height()
        row = p.y() // lh
        ascii_x = self._columns()[2]
        column: int | None = None
        if ascii_x <= p.x() < ascii_x + self.BYTES_PER_ROW * cw:
            column = (p.x() - ascii_x) // cw
        else:
            for c in range(self.BYTES_PER_ROW):
                left = self._hex_cell_x(c)
                if left - cw // 2 <= p.x() < left + 2 * cw + (cw + 1) // 2:
                    column = c
                    break
        if column is None or p.y() < 0:
            return None
        offset = row * self.BYTES_PER_ROW + column
        return offset if offset < len(self._data) else None

    def ensure_visible(self, start: int, end: int) -> None:
        """Scroll so that the rows of ``data[start:end]`` are visible (its start at least)."""
        bar = self._vbar()
        visible = max(self._port().height() // self.line_height(), 1)
        first = start // self.BYTES_PER_ROW
        last = max(end - 1, start) // self.BYTES_PER_ROW
        if first < bar.value():
            bar.setValue(first)
        elif last >= bar.value() + visible:
            bar.setValue(min(first, last - visible + 1))

    def _update_scrollbars(self) -> None:
        visible = max(self._port().height() // self.line_height(), 1)
        self._vbar().setRange(0, max(self._rows() - visible, 0))
        self._vbar().setPageStep(visible)
        extra = self._content_width() - self._port().width()
        self._hbar().setRange(0, max(extra, 0))
        self._hbar().setPageStep(self._port().width())

    def sizeHint(self) -> QSize:
        width = self._content_width() + self._vbar().sizeHint().width() + 4
        return QSize(width, self.line_height() * 8)

    # -- events --------------------------------------------------------------
    def resizeEvent(self, event: QResizeEvent | None) -> None:
        super().resizeEvent(event)
        self._update_scrollbars()

    def mousePressEvent(self, event: QMouseEvent | None) -> None:
        if event is None:
            return
        if event.button() == Qt.MouseButton.LeftButton:
            offset = self.byte_at(event.position().toPoint())
            if offset is not None:
                self.byte_clicked.emit(offset)
        super().mousePressEvent(event)

    def paintEvent(self, event: QPaintEvent | None) -> None:
        painter = QPainter(self._port())
        palette = self.palette()
        painter.fillRect(self._port().rect(), palette.color(QPalette.ColorRole.Base))
        painter.setFont(self.font())
        if not self._data:
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self._port().rect(), Qt.AlignmentFlag.AlignCenter,
                             self.placeholder)
            painter.end()
            return
        cw, lh = self._char_width(), self.line_height()
        origin = self._origin()
        offset_x, _, ascii_x = self._columns()
        ascent = self.fontMetrics().ascent() + 1
        text_color = palette.color(QPalette.ColorRole.Text)
        dim = palette.color(QPalette.ColorRole.PlaceholderText)
        marked = palette.color(QPalette.ColorRole.Highlight)
        marked_text = palette.color(QPalette.ColorRole.HighlightedText)
        lo, hi = self._highlight if self._highlight is not None else (0, 0)
        first = self._vbar().value()
        visible = self._port().height() // lh + 2
        digits = self._offset_digits()
        # a thin rule between the columns, like a table's grid
        painter.setPen(palette.color(QPalette.ColorRole.Mid))
        for x in (self._hex_cell_x(0) - cw, ascii_x - cw):
            painter.drawLine(x - origin.x(), 0, x - origin.x(), self._port().height())
        # each cell's x once per paint: a packet's bytes are thousands of cells
        hex_xs = [self._hex_cell_x(c) - origin.x() for c in range(self.BYTES_PER_ROW)]
        ascii_xs = [ascii_x + c * cw - origin.x() for c in range(self.BYTES_PER_ROW)]
        for row in range(first, min(first + visible, self._rows())):
            y = row * lh - origin.y()
            base = row * self.BYTES_PER_ROW
            painter.setPen(dim)
            painter.drawText(offset_x - origin.x(), y + ascent, f"{base:0{digits}x}")
            for column in range(min(self.BYTES_PER_ROW, len(self._data) - base)):
                offset = base + column
                byte = self._data[offset]
                chosen = lo <= offset < hi
                if chosen:
                    # widen hex cells over the gap to the next chosen byte in the row
                    right = (hex_xs[column + 1] if offset + 1 < hi
                             and column + 1 < self.BYTES_PER_ROW else hex_xs[column] + 2 * cw)
                    painter.fillRect(QRect(hex_xs[column], y, right - hex_xs[column], lh),
                                     marked)
                    painter.fillRect(QRect(ascii_xs[column], y, cw, lh), marked)
                painter.setPen(marked_text if chosen else text_color)
                painter.drawText(hex_xs[column], y + ascent, f"{byte:02x}")
                printable = 0x20 <= byte < 0x7F
                if not chosen:
                    painter.setPen(text_color if printable else dim)
                painter.drawText(ascii_xs[column], y + ascent, chr(byte) if printable else "·")
        painter.end()


class PacketDetail(QWidget):
    """The detail tree of one packet above its hex dump, linked both ways.

    Signals:
        field_selected(int, int): a field with bytes was selected; its [start, end) range.
    """

    field_selected = pyqtSignal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._nodes: list[Node] = []
        self._collapsed_top: set[str] = set()     # layers the user folded away
        self._expanded: set[tuple[str, ...]] = set()  # deeper branches the user opened
        self._populating = False
        self._cache: OrderedDict[tuple[bytes, int], list[Node]] = OrderedDict()

        self.model = QStandardItemModel(0, 2, self)
        self.model.setHorizontalHeaderLabels(["Field", "Value"])
        self.tree = QTreeView()
        self.tree.setModel(self.model)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.hex = HexView()

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.tree)
        self.splitter.addWidget(self.hex)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

        selection = self.tree.selectionModel()
        assert selection is not None
        selection.currentChanged.connect(self._on_current_changed)
        self.tree.expanded.connect(self._on_expanded)
        self.tree.collapsed.connect(self._on_collapsed)
        self.hex.byte_clicked.connect(self._on_byte_clicked)

    # -- public API ------------------------------------------------------------
    def show_packet(self, frame: bytes, linktype: int, extra: Sequence[Node] = ()) -> None:
        """Show ``frame`` dissected, plus ``extra`` branches (e.g. ``analysis_nodes``).

        The field selected before stays selected when the new packet has it,
        so stepping through packets keeps e.g. the TCP flags highlighted.
        """
        frame = bytes(frame)
        self._show(frame, [*self._dissected(frame, linktype), *extra])

    def clear(self) -> None:
        self._show(b"", [])

    def selected_range(self) -> tuple[int, int] | None:
        return self.hex.highlight()

    def nodes(self) -> list[Node]:
        return list(self._nodes)

    def current_node(self) -> Node | None:
        return self._node(self.tree.currentIndex())

    def select_node(self, node: Node) -> bool:
        """Make ``node`` (one of :meth:`nodes` or a descendant) current; False if absent."""
        path = _path_to(self._nodes, node)
        if not path:
            return False
        self._select_path(path)
        return True

    # -- building the tree -----------------------------------------------------
    def _dissected(self, frame: bytes, linktype: int) -> list[Node]:
        """Dissection is the slow part (~1 ms in scapy): keep the recent ones."""
        key = (frame, linktype)
        nodes = self._cache.get(key)
        if nodes is None:
            nodes = self._cache[key] = dissect(frame, linktype)
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return nodes

    def _show(self, frame: bytes, nodes: list[Node]) -> None:
        previous = [n.label for n in _path_to(self._nodes, self.current_node())]
        self._populating = True
        try:
            self.model.removeRows(0, self.model.rowCount())
            self._nodes = nodes
            self.hex.set_data(frame)
            root = self.model.invisibleRootItem()
            assert root is not None
            for node in nodes:
                _append(root, node)
            for row, node in enumerate(nodes):
                index = self.model.index(row, 0)
                if node.label not in self._collapsed_top:
                    self.tree.expand(index)
                self._restore_expanded(index, node, (node.label,))
        finally:
            self._populating = False
        self.tree.resizeColumnToContents(0)
        limit = max(self.tree.width() * 3 // 5, 120)
        if self.tree.columnWidth(0) > limit:
            self.tree.setColumnWidth(0, limit)
        path = _path_by_labels(nodes, previous)
        if path:
            self._select_path(path)

    def _restore_expanded(self, index: QModelIndex, node: Node, labels: tuple[str, ...]) -> None:
        for row, child in enumerate(node.children):
            if not child.children:
                continue
            child_labels = (*labels, child.label)
            child_index = self.model.index(row, 0, index)
            if child_labels in self._expanded:
                self.tree.expand(child_index)
            self._restore_expanded(child_index, child, child_labels)

    def _node(self, index: QModelIndex) -> Node | None:
        if not index.isValid():
            return None
        node = index.siblingAtColumn(0).data(NODE_ROLE)
        return node if isinstance(node, Node) else None

    def _index_of(self, path: Sequence[Node]) -> QModelIndex:
        index = QModelIndex()
        siblings = self._nodes
        for node in path:
            row = next(i for i, n in enumerate(siblings) if n is node)
            index = self.model.index(row, 0, index)
            siblings = node.children
        return index

    def _select_path(self, path: Sequence[Node]) -> None:
        index = self._index_of(path)
        parent = index.parent()
        while parent.isValid():
            self.tree.expand(parent)
            parent = parent.parent()
        selection = self.tree.selectionModel()
        assert selection is not None
        selection.setCurrentIndex(index, selection.SelectionFlag.ClearAndSelect
                                  | selection.SelectionFlag.Rows)
        self.tree.scrollTo(index)

    def _labels(self, index: QModelIndex) -> tuple[str, ...]:
        labels: list[str] = []
        while index.isValid():
            labels.append(str(index.siblingAtColumn(0).data()))
            index = index.parent()
        return tuple(reversed(labels))

    # -- slots -----------------------------------------------------------------
    @pyqtSlot(QModelIndex, QModelIndex)
    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        node = self._node(current)
        if node is None or not node.has_range:
            self.hex.clear_highlight()
            return
        assert node.start is not None and node.end is not None
        self.hex.set_highlight(node.start, node.end)
        self.field_selected.emit(node.start, node.end)

    @pyqtSlot(int)
    def _on_byte_clicked(self, offset: int) -> None:
        path = node_path_at(self._nodes, offset)
        if path:
            self._select_path(path)
        else:
            self.tree.clearSelection()
            self.hex.clear_highlight()

    @pyqtSlot(QModelIndex)
    def _on_expanded(self, index: QModelIndex) -> None:
        if self._populating:
            return
        labels = self._labels(index)
        if len(labels) == 1:
            self._collapsed_top.discard(labels[0])
        else:
            self._expanded.add(labels)

    @pyqtSlot(QModelIndex)
    def _on_collapsed(self, index: QModelIndex) -> None:
        if self._populating:
            return
        labels = self._labels(index)
        if len(labels) == 1:
            self._collapsed_top.add(labels[0])
        else:
            self._expanded.discard(labels)


def _append(parent: QStandardItem, node: Node) -> None:
    label, value = QStandardItem(node.label), QStandardItem(node.value)
    label.setData(node, NODE_ROLE)
    for item in (label, value):
        item.setEditable(False)
    if node.has_range:
        assert node.start is not None and node.end is not None
        size = node.end - node.start
        label.setToolTip(f"bytes {node.start}–{node.end - 1} ({size} byte"
                         f"{'s' if size != 1 else ''})")
    if node.value:
        value.setToolTip(node.value)
    parent.appendRow([label, value])
    for child in node.children:
        _append(label, child)


def _path_to(nodes: Sequence[Node], target: Node | None) -> list[Node]:
    if target is None:
        return []
    for node in nodes:
        if node is target:
            return [node]
        sub = _path_to(node.children, target)
        if sub:
            return [node, *sub]
    return []


def _path_by_labels(nodes: Sequence[Node], labels: Sequence[str]) -> list[Node]:
    path: list[Node] = []
    for label in labels:
        match = next((n for n in nodes if n.label == label), None)
        if match is None:
            return []
        path.append(match)
        nodes = match.children
    return path
