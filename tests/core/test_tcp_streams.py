"""TcpStreamTable: tcp.stream numbering, port reuse, directions, summaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from visualizer.core.tcp.analysis_flags import REUSED_PORTS
from visualizer.core.tcp.events import PortsReused
from visualizer.core.tcp.states import TcpState
from visualizer.core.tcp.streams import TcpStreamTable
from visualizer.core.tcp.testing import (
    Capture,
    Conversation,
    compare_with_tshark,
    feed,
    run_tshark,
    write_pcap,
)


def interleaved() -> Capture:
    cap = Capture()
    a = Conversation(("10.0.0.1", 40000), ("10.0.0.2", 80), capture=cap)
    b = Conversation(("10.0.0.1", 40001), ("10.0.0.2", 80), capture=cap)
    v6 = Conversation(("::1", 40000), ("::1", 80), capture=cap)
    a.c2s("S")
    b.c2s("S")
    a.s2c("SA")
    v6.handshake()
    b.s2c("SA")
    a.c2s("A")
    b.c2s("A")
    b.c2s("PA", data=10)
    return cap


def test_streams_numbered_by_first_packet() -> None:
    results = feed(interleaved().segments)
    assert [r.stream for r in results] == [0, 1, 0, 2, 2, 2, 1, 0, 1, 1]
    assert [r.direction for r in results] == [0, 0, 1, 0, 1, 0, 1, 0, 0, 0]


def test_port_reuse_starts_a_new_stream() -> None:
    first = Conversation(client_isn=1000)
    first.handshake()
    first.close()
    second = Conversation(client_isn=90000, server_isn=777, capture=first.capture)
    second.handshake()
    second.c2s("RA")
    table = TcpStreamTable()
    results = [table.feed(s) for s in first.segments]
    assert [r.stream for r in results] == [0] * 7 + [1] * 4
    assert results[7].analysis == REUSED_PORTS
    assert PortsReused(8, 0) in results[7].events
    old, new = table.summaries()
    assert old.states == (TcpState.TIME_WAIT, TcpState.CLOSED)
    assert new.states == (TcpState.CLOSED, TcpState.CLOSED)
    assert (new.first_frame, new.last_frame, new.packets) == (8, 11, (3, 1))


def test_summary_counts() -> None:
    conv = Conversation()
    conv.handshake()
    conv.c2s("PA", data=100)
    conv.s2c("PA", data=7)
    table = TcpStreamTable()
    for s in conv.segments:
        table.feed(s)
    (summary,) = table.summaries()
    assert summary.packets == (3, 2)
    assert summary.bytes == (100, 7)
    assert summary.endpoints == ((bytes([10, 0, 0, 1]), 40000), (bytes([10, 0, 0, 2]), 80))
    assert summary.initial_rtt_ns == 2_000_000
    assert summary.last_ts_ns - summary.first_ts_ns == 4_000_000


def test_syn_ack_first_makes_its_receiver_side_0() -> None:
    conv = Conversation()
    conv.s2c("SA")
    conv.c2s("A")
    results = feed(conv.segments)
    assert [r.direction for r in results] == [1, 0]


@pytest.mark.tshark
def test_stream_numbers_agree_with_tshark(tmp_path: Path) -> None:
    segs = interleaved().segments
    assert compare_with_tshark(feed(segs), run_tshark(write_pcap(tmp_path / "s.pcap", segs))) == []


def test_reserved_stream_numbers_follow_tshark() -> None:
    """A header tshark numbers but does not analyse (an ICMP quote, a bogus
    header length) takes a stream number; the conversation's first analysed
    segment starts under it, fresh and without reused_ports (the real-world
    corpus checks the same against tshark)."""
    cap = Capture()
    a = Conversation(("10.0.0.1", 40000), ("10.0.0.2", 80), capture=cap, client_isn=1000)
    b = Conversation(("10.0.0.1", 40001), ("10.0.0.2", 80), capture=cap)
    a.handshake()
    b.handshake()
    table = TcpStreamTable()
    results = [table.feed(s) for s in cap.segments[:3]]
    quote = cap.segments[3]  # b's SYN, as an ICMP error would quote it
    assert table.reserve(quote) == 1           # b's conversation is new: stream 1
    assert table.reserve(quote) == 1           # and keeps it
    assert table.reserve(cap.segments[0]) == 0  # a's SYN again (same ISN): a's stream
    results += [table.feed(s) for s in cap.segments[3:]]
    assert [r.stream for r in results] == [0, 0, 0, 1, 1, 1]
    assert all(r.analysis == 0 for r in results)
    assert results[3].seq == 0 and results[4].ack == 1  # relative to b's own SYN
    assert len(table.summaries()) == 2
