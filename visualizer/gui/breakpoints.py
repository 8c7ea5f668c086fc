"""Go › Play to Next / Back to Previous: the breakpoint actions.

Each kind of ``core.playback.breakpoints`` gets a key: the letter plays on
until the next matching packet has landed, Shift+letter goes back to the
previous one. The status bar says why playback stopped (or that nothing
matches). The matching is the core's, over the packets the ladder plays.
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import QObject, Qt, pyqtSlot
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import QMenu

from visualizer.core.playback.breakpoints import BREAKPOINTS, breakpoint_mask, find, stop_reason
from visualizer.gui.stage import Stage

#: kind -> (key, menu text)
KEYS: dict[str, tuple[str, str]] = {
    "state": ("S", "State Change"),
    "retransmission": ("R", "Retransmission"),
    "rst": ("X", "Reset (RST)"),
    "zero-window": ("W", "Zero Window"),
    "data": ("D", "Data"),
    "flag": ("A", "Analysis Flag"),
    "lost": ("L", "Packet Lost on the Path"),
}
STATUS_MS = 15000


class Breakpoints(QObject):
    """The breakpoint actions of one window's stage (see module docstring)."""

    def __init__(self, stage: Stage, status: Callable[[str, int], None]) -> None:
        super().__init__(stage)
        self.stage = stage
        self._status = status
        self._pending: tuple[int, str] = (-1, "")   # store index playing to, its reason
        self.actions: dict[tuple[str, int], QAction] = {}
        stage.document.current_changed.connect(self._on_current)

    def add_go_actions(self, menu: QMenu) -> None:
        for direction, title in ((1, "Play to &Next"), (-1, "Back to &Previous")):
            sub = menu.addMenu(title)
            assert sub is not None
            for kind, (key, text) in KEYS.items():
                action = QAction(text, self.stage)
                action.setShortcut(QKeySequence(key if direction > 0 else f"Shift+{key}"))
                action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
                action.triggered.connect(lambda _=False, k=kind, d=direction: self.go(k, d))
                sub.addAction(action)
                self.stage.addAction(action)
                self.actions[(kind, direction)] = action

    def go(self, kind: str, direction: int) -> bool:
        """Play to the next (direction 1) or back to the previous (-1) packet of ``kind``."""
        stage, session = self.stage, self.stage.document.session
        cursor = stage.playback
        if session.analysis is None or not len(cursor):
            return False
        with session.lock:
            mask = breakpoint_mask(kind, session.analysis, cursor.packets, session.path_view)
        at = cursor.index
        if direction > 0 and at >= 0 and cursor.progress < 1.0 and mask[at]:
            target = at                     # the matching packet in flight: let it land
        else:
            target = find(mask, at, direction)
        if target < 0:
            where = "after" if direction > 0 else "before"
            self._status(f"Nothing {where} this packet to stop at: {BREAKPOINTS[kind]}",
                         STATUS_MS)
            return False
        packet = int(cursor.packets[target])
        with session.lock:
            reason = stop_reason(kind, session.analysis, packet,
                                 first_number=session.first_number, path=session.path_view)
        if direction > 0:
            self._pending = (packet, reason)
            self._status(f"Playing to frame {session.first_number + packet}: "
                         f"{BREAKPOINTS[kind]}…", 0)
            stage.play_until(target)
        else:
            self._pending = (-1, "")
            stage.show_packet(packet)
            self._status(reason, STATUS_MS)
        return True

    @pyqtSlot(int)
    def _on_current(self, index: int) -> None:
        packet, reason = self._pending
        if packet < 0:
            return
        if index == packet:
            self._pending = (-1, "")
            self._status(reason, STATUS_MS)
        elif self.stage.playback.stop_at < 0:   # another control took over
            self._pending = (-1, "")
            self._status("", 0)
