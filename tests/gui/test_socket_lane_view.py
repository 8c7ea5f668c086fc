"""The ladder view draws a recording's socket calls beside the lanes that made them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PyQt6.QtCore import QPoint, QSettings
from PyQt6.QtGui import QColor, QImage

from visualizer.core.capture.privileges import check_capture
from visualizer.core.decode.store import PacketStore
from visualizer.core.flows.analysis import analyze
from visualizer.core.ladder.build import Ladder, attach_calls, tcp_ladder
from visualizer.core.ladder.scene import LIGHT, call_fill
from visualizer.core.pcap.recording import RecordingInfo
from visualizer.core.playback.timescale import positions
from visualizer.gui.ladder_view import LadderView
from visualizer.gui.mainwindow import MainWindow

SAMPLES = Path(__file__).parents[2] / "resources" / "samples"
HANDSHAKE = SAMPLES / "tcp-handshake.pcapng"


@pytest.fixture
def with_calls() -> Iterator[Ladder]:
    store = PacketStore.from_file(str(HANDSHAKE))
    ladder = attach_calls(tcp_ladder(analyze(store), 0), RecordingInfo.from_capture(store.capture))
    yield ladder
    store.close()


@pytest.fixture
def view(qtbot, with_calls: Ladder) -> LadderView:
    widget = LadderView()
    qtbot.addWidget(widget)
    widget.resize(1300, 900)
    widget.show()
    qtbot.waitExposed(widget)
    widget.set_ladder(with_calls, positions(with_calls.timestamps(), "order"))
    return widget


def call_number(ladder: Ladder, side: str, name: str) -> int:
    return next(k for k, c in enumerate(ladder.calls) if c.side == side and c.call == name)


def box_pixels(image: QImage) -> int:
    """How many pixels have the fill of a call's box (light palette)."""
    fill = QColor(call_fill(LIGHT)).rgb()
    return sum(1 for y in range(0, image.height(), 2) for x in range(0, image.width(), 2)
               if image.pixel(x, y) == fill)


def test_the_calls_on_screen_are_drawn(view: LadderView, with_calls: Ladder) -> None:
    view.grab()
    drawn = view.drawn_calls()
    assert call_number(with_calls, "client", "connect") in drawn
    assert call_number(with_calls, "server", "accept") in drawn
    assert drawn == sorted(drawn) and set(drawn) <= set(range(len(with_calls.calls)))
    bar = view.verticalScrollBar()
    assert bar is not None
    bar.setValue(bar.maximum())
    view.grab()
    assert call_number(with_calls, "client", "close") in view.drawn_calls()
    assert call_number(with_calls, "client", "connect") not in view.drawn_calls()


def test_calls_can_be_turned_off_and_on(view: LadderView, with_calls: Ladder) -> None:
    assert view.shows_calls()
    on = view.grab().toImage()
    view.set_show_calls(False)
    assert not view.shows_calls()
    off = view.grab().toImage()
    assert view.drawn_calls() == []
    assert off != on
    assert box_pixels(off) == 0 < box_pixels(on)
    scene = view.scene()
    assert scene is not None and scene.call_layout is None
    view.set_show_calls(True)
    assert view.grab().toImage() == on
    assert view.drawn_calls()


def test_turning_calls_off_keeps_selection_and_cursor(view: LadderView) -> None:
    view.set_selected_packet(3)
    view.set_cursor(5, 0.5)
    view.set_show_calls(False)
    assert view.selected_arrow() == 3
    cursor = view.playback_cursor()
    assert cursor is not None and (cursor.arrow, cursor.progress) == (5, 0.5)


def test_hovering_a_call_tells_what_it_did(view: LadderView, with_calls: Ladder) -> None:
    k = call_number(with_calls, "client", "connect")
    point = view.call_point(k)
    assert view.call_at(point) == k
    assert view.arrow_at(point) == -1
    text = view.tooltip_at(point)
    assert "connect(127.0.0.1:52147)" in text and "connect() returned 0" in text
    view.set_show_calls(False)
    assert view.call_at(point) == -1
    assert view.tooltip_at(QPoint(5, 5)) == ""


def test_hidden_future_hides_calls_not_reached(view: LadderView, with_calls: Ladder) -> None:
    view.set_future_mode("hidden")
    view.set_cursor(0, 1.0)   # the SYN has landed
    view.grab()
    drawn = view.drawn_calls()
    connect = call_number(with_calls, "client", "connect")
    assert connect in drawn   # it began before the SYN
    assert call_number(with_calls, "client", "close") not in drawn
    later = [k for k, c in enumerate(with_calls.calls) if c.start_gap > 1]
    assert later and not set(later) & set(drawn)


def test_a_ladder_without_calls_is_drawn_as_before(view: LadderView) -> None:
    store = PacketStore.from_file(str(HANDSHAKE))
    try:
        plain = tcp_ladder(analyze(store), 0)
    finally:
        store.close()
    view.set_ladder(plain, positions(plain.timestamps(), "order"))
    image = view.grab().toImage()
    assert view.drawn_calls() == [] and box_pixels(image) == 0
    scene = view.scene()
    assert scene is not None and scene.call_layout is None
    view.set_show_calls(False)
    assert view.grab().toImage() == image


# -- in the main window ---------------------------------------------------------------
@pytest.fixture
def window(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MainWindow]:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings, permission=check_capture())
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    yield win
    win.document.close()


def test_opening_a_recording_puts_its_calls_on_the_ladder(qtbot, window: MainWindow) -> None:
    with qtbot.wait_signal(window.document.finished, timeout=20_000):
        assert window.open_path(str(HANDSHAKE))
    stage = window.stage
    qtbot.waitUntil(lambda: stage.ladder is not None and len(stage.ladder.arrows) == 14,
                    timeout=5000)
    assert stage.ladder is not None and len(stage.ladder.calls) == 22
    view = stage.ladder_view
    ladder = view.ladder()
    assert ladder is not None and len(ladder.calls) == 22
    view.grab()
    assert view.drawn_calls()


def test_before_the_first_packet_the_calls_before_it_are_done(view: LadderView,
                                                              with_calls: Ladder) -> None:
    view.set_future_mode("hidden")
    view.set_cursor(-1)
    view.grab()
    before = {k for k, c in enumerate(with_calls.calls) if c.start_gap == 0}
    assert before and before <= set(view.drawn_calls())
    assert view.drawn_arrows() == []
