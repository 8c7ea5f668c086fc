"""Fuzz properties (issue 7): parse or raise the defined error, never hang.

The checks live in tests/fuzz/targets.py, shared with the atheris harness
and the regression replay. Here hypothesis feeds them inputs built to get
deep: real-looking frames of every link type with a few bytes changed,
pcap and pcapng files assembled block by block with lying lengths and odd
options, TCP conversations with segments lost, repeated, reordered and
stamped back in time. Every example runs under a CPU-time bound.
"""

from __future__ import annotations

import io
import struct
import tempfile
from pathlib import Path

import pytest
from fuzz import targets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visualizer.core.errors import BadInput
from visualizer.core.pcap import format as fmt
from visualizer.core.pcap.growing import GrowingCapture
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.pcap.writer import PcapngWriter, PcapWriter
from visualizer.core.tcp.segment import TcpSegment
from visualizer.core.tcp.testing import Conversation, frame_bytes, options_bytes

M32 = 0xFFFFFFFF


def fast(examples: int) -> settings:
    """A budget of examples, no per-example deadline (``targets.bounded`` guards time)."""
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ADDR4 = (bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
ADDR6 = (bytes(15) + b"\x01", bytes(15) + b"\x02")
U32 = st.integers(0, M32)
NEAR_WRAP = st.one_of(U32, st.integers(M32 - 3000, M32), st.integers(0, 3000))


# -- frames --------------------------------------------------------------------

def _ipv4(proto: int, payload: bytes, frag: int = 0x4000) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, frag, 64, proto, 0,
                       *ADDR4) + payload


def _ipv6(nxt: int, payload: bytes, ext: bytes = b"") -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, len(ext) + len(payload), nxt, 64,
                       *ADDR6) + ext + payload


def _udp(n: int) -> bytes:
    return struct.pack("!HHHH", 5353, 53, 8 + n, 0) + b"u" * n


@st.composite
def ip_packets(draw: st.DrawFn) -> bytes:
    """An IPv4 or IPv6 packet: TCP, UDP, ICMP errors, fragments, extension headers."""
    kind = draw(st.sampled_from(["tcp4", "tcp6", "udp4", "udp6", "icmp4", "icmp6", "frag4",
                                 "ext6", "other"]))
    if kind in ("tcp4", "tcp6"):
        src, dst = ADDR4 if kind == "tcp4" else ADDR6
        opts = draw(st.one_of(st.binary(max_size=40), st.builds(
            options_bytes, mss=st.none() | st.integers(0, 0xFFFF),
            wscale=st.none() | st.integers(0, 255), sack_perm=st.booleans(),
            ts=st.none() | st.tuples(U32, U32),
            sack=st.lists(st.tuples(U32, U32), max_size=3))))
        seg = TcpSegment(1, 0, src, draw(st.integers(0, 0xFFFF)), dst, 80, draw(U32),
                         draw(U32), draw(st.integers(0, 0x1FF)), draw(st.integers(0, 0xFFFF)),
                         draw(st.integers(0, 60)), opts[:40], draw(st.integers(0, 0xFFFF)))
        return frame_bytes(seg)[14:]
    n = draw(st.integers(0, 40))
    if kind == "udp4":
        return _ipv4(17, _udp(n))
    if kind == "udp6":
        return _ipv6(17, _udp(n))
    if kind == "icmp4":  # port unreachable quoting a UDP datagram (RFC 4884 room past 128)
        n = draw(st.sampled_from([n, n + 150]))
        return _ipv4(1, struct.pack("!BBHI", 3, 3, 0, 0) + _ipv4(17, _udp(n))[:28 + n])
    if kind == "icmp6":
        return _ipv6(58, struct.pack("!BBHI", 1, 4, 0, 0) + _ipv6(17, _udp(n)))
    if kind == "frag4":
        return _ipv4(draw(st.sampled_from([6, 17, 1])), _udp(n), draw(st.integers(0, 0xFFFF)))
    if kind == "ext6":  # hop-by-hop, then a fragment header, then UDP
        ext = bytes([44, 0]) + bytes(6) + bytes([17, 0]) + struct.pack(
            "!HI", draw(st.integers(0, 0xFFFF)), 7)
        return _ipv6(0, _udp(n), ext)
    return _ipv4(draw(st.integers(0, 255)), b"p" * n)


def _link_header(linktype: int, ip: bytes, ethertype: int, vlan: bool) -> bytes:
    v6 = bool(ip) and ip[0] >> 4 == 6
    if linktype == fmt.LINKTYPE_ETHERNET:
        tag = struct.pack("!HH", 0x8100, 7) if vlan else b""
        return b"\x02" * 6 + b"\x04" * 6 + tag + struct.pack("!H", ethertype)
    if linktype == fmt.LINKTYPE_LINUX_SLL:
        return struct.pack("!HHH8sH", 0, 772, 6, b"", ethertype)
    if linktype == fmt.LINKTYPE_LINUX_SLL2:
        return struct.pack("!HHIHBB8s", ethertype, 0, 1, 772, 0, 6, b"")
    if linktype in (fmt.LINKTYPE_NULL, fmt.LINKTYPE_LOOP):
        order = "<" if linktype == fmt.LINKTYPE_NULL else ">"
        return struct.pack(order + "I", 24 if v6 else 2)
    return b""  # raw IP, and link types we do not decode


@st.composite
def frames(draw: st.DrawFn, linktype: int) -> bytes:
    """A frame of ``linktype``, often with a few bytes changed or cut short."""
    ip = draw(ip_packets())
    ethertype = draw(st.sampled_from([0x0800 if ip[0] >> 4 == 4 else 0x86DD, 0x0806,
                                      0x0800, 0x86DD]))
    frame = bytearray(_link_header(linktype, ip, ethertype, draw(st.booleans())) + ip)
    for pos, value in draw(st.lists(st.tuples(st.integers(0, len(frame) - 1),
                                              st.integers(0, 255)), max_size=3)):
        frame[pos] = value
    if draw(st.integers(0, 3)) == 0:
        del frame[draw(st.integers(0, len(frame))):]
    return bytes(frame)


@st.composite
def linked_frames(draw: st.DrawFn) -> tuple[int, bytes]:
    linktype = draw(st.sampled_from(targets.LINKTYPES))
    return linktype, draw(frames(linktype))


# -- capture files ---------------------------------------------------------------

def _block(e: str, block_type: int, body: bytes) -> bytes:
    body += b"\0" * (fmt.pad4(len(body)) - len(body))
    return struct.pack(e + "II", block_type, 12 + len(body)) + body + struct.pack(
        e + "I", 12 + len(body))


def _option(e: str, code: int, value: bytes) -> bytes:
    return struct.pack(e + "HH", code, len(value)) + value + b"\0" * (
        fmt.pad4(len(value)) - len(value))


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` as it is, cut short, or with a few bytes overwritten."""
    how = draw(st.sampled_from(["none", "none", "cut", "bytes"]))
    if how == "cut":
        return data[:draw(st.integers(0, len(data)))]
    if how == "bytes":
        out = bytearray(data)
        for pos, value in draw(st.lists(st.tuples(st.integers(0, len(out) - 1),
                                                  st.integers(0, 255)), max_size=4)):
            out[pos] = value
        return bytes(out)
    return data


@st.composite
def pcap_files(draw: st.DrawFn) -> bytes:
    order = draw(st.sampled_from("<>"))
    magic = draw(st.sampled_from([fmt.PCAP_MAGIC_USEC, fmt.PCAP_MAGIC_NSEC, 0xA1B2CD34]))
    linktype = draw(st.sampled_from(targets.LINKTYPES))
    snaplen = draw(st.sampled_from([0, 96, 65535, 262144, M32]))
    fcs_bits = draw(st.sampled_from([0, 0x10000000, 0xF0000000]))
    out = struct.pack(order + "IHHiIII", magic, draw(st.sampled_from([2, 2, 1])), 4, 0, 0,
                      snaplen, linktype | fcs_bits)
    for _ in range(draw(st.integers(0, 8))):
        frame = draw(frames(linktype))
        caplen = draw(st.sampled_from([len(frame)] * 4 + [len(frame) + 1, M32]))
        out += struct.pack(order + "IIII", draw(U32), draw(U32), caplen,
                           draw(st.sampled_from([len(frame), len(frame) + 100, 0, M32])))
        out += bytes(8) if magic == 0xA1B2CD34 else b""
        out += frame
    return draw(damaged(out))


@st.composite
def pcapng_files(draw: st.DrawFn) -> bytes:
    out = b""
    for _section in range(draw(st.integers(1, 2))):
        e = draw(st.sampled_from("<>"))
        shb_opts = b"".join(draw(st.lists(st.sampled_from([
            _option(e, fmt.OPT_COMMENT, "sección ☃".encode()),
            _option(e, fmt.OPT_CUSTOM_BINARY_NOCOPY, struct.pack(e + "I", fmt.VISUALIZER_PEN)
                    + b"custom"),
            _option(e, 2989, b"\0\0"), _option(e, 0, b""), b"\x01\x00\xff\xff"]),
            max_size=3)))
        out += _block(e, fmt.PCAPNG_SHB, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0,
                                                     draw(st.sampled_from([-1, 0, 12]))) + shb_opts)
        linktypes = []
        for _ in range(draw(st.integers(0, 2))):
            linktype = draw(st.sampled_from(targets.LINKTYPES))
            linktypes.append(linktype)
            opts = b""
            for _ in range(draw(st.integers(0, 3))):
                which = draw(st.sampled_from(["tsresol", "tsoffset", "name"]))
                if which == "tsresol":
                    opts += _option(e, fmt.IF_TSRESOL, bytes([draw(st.integers(0, 255))]))
                elif which == "tsoffset":
                    opts += _option(e, 14, struct.pack(e + "q", draw(st.integers(-2**63,
                                                                               2**63 - 1))))
                else:
                    opts += _option(e, fmt.IF_NAME, b"eth0")
            body = struct.pack(e + "HHI", linktype, 0, draw(st.sampled_from([0, 65535])))
            out += _block(e, fmt.PCAPNG_IDB, draw(st.sampled_from([body, body[:4]])) + opts)
        for _ in range(draw(st.integers(0, 6))):
            kind = draw(st.sampled_from(["epb", "epb", "opb", "spb", "other"]))
            frame = draw(frames(linktypes[0] if linktypes else 1))
            iface = draw(st.sampled_from([0, 0, 1, 2, M32]))
            ts = draw(st.one_of(st.integers(0, 2**64 - 1), st.integers(0, 2**61)))
            caplen = draw(st.sampled_from([len(frame)] * 3 + [len(frame) + 9, M32]))
            origlen = draw(st.sampled_from([len(frame), len(frame) + 4, 0]))
            padded = frame + b"\0" * (fmt.pad4(len(frame)) - len(frame))
            comment = draw(st.sampled_from([b"", _option(e, fmt.OPT_COMMENT, b"hi")
                                            + _option(e, 0, b""), b"\x01\x00\x40\x00"]))
            if kind == "epb":
                body = struct.pack(e + "IIIII", iface, ts >> 32, ts & M32, caplen, origlen)
                out += _block(e, fmt.PCAPNG_EPB, body + padded + comment)
            elif kind == "opb":
                body = struct.pack(e + "HHIIII", iface & 0xFFFF, 0, ts >> 32, ts & M32,
                                   caplen, origlen)
                out += _block(e, fmt.PCAPNG_OPB, body + padded)
            elif kind == "spb":
                out += _block(e, fmt.PCAPNG_SPB, struct.pack(e + "I", origlen) + frame)
            else:
                out += _block(e, draw(st.sampled_from([fmt.PCAPNG_ISB, fmt.PCAPNG_NRB,
                                                       fmt.PCAPNG_CUSTOM_COPY, 0x12345678])),
                              frame[:draw(st.integers(0, len(frame)))])
    return draw(damaged(out))


# -- reader, store, analysis ---------------------------------------------------------

@fast(300)
@given(st.one_of(pcap_files(), pcapng_files()))
def test_damaged_capture_files_open_walk_and_analyse(data: bytes) -> None:
    """Opening may refuse with BadInput; walking, storing and analysing never raise."""
    with targets.bounded():
        targets.check_capture(data)


@fast(150)
@given(st.sampled_from([b"", b"\x0a\x0d\x0d\x0a", *targets.PCAP_MAGICS]), st.binary(max_size=600))
def test_arbitrary_bytes_after_a_magic_number(magic: bytes, tail: bytes) -> None:
    with targets.bounded():
        targets.check_capture(magic + tail)


@fast(80)
@given(pcap_files(), st.lists(st.integers(0, 3000), max_size=6))
def test_a_growing_pcap_yields_what_a_full_read_yields(data: bytes, cuts: list[int]) -> None:
    with targets.bounded(), tempfile.TemporaryDirectory() as tmp:
        targets.check_growing(data, cuts, Path(tmp))


@fast(60)
@given(st.one_of(pcap_files(), pcapng_files()), st.integers(0, 1 << 22),
       st.sampled_from([0, 24, None]))
def test_a_sparse_file_reads_as_its_bytes_do(data: bytes, hole: int, tail: int | None) -> None:
    """Zeros (a hole) after the records, and then the records again."""
    with targets.bounded(), tempfile.TemporaryDirectory() as tmp:
        targets.check_sparse(data, hole, Path(tmp), b"" if tail is None else data[tail:])


@fast(80)
@given(st.one_of(pcap_files(), pcapng_files()), st.floats(0, 1), st.integers(1, 40))
def test_a_file_cut_while_read_keeps_what_was_read(data: bytes, where: float,
                                                    first: int) -> None:
    with targets.bounded(), tempfile.TemporaryDirectory() as tmp:
        targets.check_shrinking(data, int(len(data) * where), first, Path(tmp))


@fast(30)
@given(st.one_of(pcap_files(), st.binary(max_size=3000)))
def test_a_fifo_is_refused_unread(data: bytes) -> None:
    with targets.bounded(), tempfile.TemporaryDirectory() as tmp:
        targets.check_fifo(data, Path(tmp))


def test_following_a_file_that_is_not_a_pcap_stream_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "spool.pcapng"
    with path.open("wb") as out:
        PcapngWriter(out, [(fmt.LINKTYPE_ETHERNET, "lo")])
    with pytest.raises(BadInput, match="plain pcap"):
        GrowingCapture.follow(str(path))


# -- decoder, tracker, dissector --------------------------------------------------------

@fast(600)
@given(linked_frames(), st.binary(max_size=7), st.binary(max_size=7),
       st.none() | st.integers(0, 3000))
def test_decoder_reads_only_its_frame_and_fits_the_store(
        framed: tuple[int, bytes], prefix: bytes, junk: bytes, extra: int | None) -> None:
    linktype, frame = framed
    with targets.bounded():
        targets.check_decode_frame(linktype, frame, None if extra is None else len(frame) + extra,
                                   prefix, junk)


@fast(200)
@given(st.binary(max_size=6 + 4000))
def test_decoder_target_on_arbitrary_bytes(data: bytes) -> None:
    with targets.bounded():
        targets.check_decode(data)


@fast(200)
@given(st.binary(min_size=8, max_size=8 + 40 * 40))
def test_tracker_target_on_arbitrary_bytes(data: bytes) -> None:
    """Any flags/seq/ack/window/length/options, time going backwards, four endpoints."""
    with targets.bounded():
        targets.check_tracker(data)


@st.composite
def damaged_conversations(draw: st.DrawFn) -> list[TcpSegment]:
    """A scripted conversation, then segments dropped, repeated, swapped, restamped."""
    conv = Conversation(client_isn=draw(NEAR_WRAP), server_isn=draw(NEAR_WRAP),
                        step=draw(st.sampled_from([1000, 1_000_000])))
    ts_opts = options_bytes(mss=1460, wscale=draw(st.integers(0, 20)), sack_perm=True,
                            ts=(1, 0))
    conv.handshake(client_opts=ts_opts, server_opts=ts_opts if draw(st.booleans()) else b"")
    for _ in range(draw(st.integers(0, 25))):
        send = conv.c2s if draw(st.booleans()) else conv.s2c
        step = draw(st.sampled_from(["data", "data", "ack", "lost", "undelivered",
                                     "keepalive", "zero", "rst", "fin", "syn", "sack"]))
        dt = draw(st.sampled_from([None, 0, -5_000_000, 10_000]))
        if step == "data":
            send("PA", data=draw(st.sampled_from([1, 100, 1460])), dt=dt)
        elif step == "ack":
            send("A", dt=dt)
        elif step == "lost":
            send("PA", data=100, captured=False)
        elif step == "undelivered":
            send("PA", data=100, delivered=False, dt=dt)
        elif step == "keepalive":
            side = conv.client if send == conv.c2s else conv.server
            send("A", seq=(side.snd_nxt - 1) & M32, advance=False, dt=dt)
        elif step == "zero":
            send("A", win=draw(st.sampled_from([0, 1, 65535])), dt=dt)
        elif step == "sack":
            send("A", options=options_bytes(sack=[(draw(U32), draw(U32))]), dt=dt)
        else:
            send({"rst": "R", "fin": "FA", "syn": "S"}[step], dt=dt)
    segs = list(conv.segments)
    for _ in range(draw(st.integers(0, 4))):
        if not segs:
            break
        i = draw(st.integers(0, len(segs) - 1))
        edit = draw(st.sampled_from(["drop", "repeat", "swap", "back"]))
        if edit == "drop":
            del segs[i]
        elif edit == "repeat":
            segs.insert(i, segs[i])
        elif edit == "swap" and i + 1 < len(segs):
            segs[i], segs[i + 1] = segs[i + 1], segs[i]
        elif edit == "back":
            s = segs[i]
            segs[i] = TcpSegment(s.frame, s.ts_ns - 10**9, s.src, s.sport, s.dst, s.dport,
                                 s.seq, s.ack, s.flags, s.window, s.payload_len, s.options)
    return [TcpSegment(n, s.ts_ns, s.src, s.sport, s.dst, s.dport, s.seq, s.ack, s.flags,
                       s.window, s.payload_len, s.options, s.urgent)
            for n, s in enumerate(segs, 1)]


@fast(250)
@given(damaged_conversations())
def test_tracker_takes_damaged_conversations(segs: list[TcpSegment]) -> None:
    with targets.bounded():
        targets.check_segments(segs)


@fast(300)
@given(linked_frames())
def test_dissector_never_raises_and_keeps_ranges_nested(framed: tuple[int, bytes]) -> None:
    linktype, frame = framed
    with targets.bounded():
        targets.check_dissect_frame(frame, linktype)


# -- writers round-trip through the reader -------------------------------------------------

PACKETS = st.lists(st.tuples(st.integers(0, 2**32 * 10**9 - 1), st.binary(max_size=200),
                             st.integers(0, 5000)), max_size=8)


@fast(80)
@given(PACKETS, st.booleans(), st.integers(0, 0xFFFF))
def test_pcap_writer_round_trips(packets: list[tuple[int, bytes, int]], nanosecond: bool,
                                 linktype: int) -> None:
    out = io.BytesIO()
    writer = PcapWriter(out, linktype, nanosecond=nanosecond)
    for ts, frame, extra in packets:
        writer.write(ts, frame, len(frame) + extra)
    cap = CaptureFile.from_bytes(out.getvalue())
    recs = list(cap.frames())
    assert not cap.warnings
    assert cap.nanosecond == nanosecond and cap.linktypes == {linktype}
    assert [(r.ts_ns, cap.frame_bytes(r), r.origlen) for r in recs] == [
        (ts if nanosecond else ts // 1000 * 1000, frame, len(frame) + extra)
        for ts, frame, extra in packets]


COMMENT = st.none() | st.text(max_size=40)


@fast(80)
@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.text(max_size=12)), min_size=1,
                max_size=3),
       COMMENT, st.none() | st.builds(lambda b, n: b * n, st.binary(max_size=8),
                                      st.integers(1, 20000)),
       st.lists(st.tuples(st.integers(0, 2**63 - 1), st.binary(max_size=200),
                          st.integers(0, 5000), st.integers(0, 2), COMMENT), max_size=8))
def test_pcapng_writer_round_trips(interfaces: list[tuple[int, str]], comment: str | None,
                                   custom: bytes | None,
                                   packets: list[tuple[int, bytes, int, int, str | None]]
                                   ) -> None:
    out = io.BytesIO()
    writer = PcapngWriter(out, interfaces, comment=comment, custom=custom)
    for ts, frame, extra, iface, text in packets:
        writer.write(ts, frame, len(frame) + extra, interface=iface % len(interfaces),
                     comment=text)
    cap = CaptureFile.from_bytes(out.getvalue())
    recs = list(cap.frames())
    assert not cap.warnings
    assert [(i.linktype, i.name) for i in cap.interfaces] == interfaces
    assert cap.section_comments == ([comment] if comment else [])
    assert b"".join(cap.custom_data) == (custom or b"")
    assert bool(cap.custom_data) == (custom is not None)
    assert [(r.ts_ns, cap.frame_bytes(r), r.origlen, r.interface, r.comment) for r in recs] == [
        (ts, frame, len(frame) + extra, iface % len(interfaces), text or None)
        for ts, frame, extra, iface, text in packets]
