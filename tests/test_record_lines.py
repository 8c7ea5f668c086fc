"""``analyze --json``'s batch writer against ``json.dumps`` of each record.

The writer (commands/record_lines.py) builds the lines a column at a time;
what it must write is exactly what ``json.dumps`` makes of the records of
``packet_records``, the definition of the fields. Compared byte for byte
over every sample recording and a crafted file with the odd rows.
"""

from __future__ import annotations

import io
import json
import random
import struct
from pathlib import Path

import pytest

from visualizer.commands.record_lines import write_json_lines
from visualizer.commands.records import packet_records
from visualizer.commands.tcp_lines import time_texts
from visualizer.core.decode.store import PacketStore
from visualizer.core.flows.analysis import analyze
from visualizer.core.pcap.writer import PcapWriter
from visualizer.core.tcp.testing import Conversation, frame_bytes

SAMPLES = Path(__file__).resolve().parent.parent / "resources" / "samples"
START = 1_700_000_000_000_000_000
ETH4 = bytes(12) + b"\x08\x00"
ETH6 = bytes(12) + b"\x86\xdd"


def _both(path: Path, batch: int) -> tuple[str, str]:
    store = PacketStore.from_file(str(path))
    try:
        analysis = analyze(store)
        expected = "".join(json.dumps(rec, separators=(",", ":")) + "\n"
                           for rec in packet_records(store, analysis))
        out = io.StringIO()
        write_json_lines(store, analysis, out, batch=batch)
        return out.getvalue(), expected
    finally:
        store.close()


def _ipv4(src: bytes, dst: bytes, proto: int, payload: bytes) -> bytes:
    return ETH4 + struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, 64, proto,
                              0, src, dst) + payload


def _udp(sport: int, dport: int, data: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def _odd_pcap(path: Path) -> Path:
    """Every kind of row the records have: TCP over IPv4 with analysis flags
    (retransmission, duplicate ACKs, a window update), a SYN that is never
    answered (no ACK), TCP over IPv6, UDP over both, an ICMP port unreachable
    answering a datagram and one answering nothing seen, ARP (not IP), a frame
    cut short (malformed, with a note), a packet before the first one (a
    negative time) and one 60 days later (past the fast path of the times)."""
    conv = Conversation(("10.0.0.1", 40000), ("10.0.0.2", 80))
    conv.handshake()
    conv.c2s("PA", data=100)
    conv.c2s("PA", data=100, captured=False)
    conv.c2s("PA", data=100)
    conv.s2c("A", ack=1101)
    conv.s2c("A", ack=1101)
    conv.s2c("A", ack=1101)
    conv.c2s("PA", data=100, seq=1101)
    conv.s2c("A", win=1000)
    conv.close()
    lone = Conversation(("10.0.0.9", 5555), ("10.0.0.2", 81), capture=conv.capture)
    lone.c2s("S")
    six = Conversation(("2001:db8::1", 40001), ("2001:db8::2", 443), capture=conv.capture)
    six.handshake()
    six.c2s("PA", data=10)
    six.s2c("RA")
    frames = [(seg.ts_ns, frame_bytes(seg)) for seg in conv.segments]
    a, b = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    last = frames[-1][0]
    datagram = _ipv4(a, b, 17, _udp(5000, 53, b"query"))
    unreachable = struct.pack("!BBHI", 3, 3, 0, 0) + datagram[14:14 + 28]
    stray = struct.pack("!BBHI", 3, 1, 0, 0) + _ipv4(a, bytes([10, 9, 9, 9]), 17,
                                                     _udp(1, 2, b""))[14:14 + 28]
    six_udp = (ETH6 + struct.pack("!IHBB16s16s", 6 << 28, 12, 17, 64,
                                  bytes.fromhex("20010db8" + "0" * 23 + "1"),
                                  bytes.fromhex("20010db8" + "0" * 23 + "2"))
               + _udp(7000, 7001, b"six!"))
    arp = (b"\xff" * 6 + bytes(6) + b"\x08\x06"
           + struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, bytes(6), a, bytes(6), b))
    frames += [(last + 1_000, datagram), (last + 2_000, _ipv4(b, a, 1, unreachable)),
               (last + 3_000, _ipv4(b, a, 1, stray)), (last + 4_000, six_udp),
               (last + 5_000, arp), (last + 6_000, _ipv4(a, b, 6, b"\x00" * 7)),
               (START - 123_456_789, datagram),
               (last + 60 * 86400 * 1_000_000_000 + 1, datagram)]
    with path.open("wb") as out:
        writer = PcapWriter(out, 1)
        for ts, frame in frames:
            writer.write(ts, frame)
    return path


@pytest.mark.parametrize("sample", sorted(SAMPLES.glob("*.pcap*")), ids=lambda p: p.name)
def test_samples_write_what_json_dumps_writes(sample: Path) -> None:
    ours, expected = _both(sample, batch=7)   # batches that end mid-connection
    assert ours == expected


def test_odd_rows_write_what_json_dumps_writes(tmp_path: Path) -> None:
    path = _odd_pcap(tmp_path / "odd.pcap")
    for batch in (1, 5, 1000):
        ours, expected = _both(path, batch)
        assert ours == expected
    rows = [json.loads(line) for line in expected.splitlines()]
    # the file holds the odd rows it was made for
    assert any(r["analysis"] for r in rows)
    assert any(r.get("duplicate_ack_num") for r in rows)
    assert any(r["flags"] == "SYN" and r["stream"] is not None for r in rows)
    assert any(r["src"] and ":" in r["src"] and r["stream"] is not None for r in rows)
    assert any(r["src"] and ":" in r["src"] and "udp_flow" in r for r in rows)
    assert any(r.get("answers_frame") for r in rows)
    assert any("answers_udp_flow" in r and r["answers_frame"] is None for r in rows) or \
        any("icmp_type" in r and "answers_udp_flow" not in r for r in rows)
    assert any(r["src"] is None for r in rows)
    assert any(r.get("status") == "malformed" and r["note"] for r in rows)
    assert any(r["time"] < 0 for r in rows)
    assert max(r["time"] for r in rows) > 2 ** 22


def test_an_unsupported_link_type_writes_what_json_dumps_writes(tmp_path: Path) -> None:
    path = tmp_path / "user0.pcap"
    with path.open("wb") as out:
        writer = PcapWriter(out, 147)   # LINKTYPE_USER0: not decoded
        for k in range(3):
            writer.write(START + k, b"opaque")
    ours, expected = _both(path, batch=2)
    assert ours == expected
    assert '"status":"unsupported link type"' in ours


def test_an_empty_file_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.pcap"
    with path.open("wb") as out:
        PcapWriter(out, 1)
    assert _both(path, batch=10) == ("", "")


def test_time_texts_are_the_floats_json_dumps_writes() -> None:
    """The integer path (100 µs to 2**22 s) and the repr fallback, at their edges,
    across magnitudes, and negative (a capture out of time order)."""
    rng = random.Random(19)
    offsets = [0, 1, 99_999, 100_000, 100_001, 999_999_999, 10**9, 10**9 + 1,
               (1 << 22) * 10**9 - 1, (1 << 22) * 10**9, -1, -100_000, 10**18, -(10**18)]
    for digits in range(1, 19):
        offsets += [rng.randrange(10 ** (digits - 1), 10**digits) for _ in range(2000)]
        offsets += [rng.randrange(10 ** (digits - 1), 10**digits) // 1000 * 1000
                    for _ in range(500)]      # microsecond captures: trailing zeros
        offsets += [-rng.randrange(10 ** (digits - 1), 10**digits) for _ in range(200)]
    assert time_texts(offsets) == [json.dumps(round(d / 1e9, 9)) for d in offsets]
