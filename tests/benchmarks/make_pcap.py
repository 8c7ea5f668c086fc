"""Generate a large mixed TCP + UDP pcap for benchmarks (no scapy: it is slow).

    python tests/benchmarks/make_pcap.py OUT.pcap [--packets N] [--mix bulk|scan|short]

TCP: many connections, each a handshake, a bulk transfer with an ACK for
every second segment, and a FIN close; UDP: request/response datagrams.
Payload sizes vary so the file is ~350 bytes a packet, like a real mix.
``--mix scan`` writes a SYN scan instead: one SYN per connection, each to
another port of one of 250 hosts, no answers (issue 20 item 16's shape).
``--mix short`` writes many short connections (issue 19): each 20 packets, a
handshake, a request, 8 response segments with 4 ACKs, and a FIN close; a
million packets are 50,000 connections.
"""

from __future__ import annotations

import argparse
import random
import struct
import sys

ETH = b"\0" * 12 + b"\x08\x00"


def ipv4(src: int, dst: int, proto: int, payload: bytes) -> bytes:
    return struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(payload), 0, 0x4000, 64, proto, 0,
                       src, dst) + payload


def tcp(sport: int, dport: int, seq: int, ack: int, flags: int, data: bytes,
        window: int = 65535) -> bytes:
    return struct.pack("!HHIIHHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                       (5 << 12) | flags, window, 0, 0) + data


def udp(sport: int, dport: int, data: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


class Pcap:
    """A pcap file being written to ``out``: the header, then frames ``gaps`` ns apart
    (random in that range, drawn from ``rng``)."""

    def __init__(self, out: object, rng: random.Random,
                 gaps: tuple[int, int] = (1_000, 50_000)) -> None:
        self._write = out.write  # type: ignore[attr-defined]
        self._write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))
        self._rng, self._gaps = rng, gaps
        self.ts = 1_700_000_000 * 10**9
        self.count = 0

    def emit(self, frame: bytes) -> None:
        self.ts += self._rng.randrange(*self._gaps)
        sec, ns = divmod(self.ts, 10**9)
        self._write(struct.pack("<IIII", sec, ns, len(frame), len(frame)))
        self._write(frame)
        self.count += 1


def generate(n_packets: int, out: object) -> int:
    rng = random.Random(7)
    payloads = [bytes(rng.randrange(256) for _ in range(1460))]
    pcap = Pcap(out, rng)
    emit = pcap.emit
    conn = 0
    while pcap.count < n_packets:
        conn += 1
        c, s = 0x0A000001 + conn % 250, 0x0A00FE01
        cp, sp = 10000 + conn % 50000, 80 if conn % 3 else 443
        if conn % 4 == 0:  # a UDP flow: 20 request/response pairs
            for _ in range(20):
                emit(ETH + ipv4(c, s, 17, udp(cp, 53, payloads[0][:rng.randrange(20, 200)])))
                emit(ETH + ipv4(s, c, 17, udp(53, cp, payloads[0][:rng.randrange(40, 500)])))
            continue
        ci, si = rng.randrange(2**32), rng.randrange(2**32)
        emit(ETH + ipv4(c, s, 6, tcp(cp, sp, ci, 0, 0x02, b"")))
        emit(ETH + ipv4(s, c, 6, tcp(sp, cp, si, ci + 1, 0x12, b"")))
        emit(ETH + ipv4(c, s, 6, tcp(cp, sp, ci + 1, si + 1, 0x10, b"")))
        emit(ETH + ipv4(c, s, 6, tcp(cp, sp, ci + 1, si + 1, 0x18, payloads[0][:120])))
        seq, ack = si + 1, ci + 121
        for k in range(rng.randrange(50, 400)):
            size = 1460 if k % 5 == 0 else rng.randrange(1, 500)
            emit(ETH + ipv4(s, c, 6, tcp(sp, cp, seq, ack, 0x10, payloads[0][:size])))
            seq += size
            if k % 2:
                emit(ETH + ipv4(c, s, 6, tcp(cp, sp, ack, seq, 0x10, b"")))
        emit(ETH + ipv4(c, s, 6, tcp(cp, sp, ack, seq, 0x11, b"")))
        emit(ETH + ipv4(s, c, 6, tcp(sp, cp, seq, ack + 1, 0x11, b"")))
        emit(ETH + ipv4(c, s, 6, tcp(cp, sp, ack + 1, seq + 1, 0x10, b"")))
    return pcap.count


def scan(n_packets: int, out: object) -> int:
    """A SYN scan: ``n_packets`` SYNs, each a TCP stream of its own."""
    rng = random.Random(7)
    pcap = Pcap(out, rng, gaps=(1_000, 20_000))
    for k in range(n_packets):
        pcap.emit(ETH + ipv4(0x0A000001, 0x0A010001 + k % 250, 6,
                             tcp(40000 + k % 7, 1 + (k // 250) % 65535, rng.randrange(2**32),
                                 0, 0x02, b"", window=1024)))
    return pcap.count


def short(n_packets: int, out: object) -> int:
    """Connections of 20 packets each, one after the other, from 250 clients."""
    rng = random.Random(7)
    data = bytes(rng.randrange(256) for _ in range(1460))
    pcap = Pcap(out, rng)
    emit = pcap.emit
    conn = 0
    while pcap.count < n_packets:
        conn += 1
        c, s = 0x0A000001 + conn % 250, 0x0A00FE01
        cp, sp = 10000 + conn % 50000, 443 if conn % 2 else 80
        ci, si = rng.randrange(2**32), rng.randrange(2**32)
        emit(ETH + ipv4(c, s, 6, tcp(cp, sp, ci, 0, 0x02, b"")))
        emit(ETH + ipv4(s, c, 6, tcp(sp, cp, si, ci + 1, 0x12, b"")))
        emit(ETH + ipv4(c, s, 6, tcp(cp, sp, ci + 1, si + 1, 0x10, b"")))
        request = rng.randrange(80, 400)
        emit(ETH + ipv4(c, s, 6, tcp(cp, sp, ci + 1, si + 1, 0x18, data[:request])))
        seq, ack = si + 1, ci + 1 + request
        for k in range(8):
            size = 1460 if k < 6 else rng.randrange(1, 1460)
            emit(ETH + ipv4(s, c, 6, tcp(sp, cp, seq, ack, 0x10, data[:size])))
            seq += size
            if k % 2:
                emit(ETH + ipv4(c, s, 6, tcp(cp, sp, ack, seq, 0x10, b"")))
        emit(ETH + ipv4(c, s, 6, tcp(cp, sp, ack, seq, 0x11, b"")))
        emit(ETH + ipv4(s, c, 6, tcp(sp, cp, seq, ack + 1, 0x10, b"")))
        emit(ETH + ipv4(s, c, 6, tcp(sp, cp, seq, ack + 1, 0x11, b"")))
        emit(ETH + ipv4(c, s, 6, tcp(cp, sp, ack + 1, seq + 1, 0x10, b"")))
    return pcap.count


MIXES = {"bulk": generate, "scan": scan, "short": short}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output")
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--mix", choices=tuple(MIXES), default="bulk")
    args = parser.parse_args()
    with open(args.output, "wb") as out:
        n = MIXES[args.mix](args.packets, out)
    print(f"wrote {args.output}: {n} packets", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
