"""The timeline widget: rows, markers, playhead, range, time-sequence, throughput."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from benchmarks.make_pcap import generate
from PyQt6.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt6.QtGui import QColor, QImage, QMouseEvent, QPalette, QWheelEvent
from PyQt6.QtWidgets import QApplication, QWidget

from visualizer.core.decode.store import PacketStore
from visualizer.core.describe.kinds import (
    DATA_K,
    FIN_K,
    KINDS,
    PROBLEM_K,
    SYN_K,
    UDP_K,
    packet_kinds,
)
from visualizer.core.flows.analysis import Analysis, analyze
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.tcp.testing import Capture, Conversation, write_pcap
from visualizer.core.timebins import TimeBins
from visualizer.gui.timeline import Timeline

SAMPLES = Path(__file__).parents[2] / "resources" / "samples"
HANDSHAKE_ROW = "TCP 0  127.0.0.1:37842 ↔ 127.0.0.1:52147"


def _analysis(path: Path) -> Iterator[Analysis]:
    store = PacketStore.from_file(str(path))
    yield analyze(store)
    store.close()


@pytest.fixture
def handshake() -> Iterator[Analysis]:
    yield from _analysis(SAMPLES / "tcp-handshake.pcapng")


@pytest.fixture
def timeline(qtbot) -> Timeline:
    widget = Timeline()
    qtbot.addWidget(widget)
    widget.resize(1000, 350)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def mixed(tmp_path: Path) -> Iterator[Analysis]:
    """A few thousand packets: TCP bulk transfers and UDP flows, interleaved in order."""
    path = tmp_path / "mixed.pcap"
    with open(path, "wb") as out:
        generate(3000, out)
    yield from _analysis(path)


def _plot_pixels(timeline: Timeline) -> np.ndarray:
    """The timeline plot as rendered, as 0xRRGGBB ints (rows x columns)."""
    image = timeline.plot.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    ptr = image.constBits()
    assert ptr is not None
    ptr.setsize(image.sizeInBytes())
    pixels = np.frombuffer(ptr, dtype=np.uint32).reshape(image.height(),
                                                         image.bytesPerLine() // 4)
    return pixels[:, :image.width()] & 0xFFFFFF


def _colour(code: int) -> int:
    return int(KINDS[code].marker[1:], 16)


def _column_of(timeline: Timeline, seconds: float) -> int:
    vb = timeline.plot.getPlotItem().getViewBox()
    return timeline.plot.mapFromScene(vb.mapViewToScene(QPointF(seconds, 0))).x()


# -- rows and markers -----------------------------------------------------------
def test_sample_gives_one_row_with_fourteen_markers(timeline: Timeline,
                                                    handshake: Analysis) -> None:
    assert not timeline.has_data()
    timeline.set_analysis(handshake, 14)
    assert timeline.has_data()
    assert timeline.row_labels() == [HANDSHAKE_ROW]
    assert timeline.packet_rows().tolist() == [0] * 14
    assert timeline.packet_kinds().tolist() == packet_kinds(handshake).tolist()
    ts = handshake.store.column("ts_ns")
    np.testing.assert_allclose(timeline.packet_times(), (ts - ts[0]) / 1e9)


def test_markers_are_painted_at_their_time_in_kind_colours(timeline: Timeline,
                                                           handshake: Analysis) -> None:
    timeline.set_analysis(handshake, 14)
    pixels = _plot_pixels(timeline)
    times = timeline.packet_times()
    for index, code in ((0, SYN_K), (3, DATA_K), (11, FIN_K)):
        column = _column_of(timeline, float(times[index]))
        near = pixels[:, max(column - 2, 0):column + 3]
        assert (near == _colour(code)).sum() >= 5, (index, KINDS[code].name)
    assert not (pixels == _colour(UDP_K)).any()
    timeline.clear()
    assert not (_plot_pixels(timeline) == _colour(SYN_K)).any()


def test_mixed_capture_rows_tcp_then_udp(timeline: Timeline, mixed: Analysis) -> None:
    timeline.set_analysis(mixed, len(mixed.store))
    labels = timeline.row_labels()
    tcp, udp = len(mixed.tcp.connections), len(mixed.udp_flows)
    assert tcp > 3 and udp > 1
    assert [label.split()[0] for label in labels] == ["TCP"] * tcp + ["UDP"] * udp
    rows = timeline.packet_rows()
    stream, flow = mixed.column("stream"), mixed.column("udp_flow")
    assert (rows[stream >= 0] == stream[stream >= 0]).all()
    assert (rows[flow >= 0] == tcp + flow[flow >= 0]).all()
    pixels = _plot_pixels(timeline)
    assert (pixels == _colour(UDP_K)).any() and (pixels == _colour(DATA_K)).any()


def test_extend_adds_markers_and_rows_as_a_live_capture_grows(timeline: Timeline,
                                                              mixed: Analysis,
                                                              tmp_path: Path) -> None:
    """Growing in batches ends exactly where loading everything at once does."""
    with open(tmp_path / "grow.pcap", "wb") as out:
        generate(3000, out)
    store = PacketStore(CaptureFile.open(str(tmp_path / "grow.pcap")))
    records = store.capture.records()
    analysis = Analysis(store)
    store.extend(records, limit=6)
    timeline.set_analysis(analysis.run(), 6)
    assert timeline.row_labels() == [timeline.row_labels()[0]] and len(
        timeline.packet_times()) == 6
    sizes = []
    while True:
        store.extend(records, limit=len(store) + 700)
        if len(store) == len(timeline.packet_times()):
            break
        timeline.extend(len(analysis.run().store))
        sizes.append(len(timeline.row_labels()))
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    whole = Timeline()
    whole.set_analysis(mixed, len(mixed.store))
    assert timeline.row_labels() == whole.row_labels()
    assert (timeline.packet_rows() == whole.packet_rows()).all()
    assert (timeline.packet_kinds() == whole.packet_kinds()).all()
    store.close()


def _wheel(widget: QWidget, at: QPoint, clicks: int) -> None:
    event = QWheelEvent(QPointF(at), QPointF(widget.mapToGlobal(at)), QPoint(0, 0),
                        QPoint(0, 120 * clicks), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_view_follows_a_live_capture_until_the_user_zooms(timeline: Timeline,
                                                          handshake: Analysis) -> None:
    vb = timeline.plot.getPlotItem().getViewBox()
    timeline.set_analysis(handshake, 4)
    times = handshake.store.column("ts_ns")
    timeline.extend(10)
    (x0, x1), _ = vb.viewRange()
    assert x0 <= 0 and x1 >= (times[9] - times[0]) / 1e9
    viewport = timeline.plot.viewport()
    assert viewport is not None
    _wheel(viewport, viewport.rect().center(), 3)  # zoom in
    (z0, z1), _ = vb.viewRange()
    assert z1 - z0 < (x1 - x0) / 2
    timeline.extend(14)
    assert vb.viewRange()[0] == pytest.approx([z0, z1])  # the user's view stays
    timeline.fit_button.click()
    assert vb.viewRange()[0][1] >= (times[13] - times[0]) / 1e9


def test_clear_forgets_everything(timeline: Timeline, handshake: Analysis) -> None:
    timeline.set_analysis(handshake, 14)
    timeline.set_current(3)
    timeline.set_conversation("tcp", 0)
    timeline.show_range(0.0, 1.0)
    assert "SYN-ACK" in timeline.legend.text()
    timeline.clear()
    assert timeline.legend.text() == ""
    assert not timeline.has_data()
    assert timeline.row_labels() == [] and len(timeline.packet_times()) == 0
    assert not timeline.playhead.isVisible()
    assert timeline.selected_range() is None
    timeline.tabs.setCurrentIndex(1)
    assert "Select a TCP conversation" in timeline.time_sequence._empty.text()
    assert timeline.time_sequence._stack.currentIndex() == 0


def _image_pixels(image: QImage) -> np.ndarray:
    ptr = image.constBits()
    assert ptr is not None
    ptr.setsize(image.sizeInBytes())
    pixels = np.frombuffer(ptr, dtype=np.uint32).reshape(image.height(),
                                                         image.bytesPerLine() // 4)
    return pixels[:, :image.width()].copy()


def _within_a_column(these: np.ndarray, those: np.ndarray) -> bool:
    """Every pixel set in ``these`` is set in ``those`` in its row, one column
    either side at most."""
    near = those.copy()
    near[:, 1:] |= those[:, :-1]
    near[:, :-1] |= those[:, 1:]
    return bool(np.all(near[these]))


@pytest.mark.parametrize("first_row_px", [5.0, -47.0])   # every row; the first few off the top
def test_ticks_from_time_bins_look_like_ticks_from_the_packets(qtbot, first_row_px: float) -> None:
    """Zoomed out over 600,000 packets the layer draws from its time bins
    (core/timebins.py): the same ticks as from the packets, a column off at most."""
    from visualizer.gui.timeline import MarkerLayer

    rng = np.random.default_rng(7)
    count, streams = 600_000, 8
    times = np.sort(rng.uniform(0, 10, count))
    keys = (1 + 2 * rng.integers(0, streams, count)).astype(np.int32)
    bursts = (times % 1.0) < 0.6                      # gaps, so not every column is ticked
    times, keys = times[bursts], keys[bursts]
    layer = MarkerLayer()
    layer.append(times, keys, np.full(len(times), DATA_K, dtype=np.int8))
    key_row = np.full(2 * streams + 3, -1, dtype=np.int32)
    key_row[1:1 + 2 * streams:2] = np.arange(streams)
    layer.set_rows(key_row, streams)
    args = (0.0, 10.0, 800, 120, 6, 80.0, 0.0, 14.0, first_row_px)  # 80 px a second

    layer.binned_from = 10**12
    exact = _image_pixels(layer._render(*args)) == 0xFF000000 | _colour(DATA_K)
    assert not any(bins._levels for bins in layer._bins)
    layer.binned_from = 50_000
    binned = _image_pixels(layer._render(*args)) == 0xFF000000 | _colour(DATA_K)
    assert layer._bins[DATA_K]._levels, "drawn from the packets, not the time bins"
    assert exact.sum() > 10_000
    assert _within_a_column(binned, exact) and _within_a_column(exact, binned)
    assert abs(int(binned.sum()) - int(exact.sum())) < 0.02 * exact.sum()


def test_packets_a_little_early_are_sorted_in_where_they_belong(qtbot) -> None:
    """A capture on several CPUs steps back a few microseconds now and then: each
    kind's ticks stay sorted (as one stable sort of them all gives), the batch
    merged with the last ticks only, and the time bins stay right."""
    from visualizer.gui.timeline import MarkerLayer

    rng = np.random.default_rng(11)
    times = np.sort(rng.uniform(0, 5, 200_000))
    keys = (1 + 2 * rng.integers(0, 5, len(times))).astype(np.int32)
    kinds = rng.integers(0, 3, len(times)).astype(np.int8)
    times[rng.integers(1, len(times), 300)] -= 3e-5          # stepping back
    firsts = np.arange(4_096, len(times), 4_096)              # and at each batch's start,
    times[firsts] -= 2e-3                                     # before the last batch's end,
    keys[firsts] = 99                                         # in a time bin of its own
    layer = MarkerLayer()
    for start in range(0, len(times), 4_096):
        end = start + 4_096
        layer.append(times[start:end], keys[start:end], kinds[start:end])
        for code in range(3):
            layer._bins[code].codes(6, layer._times[code].view, layer._keys[code].view)
    for code in range(3):
        mine = kinds == code
        order = np.argsort(times[mine], kind="stable")
        np.testing.assert_array_equal(layer._times[code].view, times[mine][order])
        np.testing.assert_array_equal(layer._keys[code].view, keys[mine][order])
        kept = layer._bins[code].codes(6, layer._times[code].view, layer._keys[code].view)
        fresh = TimeBins().codes(6, times[mine][order], keys[mine][order])
        assert kept is not None and fresh is not None
        np.testing.assert_array_equal(kept, fresh)


# -- playhead ---------------------------------------------------------------------
def test_set_current_moves_the_playhead_to_the_packet(qtbot, timeline: Timeline,
                                                      handshake: Analysis) -> None:
    timeline.set_analysis(handshake, 14)
    times = timeline.packet_times()
    with qtbot.assert_not_emitted(timeline.seek_requested):
        timeline.set_current(5)
    assert timeline.playhead.isVisible()
    assert timeline.playhead.value() == pytest.approx(times[5])
    assert timeline.time_sequence.playhead.value() == pytest.approx(times[5])
    x, y = timeline.ring.getData()
    assert x.tolist() == pytest.approx([times[5]]) and y.tolist() == [0]
    timeline.set_current(-1)
    assert not timeline.playhead.isVisible()
    assert len(timeline.ring.getData()[0]) == 0


def test_dragging_the_playhead_seeks_the_nearest_packet(qtbot, timeline: Timeline,
                                                        handshake: Analysis) -> None:
    timeline.set_analysis(handshake, 14)
    times = timeline.packet_times()
    line = timeline.playhead
    line.setValue(times[7] + 0.3 * (times[8] - times[7]))
    with qtbot.wait_signal(timeline.seek_requested) as blocker:
        line.sigPositionChangeFinished.emit(line)
    assert blocker.args == [7]
    line.setValue(times[8] - 0.2 * (times[8] - times[7]))
    with qtbot.wait_signal(timeline.seek_requested) as blocker:
        line.sigPositionChangeFinished.emit(line)
    assert blocker.args == [8]


def test_seek_stays_within_the_selected_conversation(qtbot, timeline: Timeline,
                                                     tmp_path: Path) -> None:
    capture = Capture()
    a = Conversation(("10.0.0.1", 40000), ("10.0.0.2", 80), capture=capture)
    b = Conversation(("10.0.0.1", 40001), ("10.0.0.2", 80), capture=capture)
    a.handshake()   # packets 0-2: stream 0
    b.handshake()   # packets 3-5: stream 1
    a.c2s("PA", data=10)  # packet 6: stream 0
    path = write_pcap(tmp_path / "two.pcap", capture.segments)
    for analysis in _analysis(path):
        timeline.set_analysis(analysis, 7)
        assert len(timeline.row_labels()) == 2
        times = timeline.packet_times()
        line = timeline.playhead
        line.setValue(float(times[4]))
        with qtbot.wait_signal(timeline.seek_requested) as blocker:
            line.sigPositionChangeFinished.emit(line)
        assert blocker.args == [4]
        timeline.set_conversation("tcp", 0)
        with qtbot.wait_signal(timeline.seek_requested) as blocker:
            line.sigPositionChangeFinished.emit(line)
        assert blocker.args == [2]  # stream 0's packet nearest to packet 4's time
        timeline.set_conversation("tcp", 1)
        assert timeline.highlight.isVisible()
        assert timeline.highlight.getRegion() == pytest.approx((0.5, 1.5))
        timeline.set_conversation(None)
        assert not timeline.highlight.isVisible()


def test_clicking_next_to_a_tick_seeks_to_it(qtbot, timeline: Timeline,
                                             handshake: Analysis) -> None:
    timeline.set_analysis(handshake, 14)
    times = timeline.packet_times()
    vb = timeline.plot.getPlotItem().getViewBox()
    where = timeline.plot.mapFromScene(vb.mapViewToScene(QPointF(float(times[3]), 0)))
    with qtbot.wait_signal(timeline.seek_requested) as blocker:
        qtbot.mouseClick(timeline.plot.viewport(), Qt.MouseButton.LeftButton,
                         pos=where + QPoint(3, 0))
    assert blocker.args == [3]


# -- range ---------------------------------------------------------------------------
def test_range_selection_returns_the_packets_inside(qtbot, timeline: Timeline,
                                                    handshake: Analysis) -> None:
    timeline.set_analysis(handshake, 14)
    times = timeline.packet_times()
    assert timeline.selected_range() is None
    timeline.range_button.click()
    assert timeline.region.isVisible()
    eps = 1e-7
    timeline.region.setRegion((times[2] - eps, times[5] + eps))
    assert timeline.selected_range() == (2, 5)
    assert timeline.export_button.isEnabled()
    assert timeline.range_label.text() == "frames 3–6"
    with qtbot.wait_signal(timeline.range_export_requested) as blocker:
        timeline.export_button.click()
    assert blocker.args == [2, 5]
    gap = (times[2] + times[3]) / 2
    timeline.region.setRegion((gap - eps, gap + eps))
    assert timeline.selected_range() is None
    assert not timeline.export_button.isEnabled()
    timeline.range_button.click()
    assert not timeline.region.isVisible() and timeline.selected_range() is None


def _drag(widget: QWidget, start: QPoint, end: QPoint,
          modifiers: Qt.KeyboardModifier) -> None:
    """Press the left button at ``start``, move in steps to ``end``, release. The
    steps are 15 ms apart: pyqtgraph drops mouse moves closer than 10 ms."""
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton

    def send(kind: QEvent.Type, at: QPoint, button: Qt.MouseButton,
             buttons: Qt.MouseButton) -> None:
        QApplication.sendEvent(widget, QMouseEvent(kind, QPointF(at),
                                                   QPointF(widget.mapToGlobal(at)),
                                                   button, buttons, modifiers))

    send(QEvent.Type.MouseButtonPress, start, left, left)
    for step in range(1, 11):
        time.sleep(0.015)
        send(QEvent.Type.MouseMove, start + (end - start) * step / 10, none, left)
    send(QEvent.Type.MouseButtonRelease, end, left, none)


def test_shift_drag_selects_a_range_and_a_plain_drag_pans(timeline: Timeline,
                                                          handshake: Analysis) -> None:
    timeline.set_analysis(handshake, 14)
    vb = timeline.plot.getPlotItem().getViewBox()
    viewport = timeline.plot.viewport()
    assert viewport is not None
    times = timeline.packet_times()

    def at(seconds: float) -> QPoint:
        scene = vb.mapViewToScene(QPointF(seconds, 0.0))
        return timeline.plot.mapFromScene(scene)

    before = vb.viewRange()[0]
    _drag(viewport, at((times[1] + times[2]) / 2), at((times[5] + times[6]) / 2),
          Qt.KeyboardModifier.ShiftModifier)
    assert timeline.range_button.isChecked() and timeline.region.isVisible()
    assert timeline.selected_range() == (2, 5)
    assert timeline.range_label.text() == "frames 3–6"
    assert vb.viewRange()[0] == pytest.approx(before)  # the view did not move
    # Without Shift a drag outside the range pans, and the range stays as it was.
    _drag(viewport, at(times[9]), at(times[12]), Qt.KeyboardModifier.NoModifier)
    assert vb.viewRange()[0] != pytest.approx(before)
    assert timeline.selected_range() == (2, 5)


# -- time-sequence -----------------------------------------------------------------
def test_time_sequence_of_the_sample(timeline: Timeline, handshake: Analysis) -> None:
    """The graph plots the core's series (tests/core/test_time_sequence.py) for the
    sender chosen: the busier one first, then the other one picked by hand."""
    timeline.set_analysis(handshake, 14)
    timeline.set_conversation("tcp", 0)
    timeline.tabs.setCurrentIndex(1)
    graph = timeline.time_sequence
    assert graph._stack.currentIndex() == 1
    assert graph.direction.count() == 2
    assert graph.direction.currentText() == "127.0.0.1:37842 → 127.0.0.1:52147"
    data = graph.segments()
    times = timeline.packet_times()
    assert data is not None
    np.testing.assert_allclose(data.time, times[[3, 7, 9]])
    x, y = graph._bars.getData()
    assert x is not None and y is not None
    np.testing.assert_allclose(x, np.repeat(times[[3, 7, 9]], 2))  # a bar per segment
    assert y.tolist() == [1, 65, 65, 129, 129, 193]
    x, _ = graph._ack.getData()
    assert x is not None and len(x) == 2 * 6 - 1  # a step line through six acks
    assert len(graph._marks.data) == 2  # the SYN and the FIN
    graph.direction.setCurrentIndex(1)
    graph.direction.activated.emit(1)
    data = graph.segments()
    assert data is not None
    np.testing.assert_allclose(data.time, times[[5, 8, 10]])
    x, _ = graph._ack.getData()
    assert x is not None and len(x) == 2 * 7 - 1


def test_time_sequence_marks_retransmissions(timeline: Timeline, tmp_path: Path) -> None:
    conv = Conversation()
    conv.handshake()
    first = conv.c2s("PA", data=100, delivered=False)
    assert first is not None
    conv.c2s("PA", data=100, seq=first.seq, dt=200_000_000)  # the RTO fires
    conv.s2c("A")
    conv.close()
    for analysis in _analysis(write_pcap(tmp_path / "rto.pcap", conv.segments)):
        timeline.tabs.setCurrentIndex(1)
        timeline.set_analysis(analysis, len(analysis.store))
        timeline.set_conversation("tcp", 0)
        graph = timeline.time_sequence
        times = timeline.packet_times()
        retransmitted = graph._retrans.getData()[0]
        assert retransmitted is not None  # the red bar: the second send only
        np.testing.assert_allclose(retransmitted, np.repeat(times[4], 2))
        assert timeline.packet_kinds()[4] == PROBLEM_K  # red on the timeline too


def test_time_sequence_empty_states(timeline: Timeline) -> None:
    for analysis in _analysis(SAMPLES / "udp-datagrams.pcapng"):
        timeline.set_analysis(analysis, 10)
        timeline.tabs.setCurrentIndex(1)
        graph = timeline.time_sequence
        assert graph._stack.currentIndex() == 0
        assert "no TCP conversation" in graph._empty.text()
        timeline.set_conversation("udp", 0)
        assert "UDP flow" in graph._empty.text()
        assert timeline.row_labels()[0].startswith("UDP 0  ")


# -- throughput ------------------------------------------------------------------------
def test_throughput_bins_add_up_to_the_bytes(timeline: Timeline, mixed: Analysis) -> None:
    timeline.set_analysis(mixed, len(mixed.store))
    timeline.tabs.setCurrentIndex(2)
    graph = timeline.throughput
    lengths = mixed.store.column("origlen")
    (rate,) = graph.rates
    assert rate.sum() * graph.bin_s == pytest.approx(lengths.sum())
    timeline.set_conversation("tcp", 1)
    forward, backward = graph.rates
    members = mixed.stream_indices(1)
    direction = mixed.column("direction")[members]
    assert forward.sum() * graph.bin_s == pytest.approx(
        lengths[members][direction == 0].sum())
    assert backward.sum() * graph.bin_s == pytest.approx(
        lengths[members][direction == 1].sum())
    assert "TCP 1" in graph.caption.text()


# -- palette -------------------------------------------------------------------------------
def test_plots_follow_the_palette(timeline: Timeline, handshake: Analysis) -> None:
    timeline.set_analysis(handshake, 14)
    dark = QPalette(timeline.palette())
    dark.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#e0e0e0"))
    timeline.setPalette(dark)
    for plot in (timeline.plot, timeline.time_sequence.plot, timeline.throughput.plot):
        assert plot.backgroundBrush().color().name() == "#1e1e1e"
        assert plot.getPlotItem().getAxis("bottom").textPen().color().name() == "#e0e0e0"
    pixels = _plot_pixels(timeline)
    assert (pixels == 0x1E1E1E).sum() > pixels.size // 3


def test_many_rows_show_every_label_and_the_strip_follows_the_current_row(
        qtbot, tmp_path: Path) -> None:
    """30 conversations in a 160 px strip: the labels were thinned to every fourth
    row (TCP 0, 4, 8...). Now as many rows as can be read are shown, each labelled,
    and the strip scrolls to the current packet's row."""
    capture = Capture()
    for k in range(30):
        conv = Conversation(("10.0.0.1", 40000 + k), ("10.0.0.2", 80), capture=capture)
        conv.handshake()
        conv.close()
    path = write_pcap(tmp_path / "many.pcap", capture.segments)
    widget = Timeline()
    qtbot.addWidget(widget)
    widget.resize(900, 160)
    widget.show()
    qtbot.waitExposed(widget)
    for analysis in _analysis(path):
        widget.set_analysis(analysis, len(analysis.store))
        widget.fit()
        axis = widget.axis
        vb = widget.plot.getPlotItem().getViewBox()
        (_, _), (y0, y1) = vb.viewRange()
        shown = axis.tickValues(y0, y1, vb.height())
        assert shown and shown[0][0] == 1.0          # every row in sight has its label
        assert 1 < len(shown[0][1]) < 30
        last = len(analysis.store) - 1               # a packet of the last conversation
        widget.set_current(last)
        (_, _), (y0, y1) = vb.viewRange()
        assert min(y0, y1) <= 29 <= max(y0, y1)
        # Rows cut by the strip's edges are drawn clipped: scroll a row at a time in
        # small steps (a row just under the bottom edge once raised IndexError).
        top = min(y0, y1)
        for step in range(60):
            vb.setYRange(top - step * 0.1, top - step * 0.1 + 4.3, padding=0)
            assert not widget.grab().isNull()


def test_row_labels_are_as_wide_as_the_widest_of_many(qtbot) -> None:
    """The axis measures only the longest few of a batch's new labels: with the
    labels of 20,000 connections it is as wide as measuring every one gives."""
    from PyQt6.QtGui import QFontMetrics

    from visualizer.gui.timeline import LABEL_MAX_PX, RowAxis

    rng = np.random.default_rng(3)
    labels = [f"TCP {k}  10.{rng.integers(0, 256)}.{rng.integers(0, 256)}.{rng.integers(0, 256)}"
              f":{rng.integers(1024, 65536)} ↔ 10.0.254.1:{rng.choice([80, 443, 8080])}"
              for k in range(20_000)]
    axis = RowAxis()
    for start in range(0, len(labels), 4_096):
        axis.set_labels(labels[:start + 4_096], labels[start:start + 4_096])
    metrics = QFontMetrics(axis.font())
    widest = max(min(metrics.horizontalAdvance(t), LABEL_MAX_PX) for t in labels)
    assert axis._widest == widest
    longer = "UDP 0  [2001:db8::1]:5353 ↔ [ff02::fb]:5353, a longer label"
    axis.set_labels([*labels, longer], [longer])
    assert axis._widest > widest
    # as many characters, not as wide: narrow hex digits, then wide ones
    ties = [f"UDP {k:02}  [fe80::ffff]:5353 ↔ [ff02::fb]:5353" for k in range(40)]
    ties.append("UDP 40  [fe80::8888]:5353 ↔ [ff02::fb]:5353")
    fresh = RowAxis()
    fresh.set_labels(ties, ties)
    assert fresh._widest == max(metrics.horizontalAdvance(t) for t in ties)
    assert fresh._widest == metrics.horizontalAdvance(ties[-1])
    # empty labels among them, first and last too, count as nothing
    spaced = ["", *ties[:20], "", *ties[20:], ""]
    again = RowAxis()
    again.set_labels(spaced, spaced)
    assert again._widest == fresh._widest
