"""The vectorised decoding path of the PacketStore gives what decode() gives.

``decode.decode()`` frame by frame is the reference: a store built by
:meth:`PacketStore.from_file` (chunks of records from the capture's walk) or
by :meth:`PacketStore.extend` in batches must hold the same
columns, the same address table and the same notes, quotes and comments as
the frame-by-frame loop below, over the tcpdump corpus, the samples and
frames built to hit every fallback.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP, UDPerror
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6EchoRequest,
    IPv6,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
)
from scapy.layers.l2 import ARP, CookedLinux, Dot1Q, Ether
from scapy.packet import Raw

from visualizer.core.decode import columns as fast
from visualizer.core.decode import headers as dec
from visualizer.core.decode.fragments import Reassembler
from visualizer.core.decode.store import COLUMNS, PacketStore, reassemble
from visualizer.core.errors import BadInput
from visualizer.core.pcap import format as fmt
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.pcap.records import FrameRecord
from visualizer.core.tcp.testing import Conversation, write_pcap

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


class Reference:
    """The frame-by-frame store this path replaced: decode() on every frame."""

    def __init__(self, capture: CaptureFile, frames: Iterator[FrameRecord]) -> None:
        self.cols: dict[str, array[Any]] = {n: array(t) for n, t in COLUMNS.items()}
        self.addresses: list[bytes] = []
        ids: dict[bytes, int] = {b"": -1}
        self.notes: dict[int, str] = {}
        self.quoted: dict[int, dec.Quoted] = {}
        self.comments: dict[int, str] = {}
        reassembler = Reassembler()
        for index, rec in enumerate(frames):
            frame = capture.frame_bytes(rec)
            d = dec.decode(rec.linktype, frame, 0, rec.caplen, rec.origlen)
            notes = {}
            if d.fragment:  # the store reassembles as it decodes
                done = reassemble(reassembler, index, bytes(frame[:rec.caplen]), d)
                if done is not None:
                    _, d, notes = done
            for raw in (d.src, d.dst):
                if raw not in ids:
                    ids[raw] = len(self.addresses)
                    self.addresses.append(raw)
            values = {
                "ts_ns": rec.ts_ns, "caplen": rec.caplen, "origlen": rec.origlen,
                "offset": rec.offset, "linktype": rec.linktype, "interface": rec.interface,
                "status": d.status, "ip_version": d.ip_version, "proto": d.proto,
                "src": ids[d.src], "dst": ids[d.dst], "sport": d.sport, "dport": d.dport,
                "tcp_flags": d.tcp_flags, "seq": d.seq, "ack": d.ack, "window": d.window,
                "urgent": d.urgent, "payload_len": min(d.payload_len, 0xFFFFFFFF),
                "l4_offset": d.l4_offset, "tcp_header_len": d.tcp_header_len,
                "icmp_type": d.icmp_type, "icmp_code": d.icmp_code, "fragment": d.fragment,
                "reason": d.reason, "ethertype": d.ethertype,
                "tunnel": d.tunnel, "timestamps_only": d.timestamps_only}
            for name, value in values.items():
                self.cols[name].append(value)
            if d.note:
                self.notes[index] = d.note
            self.notes.update(notes)
            if d.quoted is not None:
                self.quoted[index] = d.quoted
            if rec.comment is not None:
                self.comments[index] = rec.comment


def differences(store: PacketStore, ref: Reference) -> list[str]:
    problems = []
    for name in COLUMNS:
        ours, theirs = store.values(name), ref.cols[name]
        if ours != theirs:
            bad = next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=False))
                        if a != b), min(len(ours), len(theirs)))
            problems.append(f"{name}: {len(ours)} against {len(theirs)} values, first "
                            f"difference at index {bad}")
    if store._addresses != ref.addresses:
        problems.append("address tables differ")
    for what in ("notes", "quoted", "comments"):
        if getattr(store, what) != getattr(ref, what):
            problems.append(f"{what} differ")
    return problems


def check_file(path: Path) -> int:
    """Compare both paths on ``path``; the number of frames (0 when refused)."""
    try:
        store = PacketStore.from_file(str(path))
    except BadInput:
        return 0
    with CaptureFile.open(str(path)) as capture:
        ref = Reference(capture, capture.frames())
        assert store.capture.warnings == capture.warnings, path.name
    problems = differences(store, ref)
    store.close()
    assert not problems, f"{path.name}: {problems}"
    return len(ref.cols["ts_ns"])


def write_frames(path: Path, linktype: int, frames: list[bytes], *,
                 origlens: list[int] | None = None) -> Path:
    with path.open("wb") as f:
        f.write(fmt.pcap_file_header(linktype))
        for n, frame in enumerate(frames):
            orig = origlens[n] if origlens else len(frame)
            f.write(fmt.pcap_record_header(1_700_000_000_000_000_000 + n * 1000, len(frame),
                                           orig))
            f.write(frame)
    return path


# -- the corpus and the samples -------------------------------------------------

@pytest.mark.corpus
def test_every_corpus_file_decodes_as_frame_by_frame(corpus_dir: Path) -> None:
    frames = sum(check_file(path) for path in sorted(corpus_dir.iterdir()))
    assert frames > 9_000


@pytest.mark.parametrize("name", ["tcp-handshake.pcapng", "udp-datagrams.pcapng"])
def test_samples_decode_as_frame_by_frame(name: str) -> None:
    assert check_file(SAMPLES / name) > 0


def test_batches_with_a_limit_take_exactly_what_they_store(tmp_path: Path) -> None:
    """The GUI's way: one iterator, extend() again and again with limit=."""
    conv = Conversation()
    conv.handshake()
    for _ in range(30):
        conv.c2s("PA", data=100)
        conv.s2c("A")
    conv.close()
    path = write_pcap(tmp_path / "conv.pcap", conv.segments)
    store = PacketStore(CaptureFile.open(str(path)))
    records = store.capture.records()
    sizes = []
    for limit in (1, 5, 0, 7, 100):
        before = len(store)
        store.extend(records, limit=len(store) + limit)
        sizes.append(len(store) - before)
    assert sizes == [1, 5, 1, 7, len(conv.segments) - 14]
    with CaptureFile.open(str(path)) as capture:
        assert differences(store, Reference(capture, capture.frames())) == []
    store.close()


def test_progress_every_batch_and_a_stop(tmp_path: Path) -> None:
    conv = Conversation()
    conv.handshake()
    for _ in range(10_000):
        conv.c2s("A", data=10)
    path = write_pcap(tmp_path / "many.pcap", conv.segments)
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> bool:
        calls.append((done, total))
        return len(calls) < 1

    store = PacketStore.from_file(str(path), progress=progress)
    assert len(store) == fast_batch()
    size = path.stat().st_size
    offset = store.values("offset")[fast_batch() - 1]
    assert calls == [(offset, size), (size, size)]
    whole = PacketStore.from_file(str(path), limit=fast_batch() + 3)
    assert len(whole) == fast_batch() + 3
    store.close()
    whole.close()


def fast_batch() -> int:
    from visualizer.core.decode.store import BATCH
    return BATCH


# -- every fallback, next to the frames the fast path takes -----------------------

def _mixed_frames() -> list[bytes]:
    tcp = TCP(sport=40000, dport=80, seq=4_000_000_000, ack=7, flags="PA",
              options=[("MSS", 1460), ("NOP", None), ("WScale", 7)])
    frames = [
        Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / tcp / Raw(b"x" * 100),
        Ether() / IP(src="10.0.0.2", dst="10.0.0.1", options=b"\x01" * 4) / TCP(flags="A"),
        Ether() / IPv6(src="::1", dst="fe80::2") / UDP(sport=5353, dport=53) / Raw(b"q" * 9),
        Ether() / IP(src="10.0.0.3", dst="10.0.0.1") / ICMP(type=8) / Raw(b"p" * 56),
        Ether() / IP(src="10.0.0.1", dst="10.0.0.3") / ICMP(type=3, code=3)
        / IP(src="10.0.0.3", dst="10.0.0.1") / UDPerror(sport=1, dport=2),
        Ether() / IPv6(src="::1", dst="::2") / ICMPv6EchoRequest(),
        Ether() / IPv6(src="::2", dst="::1") / ICMPv6DestUnreach() / IPv6() / UDP(),
        Ether() / IP(proto=47) / Raw(b"gre!" * 3),
        Ether() / IPv6(nh=59),
        Ether() / Dot1Q(vlan=5) / IP(src="10.9.9.9") / TCP(),
        Ether() / IP(flags="MF") / UDP() / Raw(b"f" * 40),
        Ether() / IP(frag=10) / Raw(b"f" * 40),
        Ether() / IPv6() / IPv6ExtHdrHopByHop() / TCP(),
        Ether() / IPv6() / IPv6ExtHdrFragment(offset=3) / Raw(b"z" * 16),
        Ether() / ARP(),
        Ether() / IP(len=0) / TCP(),
        Ether() / IP(ihl=4) / TCP(),
        Ether() / IP() / TCP(dataofs=3),
        Ether() / IP() / UDP(len=4),
        Ether() / IPv6(plen=0) / UDP(len=0) / Raw(b"j" * 20),
    ]
    out = [bytes(f) for f in frames]
    whole = out[0]
    out += [whole[:10], whole[:20], whole[:40], whole[:50], whole[:60]]  # cut everywhere
    out.append(bytes(Ether() / IP(src="10.0.0.4") / TCP(dataofs=15)) + b"\0" * 8)  # opts cut
    bad = bytearray(out[0])
    bad[14] = 0x65  # version 6 in an IPv4 ethertype
    out.append(bytes(bad))
    return out


def test_fallbacks_mixed_with_fast_frames(tmp_path: Path) -> None:
    frames = _mixed_frames() * 3
    path = write_frames(tmp_path / "mixed.pcap", fmt.LINKTYPE_ETHERNET, frames)
    assert check_file(path) == len(frames)
    store = PacketStore.from_file(str(path))
    with CaptureFile.open(str(path)) as capture:
        chunk = capture.records().read(len(frames))
        assert chunk is not None
        decoded = fast.decode_chunk(chunk)
    assert 0 < decoded.fallback < len(frames)  # both paths were taken
    assert set(store.values("status")) == {dec.OK, dec.MALFORMED, dec.NOT_IP}
    store.close()


def test_snaplen_cut_frames_keep_their_wire_length(tmp_path: Path) -> None:
    whole = [bytes(Ether() / IP() / TCP() / Raw(b"y" * 1000)),
             bytes(Ether() / IPv6() / UDP() / Raw(b"y" * 1000))]
    path = write_frames(tmp_path / "cut.pcap", fmt.LINKTYPE_ETHERNET, [f[:80] for f in whole],
                        origlens=[len(f) for f in whole])
    assert check_file(path) == 2
    store = PacketStore.from_file(str(path))
    assert list(store.values("payload_len")) == [1000, 1000]
    store.close()


@pytest.mark.parametrize(("linktype", "head"), [
    (fmt.LINKTYPE_RAW, b""), (fmt.LINKTYPE_IPV4, b""), (fmt.LINKTYPE_IPV6, b""),
    (fmt.LINKTYPE_NULL, struct.pack("<I", 2)), (fmt.LINKTYPE_NULL, struct.pack(">I", 30)),
    (fmt.LINKTYPE_LOOP, struct.pack(">I", 24)), (fmt.LINKTYPE_LOOP, struct.pack(">I", 7)),
])
def test_other_link_types(tmp_path: Path, linktype: int, head: bytes) -> None:
    packets = [IP(src="192.168.0.1", dst="192.168.0.2") / TCP(flags="S"),
               IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(flags="SA"),
               IP() / UDP() / Raw(b"u" * 7)]
    frames = [head + bytes(p) for p in packets] + [head[:2], head + b"\x10\x00"]
    assert check_file(write_frames(tmp_path / "lt.pcap", linktype, frames)) == len(frames)


def test_linux_cooked_frames(tmp_path: Path) -> None:
    frames = [bytes(CookedLinux(proto=0x0800) / IP() / TCP(flags="S")),
              bytes(CookedLinux(proto=0x86DD) / IPv6() / UDP()),
              bytes(CookedLinux(proto=0x0806) / ARP()), b"\0" * 10]
    assert check_file(write_frames(tmp_path / "sll.pcap", fmt.LINKTYPE_LINUX_SLL, frames)) == 4
    ipv4 = bytes(IP(src="1.2.3.4") / UDP())
    sll2 = [b"\x08\x00" + b"\0" * 18 + ipv4, b"\x86\xdd" + b"\0" * 18 + bytes(IPv6() / TCP()),
            b"\x08\x00" + b"\0" * 10]
    assert check_file(write_frames(tmp_path / "sll2.pcap", fmt.LINKTYPE_LINUX_SLL2, sll2)) == 3


def test_damage_is_left_to_the_reader(tmp_path: Path) -> None:
    """A record the walk does not trust: the file's own reader goes on and warns."""
    frames = [bytes(Ether() / IP() / TCP())] * 20
    path = write_frames(tmp_path / "damaged.pcap", fmt.LINKTYPE_ETHERNET, frames)
    with path.open("ab") as f:
        f.write(struct.pack("<IIII", 1, 2, 10_000_000_000 & 0xFFFFFFFF, 60))
    assert check_file(path) == 20
    cut = path.read_bytes()[:-30]
    path.write_bytes(cut)
    assert check_file(path) == 19


def test_pcapng_comments_and_interfaces() -> None:
    store = PacketStore.from_file(str(SAMPLES / "tcp-handshake.pcapng"))
    assert len(store) == 14
    store.close()
