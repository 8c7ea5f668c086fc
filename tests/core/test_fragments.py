"""IPv4 and IPv6 fragment reassembly, checked against tshark's default.

A TCP conversation whose data segments are fragmented (in order, out of
order, with overlapping fragments, duplicated fragments, and one datagram
that never completes) must give the same tcp.stream, relative seq/ack, len
and analysis flags as tshark, on the same frames: the frame that completes
a datagram carries its TCP segment.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest
from oracle import compare_file, tshark_tcp
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.utils import PcapWriter

from visualizer.core.decode import headers as dec
from visualizer.core.decode.fragments import Fragment, Piece, Reassembled, Reassembler
from visualizer.core.decode.store import PacketStore
from visualizer.core.flows.analysis import analyze


def v4(reply: bool = False, **kw: object) -> Packet:
    return IP(src="10.7.0.2" if reply else "10.7.0.1", dst="10.7.0.1" if reply else "10.7.0.2",
              **kw)


def v6(reply: bool = False) -> Packet:
    return IPv6(src="2001:db8:7::2" if reply else "2001:db8:7::1",
                dst="2001:db8:7::1" if reply else "2001:db8:7::2")


def frag6(pkt: Packet, size: int, ident: int) -> list[Packet]:
    """``pkt`` (IPv6/TCP...) cut into fragments of ``size`` bytes of payload."""
    ip = pkt.copy()
    payload = bytes(ip.payload)
    nh = ip.nh
    ip.remove_payload()
    out = []
    for off in range(0, len(payload), size):
        part = payload[off:off + size]
        more = off + size < len(payload)
        hdr = ip.copy()
        hdr.nh = 44
        hdr.plen = None
        out.append(hdr / IPv6ExtHdrFragment(nh=nh, offset=off // 8, m=int(more), id=ident)
                   / Raw(part))
    return out


def frag4(pkt: Packet, size: int) -> list[Packet]:
    return list(fragment(pkt, fragsize=size))


def write(path: Path, packets: list[Packet]) -> Path:
    with PcapWriter(str(path), linktype=1, sync=True) as out:
        for n, pkt in enumerate(packets):
            frame = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / pkt
            frame.time = 1_700_000_000 + n * 0.001
            out.write(frame)
    return path


def conversation(ip: object, cut: object) -> list[Packet]:
    """Handshake, three 3000-byte segments cut by ``cut(packet, n)``, the peer's ACKs."""
    c, s = 100, 9000
    out = [ip(False) / TCP(sport=41000, dport=80, flags="S", seq=c),
           ip(True) / TCP(sport=80, dport=41000, flags="SA", seq=s, ack=c + 1),
           ip(False) / TCP(sport=41000, dport=80, flags="A", seq=c + 1, ack=s + 1)]
    seq = c + 1
    for n in range(3):
        seg = ip(False) / TCP(sport=41000, dport=80, flags="PA", seq=seq, ack=s + 1) / Raw(
            bytes([65 + n]) * 3000)
        out += cut(seg, n)
        seq += 3000
        out.append(ip(True) / TCP(sport=80, dport=41000, flags="A", seq=s + 1, ack=seq))
    return out


def in_order4(seg: Packet, n: int) -> list[Packet]:
    seg[IP].id = 300 + n
    return frag4(seg, 1000)


def shuffled4(seg: Packet, n: int) -> list[Packet]:
    seg[IP].id = 400 + n
    parts = frag4(seg, 800)
    random.Random(n).shuffle(parts)
    return parts


def overlapping4(seg: Packet, n: int) -> list[Packet]:
    """Fragments that overlap (the later ones with other bytes), and a duplicate."""
    seg = IP(bytes(seg))
    payload = bytes(seg.payload)
    ip = seg.copy()
    ip.remove_payload()
    pieces = [(0, 1200), (1000, 2000), (1600, len(payload)), (1000, 2000)]
    out = []
    for k, (start, stop) in enumerate(pieces):
        data = payload[start:stop] if k != 1 else b"Z" * (stop - start)
        hdr = ip.copy()
        hdr.id, hdr.frag, hdr.len, hdr.chksum = 500 + n, start // 8, None, None
        hdr.flags = "MF" if stop < len(payload) else 0
        out.append(hdr / Raw(data))
    return out


def in_order6(seg: Packet, n: int) -> list[Packet]:
    return frag6(seg, 1232, 0x1000 + n)


def shuffled6(seg: Packet, n: int) -> list[Packet]:
    parts = frag6(seg, 800, 0x2000 + n)
    random.Random(n).shuffle(parts)
    return parts


CASES = {
    "ipv4-in-order": (v4, in_order4),
    "ipv4-out-of-order": (v4, shuffled4),
    "ipv4-overlapping": (v4, overlapping4),
    "ipv6-in-order": (v6, in_order6),
    "ipv6-out-of-order": (v6, shuffled6),
}


@pytest.mark.tshark
@pytest.mark.parametrize("name", sorted(CASES))
def test_reassembled_segments_agree_with_tshark(name: str, tmp_path: Path) -> None:
    ip, cut = CASES[name]
    path = write(tmp_path / f"{name}.pcap", conversation(ip, cut))
    result = compare_file(path)
    assert result.differences == []
    assert result.only_tshark_frames == result.only_ours_frames == []
    assert result.compared == 3 + 3 * 2  # handshake, each segment and its ACK
    theirs = tshark_tcp(path)
    store = PacketStore.from_file(str(path))
    try:
        lengths = analyze(store)
        done = sorted(i + 1 for i in store.reassembled)
        assert done == sorted(f for f, row in theirs.items() if row[3] == 3000)
        for index in store.reassembled:
            assert store.values("payload_len")[index] == 3000
            assert store.notes[index].startswith(f"IPv{6 if ip is v6 else 4} datagram "
                                                 "reassembled from ")
        assert lengths is not None
    finally:
        store.close()


@pytest.mark.tshark
def test_a_datagram_that_never_completes_stays_fragments(tmp_path: Path) -> None:
    seg = v4() / UDP(sport=5000, dport=6000) / Raw(b"q" * 3000)
    seg[IP].id = 77
    parts = frag4(seg, 1000)
    path = write(tmp_path / "lost.pcap", [parts[0], parts[2]])  # the middle one is lost
    store = PacketStore.from_file(str(path))
    try:
        assert store.reassembled == {}
        assert list(store.column("fragment")) == [1, 1]
        assert len(analyze(store).udp_flows) == 0
    finally:
        store.close()


@pytest.mark.tshark
def test_reassembled_udp_datagram_is_one_datagram_of_its_flow(tmp_path: Path) -> None:
    seg = v4() / UDP(sport=5000, dport=6000) / Raw(b"q" * 3000)
    seg[IP].id = 78
    parts = frag4(seg, 1000)[::-1]  # last fragment first
    last = len(parts) - 1
    store = PacketStore.from_file(str(write(tmp_path / "udp.pcap", parts)))
    try:
        assert list(store.reassembled) == [last]
        assert store.values("payload_len")[last] == 3000
        flows = analyze(store).udp_flows
        assert [(f.packets, f.bytes) for f in flows] == [([1, 0], [3000, 0])]
        assert store.notes[0] == f"IP fragment, reassembled in frame {last + 1}"
    finally:
        store.close()


def overlap_cases() -> dict[str, list[tuple[bool, int, int]]]:
    """(from the other segment?, start, stop) per fragment, in capture order."""
    return {
        "same-offset-twice": [(False, 0, 32), (True, 0, 32), (False, 32, 60)],
        "later-lower-offset-wins": [(False, 8, 32), (True, 0, 16), (False, 32, 60)],
        "earlier-lower-offset-wins": [(False, 0, 16), (True, 8, 32), (False, 32, 60)],
    }


@pytest.mark.tshark
@pytest.mark.parametrize("name", sorted(overlap_cases()))
def test_overlaps_that_rewrite_the_tcp_header_resolve_as_in_tshark(name: str,
                                                                   tmp_path: Path) -> None:
    """Two versions of one segment (other seq and ack): which bytes win decides
    the reassembled header; tshark's absolute seq/ack must be ours."""
    one = bytes(TCP(sport=1000, dport=80, flags="PA", seq=111, ack=5) / Raw(b"a" * 40))
    two = bytes(TCP(sport=1000, dport=80, flags="PA", seq=222, ack=77) / Raw(b"a" * 40))
    frames = []
    for other, start, stop in overlap_cases()[name]:
        data = (two if other else one)[start:stop]
        frames.append(v4(id=9, proto=6, frag=start // 8, flags="MF" if stop < 60 else 0)
                      / Raw(data))
    path = write(tmp_path / f"{name}.pcap", frames)
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-o",
                          "tcp.relative_sequence_numbers:FALSE", "-Y", "tcp", "-T", "fields",
                          "-e", "frame.number", "-e", "tcp.seq", "-e", "tcp.ack"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    frame, seq, ack = (int(x) for x in out.split())
    store = PacketStore.from_file(str(path))
    try:
        assert list(store.reassembled) == [frame - 1]
        assert (store.values("seq")[frame - 1], store.values("ack")[frame - 1]) == (seq, ack)
    finally:
        store.close()


def test_overlap_keeps_the_bytes_laid_down_first_in_offset_order() -> None:
    key = (4, b"a", b"b", 1, dec.PROTO_UDP)

    def frag(offset: int, data: bytes, more: bool) -> Fragment:
        return Fragment(key, 4, b"\x0a\0\0\x01", b"\x0a\0\0\x02", dec.PROTO_UDP, offset, more,
                        0, data)

    udp = (5000).to_bytes(2, "big") + (6000).to_bytes(2, "big") + (24).to_bytes(2, "big")
    r = Reassembler()
    assert r.add(0, frag(0, udp + b"\0\0" + b"A" * 8, True)) is None
    assert r.add(1, frag(8, b"B" * 16, False)) is not None  # complete at frame 2
    r = Reassembler()
    assert r.add(0, frag(16, b"C" * 8, False)) is None
    assert r.add(1, frag(8, b"D" * 8, True)) is None
    done = r.add(2, frag(0, udp + b"\0\0" + b"E" * 8, True))
    assert done is not None
    datagram, whole = done
    assert [p.packet for p in datagram.pieces] == [2, 1, 0]
    assert datagram.frames == (1, 2, 3)
    assert (whole.sport, whole.dport, whole.payload_len) == (5000, 6000, 16)


def test_a_datagram_names_its_frames_in_runs() -> None:
    """300 fragments named one by one made the explanation's title 13,000 px wide."""
    def datagram(frames: list[int]) -> Reassembled:
        return Reassembled(4, b"", b"", 17, tuple(Piece(n - 1, 0, 8, 8 * k)
                                                  for k, n in enumerate(frames)), b"")

    assert datagram([3]).frames_text() == "3"
    assert datagram([3, 4, 5, 9, 11, 12]).frames_text() == "3-5, 9, 11-12"
    assert datagram(list(range(940, 1252))).frames_text() == "940-1251"
    assert datagram(list(range(1, 40, 2))).frames_text() == "1, 3, 5, 7, 9, 11 and 14 more"
