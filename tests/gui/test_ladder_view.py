"""The ladder widget: lanes, clicks, hover, the playback cursor, zoom and export."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import QPoint, QPointF, Qt
from PyQt6.QtGui import QColor, QImage, QMouseEvent, QPalette, QWheelEvent
from PyQt6.QtWidgets import QApplication

from visualizer.core.decode.store import PacketStore
from visualizer.core.errors import BadInput
from visualizer.core.flows.analysis import analyze
from visualizer.core.ladder.build import Ladder, tcp_ladder
from visualizer.core.ladder.scene import HEADER, Text
from visualizer.core.playback.timescale import positions
from visualizer.core.tcp.states import TcpState
from visualizer.gui.ladder_view import LadderView

SAMPLES = Path(__file__).parents[2] / "resources" / "samples"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def handshake() -> Iterator[Ladder]:
    store = PacketStore.from_file(str(SAMPLES / "tcp-handshake.pcapng"))
    yield tcp_ladder(analyze(store), 0)
    store.close()


@pytest.fixture
def view(qtbot, handshake: Ladder) -> LadderView:
    widget = LadderView()
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    qtbot.waitExposed(widget)
    widget.set_ladder(handshake, positions(handshake.timestamps(), "order"))
    return widget


def lane_labels(view: LadderView) -> list[str]:
    scene = view.scene()
    assert scene is not None
    g = scene.geometry(width=view.viewport().width())
    items = scene.build(g, (0.0, 0.0, g.width, 200.0), view._look)
    return [i.text for i in items if isinstance(i, Text) and i.cls == "lane-label"]


def test_one_lane_per_ip_and_port(view: LadderView) -> None:
    labels = lane_labels(view)
    assert len(labels) == 2
    matches = [re.fullmatch(r"127\.0\.0\.1:(\d+)", text) for text in labels]
    ports = [int(m.group(1)) for m in matches if m]
    assert len(ports) == 2 and ports[0] != ports[1]
    ladder = view.ladder()
    assert ladder is not None and [lane.role for lane in ladder.lanes] == ["client", "server"]


@pytest.mark.parametrize("n", [0, 1, 6, 13])
def test_clicking_an_arrow_emits_its_packet(qtbot, view: LadderView, n: int) -> None:
    view.ensure_visible(n)
    with qtbot.wait_signal(view.packet_clicked, timeout=2000) as blocker:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.point_of(n))
    ladder = view.ladder()
    assert ladder is not None
    assert blocker.args == [ladder.arrows[n].index]
    assert view.selected_arrow() == n


def test_clicking_beside_the_arrows_emits_nothing(qtbot, view: LadderView) -> None:
    with qtbot.assert_not_emitted(view.packet_clicked):
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(20, 20))
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(30, 400))


def test_arrow_rect_contains_its_point(view: LadderView) -> None:
    for n in range(5):
        rect = view.arrow_rect(n)
        assert rect.contains(view.point_of(n))
        assert rect.top() >= HEADER - 30
    assert view.arrow_rect(1).top() > view.arrow_rect(0).top()


def move_mouse(view: LadderView, point: QPoint) -> None:
    """A mouse move over the viewport (QTest's mouseMove asks the offscreen platform to
    raise the window, which it reports as a warning)."""
    event = QMouseEvent(QMouseEvent.Type.MouseMove, QPointF(point),
                        QPointF(view.viewport().mapToGlobal(point)), Qt.MouseButton.NoButton,
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), event)


def test_hover_emits_the_packet_and_shows_a_tooltip(qtbot, view: LadderView) -> None:
    point = view.point_of(3)
    with qtbot.wait_signal(view.packet_hovered, timeout=2000) as blocker:
        move_mouse(view, point)
    assert blocker.args == [3]
    text = view.tooltip_at(point)
    assert text.startswith("Frame 4 ") and "PSH,ACK seq=1 ack=1 len=64" in text
    assert "127.0.0.1" in text and "→" in text
    assert view.tooltip_at(QPoint(20, 400)) == ""
    with qtbot.wait_signal(view.packet_hovered, timeout=2000) as blocker:
        move_mouse(view, QPoint(20, 400))
    assert blocker.args == [-1]


def test_the_cursor_changes_the_picture_and_the_states(view: LadderView) -> None:
    view.set_cursor(0, 0.0)
    assert view.states_at_cursor() == {0: TcpState.SYN_SENT, 1: TcpState.LISTEN}
    start = view.grab().toImage()
    view.set_cursor(1, 0.5)   # the SYN-ACK in flight: sent, not yet received
    assert view.states_at_cursor() == {0: TcpState.SYN_SENT, 1: TcpState.SYN_RECEIVED}
    view.set_cursor(13, 1.0)
    assert view.states_at_cursor() == {0: TcpState.TIME_WAIT, 1: TcpState.CLOSED}
    end = view.grab().toImage()
    assert start != end
    view.set_cursor(0, 0.0)
    assert view.grab().toImage() == start
    with pytest.raises(ValueError):
        view.set_cursor(14)


def test_hidden_future_draws_fewer_arrows(view: LadderView) -> None:
    view.set_cursor(3, 1.0)
    view.set_future_mode("hidden")
    view.grab()
    assert view.drawn_arrows() == [0, 1, 2, 3]
    view.set_future_mode("faint")
    view.grab()
    assert len(view.drawn_arrows()) > 4
    with pytest.raises(ValueError):
        view.set_future_mode("invisible")


def test_playing_scrolls_to_the_current_arrow(qtbot, handshake: Ladder) -> None:
    widget = LadderView()
    qtbot.addWidget(widget)
    widget.resize(800, 400)
    widget.show()
    long = Ladder("long", handshake.lanes, handshake.initial_states, handshake.arrows * 50)
    widget.set_ladder(long)
    assert widget.verticalScrollBar().value() == 0
    widget.set_cursor(400, 0.5)
    rect = widget.arrow_rect(400)
    assert widget.verticalScrollBar().value() > 0
    assert rect.top() >= HEADER and rect.bottom() <= widget.viewport().height()
    widget.grab()
    assert 400 in widget.drawn_arrows() and len(widget.drawn_arrows()) < 20
    with pytest.raises(BadInput, match="too tall for a PNG"):
        widget.export_png("/tmp/never.png")
    assert not Path("/tmp/never.png").exists()


def test_ctrl_wheel_zooms_the_time_axis(view: LadderView) -> None:
    before = view.arrow_rect(3).top() - view.arrow_rect(2).top()
    point = QPointF(view.point_of(2))
    wheel = QWheelEvent(point, QPointF(view.viewport().mapToGlobal(point)), QPoint(0, 0),
                        QPoint(0, 240), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.ControlModifier, Qt.ScrollPhase.NoScrollPhase,
                        False)
    QApplication.sendEvent(view.viewport(), wheel)
    assert view.zoom() == pytest.approx(1.15 ** 2)
    after = view.arrow_rect(3).top() - view.arrow_rect(2).top()
    assert after > before * 1.2


def test_export_svg_whole_and_visible(view: LadderView, tmp_path: Path) -> None:
    out = tmp_path / "ladder.svg"
    view.set_cursor(13, 1.0)
    view.export_svg(str(out))
    root = ET.parse(out).getroot()
    arrows = [g for g in root.iter(f"{SVG}g") if "arrow" in g.get("class", "").split()]
    assert [g.get("data-packet") for g in arrows] == [str(i) for i in range(14)]
    part = tmp_path / "part.svg"
    view.resize(1000, 400)
    view.set_cursor(5, 1.0)
    view.export_svg(str(part), visible_only=True)
    root = ET.parse(part).getroot()
    viewbox = [float(v) for v in (root.get("viewBox") or "").split()]
    assert viewbox[2:] == [view.viewport().width(), view.viewport().height()]
    shown = [g for g in root.iter(f"{SVG}g") if "arrow" in g.get("class", "").split()]
    assert 3 <= len(shown) < 14


def test_export_png_matches_the_screen(view: LadderView, tmp_path: Path) -> None:
    view.set_cursor(6, 0.5)
    out = tmp_path / "visible.png"
    view.export_png(str(out), visible_only=True)
    image = QImage(str(out))
    screen = view.viewport().grab().toImage().convertToFormat(image.format())
    assert image.size() == screen.size()
    assert image == screen
    whole = tmp_path / "whole.png"
    view.export_png(str(whole))
    scene = view.scene()
    assert scene is not None
    assert QImage(str(whole)).height() >= scene.geometry().height - 1


def test_dark_palette_paints_a_dark_ladder(view: LadderView) -> None:
    palette = QPalette(view.palette())
    palette.setColor(QPalette.ColorRole.Base, QColor("#1e1f22"))
    palette.setColor(QPalette.ColorRole.Text, QColor("#dfe1e5"))
    view.setPalette(palette)
    image = view.viewport().grab().toImage()
    corner = image.pixelColor(image.width() - 30, image.height() - 30)
    assert corner.lightness() < 60


def test_selection_from_elsewhere_highlights_and_survives_a_new_scale(
        view: LadderView, handshake: Ladder) -> None:
    plain = view.grab().toImage()
    view.set_selected_packet(5)
    assert view.selected_arrow() == 5
    assert view.grab().toImage() != plain
    view.set_ladder(handshake, positions(handshake.timestamps(), "log"))
    assert view.selected_arrow() == 5
    view.set_selected_packet(999)
    assert view.selected_arrow() == -1


def test_no_ladder_shows_a_hint(view: LadderView) -> None:
    view.set_ladder(None, np.zeros(0))
    assert view.drawn_arrows() == [] and view.ladder() is None
    view.grab()
    with pytest.raises(ValueError):
        view.export_svg("/tmp/never.svg")
