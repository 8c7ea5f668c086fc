"""The packet list: one row per packet, coloured by kind, with a legend.

A view over the shared ``Document``. The model keeps no Python object per
row: every cell is computed when Qt asks for it, from the store's and the
analysis's columns (``visualizer.core.describe.summary`` writes the text), so a
million packets cost nothing until they scroll into sight. While a file
loads or a capture runs, ``grown`` inserts only the new rows: a capture's at
once, a file's at most twice a second (``LOAD_APPEND_SECONDS``).
"""

from __future__ import annotations

import html
import time
from typing import Any

import numpy as np
from PyQt6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    pyqtSlot,
)
from PyQt6.QtGui import QColor, QGuiApplication, QPalette
from PyQt6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from visualizer.core.describe.kinds import KINDS, PROBLEM_K
from visualizer.core.describe.summary import (
    PacketSummary,
    format_absolute,
    format_seconds,
    time_digits,
)
from visualizer.gui.document import Document

TIME_FORMATS = ("absolute", "relative", "delta")
# Qt lays the table out and repaints every row in view after each insertion,
# whether the new rows show or not: 18 ms at 1440x900. At ten a second (each
# ``grown``) that was a third of the window's work opening a million packets.
LOAD_APPEND_SECONDS = 0.5
HEADERS = ("No.", "Time", "Source", "Destination", "Protocol", "Flags", "Seq", "Ack", "Len",
           "Info")
NUMBER, TIME, SOURCE, DESTINATION, PROTOCOL, FLAGS, SEQ, ACK, LEN, INFO = range(len(HEADERS))
_RIGHT = (NUMBER, TIME, SEQ, ACK, LEN)
_HEADER_TIPS = {
    NUMBER: "Frame number, counted from 1 as Wireshark does",
    SEQ: "Sequence number of the first byte (relative: counted from the sender's ISN)",
    ACK: "Next byte the sender expects from its peer (only when the ACK flag is set)",
    LEN: "Payload bytes of the TCP segment or UDP datagram",
    INFO: "Wireshark-style summary; [brackets] name what the TCP analysis found",
}
PACKET_INDEX_ROLE = Qt.ItemDataRole.UserRole + 1
# the roles whose answer depends on the row: Qt asks every cell for seven roles
# at each repaint, three of which (font, decoration, check state) are never set
_ROW_ROLES = frozenset({Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.BackgroundRole,
                        Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.ToolTipRole,
                        PACKET_INDEX_ROLE})
_ALIGN = {True: Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
          False: Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter}
_CACHE_ROWS = 4096
_Index = QModelIndex | QPersistentModelIndex


def palette_is_dark(palette: QPalette | None = None) -> bool:
    """A dark desktop: pick the dark row colours."""
    palette = palette if palette is not None else QGuiApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


class PacketTableModel(QAbstractTableModel):
    """Rows are packets (all, or the conversation filter's), columns as ``HEADERS``.

    Row ``r`` shows packet ``r``, or ``visible_indices()[r]`` while the
    document has a conversation filter. ``PACKET_INDEX_ROLE`` gives a row's
    packet index.
    """

    def __init__(self, document: Document, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.time_format = "relative"
        self.absolute = False
        self._rows: np.ndarray | None = None   # visible packet indices while filtered
        self._count = 0                         # rows shown when not filtered
        self._summary: PacketSummary | None = None
        self._digits = 6
        self._kinds = np.zeros(0, dtype=np.uint8)
        self._texts: dict[int, tuple[str, ...]] = {}
        self._background: list[QColor] = []
        self._foreground: list[QColor | None] = []
        self.set_dark(palette_is_dark())
        document.reset.connect(self._on_reset)
        document.conversation_changed.connect(self._on_reset)
        document.grown.connect(self._on_grown)
        document.finished.connect(self._on_finished)
        self._last_append = 0.0
        self._held = QTimer(self)    # a file's rows held back, to be appended
        self._held.setSingleShot(True)
        self._held.setTimerType(Qt.TimerType.PreciseTimer)
        self._held.timeout.connect(self._append_held)
        self._reload()

    # -- settings ------------------------------------------------------------
    def set_time_format(self, name: str) -> None:
        """``"absolute"`` (local date and time), ``"relative"`` (to the first
        packet) or ``"delta"`` (since the previous row)."""
        if name not in TIME_FORMATS:
            raise ValueError(f"time format must be one of {TIME_FORMATS}, not {name!r}")
        if name != self.time_format:
            self.time_format = name
            self._changed(TIME, TIME)
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, TIME, TIME)

    def set_absolute(self, absolute: bool) -> None:
        """Absolute sequence numbers (as on the wire) instead of relative ones."""
        if absolute != self.absolute:
            self.absolute = absolute
            self._texts.clear()
            self._changed(SEQ, INFO)

    def set_dark(self, dark: bool) -> None:
        """Use the dark variants of the kind colours."""
        self._background = [QColor(k.dark if dark else k.light) for k in KINDS]
        self._foreground = [QColor(k.text) if k.text else None for k in KINDS]
        self._changed(0, len(HEADERS) - 1)

    def _changed(self, first: int, last: int) -> None:
        rows = self.rowCount()
        if rows:
            self.dataChanged.emit(self.index(0, first), self.index(rows - 1, last))

    # -- rows <-> packets -------------------------------------------------------
    def packet_index(self, row: int) -> int:
        """The packet shown in ``row`` (-1 when out of range)."""
        if not 0 <= row < self.rowCount():
            return -1
        return int(self._rows[row]) if self._rows is not None else row

    def row_of(self, index: int) -> int:
        """The row showing packet ``index`` (-1 when it is not shown)."""
        if self._rows is None:
            return index if 0 <= index < self._count else -1
        row = int(np.searchsorted(self._rows, index))
        return row if row < len(self._rows) and self._rows[row] == index else -1

    # -- Qt model API ------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid():
            return 0
        return len(self._rows) if self._rows is not None else self._count

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(HEADERS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            if section == TIME:
                return {"absolute": "Local date and time the packet was captured",
                        "relative": "Seconds since the first packet",
                        "delta": "Seconds since the previous packet in this list"
                        }[self.time_format]
            return _HEADER_TIPS.get(section)
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role not in _ROW_ROLES:   # answered without finding the packet (the cheap half)
            if role == Qt.ItemDataRole.TextAlignmentRole and index.isValid():
                return _ALIGN[index.column() in _RIGHT]
            return None
        if not index.isValid():
            return None
        row, column = index.row(), index.column()
        i = self.packet_index(row)
        if i < 0 or self._summary is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            if column == NUMBER:
                return str(i + self.document.session.first_number)
            if column == TIME:
                return self._time_text(row, i)
            return self._row_texts(i)[column - SOURCE]
        if role == Qt.ItemDataRole.BackgroundRole:
            return self._background[self._kind(i)]
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._foreground[self._kind(i)]
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == INFO:
                tip = self._summary.tooltip(i)
                info = self._row_texts(i)[INFO - SOURCE]
                return f"{info}\n{tip}" if tip else info
            return self._summary.tooltip(i) or None
        if role == PACKET_INDEX_ROLE:
            return i
        return None

    # -- cells ----------------------------------------------------------------
    def _kind(self, i: int) -> int:
        if i >= len(self._kinds):
            self._kinds = self.document.session.kinds()
        return int(self._kinds[i]) if i < len(self._kinds) else len(KINDS) - 1

    def _row_texts(self, i: int) -> tuple[str, ...]:
        texts = self._texts.get(i)
        if texts is None:
            s, absolute = self._summary, self.absolute
            assert s is not None
            texts = (s.source(i), s.destination(i), s.protocol(i), s.flags(i),
                     s.seq(i, absolute=absolute), s.ack(i, absolute=absolute), s.length(i),
                     s.info(i, absolute=absolute))
            if len(self._texts) >= _CACHE_ROWS:
                self._texts.clear()
            self._texts[i] = texts
        return texts

    def _time_text(self, row: int, i: int) -> str:
        assert self._summary is not None
        ts = self._summary.store.values("ts_ns")
        if self.time_format == "absolute":
            return format_absolute(ts[i], self._digits)
        if self.time_format == "delta":
            previous = self.packet_index(row - 1) if row > 0 else i
            return format_seconds(ts[i] - ts[previous], self._digits)
        return format_seconds(ts[i] - ts[0], self._digits)

    # -- following the document ----------------------------------------------------
    def _reload(self) -> None:
        """Take the document's state as it is now (inside a model reset)."""
        session = self.document.session
        self._texts.clear()
        self._kinds = session.kinds()
        self._summary = session.summary()
        if session.store is not None and self._summary is not None:
            self._digits = time_digits(session.store.capture)
        self._rows = session.visible_indices()
        self._count = session.count

    @pyqtSlot()
    def _on_reset(self) -> None:
        self._held.stop()
        self.beginResetModel()
        self._reload()
        self.endResetModel()

    @pyqtSlot(int)
    def _on_grown(self, count: int) -> None:
        if self._held.isActive():
            return
        wait = self._last_append + LOAD_APPEND_SECONDS - time.monotonic()
        if wait > 0 and self.rowCount() and not self.document.session.live:
            self._held.start(int(wait * 1000) + 1)
            return
        self._append(count)

    @pyqtSlot()
    def _append_held(self) -> None:
        self._append(self.document.session.count)

    def release_held(self) -> None:
        """Append the rows held back, now (the file is read, or a packet among
        them is to be selected)."""
        if self._held.isActive():
            self._held.stop()
            self._append_held()

    @pyqtSlot(str)
    def _on_finished(self, _message: str) -> None:
        self.release_held()

    def _append(self, count: int) -> None:
        self._last_append = time.monotonic()
        session = self.document.session
        if self._summary is None or self._summary.store is not session.store \
                or self._summary.analysis is not session.analysis:
            # a live capture attaches its store after the reset: start over
            self._on_reset()
            return
        self._kinds = session.kinds()
        digits = time_digits(session.store.capture if session.store is not None else None)
        if digits != self._digits:  # pcapng says its resolution as it is read
            self._digits = digits
            self._changed(TIME, TIME)
        if self._rows is None:
            if count > self._count:
                self.beginInsertRows(QModelIndex(), self._count, count - 1)
                self._count = count
                self.endInsertRows()
            return
        rows = session.visible_indices()
        if rows is None:
            self._on_reset()
            return
        old = len(self._rows)
        if len(rows) < old or not np.array_equal(rows[:old], self._rows):
            self._on_reset()   # not an append: cannot happen today, but stay correct
            return
        self._count = count
        if len(rows) > old:
            self.beginInsertRows(QModelIndex(), old, len(rows) - 1)
            self._rows = rows
            self.endInsertRows()
        else:
            self._rows = rows


class PacketTable(QWidget):
    """The packet list and its colour legend.

    Selecting a row makes its packet the document's current one; the
    document's ``current_changed`` selects and shows the row. Several rows
    can be selected (for "export the selected packets").
    """

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.model = PacketTableModel(document, self)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.legend = QLabel(self)
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setObjectName("packet-legend")
        self._syncing = False
        self._follow = False
        self._setup_view()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.legend)
        self._update_legend()

        selection = self.view.selectionModel()
        assert selection is not None
        selection.currentRowChanged.connect(self._on_current_row)
        document.current_changed.connect(self._on_document_current)
        self.model.modelReset.connect(self._on_model_reset)
        self.model.rowsAboutToBeInserted.connect(self._on_rows_coming)
        self.model.rowsInserted.connect(self._on_rows_inserted)

    def _setup_view(self) -> None:
        view = self.view
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        view.setWordWrap(False)
        view.setShowGrid(False)
        view.setAlternatingRowColors(False)
        view.setTextElideMode(Qt.TextElideMode.ElideRight)
        view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        vertical = view.verticalHeader()
        assert vertical is not None
        vertical.hide()
        # fixed row heights: Qt never measures a million rows
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(view.fontMetrics().height() + 4)
        header = view.horizontalHeader()
        assert header is not None
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        width = view.fontMetrics().horizontalAdvance
        samples = {NUMBER: "000000", SOURCE: "127.0.0.1:65535", DESTINATION: "127.0.0.1:65535",
                   PROTOCOL: "ICMPv6", FLAGS: "FIN, PSH, ACK", LEN: "00000"}
        for column, sample in samples.items():
            view.setColumnWidth(column, max(width(sample), width(HEADERS[column])) + 16)
        self._size_time_column()
        self._size_number_columns()

    def _size_time_column(self) -> None:
        sample = {"absolute": "2026-11-21 22:35:01.123456789",
                  "relative": "0000.123456789", "delta": "0.123456789"}[self.model.time_format]
        self.view.setColumnWidth(TIME, self.view.fontMetrics().horizontalAdvance(sample) + 16)

    def _size_number_columns(self) -> None:
        sample = "4294967295" if self.model.absolute else "0000000"
        for column in (SEQ, ACK):
            self.view.setColumnWidth(column, self.view.fontMetrics().horizontalAdvance(sample) + 16)

    # -- public API ------------------------------------------------------------------
    def set_time_format(self, name: str) -> None:
        """``"absolute"``, ``"relative"`` or ``"delta"`` (see PacketTableModel)."""
        self.model.set_time_format(name)
        self._size_time_column()

    def set_absolute(self, absolute: bool) -> None:
        """Absolute sequence numbers (as on the wire) instead of relative ones."""
        self.model.set_absolute(absolute)
        self._size_number_columns()

    def selected_indices(self) -> list[int]:
        """0-based packet indices of the selected rows, in capture order."""
        selection = self.view.selectionModel()
        if selection is None:
            return []
        rows: set[int] = set()
        ranges = selection.selection()
        for k in range(len(ranges)):
            part = ranges[k]
            rows.update(range(part.top(), part.bottom() + 1))
        return sorted(i for i in map(self.model.packet_index, rows) if i >= 0)

    # -- selection sync ------------------------------------------------------------
    @pyqtSlot(QModelIndex, QModelIndex)
    def _on_current_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._syncing or not current.isValid():
            return
        self._syncing = True
        try:
            self.document.set_current(self.model.packet_index(current.row()))
        finally:
            self._syncing = False

    @pyqtSlot(int)
    def _on_document_current(self, index: int) -> None:
        if not self._syncing:
            self._select_packet(index)

    def _select_packet(self, index: int) -> None:
        selection = self.view.selectionModel()
        assert selection is not None
        row = self.model.row_of(index)
        if row < 0 and index >= 0:
            self.model.release_held()   # a packet other views show already (the timeline)
            row = self.model.row_of(index)
        self._syncing = True
        try:
            if row < 0:
                selection.clearSelection()
                return
            cell = self.model.index(row, 0)
            current = selection.currentIndex()
            if current.isValid() and current.row() == row and selection.isRowSelected(row):
                return
            selection.setCurrentIndex(cell, QItemSelectionModel.SelectionFlag.ClearAndSelect
                                      | QItemSelectionModel.SelectionFlag.Rows)
            self.view.scrollTo(cell, QAbstractItemView.ScrollHint.EnsureVisible)
        finally:
            self._syncing = False

    @pyqtSlot()
    def _on_model_reset(self) -> None:
        if self.document.session.current >= 0:
            self._select_packet(self.document.session.current)
            row = self.model.row_of(self.document.session.current)
            if row >= 0:
                self.view.scrollTo(self.model.index(row, 0),
                                   QAbstractItemView.ScrollHint.PositionAtCenter)

    # -- live capture: follow the newest packet -----------------------------------
    @pyqtSlot(QModelIndex, int, int)
    def _on_rows_coming(self, _parent: QModelIndex, _first: int, _last: int) -> None:
        bar = self.view.verticalScrollBar()
        self._follow = self.document.session.live and bar is not None \
            and bar.value() >= bar.maximum()

    @pyqtSlot(QModelIndex, int, int)
    def _on_rows_inserted(self, _parent: QModelIndex, _first: int, _last: int) -> None:
        if self._follow:
            self.view.scrollToBottom()

    # -- palette ---------------------------------------------------------------------
    def changeEvent(self, event: QEvent | None) -> None:
        if event is not None and event.type() == QEvent.Type.PaletteChange:
            self.model.set_dark(palette_is_dark(self.palette()))
            self._update_legend()
        super().changeEvent(event)

    def _update_legend(self) -> None:
        dark = palette_is_dark(self.palette())
        text = self.palette().color(QPalette.ColorRole.Text).name()
        chips = []
        for kind in KINDS:
            if kind.name == "other":
                continue
            colour = kind.text or text
            label = html.escape(kind.label).replace(" ", "&nbsp;")
            weight = "font-weight:600;" if kind.code == PROBLEM_K else ""
            chips.append(f'<span style="background-color:{kind.dark if dark else kind.light};'
                         f'color:{colour};{weight}">&nbsp;{label}&nbsp;</span>')
        self.legend.setText(" ".join(chips))
        self.legend.setToolTip("Row colours: what kind of packet each row is")


__all__ = ["PACKET_INDEX_ROLE", "PacketTable", "PacketTableModel", "palette_is_dark"]
