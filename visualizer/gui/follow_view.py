"""The Follow Stream window: one conversation's payload, coloured by direction.

As Wireshark's Follow TCP/UDP Stream: the bytes each side sent, in stream
order (``core/follow``: retransmissions, overlaps and out-of-order data
handled as Wireshark does), node 0 in red, node 1 in blue, shown as ASCII, a
hex dump, UTF-8 or raw hex. Clicking a byte selects, in the main window, the
packet that carried it. Opened from View ▸ Follow Stream (the current
packet's conversation, else the selected one) and from the conversations
list's context menu.
"""

from __future__ import annotations

import bisect

from PyQt6.QtCore import QPoint, Qt, pyqtSlot
from PyQt6.QtGui import (
    QAction,
    QColor,
    QFont,
    QFontDatabase,
    QKeySequence,
    QTextCharFormat,
    QTextCursor,
)
from PyQt6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from visualizer.core.errors import BadInput
from visualizer.core.follow.reassembly import Chunk
from visualizer.core.follow.streams import Followed, follow_tcp, follow_udp
from visualizer.core.follow.text import hex_lines, printable
from visualizer.core.session import Session
from visualizer.gui.conversations import KEY_ROLE
from visualizer.gui.document import Document

FORMATS = ("ASCII", "Hex dump", "UTF-8", "Raw")
SHORTCUT = "Ctrl+Alt+Shift+T"   # Wireshark's Follow TCP Stream
MAX_BYTES = 1 << 20             # shown at most (the rest is said, not drawn)
LONGEST_LINE = 4096             # longer lines are broken for display (Qt lays a line out whole)
# Wireshark's default colours: node 0 (the client) red, node 1 (the server) blue
COLOURS = ((QColor("#7f0000"), QColor("#fbeded")), (QColor("#00007f"), QColor("#ededfb")))


def follow_target(session: Session) -> tuple[str, int] | None:
    """The conversation to follow: the current packet's, else the selected one."""
    analysis = session.analysis
    if analysis is not None and 0 <= session.current < len(analysis.values("stream")):
        stream = int(analysis.values("stream")[session.current])
        if stream >= 0:
            return ("tcp", stream)
        flow = int(analysis.values("udp_flow")[session.current])
        if flow >= 0:
            return ("udp", flow)
    return session.conversation


def broken(text: str, column: int) -> tuple[str, int]:
    """``text`` with a line break inserted wherever a line would pass
    :data:`LONGEST_LINE` characters, ``column`` being where the line stands
    before it; and the column after it."""
    pieces, start = [], 0
    while True:
        newline = text.find("\n", start)
        end = len(text) if newline < 0 else newline
        while end - start > LONGEST_LINE - column:
            cut = start + LONGEST_LINE - column
            pieces += [text[start:cut], "\n"]
            start, column = cut, 0
        if newline < 0:
            pieces.append(text[start:])
            return "".join(pieces), column + len(text) - start
        pieces.append(text[start:newline + 1])
        start, column = newline + 1, 0


def chunk_text(chunk: Chunk, fmt: str, position: int) -> str:
    """One chunk as it is shown in format ``fmt`` (``position``: bytes its side
    sent before it, the hex dump's offset)."""
    if fmt == "ASCII":
        return printable(chunk.data)
    if fmt == "UTF-8":
        return chunk.data.decode("utf-8", errors="replace")
    indent = "    " if chunk.direction else ""
    if fmt == "Raw":
        return indent + chunk.data.hex() + "\n"
    return "".join(f"{indent}{line}\n" for line in hex_lines(chunk.data, position))


class FollowWindow(QWidget):
    """One conversation's payload (see module docstring)."""

    def __init__(self, document: Document, key: tuple[str, int],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.document = document
        session = document.session
        assert session.store is not None and session.analysis is not None
        follow = follow_tcp if key[0] == "tcp" else follow_udp
        with session.lock:
            self.followed: Followed = follow(session.store, session.analysis, key[1])
        nodes = self.followed.nodes
        self.setWindowTitle(f"Follow {key[0].upper()} Stream {key[1]} — {nodes[0]} ↔ "
                            f"{nodes[1]}")
        self.show_as = QComboBox(self)
        self.show_as.addItems(FORMATS)
        self.direction = QComboBox(self)
        sent = self.followed.sent
        self.direction.addItem(f"Entire conversation ({sent(0) + sent(1):,} bytes)", -1)
        self.direction.addItem(f"{nodes[0]} → {nodes[1]} ({sent(0):,} bytes)", 0)
        self.direction.addItem(f"{nodes[1]} → {nodes[0]} ({sent(1):,} bytes)", 1)
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                          | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self._starts: list[int] = []     # text position where each shown chunk starts
        self._frames: list[int] = []     # ... and the frame that carried it

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Show as:", self))
        bar.addWidget(self.show_as)
        bar.addWidget(self.direction, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.status)
        self.show_as.currentIndexChanged.connect(self.redraw)
        self.direction.currentIndexChanged.connect(self.redraw)
        self.text.cursorPositionChanged.connect(self._on_cursor)
        self.resize(820, 600)
        self.redraw()

    @pyqtSlot()
    def redraw(self) -> None:
        fmt = self.show_as.currentText()
        only = self.direction.currentData()
        self._starts, self._frames = [], []
        self.text.blockSignals(True)
        self.text.clear()
        cursor = QTextCursor(self.text.document())
        formats = []
        for fg, bg in COLOURS:
            f = QTextCharFormat()
            f.setForeground(fg)
            f.setBackground(bg)
            formats.append(f)
        position, shown, chunks, column = [0, 0], 0, 0, 0
        for chunk in self.followed.chunks:
            if only in (0, 1) and chunk.direction != only:
                position[chunk.direction] += len(chunk.data)
                continue
            if shown >= MAX_BYTES:
                break
            self._starts.append(cursor.position())
            self._frames.append(chunk.frame)
            text, column = broken(chunk_text(chunk, fmt, position[chunk.direction]), column)
            marker = formats[chunk.direction]
            if chunk.gap:
                marker = QTextCharFormat(marker)
                marker.setFontItalic(True)
                marker.setFontWeight(QFont.Weight.Bold)
            cursor.insertText(text, marker)
            position[chunk.direction] += len(chunk.data)
            shown += len(chunk.data)
            chunks += 1
        self.text.moveCursor(QTextCursor.MoveOperation.Start)
        self.text.blockSignals(False)
        total = len(self.followed.chunks)
        more = (f" Only the first {MAX_BYTES >> 20} MiB is shown."
                if chunks < total and shown >= MAX_BYTES else "")
        self.status.setText(f"{chunks:,} chunk{'s' if chunks != 1 else ''} "
                            f"({shown:,} bytes). Click a byte to select the packet that "
                            f"carried it.{more}" if chunks else "No payload in this "
                            "conversation.")

    def frame_at(self, position: int) -> int | None:
        """The frame that carried the byte shown at text ``position``."""
        k = bisect.bisect_right(self._starts, position) - 1
        return self._frames[k] if k >= 0 else None

    def position_of(self, number: int) -> int:
        """Text position of shown chunk ``number`` (its first character)."""
        return self._starts[number]

    @pyqtSlot()
    def _on_cursor(self) -> None:
        if self.text.textCursor().hasSelection():
            return
        frame = self.frame_at(self.text.textCursor().position())
        session = self.document.session
        if frame is None or frame > session.count:   # frame: the store's index + 1
            return
        self.status.setText(f"Packet {session.first_number + frame - 1:,} carried these "
                            "bytes.")
        self.document.set_current(frame - 1)


def open_follow(window: QMainWindow, document: Document,
                key: tuple[str, int] | None = None) -> FollowWindow | None:
    """Open a Follow Stream window on ``key`` (default: :func:`follow_target`)."""
    session = document.session
    key = key if key is not None else follow_target(session)
    status = window.statusBar()
    if key is None or session.store is None or session.analysis is None:
        if status is not None:
            status.showMessage("Follow Stream: select a TCP or UDP packet or conversation "
                               "first", 8000)
        return None
    try:
        follow = FollowWindow(document, key, window)
    except BadInput as err:
        if status is not None:
            status.showMessage(f"Follow Stream: {err}", 8000)
        return None
    follow.show()
    return follow


def install(window: QMainWindow, document: Document, menu: QMenu, conversations: QWidget
            ) -> QAction:
    """Add Follow Stream to ``menu`` and to the conversations list's context menu."""
    action = QAction("&Follow Stream…", window)
    action.setShortcut(QKeySequence(SHORTCUT))
    action.setStatusTip("The payload of the current packet's conversation, both directions")
    action.triggered.connect(lambda: open_follow(window, document))
    menu.addAction(action)
    view = getattr(conversations, "view", None)
    if view is not None:
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

        def context(point: QPoint) -> None:
            data = view.model().data(view.indexAt(point), KEY_ROLE)
            if data is None:
                return
            key = (str(data[0]), int(data[1]))
            popup = QMenu(view)
            item = popup.addAction(f"Follow {key[0].upper()} Stream {key[1]}")
            assert item is not None
            item.triggered.connect(lambda: open_follow(window, document, key))
            popup.popup(view.viewport().mapToGlobal(point))

        view.customContextMenuRequested.connect(context)
    return action
