"""tcptrace's time-sequence series: data segments, acks, window, SYN and FIN."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from visualizer.core.decode.store import PacketStore
from visualizer.core.flows.analysis import Analysis, analyze
from visualizer.core.flows.time_sequence import busier_sender, time_sequence
from visualizer.core.tcp.testing import Conversation, write_pcap

SAMPLES = Path(__file__).parents[2] / "resources" / "samples"


def _analysis(path: Path) -> Iterator[Analysis]:
    store = PacketStore.from_file(str(path))
    yield analyze(store)
    store.close()


@pytest.fixture
def handshake() -> Iterator[Analysis]:
    """14 packets: handshake, three requests and answers of 64 bytes, close."""
    yield from _analysis(SAMPLES / "tcp-handshake.pcapng")


def _seconds(analysis: Analysis, t0_ns: int) -> np.ndarray:
    return (analysis.store.column("ts_ns") - t0_ns) / 1e9


def test_the_client_of_the_sample(handshake: Analysis) -> None:
    t0 = int(handshake.store.column("ts_ns")[0])
    times = _seconds(handshake, t0)
    data = time_sequence(handshake, 0, 0, count=14, t0_ns=t0)
    np.testing.assert_allclose(data.time, times[[3, 7, 9]])
    assert data.seq.tolist() == [1, 65, 129]
    assert data.end.tolist() == [65, 129, 193]
    assert not data.retransmitted.any()
    np.testing.assert_allclose(data.ack_time, times[[1, 4, 5, 8, 10, 12]])
    assert data.ack.tolist() == [1, 65, 65, 129, 193, 194]
    assert (data.window > data.ack).all()
    # the SYN (seq 0) and the FIN (after 192 bytes) take a sequence number each
    assert data.control_seq.tolist() == [0, 193] and data.control_syn.tolist() == [True, False]
    np.testing.assert_allclose(data.stream_time, times)
    assert data.sent_seq.tolist() == [0, 1, 1, 65, 65, 129, 193, 194]  # every client packet


def test_the_server_of_the_sample(handshake: Analysis) -> None:
    t0 = int(handshake.store.column("ts_ns")[0])
    times = _seconds(handshake, t0)
    data = time_sequence(handshake, 0, 1, count=14, t0_ns=t0)
    np.testing.assert_allclose(data.time, times[[5, 8, 10]])
    assert data.seq.tolist() == [1, 65, 129]
    np.testing.assert_allclose(data.ack_time, times[[2, 3, 6, 7, 9, 11, 13]])
    assert data.ack.tolist() == [1, 1, 65, 65, 129, 193, 194]  # the SYN acks nothing


def test_only_the_packets_shown_count(handshake: Analysis) -> None:
    """A live capture's analysis may run ahead of what the window shows."""
    data = time_sequence(handshake, 0, 0, count=8)
    assert data.seq.tolist() == [1, 65]
    assert len(data.stream_time) == 8


def test_retransmissions_are_marked(tmp_path: Path) -> None:
    conv = Conversation()
    conv.handshake()
    first = conv.c2s("PA", data=100, delivered=False)
    assert first is not None
    conv.c2s("PA", data=100, seq=first.seq, dt=200_000_000)  # the RTO fires
    conv.s2c("A")
    conv.close()
    for analysis in _analysis(write_pcap(tmp_path / "rto.pcap", conv.segments)):
        data = time_sequence(analysis, 0, 0, count=len(analysis.store))
        assert data.retransmitted.tolist() == [False, True]
        assert data.seq.tolist() == [1, 1]


def test_the_busier_sender(tmp_path: Path) -> None:
    conv = Conversation()
    conv.handshake()
    conv.c2s("PA", data=10)
    conv.s2c("PA", data=500)
    for analysis in _analysis(write_pcap(tmp_path / "answer.pcap", conv.segments)):
        assert busier_sender(analysis, 0, len(analysis.store)) == 1
        assert busier_sender(analysis, 0, 4) == 0  # before the answer: the client


def test_the_congestion_window_edge_is_the_last_ack_plus_cwnd_segments() -> None:
    from visualizer.core.flows.time_sequence import TimeSequence, with_congestion_window

    empty = np.zeros(0)
    series = TimeSequence(empty, empty, empty, empty.astype(bool), np.array([1.0, 2.0, 3.0]),
                          np.array([100, 200, 300]), np.array([1000, 1000, 1000]), empty,
                          empty, empty.astype(bool), empty, empty)
    second = 1_000_000_000
    samples = [{"ts_ns": t * second // 2, "local": "192.0.2.1:5000", "cwnd": c, "mss": 10}
               for t, c in ((1, 9), (3, 10), (5, 20), (7, 10))]
    samples.append({"ts_ns": 4 * second, "local": "192.0.2.2:80", "cwnd": 99, "mss": 10})
    got = with_congestion_window(series, samples, "192.0.2.1:5000", 0)
    # before the first ack there is no edge; then ack(t) + cwnd*mss, falling after a cut
    assert got.cwnd_time.tolist() == [1.5, 2.5, 3.5]
    assert got.cwnd_edge.tolist() == [100 + 100, 200 + 200, 300 + 100]
    assert with_congestion_window(series, samples, "10.0.0.1:1", 0) is series
