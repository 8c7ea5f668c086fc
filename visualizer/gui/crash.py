"""Crashes are shown and logged, never silent (qutebrowser's crashsignal).

An uncaught exception in a slot would otherwise print a traceback to a
terminal the user may not have and leave the window in an unknown state:
here it is written to ``crash.log`` in the data directory and shown in a
dialog that says where the log is. ``faulthandler`` covers hard crashes;
Qt's own messages go to the log too.
"""

from __future__ import annotations

import faulthandler
import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO

from PyQt6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler
from PyQt6.QtWidgets import QApplication, QMessageBox

from visualizer.core.capture.spool import data_dir

log = logging.getLogger("visualizer")
_fault_file: IO[str] | None = None


def log_path() -> Path:
    return data_dir() / "crash.log"


# Qt messages that say nothing about the program: the offscreen platform (used by
# --screenshot and headless runs) cannot pass size hints to a window manager.
UNLOGGED = ("This plugin does not support propagateSizeHints()",)


def _qt_message(mode: QtMsgType, context: QMessageLogContext, message: str | None) -> None:
    if message in UNLOGGED:
        return
    level = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
             QtMsgType.QtWarningMsg: logging.WARNING}.get(mode, logging.ERROR)
    log.log(level, "Qt: %s", message)


def install(show_dialog: Callable[[str], None] | None = None) -> None:
    """Route uncaught exceptions and Qt messages to the log and a dialog."""
    global _fault_file
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    if _fault_file is None:
        try:
            _fault_file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
            faulthandler.enable(_fault_file)
        except OSError:
            faulthandler.enable()
    qInstallMessageHandler(_qt_message)
    show = show_dialog or _dialog

    def hook(kind: type[BaseException], value: BaseException,
             tb: TracebackType | None) -> None:
        text = "".join(traceback.format_exception(kind, value, tb))
        log.error("uncaught exception:\n%s", text)
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        show(f"{kind.__name__}: {value}")

    sys.excepthook = hook


def _dialog(summary: str) -> None:
    box = QMessageBox(QMessageBox.Icon.Critical, "Packet Visualizer: internal error",
                      "Something went wrong inside Packet Visualizer. Your packets are "
                      "safe: a live capture keeps writing to its spool file, and opened "
                      "files are never changed.")
    box.setInformativeText(f"{summary}\n\nThe details are in {log_path()}; please "
                           "include them when you report this.")
    box.exec()
