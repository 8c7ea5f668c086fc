"""The desktop application's entry point: ``visualizer gui [FILE]``.

Sets up Qt (application name for QSettings, the Fusion style with a light
or dark palette following the system, the crash handler), shows the main
window and opens FILE. ``--screenshot PNG`` renders the window once FILE
has loaded and exits: the README's and docs' pictures are made this way.
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
import tempfile
import time

from visualizer.core.errors import BadInput
from visualizer.core.heap import map_big_blocks
from visualizer.core.output import check_output, written
from visualizer.core.pcap.reader import CaptureFile


def make_app(argv: list[str] | None = None):
    """The QApplication, created once (tests reuse pytest-qt's)."""
    from PyQt6.QtWidgets import QApplication

    from visualizer.gui.resources import icon

    map_big_blocks()   # a loading window's freed arrays go back at once (core/heap.py)

    app = QApplication.instance()
    if app is None:
        app = QApplication(argv or [sys.argv[0]])
    QApplication.setApplicationName("Packet Visualizer")
    QApplication.setOrganizationName("packet-visualizer")
    QApplication.setApplicationDisplayName("Packet Visualizer")
    QApplication.setDesktopFileName("packet-visualizer")
    QApplication.setStyle("Fusion")  # follows the system's light/dark colour scheme
    QApplication.setWindowIcon(icon("app"))
    return app


def freeze_startup_objects() -> None:
    """Exempt what start-up built from Python's cyclic garbage collector.

    Modules, classes, Qt wrappers and the window live as long as the app,
    yet every full collection walks them again: while a big file loads,
    such a collection held the GIL, and so the window, for up to 66 ms.
    Frozen, they are skipped (measured: the longest full collection during
    a million-packet load halves).
    """
    gc.collect()
    gc.freeze()


def close_on_ctrl_c(window) -> None:
    """Ctrl-C in the terminal closes the window as its close button does.

    Python runs a signal handler only between bytecodes, and an idle Qt event
    loop runs none, so Ctrl-C alone would wait for the next mouse movement.
    The interpreter's C handler writes a byte to the wake-up socket, which
    wakes Qt; the notifier's slot is Python, so the handler runs. A SIGINT
    ignored at start (a job started with ``&``) stays ignored.
    """
    import signal
    import socket

    from PyQt6.QtCore import QSocketNotifier

    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno())
    # PyQt takes the descriptor as an int, though its stubs say voidptr
    notifier = QSocketNotifier(reader.fileno(),  # type: ignore[call-overload]
                               QSocketNotifier.Type.Read, window)
    notifier.activated.connect(lambda: reader.recv(64))
    notifier.sockets = (reader, writer)  # they live as long as the window
    signal.signal(signal.SIGINT, lambda signum, frame: window.close())


def run_gui(file: str | None, *, screenshot: str | None = None, select: int | None = None,
            size: tuple[int, int] = (1440, 900), presenter: bool = False,
            predict: bool = False) -> int:
    if screenshot is not None and file is None:
        raise BadInput("--screenshot needs a FILE to show")
    if select is not None and file is None:
        raise BadInput("--select needs a FILE to select a packet in")
    if screenshot is not None:
        check_output(screenshot)
    if file is not None and not os.path.exists(file):
        raise BadInput(f"{file}: no such file")
    lesson = None
    if file is not None and file.lower().endswith(".toml"):
        from visualizer.core.quiz.lesson import load_lesson

        lesson = load_lesson(file)   # a bad lesson: one line, before any window
    elif file is not None and screenshot is not None:
        # No one is there to read a message box: refuse a bad file here, in one line.
        CaptureFile.open(file).close()
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") \
            and "QT_QPA_PLATFORM" not in os.environ:
        if screenshot is None:
            raise BadInput("no display: run it in a desktop session, or under Xvfb "
                           "(xvfb-run visualizer), or with QT_QPA_PLATFORM=offscreen")
        os.environ["QT_QPA_PLATFORM"] = "offscreen"

    from PyQt6.QtCore import QSettings, QTimer

    from visualizer.gui import crash
    from visualizer.gui.mainwindow import MainWindow

    app = make_app()
    crash.install()
    scratch = tempfile.mkdtemp(prefix="visualizer-screenshot-") if screenshot else None
    # a screenshot shows the default layout, not the user's
    settings = QSettings() if scratch is None else QSettings(
        os.path.join(scratch, "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    if screenshot is not None:
        window.resize(*size)
    window.show()
    if lesson is not None:
        window.lessons.open(lesson)
    elif file is not None:
        window.open_path(file)
    if presenter:   # a screenshot shows it at --size, not the screen's
        window.presenter.full_screen = screenshot is None
        window.presenter.set_on(True)
    if screenshot is not None:
        try:
            return _screenshot(app, window, screenshot, select, predict)
        finally:
            settings.sync()
            shutil.rmtree(scratch or "", ignore_errors=True)
    if select is not None or predict:
        _select_when_loaded(window, select, predict)
    close_on_ctrl_c(window)
    window.warn_if_root()
    QTimer.singleShot(0, window.offer_recovery)
    QTimer.singleShot(0, freeze_startup_objects)  # after the first paint: it takes ~50 ms
    return int(app.exec())


def _screenshot(app, window, path: str, select: int | None, predict: bool) -> int:
    from PyQt6.QtCore import QBuffer, QByteArray, QIODevice

    doc = window.document
    deadline = time.monotonic() + 120
    while ((doc.busy or window.stage.ladder_pending or doc.session.conversations_behind)
           and time.monotonic() < deadline):   # (the list catches up after the load)
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()
    if select is not None:
        count = doc.session.count
        if not 1 <= select <= count:
            window.close()   # its threads stopped before the one line and exit 2
            raise BadInput(f"--select {select}: the file has {count} packets "
                           "(numbered from 1)")
        window.stage.show_packet(select - 1)
    if predict:
        window.predict.set_on(True)
    for _ in range(20):  # let the views lay out and paint
        app.processEvents()
        time.sleep(0.01)
    png = QByteArray()
    buffer = QBuffer(png)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    ok = window.grab().save(buffer, "PNG")
    window.close()
    if not ok:
        raise BadInput(f"{path}: cannot make the PNG")
    with written(path, prefix=".screenshot-") as out:
        out.write(png.data())
    print(f"wrote {path}")
    return 0


def _select_when_loaded(window, select: int | None, predict: bool = False) -> None:
    """Select packet ``select`` (1-based) once the file is loaded and its ladder
    built (a turn after ``finished``); say so when it has fewer. With ``predict``,
    then start predict mode."""
    doc, stage = window.document, window.stage

    def loaded() -> None:
        stage.loaded.disconnect(loaded)
        if predict:
            if select is not None and 1 <= select <= doc.session.count:
                stage.show_packet(select - 1)
            window.predict.set_on(True)
            return
        if select is None:
            return
        if 1 <= select <= doc.session.count:
            stage.show_packet(select - 1)
        else:
            window.statusBar().showMessage(
                f"--select {select}: the file has {doc.session.count} packets "
                "(numbered from 1)", 15000)

    stage.loaded.connect(loaded)
