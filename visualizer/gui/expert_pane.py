"""The Expert Information pane: findings by severity and kind, with counts.

A tree as Wireshark's Expert Information dialog: severities (Error, Warning,
Note, Chat), under each the kinds of finding with their counts, under each
kind its packets (the first :data:`MAX_PACKETS`). Clicking a kind or a
packet selects that packet in the main window. Go ▸ Next Problem and
Previous Problem (F8, Shift+F8) walk the packets of the kind or severity
selected here, or every warning and error when nothing is selected.
The findings come from ``core/expert.py``; they are computed again when the
capture has grown (at most once a second while it loads).
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt, QTimer, pyqtSlot
from PyQt6.QtGui import QAction, QColor, QKeySequence
from PyQt6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMenu,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from visualizer.core.expert import (
    Finding,
    FindingsSoFar,
    Severity,
    next_index,
    problem_indices,
)
from visualizer.gui.document import LOCK_RETRY_MS, LOCK_WAIT_SECONDS, Document

MAX_PACKETS = 1000   # packet rows listed under a kind (Next/Previous reach all of them)
REFRESH_MS = 1000    # while packets arrive, the findings are counted again this often
NEXT_KEY, PREVIOUS_KEY = "F8", "Shift+F8"
COLOURS = {Severity.ERROR: QColor("#ff5c5c"), Severity.WARNING: QColor("#ffd866"),
           Severity.NOTE: QColor("#a0d4ff"), Severity.CHAT: QColor("#c8e6a0")}
INDEX_ROLE = Qt.ItemDataRole.UserRole        # packet rows: the packet's index
KIND_ROLE = Qt.ItemDataRole.UserRole + 1     # kind rows: the kind; severity rows: the severity


class ExpertPane(QWidget):
    """The expert information tree (see module docstring)."""

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.findings: list[Finding] = []
        self._so_far = FindingsSoFar()
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Severity / summary", "Count", "Packet"])
        self.tree.setUniformRowHeights(True)
        self.tree.setColumnWidth(0, 430)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.status)
        layout.addWidget(self.tree, 1)
        self._later = QTimer(self)
        self._later.setSingleShot(True)
        self._later.timeout.connect(self.refresh)
        self.tree.itemClicked.connect(self._on_clicked)
        self.tree.itemActivated.connect(self._on_clicked)
        self.tree.itemExpanded.connect(self._on_expanded)
        document.reset.connect(self.refresh)
        document.finished.connect(self.refresh)
        document.grown.connect(self._on_grown)
        self.refresh()

    # -- contents ------------------------------------------------------------------
    @pyqtSlot()
    def refresh(self, *, wait: bool = False) -> None:
        """Count the findings of the packets read since the last time. The loader
        holds the session's lock while it reads a batch: unless ``wait`` (a
        user's key press), give up after a moment and try again later."""
        session = self.document.session
        self._later.stop()
        if session.store is None:
            self.tree.clear()
            self.findings = []
            self._so_far = FindingsSoFar()   # lets the closed capture go
            self.status.setText("No capture open.")
            return
        if not session.lock.acquire(timeout=-1 if wait else LOCK_WAIT_SECONDS):
            self._later.start(LOCK_RETRY_MS)   # the loader is mid-batch
            if not self._so_far.is_of(session.store, session.analysis):
                self.tree.clear()              # another capture: none of these are its
                self.findings = []
            return
        try:
            self.findings = self._so_far.update(session.store, session.analysis)
        finally:
            session.lock.release()
        self.tree.clear()
        for severity in sorted({f.severity for f in self.findings}, reverse=True):
            group = [f for f in self.findings if f.severity == severity]
            top = QTreeWidgetItem([severity.label, f"{sum(f.count for f in group):,}", ""])
            top.setData(0, KIND_ROLE, int(severity))
            top.setBackground(0, COLOURS[severity])
            self.tree.addTopLevelItem(top)
            for finding in group:
                item = QTreeWidgetItem([finding.text, f"{finding.count:,}",
                                        f"{self._number(int(finding.indices[0])):,}"])
                item.setData(0, KIND_ROLE, finding.kind)
                item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
                top.addChild(item)
            top.setExpanded(True)
        problems = len(problem_indices(self.findings))
        self.status.setText(f"{problems:,} packet{'s' if problems != 1 else ''} with a warning "
                            f"or an error. {NEXT_KEY} / {PREVIOUS_KEY}: next / previous "
                            "problem (of the kind selected here)." if self.findings else
                            "Nothing to report: no retransmission, zero window, reset or "
                            "malformed frame.")

    def _number(self, index: int) -> int:
        return self.document.session.first_number + index

    @pyqtSlot(int)
    def _on_grown(self, _count: int) -> None:
        if not self._later.isActive():
            self._later.start(REFRESH_MS)

    @pyqtSlot(QTreeWidgetItem)
    def _on_expanded(self, item: QTreeWidgetItem) -> None:
        finding = self._finding(item)
        if finding is None or item.childCount() or item.data(0, INDEX_ROLE) is not None:
            return
        for index in finding.indices[:MAX_PACKETS].tolist():
            child = QTreeWidgetItem([finding.text, "", f"{self._number(index):,}"])
            child.setData(0, INDEX_ROLE, index)
            item.addChild(child)
        if finding.count > MAX_PACKETS:
            item.addChild(QTreeWidgetItem([f"… {finding.count - MAX_PACKETS:,} more: use "
                                           f"{NEXT_KEY}", "", ""]))

    def _finding(self, item: QTreeWidgetItem | None) -> Finding | None:
        while item is not None:
            kind = item.data(0, KIND_ROLE)
            if isinstance(kind, str):
                return next((f for f in self.findings if f.kind == kind), None)
            item = item.parent()
        return None

    @pyqtSlot(QTreeWidgetItem)
    def _on_clicked(self, item: QTreeWidgetItem) -> None:
        index = item.data(0, INDEX_ROLE)
        if index is None:
            finding = self._finding(item)
            if finding is None:
                return
            index = int(finding.indices[0])
        self.document.set_current(int(index))

    # -- next / previous problem --------------------------------------------------------
    def walked(self) -> np.ndarray:
        """The packets Next/Previous Problem walk: the selected kind's, the selected
        severity's, or every warning and error."""
        item = self.tree.currentItem()
        finding = self._finding(item)
        if finding is not None:
            return finding.indices
        while item is not None and item.parent() is not None:
            item = item.parent()
        if item is not None and isinstance(item.data(0, KIND_ROLE), int):
            severity = Severity(item.data(0, KIND_ROLE))
            parts = [f.indices for f in self.findings if f.severity == severity]
            return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
        return problem_indices(self.findings)

    @pyqtSlot()
    def next_problem(self, *, forward: bool = True) -> None:
        if self._later.isActive() or not self.findings:
            self.refresh(wait=True)
        found = next_index(self.walked(), self.document.session.current, forward=forward)
        if found is not None:
            self.document.set_current(found)
            return
        window = self.window()
        status = window.statusBar() if isinstance(window, QMainWindow) else None
        if status is not None:
            status.showMessage(f"No {'next' if forward else 'previous'} problem", 4000)

    @pyqtSlot()
    def previous_problem(self) -> None:
        self.next_problem(forward=False)

    def add_go_actions(self, menu: QMenu, host: QWidget) -> None:
        """Next/Previous Problem in ``menu``, their keys live in ``host`` (the window)."""
        menu.addSeparator()
        for text, key, slot in (("Next &Problem", NEXT_KEY, self.next_problem),
                                ("Previous P&roblem", PREVIOUS_KEY, self.previous_problem)):
            action = QAction(text, self)
            action.setShortcut(QKeySequence(key))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.setStatusTip("Go to the next packet with a finding of the kind selected "
                                "in Expert information (any warning or error if none)")
            action.triggered.connect(lambda _=False, s=slot: s())
            menu.addAction(action)
            host.addAction(action)
