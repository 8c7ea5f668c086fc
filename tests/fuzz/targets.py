"""What the fuzzers check: "parse or raise the defined error", and never hang.

One function per target, each taking the fuzzer's raw bytes. The atheris
harness (``run.py``), the hypothesis properties (tests/core/test_fuzz_properties.py)
and the regression replay (tests/core/test_fuzz_regressions.py) all call
these, so a finding replays through exactly the checks that found it.

The rule is h11's: input may be refused with the error the core defines for
it (``BadInput``, and only when opening a file), anything else that escapes
is a bug, and so is a broken invariant (an ``AssertionError`` here).

Structured targets (decoder, tracker, dissector) read their choices from the
bytes with :class:`ByteSource`, our own deterministic reader, so replaying
a saved input needs nothing but this module (atheris is not a dependency).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import struct
import tempfile
from array import array
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType

from visualizer.core.decode import headers as dec
from visualizer.core.decode.dissect import Node, dissect
from visualizer.core.decode.store import COLUMNS as STORE_COLUMNS
from visualizer.core.decode.store import PacketStore
from visualizer.core.errors import BadInput
from visualizer.core.flows.analysis import COLUMNS as ANALYSIS_COLUMNS
from visualizer.core.flows.analysis import Analysis
from visualizer.core.pcap.growing import GrowingCapture
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.pcap.records import EMPTY_KEPT, FrameRecord, Records
from visualizer.core.tcp.analysis_flags import ALL, DUPLICATE_ACK
from visualizer.core.tcp.connection import MAX_UNACKED_SEGMENTS
from visualizer.core.tcp.segment import ACK, FIN, SYN, TcpSegment
from visualizer.core.tcp.states import TcpState
from visualizer.core.tcp.streams import TcpStreamTable

M32 = 0xFFFFFFFF
# CPU seconds one input may take before it counts as a hang. Normal inputs
# take milliseconds; CPU time (not wall time) so a loaded machine does not
# turn slowness into findings.
TIME_LIMIT_S = 5.0
LINKTYPES = (0, 1, 12, 101, 108, 113, 147, 228, 229, 276)
# Classic pcap magics as they appear in a file: us, ns, "modified" (Kuznetzov), each order.
PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1",
               b"\xa1\xb2\x3c\x4d", b"\x34\xcd\xb2\xa1", b"\xa1\xb2\xcd\x34")


# -- never loop ---------------------------------------------------------------

class Hang(BaseException):
    """Raised by the CPU timer; a BaseException so no ``except Exception`` hides it."""


@contextlib.contextmanager
def bounded(seconds: float = TIME_LIMIT_S) -> Iterator[None]:
    """Fail with AssertionError (and the stack where it was) after ``seconds`` of CPU.

    Uses SIGPROF/ITIMER_PROF: SIGALRM belongs to pytest-timeout and libFuzzer.
    Main thread only (where pytest, hypothesis and atheris run the code).
    """
    def on_timer(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"still running after {seconds} s of CPU time")

    old = signal.signal(signal.SIGPROF, on_timer)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    except Hang as hang:
        raise AssertionError(str(hang)) from hang
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)


# -- reading choices from bytes -------------------------------------------------

class ByteSource:
    """Structured choices from fuzz bytes; reads zeros once the bytes run out."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def exhausted(self) -> bool:
        return self._pos >= len(self._data)

    def take(self, n: int) -> bytes:
        chunk = self._data[self._pos:self._pos + n]
        self._pos += n
        return chunk

    def uint(self, nbytes: int) -> int:
        return int.from_bytes(self.take(nbytes).ljust(nbytes, b"\0"), "big")

    def sint(self, nbytes: int) -> int:
        return int.from_bytes(self.take(nbytes).ljust(nbytes, b"\0"), "big", signed=True)

    def rest(self) -> bytes:
        chunk = self._data[self._pos:]
        self._pos = len(self._data)
        return chunk


# -- reader + store + analysis ---------------------------------------------------

def check_capture(data: bytes) -> None:
    """Open ``data`` as a capture; on success walk, store and analyse every frame."""
    try:
        cap = CaptureFile.from_bytes(data)
    except BadInput as err:
        assert str(err), "BadInput needs a message the user can act on"
        return
    frames = list(cap.frames())
    for rec in frames:
        assert 0 <= rec.offset <= rec.offset + rec.caplen <= len(data), rec
        assert rec.caplen <= rec.origlen, rec
    store = PacketStore(cap)
    store.extend(cap.records())
    assert len(store) == len(frames)
    for i, rec in enumerate(frames):
        assert store.frame(i) == data[rec.offset:rec.offset + rec.caplen]
        assert store.decoded(i).status == store.values("status")[i]
    for address_id in set(store.values("src")) | set(store.values("dst")):
        store.address_text(address_id)
    whole = Analysis(store).run()
    check_analysis(whole, len(frames))
    # The live path: analyse as the store grows; the answers must not change.
    half = len(frames) // 2
    grown = PacketStore(cap)
    records = cap.records()
    grown.extend(records, limit=half)
    step = Analysis(grown).run()
    grown.extend(records)
    step.run()
    for name in ANALYSIS_COLUMNS:
        assert step.values(name) == whole.values(name), name
    assert step.tcp_summaries == whole.tcp_summaries


def check_analysis(analysis: Analysis, n: int) -> None:
    for name in ANALYSIS_COLUMNS:
        assert len(analysis.values(name)) == n, name
    streams = len(analysis.tcp_summaries)
    for i in range(n):
        analysis.states(i)
        assert -1 <= analysis.values("stream")[i] < streams
        assert -1 <= analysis.values("udp_flow")[i] < len(analysis.udp_flows)
    assert sum(sum(s.packets) for s in analysis.tcp_summaries) == sum(
        1 for s in analysis.values("stream") if s >= 0)


def check_growing(data: bytes, cuts: Sequence[int], directory: Path) -> None:
    """A pcap written in pieces (ending at ``cuts``) is read live as a full read reads it."""
    try:
        cap = CaptureFile.from_bytes(data)
    except BadInput:
        return
    expected = list(cap.frames())
    path = directory / "growing.pcap"
    ends = sorted({min(max(c, 24), len(data)) for c in cuts} | {len(data)})
    with path.open("wb") as out:
        out.write(data[:ends[0]])
        out.flush()
        if cap.format != "pcap" or cap.kuznetzov:
            try:
                GrowingCapture.follow(str(path)).close()
            except BadInput:
                return
            raise AssertionError("only a plain pcap stream can be followed")
        live = GrowingCapture.follow(str(path))
        try:
            records = live.records()
            got = _take(records)
            for start, end in itertools.pairwise(ends):
                out.write(data[start:end])
                out.flush()
                live.refresh()
                got += _take(records)
            assert got == expected
            assert list(live.frames()) == expected
        finally:
            live.close()


def _take(records: Records) -> list[FrameRecord]:
    """Every record the walk gives now, in chunks of odd sizes."""
    got: list[FrameRecord] = []
    while (chunk := records.read(1 + len(got) % 7)) is not None:
        got += chunk.records()
    return got


def check_sparse(data: bytes, hole: int, directory: Path, tail: bytes = b"") -> None:
    """``data``, ``hole`` bytes of a sparse file's zeros (no disk used), ``tail``:
    the file reads as the same bytes in memory do, and keeps at most EMPTY_KEPT
    empty records (a pcap's zeros are empty records)."""
    path = directory / "sparse"
    with path.open("wb") as out:
        out.write(data)
        out.truncate(len(data) + hole)
        out.seek(len(data) + hole)
        out.write(tail)
    try:
        cap = CaptureFile.open(str(path))
    except BadInput as err:
        assert str(err)
        return
    with cap:
        store = PacketStore(cap)
        store.extend(cap.records())
        check_analysis(Analysis(store).run(), len(store))
        assert (store.column("caplen") == 0).sum() <= EMPTY_KEPT
        in_memory = CaptureFile.from_bytes(data + bytes(hole) + tail)
        assert list(in_memory.frames()) == list(cap.frames())
        assert store.warnings()[:len(in_memory.warnings)] == in_memory.warnings


def check_shrinking(data: bytes, cut: int, first: int, directory: Path) -> None:
    """A file cut to ``cut`` bytes once ``first`` packets are stored: reading on and
    analysing never raise, every packet kept is one of the whole file's (its
    bytes, or as many as are left of them), and a cut the reader ran into says so."""
    path = directory / "shrinking"
    path.write_bytes(data)
    try:
        cap = CaptureFile.open(str(path))
    except BadInput:
        return
    whole = list(CaptureFile.from_bytes(data).frames())
    with cap:
        store = PacketStore(cap)
        records = cap.records()
        store.extend(records, limit=first)
        os.truncate(path, cut)
        store.extend(records)
        check_analysis(Analysis(store).run(), len(store))
        assert len(store) <= len(whole)
        ts, caplen, offset = store.values("ts_ns"), store.values("caplen"), store.values("offset")
        for i, rec in enumerate(whole[:len(store)]):
            assert (ts[i], caplen[i], offset[i]) == (rec.ts_ns, rec.caplen, rec.offset), i
            got = store.frame(i)
            assert got == data[rec.offset:rec.offset + len(got)], i
        if cap.truncated:
            assert any("truncated while being read" in w for w in cap.warnings)


def check_fifo(data: bytes, directory: Path) -> None:
    """A FIFO holding ``data`` is refused at once, its bytes left unread."""
    fifo = directory / "fifo"
    os.mkfifo(fifo)
    keep = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)   # a reader, so a writer may open
    try:
        writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        try:
            written = os.write(writer, data[:4096]) if data else 0
            try:
                CaptureFile.open(str(fifo))
            except BadInput as err:
                assert "is a pipe" in str(err)
            else:
                raise AssertionError("a FIFO was opened as a capture file")
            if written:
                assert os.read(keep, 8192) == data[:written]
        finally:
            os.close(writer)
    finally:
        os.close(keep)
        fifo.unlink()


def check_file_shapes(data: bytes) -> None:
    """``data`` as a file of an odd shape: sparse, shrinking, a FIFO."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        check_sparse(data, 16 * EMPTY_KEPT + len(data) * 61 % 65536, directory, data[24:])
        check_shrinking(data, len(data) * 2 // 3, 1 + len(data) % 5, directory)
        check_fifo(data, directory)


def check_reader(data: bytes) -> None:
    """The reader target: :func:`check_capture`, a live read in three pieces, and
    :func:`check_file_shapes`."""
    check_capture(data)
    with tempfile.TemporaryDirectory() as tmp:
        if data[:4] in PCAP_MAGICS:
            third = len(data) // 3
            check_growing(data, [third, 2 * third], Path(tmp))
    check_file_shapes(data)


# -- the header decoder -------------------------------------------------------------

_DECODED_COLUMNS = ("status", "ip_version", "proto", "sport", "dport", "tcp_flags", "seq",
                    "ack", "window", "urgent", "l4_offset", "tcp_header_len", "icmp_type",
                    "icmp_code", "fragment")


def check_decode_frame(linktype: int, frame: bytes, origlen: int | None,
                       prefix: bytes = b"", junk: bytes = b"") -> dec.Decoded:
    """Decode ``frame`` alone and inside a bigger buffer: same answer, fits the store."""
    alone = dec.decode(linktype, frame, 0, len(frame), origlen)
    buf = prefix + frame + junk
    placed = dec.decode(linktype, buf, len(prefix), len(frame), origlen)
    assert placed == alone, "the decoder read bytes outside its frame"
    assert dec.decode(linktype, memoryview(buf), len(prefix), len(frame), origlen) == alone
    assert alone.status in dec.STATUS_NAMES
    assert alone.payload_len >= 0
    assert len(alone.src) == len(alone.dst) and len(alone.src) in (0, 4, 16)
    for name in _DECODED_COLUMNS:
        array(STORE_COLUMNS[name]).append(getattr(alone, name))  # OverflowError: no fit
    return alone


def check_decode(data: bytes) -> None:
    """The decoder target: u16 link type, prefix/junk lengths, origlen, then the frame."""
    src = ByteSource(data)
    linktype = src.uint(2)
    prefix = src.take(src.uint(1) % 8)
    junk = src.take(src.uint(1) % 8)
    extra = src.uint(2)
    frame = src.rest()
    check_decode_frame(linktype, frame, None if extra == 0xFFFF else len(frame) + extra,
                       prefix, junk)


# -- the TCP tracker ----------------------------------------------------------------

ENDPOINTS = ((bytes([10, 0, 0, 1]), 40000), (bytes([10, 0, 0, 2]), 80),
             (bytes(15) + b"\x01", 443), (bytes([10, 0, 0, 1]), 40001))
SEGMENT_RECORD = struct.Struct("!BIIHHIiHB")  # endpoints, seq, ack, flags, window, len,
#                                               ts delta (us), urgent, options length
NEGATIVE_LEN = 0x2000   # flags bits above the 9 TCP flags: odd lengths the tracker clamps
HUGE_LEN = 0x1000


def segments_from_bytes(data: bytes) -> list[TcpSegment]:
    """An 8-byte start time (signed ns), then one SEGMENT_RECORD + options per segment."""
    src = ByteSource(data)
    ts = src.sint(8)
    out: list[TcpSegment] = []
    while not src.exhausted and len(out) < 2000:
        (pair, seq, ack, flags, window, length, delta_us, urgent,
         optlen) = SEGMENT_RECORD.unpack(src.take(SEGMENT_RECORD.size).ljust(
             SEGMENT_RECORD.size, b"\0"))
        (saddr, sport), (daddr, dport) = ENDPOINTS[pair & 3], ENDPOINTS[pair >> 2 & 3]
        if len(saddr) != len(daddr):
            saddr = daddr
        payload_len = length
        if flags & NEGATIVE_LEN:
            payload_len = -payload_len
        if flags & HUGE_LEN:
            payload_len += 1 << 32
        ts += delta_us * 1000
        out.append(TcpSegment(len(out) + 1, ts, saddr, sport, daddr, dport, seq, ack,
                              flags & 0x1FF, window, payload_len, src.take(optlen % 41),
                              urgent))
    return out


def segments_to_bytes(start_ns: int, segments: Sequence[TcpSegment]) -> bytes:
    """The inverse of :func:`segments_from_bytes` (for seeds), endpoints by first sight."""
    out = bytearray(struct.pack("!q", start_ns))
    seen: list[tuple[bytes, int]] = []
    ts = start_ns
    for seg in segments:
        ids = []
        for end in ((seg.src, seg.sport), (seg.dst, seg.dport)):
            if end not in seen:
                seen.append(end)
            ids.append(seen.index(end) % 2)
        delta = max(min((seg.ts_ns - ts) // 1000, 2**31 - 1), -2**31)
        ts += delta * 1000
        opts = seg.options[:40]
        out += SEGMENT_RECORD.pack(ids[0] | ids[1] << 2, seg.seq & M32, seg.ack & M32,
                                   seg.flags & 0x1FF, seg.window & 0xFFFF,
                                   min(max(seg.payload_len, 0), M32), delta,
                                   seg.urgent & 0xFFFF, len(opts)) + opts
    return bytes(out)


def check_segments(segments: Sequence[TcpSegment]) -> TcpStreamTable:
    """Feed every segment; each answer must be consistent with its segment."""
    table = TcpStreamTable()
    for seg in segments:
        r = table.feed(seg)
        conn = table.connections[r.stream]
        fwd, rev = conn._flows[r.direction], conn._flows[1 - r.direction]
        assert r.frame == seg.frame
        assert conn.side_of(seg) == r.direction
        assert all(isinstance(s, TcpState) for s in r.states)
        assert r.analysis & ~ALL == 0
        assert r.seq_abs == seg.seq & M32 and (r.seq + (fwd.base or 0)) & M32 == r.seq_abs
        if seg.flags & ACK:
            assert (r.ack + (rev.base or 0)) & M32 == r.ack_abs == seg.ack & M32
        assert 0 <= r.payload_len <= M32
        extra = 1 if seg.flags & (SYN | FIN) else 0
        assert r.next_seq == (r.seq + r.payload_len + extra) & M32
        assert all(0 <= v <= M32 for v in (r.seq, r.ack, r.next_seq))
        assert r.bytes_in_flight is None or 0 < r.bytes_in_flight < 2_000_000_000
        assert (r.dup_ack_count is None) == (not r.analysis & DUPLICATE_ACK)
        assert 0 <= r.window <= 0xFFFF << 14
        assert all(e.frame == seg.frame for e in r.events)
        assert len(fwd.segs) <= MAX_UNACKED_SEGMENTS
    assert sum(sum(c.packets) for c in table.connections) == len(segments)
    for s in table.summaries():
        assert s.first_frame <= s.last_frame
    return table


def check_tracker(data: bytes) -> None:
    """The tracker target: segments decoded by :func:`segments_from_bytes`."""
    check_segments(segments_from_bytes(data))


# -- full dissection -------------------------------------------------------------------

def check_ranges(nodes: list[Node], size: int, parent: Node | None = None) -> None:
    """Every byte range lies in the frame and in its parent's range."""
    for node in nodes:
        if node.start is not None:
            assert node.end is not None
            assert 0 <= node.start <= node.end <= size, (node.label, node.start, node.end)
            if parent is not None and parent.start is not None and parent.end is not None:
                assert parent.start <= node.start and node.end <= parent.end, node.label
        check_ranges(node.children, size, node if node.start is not None else parent)


def check_dissect_frame(frame: bytes, linktype: int) -> None:
    nodes = dissect(frame, linktype)
    assert nodes
    check_ranges(nodes, len(frame))


def check_dissect(data: bytes) -> None:
    """The dissector target: a link type byte (index into LINKTYPES), then the frame."""
    if not data:
        return
    check_dissect_frame(data[1:], LINKTYPES[data[0] % len(LINKTYPES)])


TARGETS: dict[str, Callable[[bytes], None]] = {
    "reader": check_reader,
    "decode": check_decode,
    "tracker": check_tracker,
    "dissect": check_dissect,
}
