"""Every view readable at first sight (issue 15): at the default layout of a
small screen (1366×768) and a large one, nothing needs resizing to be read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from benchmarks.make_pcap import generate
from PyQt6.QtCore import QRect, QSettings
from PyQt6.QtWidgets import QWidget

from visualizer.core.capture.privileges import CapturePermission
from visualizer.core.decode.store import PacketStore
from visualizer.core.flows.analysis import Analysis, analyze
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
    # the packet list is a tab beside the details, not a strip under the ladder
    assert small.tabifiedDockWidgets(small.docks["details"]) == [small.docks["packets"]]
    assert small.stage.ladder_view.height() >= 280
    assert small.stage.explanation.isVisible()
