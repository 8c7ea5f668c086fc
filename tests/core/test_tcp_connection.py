"""TcpConnection: relative numbers, windows, bytes in flight, broken traffic.

Expected values are tshark 4.0.17's; the ``tshark`` tests re-check them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from visualizer.core.tcp.connection import PacketResult
from visualizer.core.tcp.segment import ACK, FIN, PSH, RST, SYN, URG, TcpSegment
from visualizer.core.tcp.testing import (
    Conversation,
    compare_with_tshark,
    feed,
    options_bytes,
    run_tshark,
    write_pcap,
)

C, S = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])


def seg(frame: int, flags: int, seq: int, ack: int = 0, *, c2s: bool = True, length: int = 0,
        win: int = 1000, options: bytes = b"", ts: int | None = None) -> TcpSegment:
    src, sport, dst, dport = (C, 40000, S, 80) if c2s else (S, 80, C, 40000)
    return TcpSegment(frame, ts if ts is not None else 10**18 + frame * 1_000_000, src, sport,
                      dst, dport, seq, ack, flags, win, length, options)


def rows(results: list[PacketResult], *names: str) -> list[tuple]:
    return [tuple(getattr(r, n) for n in names) for r in results]


def test_relative_numbers_from_the_isns() -> None:
    conv = Conversation(client_isn=0xFFFFFFF0, server_isn=7)
    conv.handshake()
    conv.c2s("PA", data=100)   # crosses 2**32
    conv.s2c("A")
    results = feed(conv.segments)
    assert rows(results, "seq", "ack", "next_seq", "seq_abs") == [
        (0, 0, 1, 0xFFFFFFF0), (0, 1, 1, 7), (1, 1, 1, 0xFFFFFFF1),
        (1, 1, 101, 0xFFFFFFF1), (1, 101, 1, 8)]


def test_ack_without_ack_flag_is_the_raw_field() -> None:
    results = feed([seg(1, SYN, 1000, ack=777), seg(2, SYN | ACK, 5000, 1001, c2s=False)])
    assert (results[0].ack, results[0].ack_abs) == (777, 777)
    assert results[1].ack == 1


def test_mid_stream_join_uses_first_seq_minus_one() -> None:
    results = feed([seg(1, ACK | PSH, 50_000, 90_000, length=10),
                    seg(2, ACK, 90_000, 50_010, c2s=False)])
    assert rows(results, "seq", "ack", "next_seq", "direction") == [
        (1, 1, 11, 0), (1, 11, 1, 1)]
    assert results[0].states[0].value == "JOINED-MID-STREAM"


@pytest.mark.parametrize(("syn_ws", "synack_ws", "client_win", "server_win", "scale"), [
    (7, 2, 1000 << 7, 1000 << 2, (128, 4)),
    (7, None, 1000, 1000, (-2, -2)),     # only one side offered: no scaling
    (None, 3, 1000, 1000, (-2, -2)),
    (None, None, 1000, 1000, (-2, -2)),
])
def test_window_scaling_needs_both_syns(syn_ws, synack_ws, client_win, server_win, scale) -> None:
    results = feed([
        seg(1, SYN, 1000, options=options_bytes(mss=1460, wscale=syn_ws)),
        seg(2, SYN | ACK, 5000, 1001, c2s=False, options=options_bytes(mss=1460, wscale=synack_ws)),
        seg(3, ACK, 1001, 5001),
        seg(4, ACK, 5001, 1001, c2s=False),
    ])
    assert results[0].window_scale is None and results[1].window_scale is None  # SYNs
    assert (results[2].window, results[3].window) == (client_win, server_win)
    assert (results[2].window_scale, results[3].window_scale) == scale


def test_window_scale_unknown_without_the_syn() -> None:
    results = feed([seg(1, ACK, 1001, 5001), seg(2, ACK, 5001, 1001, c2s=False)])
    assert rows(results, "window", "window_scale") == [(1000, -1), (1000, -1)]


def test_syn_ack_alone_gives_its_side_a_scale() -> None:
    # The SYN-ACK's WS is stored; the client's side stays unknown (-1).
    results = feed([seg(1, SYN | ACK, 5000, 1001, c2s=False, options=options_bytes(wscale=3)),
                    seg(2, ACK, 1001, 5001), seg(3, ACK, 5001, 1001, c2s=False)])
    assert rows(results, "window_scale")[1:] == [(-1,), (8,)]


def test_bytes_in_flight_and_acks_frame() -> None:
    conv = Conversation()
    conv.handshake()
    conv.c2s("PA", data=100)   # 4
    conv.c2s("PA", data=200)   # 5
    conv.s2c("A")              # 6 acks both
    conv.c2s("FA", data=10)    # 7: SYN/FIN byte not counted
    results = feed(conv.segments)
    assert rows(results, "bytes_in_flight", "acks_frame") == [
        (None, None), (None, 1), (None, 2), (100, None), (300, None), (None, 5), (10, None)]


def test_sack_blocks_reduce_bytes_in_flight() -> None:
    conv = Conversation()
    conv.handshake()
    conv.c2s("PA", data=100, delivered=False)      # 4
    conv.c2s("PA", data=100)                       # 5
    conv.s2c("A", options=options_bytes(sack=[(1101, 1201)]))   # 6
    conv.c2s("PA", data=100)                       # 7: 300 sent, 100 SACKed
    assert feed(conv.segments)[-1].bytes_in_flight == 200


GARBAGE = [
    seg(1, 0, 0, 0),                                      # no flags at all
    seg(2, SYN | FIN | RST | PSH | URG, 0xFFFFFFFF, 0xFFFFFFFF, length=3),
    seg(3, FIN, 5, options=b"\x02"),                       # truncated options
    seg(4, SYN | ACK, 0, 0, c2s=False, win=0, options=b"\x03\x03\xff"),
    seg(5, ACK, 0x80000000, 0x80000000, length=0xFFFFFFFF),
    seg(6, RST | ACK, 1, 1, c2s=False, ts=0),             # time going backwards
    seg(7, ACK | FIN, 1, 1, length=1, ts=0),
]


def test_garbage_never_raises() -> None:
    results = feed(GARBAGE)
    assert [r.frame for r in results] == list(range(1, 8))


@pytest.mark.tshark
@pytest.mark.parametrize("name", ["relative", "midstream", "scaling", "bif", "sack", "ipv6"])
def test_agrees_with_tshark(name: str, tmp_path: Path) -> None:
    conv = Conversation(("2001:db8::1", 40000), ("2001:db8::2", 443)) if name == "ipv6" \
        else Conversation(client_isn=0xFFFFFFF0, server_isn=7)
    if name == "midstream":
        conv.client.rcv_nxt, conv.server.rcv_nxt = 7, 0xFFFFFFF0
    elif name == "scaling":
        conv.handshake(client_opts=options_bytes(mss=1460, wscale=15, sack_perm=True),
                       server_opts=options_bytes(mss=1460, wscale=2))
    else:
        conv.handshake()
    for _ in range(3):
        conv.c2s("PA", data=700, delivered=name != "sack")
        conv.c2s("PA", data=300)
        conv.s2c("A", options=options_bytes(sack=[(conv.server.rcv_nxt or 0, 5)])
                 if name == "sack" else b"")
    conv.close()
    segs = conv.segments
    assert compare_with_tshark(feed(segs), run_tshark(write_pcap(tmp_path / "c.pcap", segs))) == []


@pytest.mark.tshark
def test_garbage_agrees_with_tshark(tmp_path: Path) -> None:
    # tshark needs real payload bytes and forward time; keep the rest as is.
    segs = [s for s in GARBAGE if s.ts_ns and s.payload_len < 60000]
    renumbered = [TcpSegment(i + 1, s.ts_ns, s.src, s.sport, s.dst, s.dport, s.seq, s.ack,
                             s.flags, s.window, s.payload_len, s.options)
                  for i, s in enumerate(segs)]
    rows_ = run_tshark(write_pcap(tmp_path / "g.pcap", renumbered))
    assert compare_with_tshark(feed(renumbered), rows_) == []


def test_flags_are_passed_through() -> None:
    r = feed([seg(1, SYN | ACK | FIN, 1, 1)])[0]
    assert r.flags == SYN | ACK | FIN
