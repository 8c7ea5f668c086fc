"""The Document: the Session read in a background thread, its changes as signals.

What the Session computes is tested without Qt in tests/core/test_session.py.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from captures import exchanges_pcap
from documents import open_document

from visualizer.core.errors import BadInput
from visualizer.core.tcp.testing import Capture, Conversation, write_pcap
from visualizer.gui.document import FIRST_BATCH, LOAD_READ, Document

SAMPLES = Path(__file__).parents[2] / "resources" / "samples"


def test_open_sample(qtbot) -> None:
    doc = Document()
    scenarios: list[str] = []
    doc.reset.connect(lambda: scenarios.append(
        doc.session.recording.scenario if doc.session.recording else ""))
    with qtbot.wait_signal(doc.finished, timeout=30_000) as blocker:
        doc.open_file(str(SAMPLES / "tcp-handshake.pcapng"))
    assert blocker.args == [""]
    # the recording is there before the views hear of the new capture
    assert scenarios == ["", "tcp-handshake"]
    assert doc.session.count == 14 and not doc.busy
    with qtbot.wait_signal(doc.reset):
        doc.close()
    assert doc.session.count == 0 and doc.session.store is None


def test_selection_signals(qtbot) -> None:
    doc = open_document(qtbot, SAMPLES / "tcp-handshake.pcapng")
    with qtbot.wait_signal(doc.current_changed) as blocker:
        doc.set_current(3)
    assert blocker.args == [3]
    with qtbot.assert_not_emitted(doc.current_changed):
        doc.set_current(3)
    with qtbot.wait_signal(doc.conversation_changed):
        doc.set_conversation(("tcp", 0))
    with qtbot.assert_not_emitted(doc.conversation_changed):
        doc.set_conversation(("tcp", 0))
    doc.close()


def test_large_file_arrives_in_batches(qtbot, tmp_path: Path) -> None:
    path = exchanges_pcap(tmp_path / "big.pcap", 3000)
    doc = Document()
    counts: list[int] = []
    doc.grown.connect(counts.append)
    with qtbot.wait_signal(doc.finished, timeout=30_000):
        doc.open_file(str(path))
    assert counts[0] == FIRST_BATCH
    assert counts[-1] == doc.session.count == 6003
    assert counts == sorted(counts)
    assert len(doc.session.kinds()) == 6003
    doc.close()


def test_not_a_capture_is_refused_and_the_open_one_stays(qtbot, tmp_path: Path) -> None:
    bad = tmp_path / "x.pcap"
    bad.write_bytes(b"hello world, not a capture")
    doc = open_document(qtbot, SAMPLES / "tcp-handshake.pcapng")
    with qtbot.assert_not_emitted(doc.reset), pytest.raises(BadInput, match="not a pcap"):
        doc.open_file(str(bad))
    assert doc.session.count == 14 and doc.session.store is not None
    doc.close()


def _udp_traffic(stop: threading.Event, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        while not stop.is_set():
            s.sendto(b"x" * 32, ("127.0.0.1", port))
            stop.wait(0.002)


@pytest.mark.capture
def test_live_capture_shows_packets_while_they_flow(qtbot, tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        port = sink.getsockname()[1]
        doc = Document()
        spool = tmp_path / "live.pcap"
        doc.start_capture("lo", f"udp port {port}", str(spool))
        stop = threading.Event()
        sender = threading.Thread(target=_udp_traffic, args=(stop, port))
        try:
            qtbot.wait_until(lambda: doc.session.store is not None, timeout=15_000)
            sender.start()
            qtbot.wait_until(lambda: doc.session.count >= 50, timeout=15_000)
            assert doc.busy
        finally:
            stop.set()
            if sender.is_alive():
                sender.join()
        with qtbot.wait_signal(doc.finished, timeout=15_000) as blocker:
            doc.stop()
        assert blocker.args == [""]
        assert doc.session.conversations()[0].kind == "udp"
        assert doc.session.count >= 50 and spool.exists()
        doc.close()


@pytest.mark.capture
def test_bad_filter_is_reported_not_run(qtbot, tmp_path: Path) -> None:
    doc = Document()
    with qtbot.wait_signal(doc.finished, timeout=15_000) as blocker:
        doc.start_capture("lo", "tcp port", str(tmp_path / "x.pcap"))
    assert "invalid capture filter" in blocker.args[0]
    assert doc.session.count == 0 and not (tmp_path / "x.pcap").exists()


@pytest.mark.capture
def test_capture_process_killed_mid_capture_is_reported_and_packets_stay(
        qtbot, tmp_path: Path) -> None:
    import os
    import signal

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        port = sink.getsockname()[1]
        doc = Document()
        doc.start_capture("lo", f"udp port {port}", str(tmp_path / "live.pcap"))
        qtbot.wait_until(lambda: doc.session.store is not None, timeout=15_000)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(30):
                s.sendto(b"before the kill", ("127.0.0.1", port))
        qtbot.wait_until(lambda: doc.session.count == 30, timeout=15_000)
        child = doc.capture_pid
        assert child is not None
        with qtbot.wait_signal(doc.finished, timeout=15_000) as blocker:
            os.kill(child, signal.SIGKILL)
        assert "SIGKILL" in blocker.args[0] and "30 packets" in blocker.args[0]
        assert doc.session.count == 30 and not doc.busy
        doc.close()


@pytest.mark.capture
def test_ring_buffer_keeps_the_most_recent_packets(qtbot, tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        port = sink.getsockname()[1]
        doc = Document()
        resets: list[int] = []
        doc.reset.connect(lambda: resets.append(doc.session.count))
        doc.start_capture("lo", f"udp port {port}", str(tmp_path / "ring.pcap"),
                          keep_last=1000)
        qtbot.wait_until(lambda: doc.session.store is not None, timeout=15_000)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(6000):
                s.sendto(f"datagram {i:05d}".encode(), ("127.0.0.1", port))
                if i % 500 == 0:
                    qtbot.wait(60)  # let the follower take batches, as live traffic would
        qtbot.wait_until(lambda: doc.session.first_number + doc.session.count - 1 == 6000,
                         timeout=20_000)
        assert 1000 <= doc.session.count <= 2000, "memory holds about keep_last packets"
        assert len(resets) >= 3  # a reset each time the ring buffer moved on
        with qtbot.wait_signal(doc.finished, timeout=15_000) as blocker:
            doc.stop()
        assert blocker.args == [""]
        doc.close()


def test_loader_makes_way_while_the_window_is_busy(qtbot, tmp_path: Path) -> None:
    """The event loop held up (here by a sleep, as by a long paint in Qt's C++
    code): the loader waits instead of competing; free again, the load goes on."""
    path = exchanges_pcap(tmp_path / "busy.pcap", 40_000)
    doc = Document()
    doc.open_file(str(path))
    qtbot.waitUntil(lambda: doc.session.count >= FIRST_BATCH, timeout=10_000)
    store = doc.session.store
    assert store is not None
    qtbot.wait(50)  # the heartbeat is running
    before = len(store)
    time.sleep(0.6)  # no event loop: the heartbeat stops
    during = len(store) - before
    with qtbot.wait_signal(doc.finished, timeout=60_000):
        pass
    assert doc.session.count == 80_003
    # a chunk or two go on until the heartbeat counts as late (25 ms), and one
    # follows each longest wait (0.25 s): about five in 0.6 s, a few more on a
    # busy machine. Without the waiting the loader read the rest of the file
    # (65,536 packets here).
    assert during <= 8 * LOAD_READ, during
    doc.close()


def test_the_loader_names_the_conversations(qtbot, tmp_path: Path,
                                            endpoint_texts_made) -> None:
    """Every conversation's endpoints are made into text in the loader's thread,
    batch by batch, so that the timeline and the list only read them."""
    def threads() -> set[str]:
        return {thread for thread, _, _ in endpoint_texts_made}

    capture = Capture()
    for k in range(1500):   # 4,500 packets: three batches
        Conversation(("10.0.0.1", 10000 + k), capture=capture).handshake()
    doc = open_document(qtbot, write_pcap(tmp_path / "many.pcap", capture.segments))
    assert doc.session.analysis is not None
    connections = len(doc.session.analysis.tcp.connections)
    assert connections == 1500
    assert threads() == {"document-loader"}
    texts = doc.session.analysis.endpoint_texts_of("tcp", 0, connections)
    assert threads() == {"document-loader"}   # read, not made again
    assert len(texts) == connections
    doc.close()


def test_wait_does_not_slow_the_loader_down(qtbot, tmp_path: Path) -> None:
    """``wait()`` blocks the GUI thread on purpose: no heartbeat then, and no backing off."""
    path = exchanges_pcap(tmp_path / "busy.pcap", 40_000)
    doc = Document()
    doc.open_file(str(path))
    start = time.monotonic()
    assert doc.wait(30)
    # backing off would take at least 0.25 s per read: 20 reads, 5 s
    assert time.monotonic() - start < 5
    assert len(doc.session.store or ()) == 80_003
    doc.close()


def test_unsupported_tunnel_is_named_when_loading_ends(qtbot, tmp_path: Path) -> None:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import wrpcap

    path = tmp_path / "l2tp.pcap"
    wrpcap(str(path), [Ether() / IP(src="192.0.2.1", dst="192.0.2.2")
                       / UDP(sport=1701, dport=1701) / Raw(b"\xc8\x02" + b"\0" * 20)] * 2)
    doc = Document()
    with qtbot.wait_signal(doc.finished, timeout=30_000) as blocker:
        doc.open_file(str(path))
    assert blocker.args == ["2 packets inside an unsupported tunnel: L2TP "
                            "(analysed as the outer packet only)"]
    with qtbot.wait_signal(doc.reset):
        doc.close()
