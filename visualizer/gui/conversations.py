"""The conversations pane: TCP streams and UDP flows; picking one filters the views.

A view over the shared ``Document``. While packets arrive the list is
refreshed at most twice a second (a live capture at 10k packets/s must not
rebuild it 10k times), less often when a refresh is costly (thousands of
conversations: at most a tenth of the window's time goes to it), and only
by inserting the new conversations and
updating the numbers of the old ones, so the selection and the scroll
position stay where the user left them. A refresh makes at most
``ROWS_A_REFRESH`` rows: with tens of thousands of new conversations a
second, the list lags behind the file rather than holding up the window.
It makes the rows left over in further refreshes, as often as a tenth of
the time allows while packets arrive, and in short steps once the file is
read.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from itertools import compress
from operator import is_not
from typing import Any

from PyQt6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    pyqtSlot,
)
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from visualizer.core.describe.summary import format_seconds
from visualizer.core.session import Conversation
from visualizer.gui.document import LOCK_RETRY_MS, LOCK_WAIT_SECONDS, Document

HEADERS = ("Conversation", "Endpoint A", "Endpoint B", "Packets", "Bytes", "Duration",
           "States", "Problems")
NAME, END_A, END_B, PACKETS, BYTES, DURATION, STATES, PROBLEMS = range(len(HEADERS))
_RIGHT = (PACKETS, BYTES, DURATION, PROBLEMS)
_HEADER_TIPS = {
    NAME: "TCP stream number (tcp.stream in Wireshark) or UDP flow number",
    END_A: "The side that sent first: the client, for TCP",
    END_B: "The other side: the server, for TCP",
    BYTES: "Payload bytes, both directions",
    DURATION: "Seconds from the first packet to the last",
    STATES: "TCP states of A / B after the last packet (UDP: ICMP errors received)",
    PROBLEMS: "Packets the TCP analysis flagged (retransmissions, dup ACKs, ...)",
}
KEY_ROLE = Qt.ItemDataRole.UserRole + 1    # the conversation's (kind, number)
SORT_ROLE = Qt.ItemDataRole.UserRole + 2   # a value that sorts numerically
REFRESH_SECONDS = 0.5
REFRESH_SHARE = 0.1        # while packets arrive, at most this share of the time
# Rows made at most a refresh (about 7 µs each at 71,000 connections: 15 ms);
# the others in the next refreshes, CATCH_UP_MS apart once the file is read.
ROWS_A_REFRESH = 2000
CATCH_UP_MS = 20
_Index = QModelIndex | QPersistentModelIndex


def _same(a: Conversation, b: Conversation) -> bool:
    """The same conversation (its numbers may have changed)."""
    return a is b or (a.number == b.number and a.kind == b.kind)


class ConversationsModel(QAbstractTableModel):
    """One row per conversation of ``document.session.conversations()``.

    ``KEY_ROLE`` gives a row's key (``("tcp", 0)``), ``SORT_ROLE`` a
    sortable value. ``refresh()`` picks up what changed since the last call.
    """

    def __init__(self, document: Document, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self._rows: list[Conversation] = []
        self._last_refresh = 0.0
        self._interval = REFRESH_SECONDS
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.refresh)
        document.reset.connect(self._on_document_reset)
        document.filter_changed.connect(self._on_reset)   # only those with a packet shown
        document.grown.connect(self._on_grown)
        document.finished.connect(self._on_finished)
        self._finished = not document.busy   # (a model made after a load catches up too)
        self._take_all()
        self._catch_up()

    def _take_all(self) -> None:
        """Start over from the document's conversations (inside a reset)."""
        self._rows = self._fetch() or []
        # an empty list shows the first conversations at once; otherwise throttle
        self._last_refresh = time.monotonic() if self._rows else 0.0

    # -- reading ---------------------------------------------------------------
    def conversation(self, row: int) -> Conversation | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, key: tuple[str, int] | None) -> int:
        """The row of the conversation ``key`` (-1 when absent)."""
        if key is None:   # asked at each insertion: no need to look at every row
            return -1
        for row, conv in enumerate(self._rows):
            if conv.key == key:
                return row
        return -1

    # -- Qt model API --------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(HEADERS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return _HEADER_TIPS.get(section)
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        conv, column = self._rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return _text(conv, column)
        if role == SORT_ROLE:
            return _sort_value(conv, column)
        if role == KEY_ROLE:
            return conv.key
        if role == Qt.ItemDataRole.TextAlignmentRole:
            horizontal = Qt.AlignmentFlag.AlignRight if column in _RIGHT \
                else Qt.AlignmentFlag.AlignLeft
            return horizontal | Qt.AlignmentFlag.AlignVCenter
        if role == Qt.ItemDataRole.ToolTipRole and column == NAME:
            return (f"{conv.endpoints[0]} ↔ {conv.endpoints[1]}: select to show only "
                    "this conversation's packets")
        return None

    # -- refreshing -------------------------------------------------------------
    @pyqtSlot()
    def refresh(self) -> None:
        """Insert new conversations and update the numbers of the known ones."""
        self._timer.stop()
        started = time.monotonic()
        rows = self._fetch()
        if rows is None:  # the loader holds the lock: try again in a moment
            self._timer.start(LOCK_RETRY_MS)
            return
        self._last_refresh = time.monotonic()
        try:
            self._merge(rows)
        finally:   # the views' work on the new rows counts too, not only the fetch
            cost = time.monotonic() - started
            self._interval = max(REFRESH_SECONDS, cost / REFRESH_SHARE)
        self._catch_up(cost)

    def _catch_up(self, cost: float = 0.0) -> None:
        """Refresh again soon if the last refresh (which took ``cost`` seconds)
        left rows to make: CATCH_UP_MS apart once the file is read, before
        that as often as REFRESH_SHARE of the time allows."""
        session = self.document.session
        if self._timer.isActive():
            return
        if self._finished and session.conversations_behind:
            # half the window's time at most: each refresh's work grows with the list
            self._timer.start(max(CATCH_UP_MS, int(cost * 1000)))
        elif session.conversations_left:
            self._timer.start(max(CATCH_UP_MS, int(cost / REFRESH_SHARE * 1000)))

    def _merge(self, rows: list[Conversation]) -> None:
        runs = _new_runs(self._rows, rows)
        if runs is None:
            # something disappeared or moved: not a growth (cannot happen today)
            self.beginResetModel()
            self._rows = rows
            self.endResetModel()
            return
        for position, end in runs:   # each run of new rows in one insertion
            self.beginInsertRows(QModelIndex(), position, end - 1)
            self._rows[position:position] = rows[position:end]
            self.endInsertRows()
        changed = _made_anew(self._rows, rows)
        self._rows = rows
        if changed:
            self.dataChanged.emit(self.index(changed[0], 0),
                                  self.index(changed[-1], len(HEADERS) - 1))

    def _fetch(self) -> list[Conversation] | None:
        """The document's conversations, or None if the loader is busy with them.

        The loader holds the document lock while it analyses a batch (a
        tenth of a second or more): waiting for it here would freeze the
        window, so wait briefly and otherwise try again a little later.
        """
        lock = self.document.session.lock
        if not lock.acquire(timeout=LOCK_WAIT_SECONDS):
            return None
        try:
            return self.document.session.conversations(ROWS_A_REFRESH)
        finally:
            lock.release()

    @pyqtSlot()
    def _on_document_reset(self) -> None:
        self._finished = False
        self._on_reset()

    @pyqtSlot()
    def _on_reset(self) -> None:
        self._timer.stop()
        self._interval = REFRESH_SECONDS
        self.beginResetModel()
        self._take_all()
        self.endResetModel()
        self._catch_up()

    @pyqtSlot(int)
    def _on_grown(self, _count: int) -> None:
        if self._timer.isActive():
            return
        wait = self._interval - (time.monotonic() - self._last_refresh)
        if wait <= 0:
            self.refresh()
        else:
            self._timer.start(int(wait * 1000) + 1)

    @pyqtSlot(str)
    def _on_finished(self, _message: str) -> None:
        # in a turn of its own: the other views redraw on ``finished`` too
        self._finished = True
        self._timer.start(0)


def _made_anew(old: list[Conversation], rows: list[Conversation]) -> list[int]:
    """The positions where ``rows`` holds another object than ``old`` (in C: at
    71,000 conversations a loop in Python took 8 ms a refresh)."""
    return list(compress(range(len(rows)), map(is_not, rows, old)))


def _kind(conv: Conversation) -> str:
    return conv.kind


def _grown_at_end(old: list[Conversation], rows: list[Conversation]
                  ) -> list[tuple[int, int]] | None:
    """[(len(old), len(rows))] (or [] for no new row) when ``rows`` is ``old``
    with rows added at the end (old ones in place, made anew or not); else None."""
    n = len(old)
    if len(rows) >= n and all(_same(rows[k], old[k]) for k in _made_anew(old, rows)):
        return [(n, len(rows))] if len(rows) > n else []
    return None


def _new_runs(old: list[Conversation], rows: list[Conversation]
              ) -> list[tuple[int, int]] | None:
    """Where ``rows`` has rows that ``old`` had not, as (start, end) runs, when
    ``rows`` is ``old`` grown (each old row in its place, made anew or not, the
    new ones between); None when it is not.

    Without a display filter the new rows come at the end of the TCP rows and
    of the UDP rows: that is checked first, on the rows made anew alone.
    Otherwise one walk over both lists finds the runs (at 71,000 conversations
    it took 30 ms a refresh).
    """
    # TCP rows then UDP rows, each grown at its end (new streams come before the
    # flows): two blocks, each found by bisection on the kind
    cut_old = bisect_left(old, "udp", key=_kind)
    cut = bisect_left(rows, "udp", key=_kind)
    tcp = _grown_at_end(old[:cut_old], rows[:cut])
    udp = _grown_at_end(old[cut_old:], rows[cut:])
    if tcp is not None and udp is not None:
        return tcp + [(cut + start, cut + end) for start, end in udp]
    n = len(old)
    runs, i, position = [], 0, 0
    while position < len(rows):
        if i < n and _same(rows[position], old[i]):
            i, position = i + 1, position + 1
            continue
        end = position + 1
        while end < len(rows) and not (i < n and _same(rows[end], old[i])):
            end += 1
        runs.append((position, end))
        position = end
    return runs if i == n else None


def _text(conv: Conversation, column: int) -> str:
    if column == NAME:
        return f"{conv.kind.upper()} {conv.number}"
    if column in (END_A, END_B):
        return conv.endpoints[column - END_A]
    if column == PACKETS:
        return f"{conv.packets:,}"
    if column == BYTES:
        return f"{conv.bytes:,}"
    if column == DURATION:
        return f"{format_seconds(conv.last_ns - conv.first_ns, 6)} s"
    if column == STATES:
        return conv.states
    if column == PROBLEMS:
        return f"{conv.problems:,}" if conv.problems else ""
    return ""


def _sort_value(conv: Conversation, column: int) -> int | str:
    if column == NAME:
        return (0 if conv.kind == "tcp" else 1 << 40) + conv.number
    if column in (END_A, END_B, STATES):
        return _text(conv, column)
    return {PACKETS: conv.packets, BYTES: conv.bytes, DURATION: conv.last_ns - conv.first_ns,
            PROBLEMS: conv.problems}[column]


class ConversationOrder(QSortFilterProxyModel):
    """The conversations sorted by the column the user picks.

    Sorted by conversation number, ascending (how the list opens), it
    keeps the model's own order, which is that one: the proxy would
    otherwise ask the model for every new row's sort value about 2·log2(n)
    times, in Python, a minute and more for a SYN scan's 200,000
    conversations.
    """

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if column == NAME and order == Qt.SortOrder.AscendingOrder:
            column = -1   # the model's order
        super().sort(column, order)


class ConversationsPane(QWidget):
    """The conversations list with a "Show all packets" button.

    Selecting a row sets the document's conversation filter; the button (or
    selecting nothing) clears it. The document's ``conversation_changed``
    keeps the selection in step when someone else changes the filter.
    """

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.model = ConversationsModel(document, self)
        self.proxy = ConversationOrder(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.view = QTableView(self)
        self.view.setModel(self.proxy)
        self.show_all = QPushButton("Show all packets", self)
        self.show_all.setToolTip("Clear the conversation filter")
        self.status = QLabel(self)
        self.status.setWordWrap(True)  # long counts must not widen the dock
        self._syncing = False
        self._setup_view()

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.show_all)
        top.addWidget(self.status, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)

        self.show_all.clicked.connect(self._on_show_all)
        selection = self.view.selectionModel()
        assert selection is not None
        selection.selectionChanged.connect(self._on_selection)
        document.conversation_changed.connect(self._on_document_conversation)
        self.model.modelReset.connect(self._on_document_conversation)
        self.model.rowsInserted.connect(self._on_document_conversation)
        self._on_document_conversation()
        self._update_status()

    def _setup_view(self) -> None:
        view = self.view
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setWordWrap(False)
        view.setShowGrid(False)
        view.setAlternatingRowColors(True)
        view.setSortingEnabled(True)
        view.sortByColumn(NAME, Qt.SortOrder.AscendingOrder)
        vertical = view.verticalHeader()
        assert vertical is not None
        vertical.hide()
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(view.fontMetrics().height() + 4)
        header = view.horizontalHeader()
        assert header is not None
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        width = view.fontMetrics().horizontalAdvance
        samples = {NAME: "TCP 0000", END_A: "255.255.255.255:65535",
                   END_B: "255.255.255.255:65535", PACKETS: "000,000", BYTES: "00,000,000",
                   DURATION: "000.000000 s", STATES: "TIME-WAIT / CLOSED"}
        for column, sample in samples.items():
            view.setColumnWidth(column, max(width(sample), width(HEADERS[column])) + 16)

    # -- selection -> document -----------------------------------------------------
    def selected_key(self) -> tuple[str, int] | None:
        selection = self.view.selectionModel()
        rows = selection.selectedRows() if selection is not None else []
        if not rows:
            return None
        key = self.proxy.data(rows[0], KEY_ROLE)
        return (str(key[0]), int(key[1])) if key is not None else None

    @pyqtSlot(QItemSelection, QItemSelection)
    def _on_selection(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        if not self._syncing:
            self.document.set_conversation(self.selected_key())
        self._update_status()

    @pyqtSlot()
    def _on_show_all(self) -> None:
        self.document.set_conversation(None)

    # -- document -> selection ------------------------------------------------------
    @pyqtSlot()
    def _on_document_conversation(self) -> None:
        key = self.document.session.conversation
        selection = self.view.selectionModel()
        assert selection is not None
        self._syncing = True
        try:
            row = self.model.row_of(key)
            if row < 0:
                selection.clearSelection()
            elif self.selected_key() != key:
                cell = self.proxy.mapFromSource(self.model.index(row, 0))
                selection.setCurrentIndex(cell, QItemSelectionModel.SelectionFlag.ClearAndSelect
                                          | QItemSelectionModel.SelectionFlag.Rows)
                self.view.scrollTo(cell)
        finally:
            self._syncing = False
        self._update_status()

    @pyqtSlot()
    def _update_status(self) -> None:
        key = self.document.session.conversation
        self.show_all.setEnabled(key is not None)
        n = self.model.rowCount()
        if key is None:
            self.status.setText(f"{n:,} conversation{'s' if n != 1 else ''}; "
                                "select one to show only its packets")
        else:
            self.status.setText(f"showing {key[0].upper()} {key[1]} only")


__all__ = ["KEY_ROLE", "SORT_ROLE", "ConversationOrder", "ConversationsModel",
           "ConversationsPane"]
