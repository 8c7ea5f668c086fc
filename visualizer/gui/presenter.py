"""Presenter mode (F11, View › Presenter Mode): the ladder for the back of a room.

Full screen, the ladder and the explanation in type twice the normal size,
the lanes spread over the whole width; the packet list, details,
conversations, scenarios, timeline, toolbars and menu bar are hidden. A
lesson's or predict mode's panel stays, enlarged too: it is what the class
reads, and then it takes the explanation's place below the ladder (at
1366x768 there is no room for both). The ladder is magnified up to twice,
as far as every lane still fits the width. Every key still works (the
menus' actions are the window's too). F11 or Escape goes back to the
window as it was.
"""

from __future__ import annotations

from PyQt6.QtCore import QByteArray, QObject, Qt, QTimer, pyqtSlot
from PyQt6.QtGui import QAction, QFont, QKeySequence
from PyQt6.QtWidgets import QDockWidget, QMainWindow, QMenu, QToolBar, QWidget

from visualizer.gui.stage import Stage

SCALE = 2.0      # type and ladder, times normal: readable at 1366x768 on a projector


def _menu_actions(menu: QMenu) -> list[QAction]:
    found = []
    for action in menu.actions():
        sub = action.menu()
        if isinstance(sub, QMenu):
            found += _menu_actions(sub)
        elif not action.shortcut().isEmpty():
            found.append(action)
    return found


class PresenterMode(QObject):
    """Presenter mode for one window (see module docstring)."""

    def __init__(self, window: QMainWindow, stage: Stage,
                 keep: list[QDockWidget]) -> None:
        super().__init__(window)
        self.window, self.stage, self.keep = window, stage, keep
        self.full_screen = True   # False: presenter mode in the window as it is (screenshots)
        self._saved: tuple[QByteArray, bool, dict[QWidget, QFont], bool] | None = None
        self.action = QAction("P&resenter Mode", window)
        self.action.setCheckable(True)
        self.action.setShortcut(QKeySequence("F11"))
        self.action.setToolTip("Full-screen ladder and explanation in large type (F11)")
        self.action.toggled.connect(self.set_on)
        window.addAction(self.action)
        self.leave = QAction("Leave Presenter Mode", window)
        self.leave.setShortcut(QKeySequence("Escape"))
        self.leave.triggered.connect(lambda: self.action.setChecked(False))
        self.leave.setEnabled(False)
        window.addAction(self.leave)

    @property
    def on(self) -> bool:
        return self._saved is not None

    @pyqtSlot(bool)
    def set_on(self, on: bool) -> None:
        if on != self.action.isChecked():
            self.action.setChecked(on)           # comes back through toggled
            return
        if on and self._saved is None:
            self._enter(self.full_screen)
        elif not on and self._saved is not None:
            self._exit()

    def _enter(self, full_screen: bool) -> None:
        window, stage = self.window, self.stage
        bar = window.menuBar()
        assert bar is not None
        for menu in bar.findChildren(QMenu):
            window.addActions(_menu_actions(menu))   # keys work without the menu bar
        enlarged = [stage.explanation, *[d.widget() for d in self.keep if d.widget()]]
        fonts = {w: QFont(w.font()) for w in enlarged if w is not None}
        self._saved = (window.saveState(), window.isFullScreen(), fonts,
                       stage.timeline.isVisible())
        for dock in window.findChildren(QDockWidget):
            if dock not in self.keep:
                dock.hide()
        for toolbar in window.findChildren(QToolBar):
            toolbar.hide()
        bar.hide()
        stage.timeline.hide()
        for widget, font in fonts.items():
            big = QFont(font)
            big.setPointSizeF(font.pointSizeF() * SCALE)
            widget.setFont(big)
            for child in widget.findChildren(QWidget):
                child.setFont(big)
        stage.ladder_view.set_magnification(SCALE, fit_lanes=True)
        self.leave.setEnabled(True)
        if full_screen:
            window.showFullScreen()
        shown = [d for d in self.keep if d.isVisible()]
        for dock in shown:   # below the ladder: it keeps the whole width
            window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        if shown:
            # A lesson's step (or predict mode's question and its why) is what the
            # room reads: at 1366x768 the ladder needs the rest of the height.
            stage.explanation.hide()
            # once laid out: room for a lesson step's few lines
            QTimer.singleShot(0, lambda: window.resizeDocks(
                shown, [window.height() // 3] * len(shown), Qt.Orientation.Vertical))

    def _exit(self) -> None:
        assert self._saved is not None
        state, was_full, fonts, timeline = self._saved
        self._saved = None
        window, stage = self.window, self.stage
        for widget, font in fonts.items():
            widget.setFont(font)
            for child in widget.findChildren(QWidget):
                child.setFont(font)
        stage.ladder_view.set_magnification(1.0)
        stage.explanation.show()
        stage.timeline.setVisible(timeline)
        bar = window.menuBar()
        if bar is not None:
            bar.show()
        window.restoreState(state)
        self.leave.setEnabled(False)
        if not was_full:
            window.showNormal()
