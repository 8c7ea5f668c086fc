"""Follow Stream and the expert pane, driven in the main window."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from captures import follow_pcap, zero_window_pcap
from PyQt6.QtCore import QPoint, Qt
from PyQt6.QtGui import QContextMenuEvent
from PyQt6.QtWidgets import QApplication, QMenu

from visualizer.core.follow.streams import follow_tcp
from visualizer.gui.expert_pane import ExpertPane
from visualizer.gui.follow_view import FORMATS, FollowWindow, open_follow
from visualizer.gui.mainwindow import MainWindow

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


def _open(qtbot, win: MainWindow, path: Path) -> None:
    with qtbot.wait_signal(win.document.finished, timeout=20_000):
        assert win.open_path(str(path))


def _follow_window(qtbot, win: MainWindow) -> FollowWindow:
    win.act_follow.trigger()
    follows = win.findChildren(FollowWindow)
    assert len(follows) == 1
    qtbot.waitExposed(follows[0])
    return follows[0]


def _click(qtbot, follow: FollowWindow, position: int) -> None:
    cursor = follow.text.textCursor()
    cursor.setPosition(position)
    rect = follow.text.cursorRect(cursor)
    viewport = follow.text.viewport()
    assert viewport is not None
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=rect.center())


def test_click_a_byte_selects_the_packet_that_carried_it(qtbot, window: MainWindow,
                                                         tmp_path: Path) -> None:
    path, request, _ = follow_pcap(tmp_path / "follow.pcap")
    _open(qtbot, window, path)
    window.document.set_current(0)
    follow = _follow_window(qtbot, window)
    session = window.document.session
    assert session.store is not None and session.analysis is not None
    chunks = follow_tcp(session.store, session.analysis, 0).chunks
    text = follow.text.toPlainText()
    assert request[:30].decode() in text            # ASCII shows the client's bytes
    # each chunk's bytes, clicked, select the frame that carried them
    for number in (1, 4, len(chunks) - 1):
        _click(qtbot, follow, follow.position_of(number) + 1)
        assert session.current == chunks[number].frame - 1
        assert window.packet_table.selected_indices() == [chunks[number].frame - 1]
    # the other views show the same bytes
    follow.show_as.setCurrentIndex(FORMATS.index("Hex dump"))
    assert "00000000  20 21 22 23" in follow.text.toPlainText()
    follow.show_as.setCurrentIndex(FORMATS.index("Raw"))
    assert request[:30].hex() in follow.text.toPlainText()
    follow.show_as.setCurrentIndex(FORMATS.index("UTF-8"))
    follow.direction.setCurrentIndex(2)              # the server's side only
    shown = follow.text.toPlainText()
    assert "missing in capture file" in shown and request[:30].decode() not in shown
    _click(qtbot, follow, follow.position_of(0) + 2)
    assert session.current == next(c.frame for c in chunks if c.direction == 1) - 1


# A popup menu on the offscreen platform: it cannot raise it or grab the keyboard.
@pytest.mark.qt_log_ignore("does not support raise", "does not support grabbing")
def test_follow_from_the_conversations_context_menu_and_colours(qtbot, window: MainWindow,
                                                                tmp_path: Path) -> None:
    path, _, _ = follow_pcap(tmp_path / "follow.pcap")
    _open(qtbot, window, path)
    view = window.conversations.view
    viewport = view.viewport()
    assert viewport is not None
    point = view.visualRect(view.model().index(0, 0)).center()
    # what a right click delivers (the offscreen platform does not make one from a click)
    QApplication.sendEvent(viewport, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, point,
                                                       viewport.mapToGlobal(point)))
    menu = QApplication.activePopupWidget()
    assert isinstance(menu, QMenu)
    actions = menu.actions()
    assert [a.text() for a in actions] == ["Follow TCP Stream 0"]
    actions[0].trigger()
    menu.close()
    follows = window.findChildren(FollowWindow)
    assert len(follows) == 1
    follow = follows[0]
    assert follow.followed.number == 0
    fmt0 = follow.text.document().findBlockByNumber(0).begin().fragment().charFormat()
    assert fmt0.foreground().color().name() == "#7f0000"   # node 0 in red
    assert open_follow(window, window.document, ("tcp", 9)) is None   # no such stream
    assert "no TCP stream 9" in window.statusBar().currentMessage()


def _kind_item(pane: ExpertPane, text: str):
    tree = pane.tree
    for i in range(tree.topLevelItemCount()):
        top = tree.topLevelItem(i)
        for k in range(top.childCount()):
            if top.child(k).text(0) == text:
                return top.child(k)
    raise AssertionError(f"no expert entry {text!r}")


def test_expert_pane_lists_findings_and_keys_walk_zero_windows(qtbot, window: MainWindow,
                                                               tmp_path: Path) -> None:
    path, zero = zero_window_pcap(tmp_path / "zero.pcap")
    _open(qtbot, window, path)
    window.docks["expert"].raise_()          # a tab beside the packet list
    pane = window.expert
    qtbot.waitUntil(pane.tree.isVisible)
    top = [pane.tree.topLevelItem(i).text(0) for i in range(pane.tree.topLevelItemCount())]
    assert top == ["Warning", "Note", "Chat"]
    item = _kind_item(pane, "TCP Zero Window segment")
    assert item.text(1) == str(len(zero))
    assert _kind_item(pane, "Connection reset (RST)").text(1) == "1"
    # clicking the entry goes to its first packet
    pane.tree.scrollToItem(item)
    rect = pane.tree.visualItemRect(item)
    # on its text: the pane may be narrower than its columns (a tab beside the details)
    qtbot.mouseClick(pane.tree.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(rect.left() + 40, rect.center().y()))
    assert window.document.session.current == zero[0]
    # F8 / Shift+F8 walk the selected kind's packets, both ways
    window.activateWindow()
    for expected in zero[1:]:
        qtbot.keyClick(window, Qt.Key.Key_F8)
        assert window.document.session.current == expected
    qtbot.keyClick(window, Qt.Key.Key_F8)                  # no further zero window
    assert window.document.session.current == zero[-1]
    for expected in reversed(zero[:-1]):
        qtbot.keyClick(window, Qt.Key.Key_F8, Qt.KeyboardModifier.ShiftModifier)
        assert window.document.session.current == expected
    # a packet row under the entry goes to that packet
    item.setExpanded(True)
    child = item.child(3)
    pane.tree.scrollToItem(child)
    rect = pane.tree.visualItemRect(child)
    qtbot.mouseClick(pane.tree.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(rect.left() + 40, rect.center().y()))
    assert window.document.session.current == zero[3]


def test_expert_pane_starts_over_with_another_capture(qtbot, window: MainWindow,
                                                     tmp_path: Path) -> None:
    """The pane reads each capture's new packets only (FindingsSoFar): another
    file is counted from its first packet, and a closed one is let go."""
    path, zero = zero_window_pcap(tmp_path / "zero.pcap")
    _open(qtbot, window, path)
    pane = window.expert
    assert {f.kind for f in pane.findings} >= {"zero_window", "reset"}
    _open(qtbot, window, SAMPLES / "tcp-handshake.pcapng")
    assert pane.findings == []
    assert "Nothing to report" in pane.status.text()
    _open(qtbot, window, path)
    assert {f.kind: f.count for f in pane.findings}["zero_window"] == len(zero)
    window.document.close()
    assert pane.findings == [] and pane._so_far._source is None


def test_expert_pane_does_not_wait_for_the_loaders_lock(qtbot, window: MainWindow,
                                                       tmp_path: Path) -> None:
    """While the loader holds the session's lock (reading a batch), a refresh
    gives up at once and comes back for it: waiting froze the window for up to
    a quarter of a second on a capture of many short connections."""
    import threading
    import time

    path, zero = zero_window_pcap(tmp_path / "zero.pcap")
    _open(qtbot, window, path)
    pane, lock = window.expert, window.document.session.lock
    pane._so_far = type(pane._so_far)()     # counted anew at the next refresh
    pane.findings = []
    held, release = threading.Event(), threading.Event()

    def loader() -> None:
        with lock:
            held.set()
            release.wait(10)

    thread = threading.Thread(target=loader)
    thread.start()
    try:
        held.wait(5)
        started = time.monotonic()
        pane.refresh()
        assert time.monotonic() - started < 0.2
        assert pane.findings == []            # not counted: the lock was busy
    finally:
        release.set()
        thread.join()
    qtbot.waitUntil(lambda: {f.kind: f.count for f in pane.findings}.get("zero_window")
                    == len(zero), timeout=3000)


def test_next_problem_waits_for_the_loaders_lock(qtbot, window: MainWindow,
                                                tmp_path: Path) -> None:
    """F8 is a user's request: it waits for the loader's batch and then goes to
    the next problem, rather than saying there is none."""
    import threading

    path, _ = zero_window_pcap(tmp_path / "zero.pcap")
    _open(qtbot, window, path)
    pane, lock = window.expert, window.document.session.lock
    pane._so_far = type(pane._so_far)()
    pane.findings = []
    window.document.set_current(0)
    held = threading.Event()

    def loader() -> None:
        with lock:
            held.set()
            threading.Event().wait(0.3)

    thread = threading.Thread(target=loader)
    thread.start()
    held.wait(5)
    pane.next_problem()
    thread.join()
    assert window.document.session.current > 0
    assert window.document.session.current in {int(i) for f in pane.findings for i in f.indices}


@pytest.mark.capture
@pytest.mark.tshark
def test_keys_walk_the_zero_windows_of_a_recording(qtbot, window: MainWindow,
                                                   tmp_path: Path) -> None:
    """A real tcp-zero-window recording: F8 from the first packet, with the zero
    window entry selected, visits exactly the frames tshark marks."""
    path = tmp_path / "zw.pcapng"
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-m", "visualizer", "record", "tcp-zero-window",
                           "-o", str(path)], capture_output=True, text=True, timeout=120,
                          env=env)
    assert done.returncode == 0, done.stderr
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "tcp.analysis.zero_window", "-T",
                          "fields", "-e", "frame.number"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    zero = [int(n) - 1 for n in out.split()]
    assert zero
    _open(qtbot, window, path)
    window.docks["expert"].raise_()
    pane = window.expert
    qtbot.waitUntil(pane.tree.isVisible)
    pane.tree.setCurrentItem(_kind_item(pane, "TCP Zero Window segment"))
    window.document.set_current(0)
    window.activateWindow()
    visited = []
    for _ in range(len(zero) + 1):
        qtbot.keyClick(window, Qt.Key.Key_F8)
        visited.append(window.document.session.current)
    assert visited == [*zero, zero[-1]]


def test_very_long_lines_are_broken_for_display() -> None:
    from visualizer.gui.follow_view import LONGEST_LINE, broken

    text, column = broken("x" * (2 * LONGEST_LINE + 5), 0)
    assert text.split("\n") == ["x" * LONGEST_LINE, "x" * LONGEST_LINE, "xxxxx"]
    assert column == 5
    text, column = broken("ab\ncd", LONGEST_LINE - 1)   # the line goes on from before
    assert text == "a\nb\ncd" and column == 2
