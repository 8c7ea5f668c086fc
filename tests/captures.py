"""Small captures written for tests of the core and of the GUI (no Qt here)."""

from __future__ import annotations

import struct
from pathlib import Path

from visualizer.core.pcap.writer import PcapWriter
from visualizer.core.tcp.segment import TcpSegment
from visualizer.core.tcp.testing import Conversation, frame_bytes, write_pcap


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


def write_with_payloads(path: Path, segments: list[TcpSegment],
                        payloads: dict[int, bytes]) -> Path:
    """A pcap of ``segments`` whose payload bytes are ``payloads[frame]``
    (tshark does not check TCP checksums by default, neither do we)."""
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))
        for seg in segments:
            frame = frame_bytes(seg)
            data = payloads.get(seg.frame)
            if data is not None:
                assert len(data) == seg.payload_len
                frame = frame[:len(frame) - len(data)] + data
            sec, nsec = divmod(seg.ts_ns, 1_000_000_000)
            f.write(struct.pack("<IIII", sec, nsec, len(frame), len(frame)))
            f.write(frame)
    return path


def follow_pcap(path: Path) -> tuple[Path, bytes, bytes]:
    """One connection with retransmissions (one with more data), overlaps,
    out-of-order segments and a segment the capture missed but the peer ACKed.
    Returns the path, what the client sent and what the server sent."""
    conv = Conversation(client_isn=2**32 - 3, server_isn=7000)
    conv.handshake()
    payloads: dict[int, bytes] = {}
    request = bytes(range(32, 32 + 90))
    response = bytes(range(100, 100 + 150))

    def c2s(data: bytes, at: int, **kw: object) -> None:
        seg = conv.c2s("PA", data=len(data), seq=conv.client.isn + 1 + at, **kw)
        if seg is not None:
            payloads[seg.frame] = data

    def s2c(data: bytes, at: int, **kw: object) -> None:
        seg = conv.s2c("PA", data=len(data), seq=conv.server.isn + 1 + at, **kw)
        if seg is not None:
            payloads[seg.frame] = data

    c2s(request[:30], 0)
    c2s(request[60:90], 60)                  # out of order: 30..59 come later
    c2s(request[30:60], 30)
    c2s(b"\xff" * 20 + request[80:90], 60, advance=False)   # overlap, different bytes
    s2c(response[:50], 0)
    s2c(response[:50], 0, advance=False)     # plain retransmission
    s2c(response[20:80], 20)                 # retransmission carrying new bytes
    s2c(response[80:110], 80, captured=False)   # lost to the capture
    s2c(response[110:150], 110)
    conv.c2s("A")                            # acknowledges everything
    conv.close()
    write_with_payloads(path, conv.segments, payloads)
    return path, request, response


def zero_window_pcap(path: Path) -> tuple[Path, list[int]]:
    """One connection whose server advertises a zero window three times, probed
    and advertised again each time, with a retransmission and a reset at the end.
    Returns the path and the 0-based indices of the zero-window segments."""
    conv = Conversation()
    conv.handshake()
    zero: list[int] = []
    for _ in range(3):
        conv.c2s("PA", data=100)
        seg = conv.s2c("A", win=0)
        assert seg is not None
        zero.append(seg.frame - 1)
        conv.c2s("A", data=1, advance=False)          # a zero window probe
        seg = conv.s2c("A", win=0)                     # still zero
        assert seg is not None
        zero.append(seg.frame - 1)
        conv.s2c("A", win=8192)                        # the window opens
    seg = conv.c2s("PA", data=50)
    assert seg is not None
    conv.c2s("PA", data=50, seq=seg.seq, dt=300_000_000)   # a retransmission
    conv.s2c("A")
    conv.c2s("RA")
    return write_pcap(path, conv.segments), zero
