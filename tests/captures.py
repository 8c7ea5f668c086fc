"""Small captures written for tests of the core and of the GUI (no Qt here)."""

from __future__ import annotations

import struct
from pathlib import Path

from visualizer.core.pcap.writer import PcapWriter
from visualizer.core.tcp.testing import Conversation, write_pcap


def exchanges_pcap(path: Path, exchanges: int) -> Path:
    """One TCP connection: the handshake, then ``exchanges`` 10-byte requests,
    each acknowledged (3 + 2 × exchanges packets), written to ``path``."""
    conv = Conversation()
    conv.handshake()
    for _ in range(exchanges):
        conv.c2s("PA", data=10)
        conv.s2c("A")
    return write_pcap(path, conv.segments)


def hosts_pcap(path: Path) -> Path:
    """A capture with packets but no TCP stream or UDP flow: two pings between
    192.0.2.1 and 192.0.2.2 (request and reply) and an ARP request, over Ethernet."""
    mac_a, mac_b = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
    a, b = bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2])

    def ping(src: bytes, dst: bytes, kind: int, seq: int) -> bytes:
        icmp = struct.pack("!BBHHH", kind, 0, 0, 7, seq) + b"ping"
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq, 0, 64, 1, 0, src, dst)
        return ip + icmp

    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac_a, a, bytes(6), b)
    frames = [mac_b + mac_a + b"\x08\x00" + ping(a, b, 8, 1),
              mac_a + mac_b + b"\x08\x00" + ping(b, a, 0, 1),
              mac_b + mac_a + b"\x08\x00" + ping(a, b, 8, 2),
              mac_a + mac_b + b"\x08\x00" + ping(b, a, 0, 2),
              b"\xff" * 6 + mac_a + b"\x08\x06" + arp]
    with open(path, "wb") as out:
        writer = PcapWriter(out, 1)
        for k, frame in enumerate(frames):
            writer.write(1_700_000_000_000_000_000 + k * 1_000_000, frame)
    return path
