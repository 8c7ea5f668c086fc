"""Where the learning panels (lessons, predict mode) appear in the window."""

from __future__ import annotations

from PyQt6.QtWidgets import QDockWidget, QMainWindow


def show_beside_scenarios(window: QMainWindow, dock: QDockWidget) -> None:
    """``dock`` in front, tabbed with the Scenarios pane: the room a student reads in."""
    scenarios = getattr(window, "docks", {}).get("scenarios")
    if scenarios is not None and dock.isHidden():
        window.tabifyDockWidget(scenarios, dock)
    dock.show()
    dock.raise_()
