"""Every view readable at first sight (issue 15): at the default layout of a
small screen (1366×768) and a large one, nothing needs resizing to be read."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from benchmarks.make_pcap import generate
from PyQt6.QtCore import QPoint, QPointF, QRect, QSettings, Qt
from PyQt6.QtGui import QFont, QFontMetricsF, QWheelEvent
from PyQt6.QtWidgets import QApplication, QTabBar, QWidget

from visualizer.core.capture.privileges import CapturePermission
from visualizer.core.decode.store import PacketStore
from visualizer.core.flows.analysis import Analysis, analyze
from visualizer.core.ladder.scene import (
    BAND,
    GAP_FIT_MIN,
    HEADER,
    TIME_W,
    Line,
    Rect,
    Text,
    text_box,
)
from visualizer.core.session import WINDOW
from visualizer.core.tcp.states import TcpState
from visualizer.core.tcp.testing import Capture, Conversation, write_pcap
from visualizer.gui.mainwindow import MainWindow
from visualizer.gui.timeline import Timeline

SAMPLES = Path(__file__).parents[2] / "resources" / "samples"
HANDSHAKE = SAMPLES / "tcp-handshake.pcapng"


def _window(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, width: int,
            height: int) -> MainWindow:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings,
                     permission=CapturePermission(True, "", "test: as if permitted"))
    qtbot.addWidget(win)
    win.resize(width, height)
    win.show()
    qtbot.waitExposed(win)
    qtbot.wait(50)   # the default dock sizes are applied once the window is shown
    return win


@pytest.fixture
def small(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          messages: list[str]) -> Iterator[MainWindow]:
    win = _window(qtbot, tmp_path, monkeypatch, 1366, 768)
    yield win
    win.document.close()


def _open(qtbot, win: MainWindow, path: Path) -> None:
    with qtbot.wait_signal(win.document.finished, timeout=20_000):
        assert win.open_path(str(path))
    qtbot.wait_until(lambda: win.document.session.current == 0)


def _in_window(win: MainWindow, widget: QWidget) -> QRect:
    return QRect(widget.mapTo(win, widget.rect().topLeft()), widget.size())


# -- 1: the time-sequence and throughput graphs --------------------------------------
def test_a_graph_tab_gets_room_its_labels_and_a_legend_off_the_data(
        qtbot, small: MainWindow) -> None:
    _open(qtbot, small, HANDSHAKE)
    timeline = small.stage.timeline
    strip = timeline.height()
    for tab, graph in ((1, timeline.time_sequence), (2, timeline.throughput)):
        timeline.tabs.setCurrentIndex(tab)
        qtbot.wait_until(lambda g=graph: g.plot.height() >= 180)  # was 40-70 px
        assert graph.isVisible()
        item = graph.plot.getPlotItem()
        axis = item.getAxis("left")
        # the y axis label is turned on its side: its width is the height it needs
        assert axis.label.boundingRect().width() <= axis.geometry().height()
        assert _in_window(small, graph.legend).bottom() < _in_window(small, graph.plot).top()
        assert item.legend is None and graph.legend.text()
    # the time-sequence graph shows the capture's only conversation unasked
    assert timeline.time_sequence._stack.currentIndex() == 1
    assert timeline.time_sequence.segments() is not None
    timeline.tabs.setCurrentIndex(0)   # the strip gets its height back
    qtbot.wait_until(lambda: abs(timeline.height() - strip) <= 2)


def test_the_time_sequence_note_is_read_whole_on_a_small_screen(qtbot, small: MainWindow
                                                                   ) -> None:
    _open(qtbot, small, SAMPLES / "tcp-bulk.pcapng")
    graph = small.stage.timeline.time_sequence
    small.stage.timeline.tabs.setCurrentIndex(1)
    qtbot.wait_until(lambda: graph.plot.height() >= 180)
    note = graph.note
    assert note.isVisible() and "receive window" in note.text()   # 697 kB above the acks
    room = note.contentsRect()
    need = note.fontMetrics().boundingRect(room, Qt.TextFlag.TextWordWrap.value, note.text())
    assert need.width() <= room.width() and need.height() <= room.height(), (need, room)
    assert _in_window(small, note).right() <= _in_window(small, graph).right()


def _analysis(path: Path) -> Iterator[Analysis]:
    store = PacketStore.from_file(str(path))
    yield analyze(store)
    store.close()


@pytest.fixture
def mixed(tmp_path: Path) -> Iterator[Analysis]:
    path = tmp_path / "mixed.pcap"
    with open(path, "wb") as out:
        generate(3000, out)
    yield from _analysis(path)


def test_the_time_sequence_graph_follows_the_current_packet(qtbot, mixed: Analysis) -> None:
    timeline = Timeline()
    qtbot.addWidget(timeline)
    timeline.resize(1000, 350)
    timeline.show()
    timeline.set_analysis(mixed, len(mixed.store))
    timeline.tabs.setCurrentIndex(1)
    graph = timeline.time_sequence
    stream = mixed.column("stream")
    busiest = int(np.bincount(stream[stream >= 0]).argmax())
    assert graph._stack.currentIndex() == 1 and graph._stream == busiest
    for number in (1, 3):
        first = int(np.flatnonzero(stream == number)[0])
        timeline.set_current(first)
        assert graph._stream == number and graph.segments() is not None
    timeline.set_conversation("tcp", 2)       # a chosen conversation wins
    timeline.set_current(int(np.flatnonzero(stream == 1)[0]))
    assert graph._stream == 2


# -- 12: a small screen ---------------------------------------------------------------
def test_a_small_screen_keeps_export_and_capture_and_gives_the_ladder_the_height(
        qtbot, small: MainWindow) -> None:
    _open(qtbot, small, HANDSHAKE)
    bar = small.findChild(QWidget, "toolbar-main")
    assert bar is not None
    for action in (small.act_export, small.act_capture, small.act_run):
        button = bar.widgetForAction(action)
        assert button is not None and button.isVisible(), action.text()
        assert bar.rect().contains(button.geometry()), action.text()
    # the packet list (and the expert findings) are tabs beside the details, not a
    # strip under the ladder
    assert small.tabifiedDockWidgets(small.docks["details"]) == [small.docks["packets"],
                                                                 small.docks["expert"]]
    assert small.stage.ladder_view.height() >= 280
    assert small.stage.explanation.isVisible()


# -- 2: a ladder longer than its drawing window -----------------------------------------
@pytest.fixture
def long_stream(tmp_path: Path) -> Path:
    """One TCP conversation of 6,007 packets: more than the ladder draws at once."""
    conv = Conversation(step=300_000_000)   # 0.3 s apart: times of four integer digits
    conv.handshake()
    for _ in range(3000):
        conv.c2s("PA", data=100)
        conv.s2c("A")
    conv.close()
    return write_pcap(tmp_path / "long.pcap", conv.segments)


def test_every_packet_of_a_long_conversation_is_reachable(qtbot, window: MainWindow,
                                                          long_stream: Path) -> None:
    stage, doc = window.stage, window.document
    _open(qtbot, window, long_stream)
    count = doc.session.count
    assert count == 6007 and len(stage.playback) == WINDOW  # the drawing stays windowed
    assert stage.position_label.text() == f"packet 1 of {count:,}"
    stage.last()
    qtbot.wait_until(lambda: doc.session.current == count - 1)
    assert stage.playback.packet == count - 1
    assert stage.position_label.text() == f"packet {count:,} of {count:,}"
    # Left and Right cross the edge of the window the ladder draws
    doc.set_current(WINDOW - 1)
    stage.first()
    qtbot.wait_until(lambda: doc.session.current == 0)
    for _ in range(WINDOW - 1):
        stage.playback.step_forward()
    stage.playback.seek(len(stage.playback) - 1)
    stage._render()
    edge = stage.playback.packet
    stage.step_forward()
    qtbot.wait_until(lambda: doc.session.current == edge + 1)
    assert stage.playback.packet == edge + 1
    assert stage.position_label.text() == f"packet {edge + 2:,} of {count:,}"
    stage.step_back()
    qtbot.wait_until(lambda: stage.playback.packet == edge)


def test_frame_numbers_keep_clear_of_the_time_column(qtbot, window: MainWindow,
                                                      long_stream: Path) -> None:
    """Measured with the font the ladder paints in: "#6001" beside "1800.300000"."""
    _open(qtbot, window, long_stream)
    stage = window.stage
    stage.last()
    qtbot.wait_until(lambda: stage.playback.packet == window.document.session.count - 1)
    view = stage.ladder_view
    scene, geometry = view._scene, view._geometry
    assert scene is not None and geometry is not None
    items = scene.build(geometry, view._visible_rect(), view._look)
    frames = [i for i in items if isinstance(i, Text) and i.cls == "frame"]
    times = [i for i in items if isinstance(i, Text) and i.cls == "time"]
    assert frames and len(frames) == len(times)
    for frame, time in zip(frames, times, strict=True):
        assert frame.text.startswith("#600") and len(time.text.split(".")[0]) == 4
        frame_font = QFont(view.font().family())
        frame_font.setPixelSize(frame.size)
        time_font = QFont(view.font().family())
        time_font.setPixelSize(time.size)
        frame_end = frame.x + QFontMetricsF(frame_font).horizontalAdvance(frame.text)
        time_start = time.x - QFontMetricsF(time_font).horizontalAdvance(time.text)
        assert frame_end + 4 <= time_start, (frame.text, time.text)


# -- 3: choosing a conversation moves every view ------------------------------------------
def test_choosing_a_conversation_moves_every_view_to_it(qtbot, window: MainWindow,
                                                        tmp_path: Path) -> None:
    capture = Capture()
    for port in range(40000, 40008):   # more conversations than the ladder draws together
        conv = Conversation(("10.0.0.1", port), capture=capture)
        conv.handshake()
        conv.c2s("PA", data=10)
        conv.s2c("A")
    _open(qtbot, window, write_pcap(tmp_path / "eight.pcap", capture.segments))
    stage, doc = window.stage, window.document
    doc.set_current(doc.session.count - 1)   # the last packet: conversation 7's
    stage.last()
    assert stage.playback.packet == doc.session.count - 1
    doc.set_conversation(("tcp", 1))
    first = int(np.flatnonzero(doc.session.analysis.column("stream") == 1)[0])
    qtbot.wait_until(lambda: doc.session.current == first)
    assert stage.playback.packet == first
    assert stage.position_label.text() == f"#{first + 1} · 1 of 5"
    assert f"Packet {first + 1}:" in stage.explanation.title.text()
    assert window.packet_table.selected_indices() == [first]


# -- 4: lanes that do not fit ------------------------------------------------------------
def _five_clients(tmp_path: Path) -> Path:
    capture = Capture()
    for port in range(40000, 40005):   # five clients, one server: six lanes
        conv = Conversation(("10.0.0.1", port), capture=capture)
        conv.handshake()
        conv.c2s("PA", data=10)
        conv.s2c("A")
    return write_pcap(tmp_path / "five.pcap", capture.segments)


def test_all_lanes_fit_and_the_lanes_zoom_sideways(qtbot, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  messages: list[str]) -> None:
    """At 1920×1080 six lanes fit (their state bands stay apart)."""
    window = _window(qtbot, tmp_path, monkeypatch, 1920, 1080)
    _open(qtbot, window, _five_clients(tmp_path))
    stage = window.stage
    view = stage.ladder_view
    assert stage.ladder is not None and len(stage.ladder.lanes) == 6
    assert view.horizontalScrollBar().maximum() > 0     # six lanes are wider than the view
    stage.last()
    stage.fit_lanes.click()                             # the fit-all-lanes zoom
    assert view.fits_lanes() and stage.act_fit_lanes.isChecked()
    assert view.horizontalScrollBar().maximum() == 0
    assert view._geometry is not None and view._geometry.width <= view.viewport().width()
    gap = view._geometry.gap
    # Ctrl+Shift+wheel: the horizontal zoom, from the fitted lanes
    wheel = QWheelEvent(QPointF(200, 200), QPointF(200, 200), QPoint(0, 0), QPoint(0, 240),
                        Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), wheel)
    assert not view.fits_lanes() and not stage.fit_lanes.isChecked()
    assert view._geometry.gap == pytest.approx(gap * 1.15 ** 2)
    # the current arrow stays in sight, both its ends
    arrow = view.playback_cursor()
    assert arrow is not None
    start, end = view.point_of(arrow.arrow), view.arrow_rect(arrow.arrow)
    assert end.left() >= 0 and end.right() <= view.viewport().width(), (start, end)
    stage.widen_lanes(0.5)           # no closer than the state bands allow
    assert view._geometry.gap == pytest.approx(max(GAP_FIT_MIN, gap * 1.15 ** 2 * 0.5))
    window.document.close()


# -- 6: the outcome of a lesson, after its last packet --------------------------------------
def _record(tmp_path: Path, scenario: str) -> Path:
    out = tmp_path / f"{scenario}.pcapng"
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-m", "visualizer", "record", scenario, "-o",
                             str(out)], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.capture
def test_the_outcome_after_the_last_packet_is_drawn_solid(qtbot, window: MainWindow,
                                                          tmp_path: Path) -> None:
    """udp-closed-port: the recv() failing with ECONNREFUSED is the lesson's point."""
    _open(qtbot, window, _record(tmp_path, "udp-closed-port"))
    stage = window.stage
    stage.last()
    view = stage.ladder_view
    assert view._scene is not None and view._geometry is not None
    items = view._scene.build(view._geometry, (0.0, 0.0, view._geometry.width,
                                               view._geometry.height), view._look)
    failed = [i for i in items if isinstance(i, Text) and i.cls == "call-box"
              and "ECONNREFUSED" in i.text]
    assert failed and all(i.opacity == 1.0 for i in failed)
    stage.first()     # before it, the outcome is still to come: faint
    items = view._scene.build(view._geometry, (0.0, 0.0, view._geometry.width,
                                               view._geometry.height), view._look)
    assert all(i.opacity < 1.0 for i in items if isinstance(i, Text)
               and i.cls == "call-box" and "ECONNREFUSED" in i.text)


# -- 5: labels -------------------------------------------------------------------------------
def _fast_retransmission(tmp_path: Path) -> Path:
    conv = Conversation()
    conv.handshake()
    lost = conv.c2s("PA", data=100, delivered=False)
    assert lost is not None
    for _ in range(3):   # three duplicate acks ask for it again
        conv.c2s("PA", data=100)
        conv.s2c("A")
    conv.c2s("PA", data=100, seq=lost.seq)
    conv.s2c("A")
    conv.close()
    return write_pcap(tmp_path / "fast.pcap", conv.segments)


def test_the_analysis_badge_keeps_clear_of_the_flag_badge(qtbot, window: MainWindow,
                                                         tmp_path: Path) -> None:
    _open(qtbot, window, _fast_retransmission(tmp_path))
    stage = window.stage
    stage.show_packet(10)      # "retransmission · fast retransmission", landed
    view = stage.ladder_view
    assert view._scene is not None and view._geometry is not None
    n = view._scene.arrow_for_packet(10)
    x1, y1, x2, y2 = view._scene.ends(view._geometry, n)
    length = ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5
    ux, uy = (x2 - x1) / length, (y2 - y1) / length
    items = view._scene.build(view._geometry, view._visible_rect(), view._look)
    spans = {}
    for cls in ("analysis", "packet"):
        (item,) = [i for i in items if isinstance(i, Text) and i.cls == cls and i.group == n]
        font = QFont(view.font().family())
        font.setPixelSize(item.size)
        font.setBold(True)
        half = QFontMetricsF(font).horizontalAdvance(item.text) / 2 + 5   # + its box
        centre = (item.x - x1) * ux + (item.y - y1) * uy
        spans[cls] = (centre - half, centre + half)
    assert "fast retransmission" in next(i.text for i in items if isinstance(i, Text)
                                     and i.cls == "analysis" and i.group == n)
    assert spans["analysis"][1] <= spans["packet"][0], spans
    assert spans["analysis"][0] >= 0, spans     # and it starts on its arrow


def _painted(view, item: Text) -> tuple[QFontMetricsF, float]:
    """The metrics of ``item``'s font in ``view``, and its text's width as painted
    (elided to its room)."""
    font = QFont(view.font().family())
    font.setPixelSize(item.size)
    metrics = QFontMetricsF(font)
    text = (metrics.elidedText(item.text, Qt.TextElideMode.ElideRight, item.room)
            if item.room else item.text)
    return metrics, metrics.horizontalAdvance(text)


def _label_corners(view, item: Text) -> list[tuple[float, float]]:
    """The corners of ``item``'s text as painted: measured, elided, turned."""
    metrics, w = _painted(view, item)
    a = np.radians(item.angle)
    cos, sin = float(np.cos(a)), float(np.sin(a))
    return [(item.x + u * cos - v * sin, item.y + u * sin + v * cos)
            for u, v in ((-w / 2, -metrics.ascent()), (w / 2, -metrics.ascent()),
                         (w / 2, metrics.descent()), (-w / 2, metrics.descent()))]


def _call_box(view, item: Text) -> tuple[float, float, float, float]:
    """The box (x, y, w, h) painted behind a socket call's text."""
    _, w = _painted(view, item)
    return text_box(item.x - (w if item.anchor == "end" else 0.0), item.y, w, item.size)


def _inside(point: tuple[float, float], corners: list[tuple[float, float]]) -> bool:
    """``point`` strictly inside the convex quadrilateral ``corners``."""
    x, y = point
    sides = [(bx - ax) * (y - ay) - (by - ay) * (x - ax)
             for (ax, ay), (bx, by) in zip(corners, corners[1:] + corners[:1], strict=True)]
    return all(s > 0 for s in sides) or all(s < 0 for s in sides)


def _check_labels(view) -> int:
    """Every TCP arrow's label says seq and win, stays between its lanes' bands
    and crosses no other arrow's line; returns how many labels were checked."""
    scene, g = view._scene, view._geometry
    assert scene is not None and g is not None
    items = scene.build(g, (0.0, 0.0, g.width, g.height), view._look)
    lines = [i for i in items if isinstance(i, Line) and i.cls == "line"]
    calls = [_call_box(view, i) for i in items if isinstance(i, Text) and i.cls == "call-box"]
    checked = 0
    for n, arrow in enumerate(scene.ladder.arrows):
        labels = [i for i in items if isinstance(i, Text) and i.cls == "label" and i.group == n]
        said = " ".join(i.text for i in labels)
        assert "seq=" in said and "win=" in said and "…" not in said, (arrow.index + 1, said)
        x1, _, x2, _ = scene.ends(g, n)
        for label in labels:
            corners = _label_corners(view, label)
            assert all(min(x1, x2) - 1 <= x <= max(x1, x2) + 1 for x, _ in corners), \
                (arrow.index + 1, label.text, "runs over a lane's band")
            for line in lines:
                if line.group == n:
                    continue
                points = [(line.x1 + (line.x2 - line.x1) * t / 40,
                           line.y1 + (line.y2 - line.y1) * t / 40) for t in range(41)]
                assert not any(_inside(p, corners) for p in points), \
                    (arrow.index + 1, label.text, "crosses the line of #",
                     scene.ladder.arrows[line.group].index + 1)
            # read as its own arrow's: the first line under the text is that arrow's
            cx = sum(x for x, _ in corners) / 4
            cy = sum(y for _, y in corners) / 4
            under = [(line.y1 + (line.y2 - line.y1) * (cx - line.x1) / (line.x2 - line.x1),
                      line.group) for line in lines
                     if line.x1 != line.x2 and min(line.x1, line.x2) <= cx <= max(line.x1, line.x2)]
            assert min((y, group) for y, group in under if y > cy)[1] == n, \
                (arrow.index + 1, label.text, "sits over another arrow")
            for bx, by, bw, bh in calls:
                edge = [(bx + bw * t / 20, y) for t in range(21) for y in (by, by + bh)]
                assert not any(_inside(p, corners) for p in edge) and not any(
                    bx <= x <= bx + bw and by <= y <= by + bh for x, y in corners), \
                    (arrow.index + 1, label.text, "under a socket call's box")
            checked += 1
    return checked


@pytest.mark.parametrize(("sample", "absolute"), [("tcp-zero-window", False),
                                                  ("tcp-zero-window", True),
                                                  ("tcp-handshake", False),
                                                  ("tcp-bulk", False)],
                         ids=["relative", "absolute", "socket-calls", "long-labels"])
def test_close_packets_keep_whole_labels_between_the_lanes(qtbot, small: MainWindow,
                                                            sample: str, absolute: bool) -> None:
    _open(qtbot, small, SAMPLES / f"{sample}.pcapng")
    if absolute:
        small.act_absolute.trigger()
        qtbot.wait_until(lambda: "seq=1 " not in small.stage.ladder.arrows[2].label)
    small.stage.last()    # everything played: no arrow gets the current one's room
    view = small.stage.ladder_view
    assert view.horizontalScrollBar().maximum() == 0    # both lanes in sight at 1366x768
    assert _check_labels(view) >= len(view._scene.ladder.arrows) >= 14


# -- 11: stepping ------------------------------------------------------------------------------
def test_stepping_moves_the_explanation_at_once_and_the_ladder_stays_put(
        qtbot, window: MainWindow) -> None:
    _open(qtbot, window, HANDSHAKE)
    stage, doc = window.stage, window.document
    stage.first()
    ladder_height = stage.ladder_view.height()
    heights = set()
    for index in range(1, 14):
        stage.step_forward()   # no waiting for the flight: the counter and the text agree
        assert doc.session.current == index
        assert stage.position_label.text() == f"packet {index + 1} of 14"
        assert f"Packet {index + 1}:" in stage.explanation.title.text()
        qtbot.wait(1)
        heights.add(stage.explanation.height())
        assert stage.ladder_view.height() == ladder_height
    assert len(heights) == 1
    # a long text scrolls inside the panel instead of growing it
    stage.explanation.text.setText("a long explanation " * 200)
    qtbot.wait(1)
    assert stage.explanation.height() in heights
    assert stage.explanation.scroller.verticalScrollBar().maximum() > 0


# -- 10: stale context -------------------------------------------------------------------------
@pytest.mark.capture
def test_another_file_forgets_the_last_run_and_capture(qtbot, window: MainWindow) -> None:
    panel = window.scenarios
    panel.select_scenario("tcp-refused")
    with qtbot.wait_signal(window.document.finished, timeout=60_000):
        panel.run()
    qtbot.wait_until(lambda: "Recorded" in panel.status_label.text(), timeout=10_000)
    window._on_capture_stats(20, 0)   # as the capture said while it ran
    assert window.status_capture.text()
    _open(qtbot, window, HANDSHAKE)
    assert "Recorded" not in panel.status_label.text()
    assert window.status_capture.text() == ""


# -- 13: details --------------------------------------------------------------------------------
def _values(nodes: list) -> list[tuple[str, str]]:
    found = []
    for node in nodes:
        found.append((node.label, node.value))
        found += _values(node.children)
    return found


def test_the_detail_tree_shows_bytes_as_a_reader_expects(qtbot, window: MainWindow) -> None:
    _open(qtbot, window, HANDSHAKE)
    for index in (0, 3):   # the SYN's options, a data segment's payload
        window.document.set_current(index)
        values = _values(window.detail.nodes())
        assert values
        python = [(label, value) for label, value in values
                  if value.startswith(("b'", 'b"', "[b'"))]
        assert not python, python
    assert any(value.startswith('"') for _, value in values)   # the payload, as text


def test_window_scale_shows_the_multiplier_as_wireshark(qtbot, window: MainWindow) -> None:
    _open(qtbot, window, HANDSHAKE)
    ladder = window.stage.ladder
    assert ladder is not None
    assert "WS=1024" in ladder.arrows[0].short_options    # shift 10 on the wire
    assert "WS=10 " not in ladder.arrows[0].short_options


def test_the_many_clients_description_reads(window: MainWindow) -> None:
    window.scenarios.select_scenario("tcp-many-clients")
    text = window.scenarios.description.toPlainText()
    assert "clients clients" not in text and text.startswith("Several clients")


def test_f1_shows_the_guide_in_the_window(qtbot, window: MainWindow,
                                          messages: list[str]) -> None:
    window.activateWindow()
    window.act_guide.trigger()
    dialog = window.guide
    qtbot.waitExposed(dialog)
    text = dialog.browser.toPlainText()
    assert "watch a TCP handshake" in text and "Scenarios" in text   # the guide itself
    assert ".md" not in text[:200] and not messages               # not a path to a file
    dialog.close()


# -- 7: no false LISTEN -------------------------------------------------------------------------
def test_a_refused_connection_never_shows_a_listening_server(qtbot, window: MainWindow,
                                                             tmp_path: Path) -> None:
    """tcp-refused: the SYN is answered by a reset; nobody listened, as the
    recording's socket-call log says (socket() and bind(), no listen())."""
    conv = Conversation()
    conv.c2s("S")
    conv.s2c("RA", seq=0)
    _open(qtbot, window, write_pcap(tmp_path / "refused.pcap", conv.segments))
    stage = window.stage
    stage.show_packet(0)
    states = stage.ladder_view.states_at_cursor()
    assert states[1] is TcpState.CLOSED              # the server lane, at the SYN
    assert all(TcpState.LISTEN not in arrow.transitions.get(1, ())
               for arrow in stage.ladder.arrows)
    text = stage.explanation.text.text()
    assert "taken to be listening" not in text and "nobody listens" in text


# -- 9: captures from elsewhere -------------------------------------------------------------------
def test_a_capture_of_many_conversations_says_which_one_the_ladder_shows(
        qtbot, window: MainWindow, tmp_path: Path) -> None:
    capture = Capture()
    for port in range(40000, 40008):
        conv = Conversation(("10.0.0.1", port), capture=capture)
        conv.handshake()
    window.resize(1366, 768)
    _open(qtbot, window, write_pcap(tmp_path / "eight.pcap", capture.segments))
    stage, doc = window.stage, window.document
    assert stage.position_label.text() == "packet 1 of 3 in TCP 0 of 8"
    doc.set_current(doc.session.count - 1)
    qtbot.wait_until(lambda: stage.playback.packet == doc.session.count - 1)
    assert stage.position_label.text() == "#24 · 3 of 3 in TCP 7 of 8"
    qtbot.wait(10)   # the bar's layout
    label = stage.position_label   # whole in the playback bar of a 1366 px window
    assert label.width() >= label.sizeHint().width()
    doc.set_conversation(("tcp", 2))    # chosen: nothing to explain
    qtbot.wait_until(lambda: stage.position_label.text() == "#7 · 1 of 3")


def test_a_long_counter_ends_in_an_ellipsis_and_leaves_the_scrubber_its_room(
        qtbot, window: MainWindow, tmp_path: Path) -> None:
    """1,100 conversations: "packet 1 of 3 in TCP 0 of 1,100" is wider than the
    playback bar has room for at 1366 px. It was cut mid-number, and the
    scrubber beside it squeezed to a few pixels."""
    capture = Capture()
    for port in range(20000, 21100):
        Conversation(("10.0.0.1", port), capture=capture).handshake()
    window.resize(1366, 768)
    _open(qtbot, window, write_pcap(tmp_path / "many.pcap", capture.segments))
    stage = window.stage
    label = stage.position_label
    assert label.text() == "packet 1 of 3 in TCP 0 of 1,100"
    qtbot.wait(10)   # the bar's layout
    assert window.width() == 1366
    assert stage.scrubber.width() >= 44
    shown = label.shown_text()
    assert shown == label.text() or (shown.endswith("…") and label.text().startswith(shown[:-1]))
    assert label.fontMetrics().horizontalAdvance(shown) <= label.contentsRect().width()
    assert label.toolTip().startswith("packet 1 of 3 in TCP 0 of 1,100\n\nPacket N of")


def test_a_long_capture_reads_in_seconds_not_megaseconds(qtbot, window: MainWindow,
                                                         tmp_path: Path) -> None:
    conv = Conversation(step=200_000 * 10**9)   # 200,000 s apart: a capture of weeks
    conv.handshake()
    conv.close()
    _open(qtbot, window, write_pcap(tmp_path / "weeks.pcap", conv.segments))
    timeline = window.stage.timeline
    for plot in (timeline.plot, timeline.time_sequence.plot, timeline.throughput.plot):
        axis = plot.getPlotItem().getAxis("bottom")
        axis.setRange(0.0, 1.4e6)
        assert axis.labelUnitPrefix == "" and "(s)" in axis.labelString()
        axis.setRange(0.0, 0.004)     # a short one in milliseconds still
        assert axis.labelUnitPrefix == "m"


def test_sack_edges_are_relative_like_seq_and_ack(qtbot, window: MainWindow,
                                                 tmp_path: Path) -> None:
    conv = Conversation(client_isn=1_000_000, server_isn=5_000_000)
    conv.handshake()
    lost = conv.c2s("PA", data=100, delivered=False)
    assert lost is not None
    conv.c2s("PA", data=100)
    sack = (1_000_000 + 101).to_bytes(4, "big") + (1_000_000 + 201).to_bytes(4, "big")
    conv.s2c("A", options=b"\x01\x01\x05\x0a" + sack)     # NOP NOP SACK 101-201
    _open(qtbot, window, write_pcap(tmp_path / "sack.pcap", conv.segments))
    ladder = window.stage.ladder
    assert ladder is not None
    assert "SACK=101-201" in ladder.arrows[5].options     # as ack=1 counts: relative
    window.act_absolute.trigger()
    qtbot.wait_until(lambda: "SACK=1000101-1000201" in window.stage.ladder.arrows[5].options)


def test_the_time_column_stays_in_view_when_the_ladder_scrolls_sideways(
        qtbot, small: MainWindow, tmp_path: Path) -> None:
    _open(qtbot, small, _five_clients(tmp_path))
    view = small.stage.ladder_view
    small.stage.last()      # the last client's close, on the right-hand lanes
    bar = view.horizontalScrollBar()
    assert bar.maximum() > 0
    bar.setValue(bar.maximum())
    scene, geometry = view._scene, view._geometry
    assert scene is not None and geometry is not None
    left = view._visible_rect()[0]
    items = scene.build(geometry, view._visible_rect(), view._look)
    times = [i for i in items if isinstance(i, Text) and i.cls in ("time", "frame")]
    assert times and all(left <= i.x <= left + 140 for i in times)
    assert items[-1].cls in ("time", "frame", "time-heading")   # drawn over the arrows
    # a row scrolled up under the header leaves its time out of the header
    _, y1, _, _ = scene.ends(geometry, len(scene.ladder.arrows) - 3)
    view.verticalScrollBar().setValue(int(y1 + 4 - HEADER - 4))   # its baseline just below
    top = view._visible_rect()[1]
    items = scene.build(geometry, view._visible_rect(), view._look)
    assert all(i.y - i.size >= top + HEADER for i in items
               if isinstance(i, Text) and i.cls in ("time", "frame")), top
    # and the header's part over the column is the column's: lane names slide under it
    assert any(isinstance(i, Rect) and i.cls == "time-column" and i.x == left and i.y == top
               and i.h == HEADER for i in items)


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
def test_fit_lanes_fits_six_lanes_with_readable_bands_and_headers(
        qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, messages: list[str],
        size: tuple[int, int]) -> None:
    """Issue 15.4: at 1366 px Fit lanes left three of six lanes out of sight
    (never closer than GAP_FIT_MIN, with the full time column and margins)."""
    window = _window(qtbot, tmp_path, monkeypatch, *size)
    _open(qtbot, window, _five_clients(tmp_path))
    stage = window.stage
    view = stage.ladder_view
    assert stage.ladder is not None and len(stage.ladder.lanes) == 6
    stage.show_packet(11)                 # a SYN-ACK to the third client, mid-way
    stage.fit_lanes.click()
    assert view.fits_lanes()
    assert view.horizontalScrollBar().maximum() == 0    # no sideways scrolling
    scene, g = view._scene, view._geometry
    assert scene is not None and g is not None
    vw = view.viewport().width() / view._magnify
    for lane in range(6):   # every lane's band whole, right of the time column
        x = g.lane_x(lane)
        assert g.time_w <= x - g.band / 2 and x + g.band / 2 <= vw, (lane, x, g)
    items = scene.build(g, (0.0, 0.0, g.width, g.height), view._look)   # all of it

    def width(item: Text) -> float:
        font = QFont(view.font().family())
        font.setPixelSize(item.size)
        font.setBold(item.bold)
        return QFontMetricsF(font).horizontalAdvance(item.text)

    names = [i for i in items if isinstance(i, Text) and i.cls == "state-name"]
    assert len(names) >= 6
    for name in names:   # readable: whole within its band
        assert width(name) <= g.band, (name.text, width(name), g.band)
    states = [i for i in items if isinstance(i, Text) and i.cls == "lane-state"]
    assert len(states) == 5    # the server, in several connections, has none
    for state in states:   # the header's state, in its box, within the lane's spacing
        assert width(state) + 10 <= g.gap, (state.text, g.gap)
    for cls in ("lane-label", "lane-host", "lane-role"):
        spans = sorted((i.x - width(i) / 2, i.x + width(i) / 2, i.text) for i in items
                       if isinstance(i, Text) and i.cls == cls)
        assert cls != "lane-label" or len(spans) == 6
        for (_, right, a), (left, _, b) in pairwise(spans):
            assert right + 4 <= left, (cls, a, b)   # neighbours' names apart
    # the current arrow in view, both its ends
    cursor = view.playback_cursor()
    assert cursor is not None
    rect = view.arrow_rect(cursor.arrow)
    assert rect.left() >= 0 and rect.right() <= view.viewport().width(), rect
    # the tooltip has what the header shortened (at 1366: ESTAB)
    if g.compact:
        assert any(s.text == "ESTAB" for s in states)
        x = g.lane_x(0) * view._magnify
        assert view.lane_tooltip(QPointF(x, 30)).startswith("10.0.0.1:40000 (client): ")
    window.document.close()


def test_lanes_too_close_for_words_show_the_flags_not_cut_words(
        qtbot, small: MainWindow, tmp_path: Path) -> None:
    _open(qtbot, small, _five_clients(tmp_path))
    small.stage.fit_lanes.setChecked(True)      # six lanes at their closest
    small.stage.last()
    view = small.stage.ladder_view
    scene, g = view._scene, view._geometry
    assert scene is not None and g is not None
    items = scene.build(g, (0.0, 0.0, g.width, g.height), view._look)
    labels = [i for i in items if isinstance(i, Text) and i.cls == "label"]
    assert labels
    for label in labels:
        font = QFont(view.font().family())
        font.setPixelSize(label.size)
        metrics = QFontMetricsF(font)
        shown = (metrics.elidedText(label.text, Qt.TextElideMode.ElideRight, label.room)
                 if label.room else label.text)
        assert shown == label.text, (label.text, shown)   # "ACK…" over "len…" was drawn


def test_a_small_window_keeps_its_height_when_shown(qtbot, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # GTK's larger fonts made the least height with the packet list under everything
    # 805 px: showing a 768 px window stretched it past the bottom of the screen
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    font = app.font()
    bigger = QFont(font)
    bigger.setPointSizeF(font.pointSizeF() * 10 / 9)   # GTK: Sans 10 where Qt says 9
    app.setFont(bigger)
    try:
        win = _window(qtbot, tmp_path, monkeypatch, 1366, 768)
        assert win.height() == 768
        status = win.statusBar()
        assert status is not None and status.geometry().bottom() < 768
        qtbot.wait(300)
        # the packet list went beside the details, and left no tab bar over the stage
        assert win.docks["packets"] in win.tabifiedDockWidgets(win.docks["details"])
        bars = [bar for bar in win.findChildren(QTabBar) if bar.isVisible()
                and bar.parent() is win and win.rect().intersects(bar.geometry())]
        assert [[bar.tabText(k) for k in range(bar.count())] for bar in bars] == [
            ["Packet details", "Packets", "Expert information"]]
        win.close()
    finally:
        app.setFont(font)


def test_opening_a_lesson_keeps_a_small_window_on_the_screen(qtbot, small: MainWindow) -> None:
    from visualizer.core.quiz.lesson import load_lesson

    lessons = Path(__file__).parents[2] / "resources" / "lessons"
    with qtbot.wait_signal(small.document.finished, timeout=20_000):
        assert small.lessons.open(load_lesson(str(lessons / "5-loss-and-retransmission.toml")))
    qtbot.wait(100)
    # the lesson's one-line summary, unwrapped, stretched the window to 1547 px
    assert small.width() == 1366
    assert small.lessons.dock.isVisible()


def test_a_long_explanation_title_keeps_a_small_window_on_the_screen(
        qtbot, small: MainWindow, tmp_path: Path) -> None:
    from scapy.layers.inet import UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    client = "2001:db8:1111:2222:3333:4444:5555:6666"
    server = "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"
    path = tmp_path / "v6.pcap"   # a UDP title names both endpoints
    wrpcap(str(path), [Ether() / IPv6(src=a, dst=b) / UDP(sport=p, dport=q) / (b"x" * 1154)
                       for a, b, p, q in ((client, server, 45931, 443),
                                          (server, client, 443, 45931),
                                          (client, server, 45931, 443))])
    small.presenter.full_screen = False   # its title wraps in presenter mode, and after it
    small.presenter.set_on(True)
    small.presenter.set_on(False)
    _open(qtbot, small, path)
    small.stage.show_packet(2)
    qtbot.wait(100)
    title = small.stage.explanation.title
    assert "2001:db8" in title.text()
    assert small.width() == 1366     # the title wraps instead of widening the window
    assert title.height() >= title.heightForWidth(title.width())


def test_presenter_mode_keeps_the_current_arrow_and_the_explanation_in_sight(
        qtbot, small: MainWindow) -> None:
    _open(qtbot, small, HANDSHAKE)
    small.stage.show_packet(2)
    small.presenter.full_screen = False     # the test's window keeps its 1366x768
    small.presenter.set_on(True)
    view = small.stage.ladder_view
    qtbot.wait_until(lambda: view.magnification() > 1.5)
    qtbot.wait(100)
    n = view.selected_arrow()
    assert n >= 0
    # the arrow was left below the view once everything was drawn twice as large
    assert view.viewport().rect().contains(view.arrow_rect(n)), view.arrow_rect(n)
    panel = small.stage.explanation
    line = panel.fontMetrics().lineSpacing()
    assert panel.height() >= 5 * line     # the title and four lines, not one and a half
    small.presenter.set_on(False)


def test_predict_mode_keeps_each_choice_number_with_its_choice(qtbot, small: MainWindow
                                                                ) -> None:
    from PyQt6.QtGui import QTextLayout, QTextOption

    _open(qtbot, small, HANDSHAKE)
    small.stage.show_packet(2)
    small.predict.set_on(True)
    label = small.predict.box.choices
    qtbot.wait_until(lambda: label.isVisible() and "RST" in label.text())
    layout = QTextLayout(label.text(), label.font())
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    layout.setTextOption(option)
    layout.beginLayout()
    lines = []
    while True:
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(label.contentsRect().width())
        lines.append(label.text()[line.textStart():line.textStart() + line.textLength()])
    layout.endLayout()
    assert len(lines) > 1     # the narrow pane wraps the choices
    assert not [t for t in lines if t.rstrip().endswith(")")], lines   # "8)" / "RST,ACK"
    small.predict.set_on(False)


def test_scrolled_sideways_the_current_arrow_keeps_both_lanes_clear_of_the_time_column(
        qtbot, small: MainWindow, tmp_path: Path) -> None:
    _open(qtbot, small, _five_clients(tmp_path))
    view = small.stage.ladder_view
    scene = view._scene
    assert scene is not None
    scrolled = 0
    beside = [k for k, a in enumerate(scene.ladder.arrows) if {a.src_lane, a.dst_lane} == {1, 2}]
    for index in (beside[0], beside[-1]):    # the server and the second client: next lanes
        small.stage.show_packet(scene.ladder.arrows[index].index)
        qtbot.wait(50)
        g = view._geometry
        assert g is not None
        left = view._visible_rect()[0]
        if left <= 0:
            continue
        arrow = scene.ladder.arrows[index]
        for lane in (arrow.src_lane, arrow.dst_lane):   # each band wholly in sight
            x = g.lane_x(lane)
            assert left + TIME_W <= x - BAND / 2 and x + BAND / 2 <= left + view._vw, \
                (index, lane, left)
        scrolled += 1
    assert scrolled


def test_a_lane_in_sight_has_its_whole_name(qtbot, small: MainWindow, tmp_path: Path) -> None:
    from scapy.layers.inet import UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    client = "2001:db8:1111:2222:3333:4444:5555:6666"
    server = "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"
    path = tmp_path / "v6.pcap"
    wrpcap(str(path), [Ether() / IPv6(src=a, dst=b) / UDP(sport=p, dport=q) / b"x"
                       for a, b, p, q in ((client, server, 45931, 443),
                                          (server, client, 443, 45931))])
    _open(qtbot, small, path)
    view = small.stage.ladder_view
    scene, g = view._scene, view._geometry
    assert scene is not None and g is not None
    vx, _, vw, _ = view._visible_rect()
    items = scene.build(g, view._visible_rect(), view._look)
    names = [i for i in items if isinstance(i, Text) and i.cls == "lane-label"]
    assert len(names) == 2
    font = QFont(view.font().family())
    font.setPixelSize(13)
    font.setBold(True)
    for name in names:    # the server's "[2001:db8:aaaa:…]:443" ran off the right edge
        half = QFontMetricsF(font).horizontalAdvance(name.text) / 2
        assert vx <= name.x - half and name.x + half <= vx + vw, (name.text, name.x, vw)


@pytest.mark.corpus
def test_the_timelines_legend_names_every_kind_on_a_small_screen(
        qtbot, small: MainWindow) -> None:
    """of13_ericsson has seven kinds of packet: at 1366 px the legend cut the last."""
    _open(qtbot, small, Path(__file__).parents[3] / "shared" / "corpus" / "tcpdump"
          / "of13_ericsson.pcapng")
    legend = small.stage.timeline.legend
    qtbot.wait(10)   # the bar's layout
    assert legend.text().count("■") >= 7
    if legend.wordWrap():   # on as many lines as it needs, all of them shown
        assert 0 < legend.heightForWidth(legend.width()) <= legend.height()
    else:
        assert legend.sizeHint().width() <= legend.width()


def test_the_display_filter_is_in_reach_and_in_sight_on_a_small_screen(
        qtbot, small: MainWindow) -> None:
    """At 1366x768 the filter sits above the packet list, a tab behind the packet
    details: Ctrl+/ brings it forward, and the status bar says a filter is on."""
    _open(qtbot, small, HANDSHAKE)
    bar = small.filter_bar
    small.docks["details"].raise_()   # the details in front, as after choosing a packet
    in_sight = lambda: not bar.edit.visibleRegion().isEmpty()   # noqa: E731
    qtbot.wait_until(lambda: not in_sight())   # the filter a tab away
    qtbot.keyClick(small, Qt.Key.Key_Slash, Qt.KeyboardModifier.ControlModifier)
    qtbot.wait_until(in_sight)
    assert bar.edit.hasFocus() or QApplication.focusWidget() is bar.edit
    qtbot.keyClicks(bar.edit, "tcp.flags.syn == 1")
    qtbot.keyClick(bar.edit, Qt.Key.Key_Return)
    qtbot.wait_until(lambda: "display filter" in small.status_packets.text())
    assert "tcp.flags.syn == 1: 2 shown" in small.status_packets.text()
