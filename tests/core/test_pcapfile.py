"""Reading pcap/pcapng: formats, byte orders, resolutions, link types, damage."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

from visualizer.core.errors import BadInput
from visualizer.core.pcap import format as fmt
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.pcap.writer import PcapngWriter, PcapWriter

FRAME_A = bytes(range(60))
FRAME_B = b"\xff" * 75
TS_A = 1_700_000_000_123_456_789
TS_B = 1_700_000_001_000_001_000


def pcap_bytes(order: str, magic: int, linktype: int, records: list[tuple[int, int, bytes]],
               rec_header: int = 16) -> bytes:
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for sec, frac, data in records:
        out += struct.pack(order + "IIII", sec, frac, len(data), len(data) + 4)
        out += b"\0" * (rec_header - 16) + data
    return out


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize(("magic", "frac", "ns"), [
    (fmt.PCAP_MAGIC_USEC, 123456, 123_456_000),
    (fmt.PCAP_MAGIC_NSEC, 123456789, 123_456_789),
])
def test_pcap_byte_orders_and_resolutions(order: str, magic: int, frac: int, ns: int) -> None:
    cap = CaptureFile.from_bytes(pcap_bytes(order, magic, 1, [(1_700_000_000, frac, FRAME_A)]))
    (rec,) = list(cap.frames())
    assert rec.ts_ns == 1_700_000_000 * 10**9 + ns
    assert (rec.caplen, rec.origlen, rec.linktype) == (60, 64, 1)
    assert cap.frame_bytes(rec) == FRAME_A
    assert cap.big_endian == (order == ">")
    assert not cap.warnings


def test_modified_pcap_with_24_byte_record_headers() -> None:
    data = pcap_bytes("<", 0xA1B2CD34, 1, [(1, 0, FRAME_A), (2, 0, FRAME_B)], rec_header=24)
    frames = list(CaptureFile.from_bytes(data).frames())
    assert [f.caplen for f in frames] == [60, 75]


def test_pcapng_round_trip_with_comments_and_two_interfaces(tmp_path: Path) -> None:
    path = tmp_path / "two.pcapng"
    with path.open("wb") as out:
        w = PcapngWriter(out, [(fmt.LINKTYPE_ETHERNET, "lo"), (fmt.LINKTYPE_RAW, "tun0")],
                         comment="hello")
        w.write(TS_A, FRAME_A, 64, comment="first")
        w.write(TS_B, FRAME_B, interface=1)
    with CaptureFile.open(str(path)) as cap:
        a, b = list(cap.frames())
        assert cap.format == "pcapng"
        assert cap.section_comments == ["hello"]
        assert (a.ts_ns, a.linktype, a.comment, a.origlen) == (TS_A, 1, "first", 64)
        assert (b.ts_ns, b.linktype, b.interface, b.comment) == (TS_B, 101, 1, None)
        assert cap.frame_bytes(b) == FRAME_B
        assert [i.name for i in cap.interfaces] == ["lo", "tun0"]


def pcapng_block(order: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(order + "II", btype, n) + body + struct.pack(order + "I", n)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize(("tsresol", "units", "expected_ns"), [
    (None, 1_500_000, 1_500_000_000),         # default: microseconds
    (b"\x09", 1_500_000, 1_500_000),          # 10^-9
    (b"\x83", 12, 1_500_000_000),             # 2^-3 s: 12/8 = 1.5 s
])
def test_pcapng_byte_orders_and_tsresol(order: str, tsresol: bytes | None, units: int,
                                        expected_ns: int) -> None:
    shb = pcapng_block(order, fmt.PCAPNG_SHB, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts = b""
    if tsresol is not None:
        opts = struct.pack(order + "HH", 9, 1) + tsresol + b"\0\0\0" + b"\0\0\0\0"
    idb = pcapng_block(order, fmt.PCAPNG_IDB, struct.pack(order + "HHI", 113, 0, 0) + opts)
    epb = pcapng_block(order, fmt.PCAPNG_EPB, struct.pack(
        order + "IIIII", 0, units >> 32, units & 0xFFFFFFFF, len(FRAME_A), len(FRAME_A)) + FRAME_A)
    cap = CaptureFile.from_bytes(shb + idb + epb)
    (rec,) = list(cap.frames())
    assert rec.ts_ns == expected_ns
    assert rec.linktype == fmt.LINKTYPE_LINUX_SLL
    assert cap.frame_bytes(rec) == FRAME_A


def test_truncated_pcap_keeps_complete_records_and_warns() -> None:
    data = pcap_bytes("<", fmt.PCAP_MAGIC_USEC, 1, [(1, 0, FRAME_A), (2, 0, FRAME_B)])
    cap = CaptureFile.from_bytes(data[:-10])
    assert [f.caplen for f in cap.frames()] == [60]
    assert "ends inside" in cap.warnings[0]


def test_absurd_caplen_stops_reading_with_a_warning() -> None:
    data = pcap_bytes("<", fmt.PCAP_MAGIC_USEC, 1, [(1, 0, FRAME_A)])
    data += struct.pack("<IIII", 2, 0, 0x7FFFFFFF, 0x7FFFFFFF) + b"x" * 30
    cap = CaptureFile.from_bytes(data)
    assert len(list(cap.frames())) == 1
    assert "damaged" in cap.warnings[0]


def test_empty_records_past_a_thousand_are_counted_not_kept() -> None:
    """Records of no captured bytes cost a row each; a sparse file holds millions."""
    empty = [(1, 0, b"")] * 1500
    data = pcap_bytes("<", fmt.PCAP_MAGIC_USEC, 1, [*empty, (2, 0, FRAME_A)])
    data += bytes(16 * 3000 + 5)  # and zeros: 3,000 more, and a cut-off header
    cap = CaptureFile.from_bytes(data)
    frames = list(cap.frames())
    assert len(frames) == 1001 and frames[-1].caplen == len(FRAME_A)
    skipped, cut = sorted(cap.warnings, reverse=True)
    assert skipped.startswith("skipped 3,500 empty records") and "ends inside a record" in cut

    writer = PcapngWriter(out := io.BytesIO(), [(1, "eth0")])
    for _ in range(1200):
        writer.write(TS_A, b"")
    writer.write(TS_B, FRAME_B, comment="after the empty ones")
    cap = CaptureFile.from_bytes(out.getvalue())
    frames = list(cap.frames())
    assert len(frames) == 1001 and frames[-1].comment == "after the empty ones"
    assert cap.warnings == ["skipped 200 empty records (no captured bytes) after the first "
                            "1,000: frames after them are numbered without them"]


def test_pcapng_bad_block_length_stops_reading() -> None:
    out = bytearray()
    out += pcapng_block("<", fmt.PCAPNG_SHB, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += pcapng_block("<", fmt.PCAPNG_IDB, struct.pack("<HHI", 1, 0, 0))
    out += struct.pack("<II", fmt.PCAPNG_EPB, 13) + b"\0" * 20
    cap = CaptureFile.from_bytes(bytes(out))
    assert list(cap.frames()) == []
    assert "bad length" in cap.warnings[0]


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"),
    (b"hello world, this is text and not a capture", "not a pcap or pcapng"),
    (b"\x1f\x8b\x08\x00" + b"\0" * 40, "gzip"),
    (b"\xd4\xc3\xb2\xa1\x02\x00", "truncated"),
])
def test_files_that_are_not_captures_are_refused(tmp_path: Path, content: bytes,
                                                  message: str) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    with pytest.raises(BadInput, match=message):
        CaptureFile.open(str(path))


def test_missing_file_and_directory_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such file"):
        CaptureFile.open(str(tmp_path / "nope.pcap"))
    with pytest.raises(BadInput, match="directory"):
        CaptureFile.open(str(tmp_path))


def test_pcap_writer_output_is_what_the_reader_reads(tmp_path: Path) -> None:
    path = tmp_path / "w.pcap"
    with path.open("wb") as out:
        w = PcapWriter(out, fmt.LINKTYPE_ETHERNET, nanosecond=True)
        w.write(TS_A, FRAME_A)
        w.write(TS_B, FRAME_B, 1500)
    with CaptureFile.open(str(path)) as cap:
        recs = list(cap.frames())
    assert [(r.ts_ns, r.caplen, r.origlen) for r in recs] == [(TS_A, 60, 60), (TS_B, 75, 1500)]


def test_a_comment_too_long_for_one_option_is_cut_not_an_error(tmp_path) -> None:
    import io

    from visualizer.core.pcap.reader import CaptureFile
    from visualizer.core.pcap.writer import PcapngWriter

    out = io.BytesIO()
    writer = PcapngWriter(out, [(1, "lo")])
    writer.write(1_000, b"\0" * 60, 60, comment="é" * 40_000)  # 80,000 bytes of UTF-8
    cap = CaptureFile.from_bytes(out.getvalue())
    (frame,) = list(cap.frames())
    assert frame.comment is not None and frame.comment.endswith(" [...]")
    assert len(frame.comment.encode()) <= 0xFFFF


def test_copying_bytes_out_of_a_file_by_the_kernel_or_through_a_buffer(tmp_path: Path) -> None:
    data = pcap_bytes("<", fmt.PCAP_MAGIC_USEC, 1, [(1, 0, FRAME_A), (2, 0, FRAME_B)])
    path = tmp_path / "in.pcap"
    path.write_bytes(data)
    with CaptureFile.open(str(path)) as cap:
        with (tmp_path / "out").open("wb") as out:       # sendfile
            out.write(b"head")
            assert cap.copy(24, 50, out) == 50
            out.write(b"tail")
        assert (tmp_path / "out").read_bytes() == b"head" + data[24:74] + b"tail"
        assert cap.copy(24, 10**6, memory := io.BytesIO()) == len(data) - 24   # a buffer
        assert memory.getvalue() == data[24:]
        path.write_bytes(data[:40])                       # the file shrinks
        assert cap.copy(24, 50, io.BytesIO()) == 16
        assert cap.truncated and "truncated while being read" in cap.warnings[0]
