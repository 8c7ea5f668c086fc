"""The main window, driven as a user would: open, step, export, run, capture."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from captures import hosts_pcap
from PyQt6.QtCore import QSettings, Qt

from visualizer.core.capture.privileges import CapturePermission
from visualizer.gui.mainwindow import MainWindow

SAMPLES = Path(__file__).parents[2] / "resources" / "samples"
HANDSHAKE = SAMPLES / "tcp-handshake.pcapng"


def _open(qtbot, win: MainWindow, path: Path) -> None:
    with qtbot.wait_signal(win.document.finished, timeout=20_000):
        assert win.open_path(str(path))


def test_open_sample_fills_every_view(qtbot, window: MainWindow) -> None:
    _open(qtbot, window, HANDSHAKE)
    doc = window.document
    assert doc.session.count == 14
    assert "tcp-handshake.pcapng" in window.windowTitle()
    assert window.packet_table.model.rowCount() == 14
    assert window.conversations.model.rowCount() >= 1
    # the first packet is selected: details, hex and explanation follow it
    qtbot.wait_until(lambda: doc.session.current == 0)
    labels = [n.label for n in window.detail.nodes()]
    assert "TCP" in " ".join(labels)
    assert "SYN" in window.stage.explanation.title.text()
    # a field selected in the tree highlights its bytes
    tcp = next(n for n in window.detail.nodes() if n.label.startswith("TCP"))
    flags = next(c for c in tcp.children if c.label.lower().startswith("flags"))
    assert window.detail.select_node(flags)
    assert window.detail.selected_range() == (flags.start, flags.end)
    # the ladder has the client and the server lane
    assert window.stage.ladder is not None and len(window.stage.ladder.lanes) == 2


def test_a_recording_shows_its_scenario_and_parameters(qtbot, window: MainWindow) -> None:
    """The description beside the packets is the opened recording's, and Run repeats it."""
    panel = window.scenarios
    panel.select_scenario("udp-datagrams")
    panel.show_recording("udp-datagrams", {"count": 9})  # as if the user had typed 9
    panel.select_scenario("tcp-refused")
    _open(qtbot, window, SAMPLES / "udp-datagrams.pcapng")
    assert panel.scenario.name == "udp-datagrams"
    assert panel.values()["count"] == 5  # the sample was made with count=5
    assert "datagram" in panel.description.toPlainText()


def test_keys_step_through_every_view(qtbot, window: MainWindow) -> None:
    _open(qtbot, window, HANDSHAKE)
    doc = window.document
    stage = window.stage
    stage.first()
    qtbot.wait_until(lambda: doc.session.current == 0)
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.wait_until(lambda: doc.session.current == 1, timeout=5_000)  # after its flight
    assert window.packet_table.selected_indices() == [1]
    assert "SYN-ACK" in stage.explanation.title.text()
    qtbot.keyClick(window, Qt.Key.Key_End)
    qtbot.wait_until(lambda: doc.session.current == 13)
    qtbot.keyClick(window, Qt.Key.Key_Left)
    qtbot.wait_until(lambda: doc.session.current == 12)
    qtbot.keyClick(window, Qt.Key.Key_Home)
    qtbot.wait_until(lambda: doc.session.current == 0)
    # clicking a row elsewhere moves the playback too
    doc.set_current(6)
    assert stage.playback.packet == 6


def test_space_plays_the_animation(qtbot, window: MainWindow) -> None:
    _open(qtbot, window, HANDSHAKE)
    stage = window.stage
    stage.first()
    stage.speed.setValue(stage.speed.maximum())  # 16x: a packet every few frames
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert stage.playback.playing
    qtbot.wait_until(lambda: window.document.session.current >= 3, timeout=10_000)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not stage.playback.playing


def test_export_conversation_matches_tshark(qtbot, window: MainWindow, tmp_path: Path) -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (apt install tshark)")
    _open(qtbot, window, HANDSHAKE)
    doc = window.document
    doc.set_conversation(("tcp", 0))
    visible = doc.session.visible_indices()
    assert visible is not None
    out = tmp_path / "conversation.pcapng"
    window._export(str(out), "pcapng", visible.tolist())
    rows = subprocess.run(["tshark", "-r", str(out), "-T", "fields", "-e", "tcp.seq",
                           "-e", "tcp.flags.str"], capture_output=True, text=True,
                          check=True).stdout.splitlines()
    assert len(rows) == 14
    seqs = [int(r.split("\t")[0]) for r in rows]
    assert seqs == [int(v) for v in doc.session.analysis.column("rel_seq")[:14]]


def test_without_capture_permission_banner_shows_and_files_open(
        qtbot, tmp_path: Path, messages: list[str]) -> None:
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    denied = CapturePermission(False, sys.executable,
                               "capture needs CAP_NET_RAW, which this user does not have")
    win = MainWindow(settings=settings, permission=denied)
    qtbot.addWidget(win)
    win.show()
    assert win.banner.isVisibleTo(win)
    assert "CAP_NET_RAW" in win.banner.message.text()
    assert not win.act_run.isEnabled() and not win.act_capture.isEnabled()
    _open(qtbot, win, HANDSHAKE)
    assert win.document.session.count == 14
    win.document.close()


def test_a_file_that_is_no_capture_gets_one_message(qtbot, window: MainWindow,
                                                     tmp_path: Path,
                                                     messages: list[str]) -> None:
    bad = tmp_path / "notes.pcap"
    bad.write_text("not a capture")
    assert not window.open_path(str(bad))
    assert len(messages) == 1 and "not a pcap or pcapng" in messages[0]
    assert window.document.session.store is None


@pytest.mark.capture
def test_run_the_handshake_scenario_from_the_window(qtbot, window: MainWindow) -> None:
    with qtbot.wait_signal(window.scenarios.recording_finished, timeout=30_000):
        window.act_run.trigger()
    qtbot.wait_until(lambda: window.document.session.count >= 10 and not window.document.busy,
                     timeout=20_000)
    assert window.document.session.conversations()[0].kind == "tcp"
    assert window.stage.ladder is not None


def _udp_burst(stop: threading.Event, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        while not stop.is_set():
            s.sendto(b"live", ("127.0.0.1", port))
            stop.wait(0.005)


@pytest.mark.capture
def test_start_and_stop_a_live_capture(qtbot, window: MainWindow) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        port = sink.getsockname()[1]
        stop = threading.Event()
        sender = threading.Thread(target=_udp_burst, args=(stop, port))
        window.start_capture("lo", f"udp port {port}")
        try:
            qtbot.wait_until(lambda: window.document.session.store is not None, timeout=15_000)
            sender.start()
            qtbot.wait_until(lambda: window.document.session.count >= 20, timeout=15_000)
            assert "Live capture" in window.windowTitle()
            assert window.packet_table.model.rowCount() >= 20
            # the scenario's text does not pretend to describe these packets
            assert "live capture" in window.scenarios.summary_label.text().lower()
            assert "not from this scenario" in window.scenarios.description.toPlainText()
        finally:
            stop.set()
            if sender.is_alive():
                sender.join()
        with qtbot.wait_signal(window.document.finished, timeout=15_000):
            window.act_capture.trigger()  # Ctrl+K: stop
    assert window.act_save.isEnabled()
    assert "Captured" in window.status_capture.text()
    window.open_path(str(HANDSHAKE))   # a recording: its scenario's text is back
    qtbot.wait_until(lambda: "three-way handshake" in window.scenarios.summary_label.text(),
                     timeout=15_000)


def test_screenshot_command_offscreen(tmp_path: Path) -> None:
    out = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_DATA_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "visualizer", "gui", str(HANDSHAKE),
                             "--screenshot", str(out), "--select", "2"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 20_000
    bad = subprocess.run([sys.executable, "-m", "visualizer", "gui", str(HANDSHAKE),
                          "--screenshot", str(out), "--select", "99"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "has 14 packets" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_real_window_under_xvfb(tmp_path: Path) -> None:
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (apt install xvfb)")
    out = tmp_path / "xvfb.png"
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env["XDG_DATA_HOME"] = str(tmp_path)
    result = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24",
                             sys.executable, "-m", "visualizer", "gui", str(HANDSHAKE),
                             "--screenshot", str(out)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 20_000


def test_screenshot_of_a_file_that_is_no_capture_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "notes.pcap"
    bad.write_text("not a capture")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_DATA_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "visualizer", "gui", str(bad),
                             "--screenshot", str(tmp_path / "x.png")],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"visualizer: {bad}: not a pcap or pcapng capture file"]
    assert not (tmp_path / "x.png").exists()


def test_a_capture_with_no_conversation_shows_its_hosts(qtbot, window: MainWindow,
                                                       messages: list[str],
                                                       tmp_path: Path) -> None:
    """Pings and ARP only: no TCP stream or UDP flow. The window used to raise
    "choose at least one TCP stream or UDP flow" from the ladder; now the
    packets travel between host lanes, and the last packet can be reached."""
    _open(qtbot, window, hosts_pcap(tmp_path / "pings.pcap"))
    ladder = window.stage.ladder
    assert ladder is not None
    assert [lane.endpoint for lane in ladder.lanes] == [
        "192.0.2.1", "192.0.2.2", "02:00:00:00:00:01", "ff:ff:ff:ff:ff:ff"]
    assert [a.index for a in ladder.arrows] == [0, 1, 2, 3, 4]
    assert ladder.arrows[1].label.startswith("ICMP Echo (ping) reply")
    assert (ladder.arrows[1].src_lane, ladder.arrows[1].dst_lane) == (1, 0)
    qtbot.keyClick(window.stage.ladder_view, Qt.Key.Key_End)
    assert window.stage.playback.packet == 4
    assert not messages


def test_screenshot_of_a_capture_with_no_conversation(tmp_path: Path) -> None:
    out = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_DATA_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "visualizer", "gui",
                             str(hosts_pcap(tmp_path / "pings.pcap")),
                             "--screenshot", str(out), "--select", "5"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 20_000


def test_select_waits_for_the_whole_file_and_its_ladder(qtbot, window: MainWindow,
                                                         tmp_path: Path) -> None:
    """``gui FILE --select N`` on a file of more than a first batch: the packet is
    selected once the file is read, and the ladder, built anew a turn after
    ``finished``, has the playback cursor standing on it."""
    from captures import exchanges_pcap

    from visualizer.gui.app import _select_when_loaded

    path = exchanges_pcap(tmp_path / "long.pcap", 2_500)   # 5,003 packets
    _select_when_loaded(window, 4_000)
    loaded: list[int] = []
    window.stage.loaded.connect(lambda: loaded.append(window.document.session.count))
    with qtbot.wait_signal(window.document.finished, timeout=20_000):
        assert window.open_path(str(path))
    qtbot.wait_until(lambda: window.document.session.current == 3_999)
    assert loaded == [5_003]    # once, with the whole file
    assert int(window.stage.playback.packets[window.stage.playback.index]) == 3_999


def test_a_lesson_waiting_for_its_recording_ignores_the_file_open(qtbot, window: MainWindow,
                                                                 tmp_path: Path) -> None:
    """A scenario lesson waits for its own recording to load: building the
    ladder of the file already open (choosing a conversation) does not start it."""
    from visualizer.core.quiz.lesson import load_lesson

    _open(qtbot, window, SAMPLES / "tcp-many-clients.pcapng")
    lesson_file = tmp_path / "lesson.toml"
    lesson_file.write_text('title = "Waits"\nscenario = "tcp-handshake"\n\n'
                           '[[step]]\ngo = 1\ntext = "The SYN."\n')
    panel = window.lessons
    panel.lesson, panel.walk, panel._waiting = load_lesson(str(lesson_file)), None, True
    window.document.set_conversation(("tcp", 1))
    qtbot.wait(50)
    assert panel._waiting and panel.walk is None
