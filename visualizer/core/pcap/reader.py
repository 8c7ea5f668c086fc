"""Reading pcap and pcapng files without dissection.

``CaptureFile`` maps the file into memory, reads its headers and hands out
walks over its records (``records()``, see ``pcap/records.py``), which say
where each frame's bytes lie rather than copying them: a million-packet
file is indexed without building a million byte strings. The walk never
raises on damaged content; it stops at the first record it cannot trust
and says why in ``warnings``. Only a file that is not a capture at all (or
cannot be opened) raises ``BadInput``.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from visualizer.core.errors import BadInput
from visualizer.core.pcap import format as fmt
from visualizer.core.pcap.records import (
    FrameRecord,
    PcapngRecords,
    PcapRecords,
    Records,
)

CHUNK = 8192  # records ``frames()`` takes from the walk at once


@dataclass
class Interface:
    linktype: int
    name: str = ""
    tsresol: tuple[int, int] = (10, 6)  # base, exponent: units of base**-exponent s
    tsoffset: int = 0                   # seconds added to every timestamp


@dataclass
class CaptureFile:
    """An opened pcap or pcapng file (see module docstring)."""

    path: str
    data: bytes | mmap.mmap
    format: str                       # "pcap" or "pcapng"
    big_endian: bool = False
    nanosecond: bool = False          # pcap only: ns magic
    kuznetzov: bool = False           # pcap only: "modified pcap", 24-byte record headers
    snaplen: int = fmt.PCAP_SNAPLEN
    interfaces: list[Interface] = field(default_factory=list)
    section_comments: list[str] = field(default_factory=list)
    custom_data: list[bytes] = field(default_factory=list)  # our PEN's section options
    warnings: list[str] = field(default_factory=list)
    _mm: mmap.mmap | None = None
    _fd: int | None = None
    _released: int = 0
    _clamped: bool = False            # a timestamp out of int64 range was warned about
    growing: ClassVar[bool] = False   # the file is still being written (GrowingCapture)

    # -- opening -------------------------------------------------------
    @classmethod
    def open(cls, path: str) -> CaptureFile:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise BadInput(f"{path}: no such file") from None
        except IsADirectoryError:
            raise BadInput(f"{path}: is a directory, not a capture file") from None
        except OSError as err:
            raise BadInput(f"{path}: cannot open: {err.strerror}") from None
        try:
            size = os.fstat(fd).st_size
            if os.path.isdir(path):
                raise BadInput(f"{path}: is a directory, not a capture file")
            if size == 0:
                raise BadInput(f"{path}: the file is empty, not a pcap or pcapng capture")
            try:
                mm = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError) as err:
                raise BadInput(f"{path}: cannot read: {err}") from None
        except BaseException:
            os.close(fd)
            raise
        cap = cls.from_bytes(mm, path)
        cap._mm, cap._fd = mm, fd
        return cap

    @classmethod
    def from_bytes(cls, data: bytes | mmap.mmap, path: str = "<bytes>") -> CaptureFile:
        head = bytes(data[:4])
        if len(head) < 4:
            raise BadInput(f"{path}: too short to be a pcap or pcapng capture")
        if head == b"\x0a\x0d\x0d\x0a":
            cap = cls(path, data, "pcapng")
            cap._check_pcapng_header()
            return cap
        for order in ("<", ">"):
            (magic,) = struct.unpack(order + "I", head)
            if magic in (fmt.PCAP_MAGIC_USEC, fmt.PCAP_MAGIC_NSEC, _PCAP_MAGIC_KUZNETZOV):
                cap = cls(path, data, "pcap", big_endian=(order == ">"))
                cap._read_pcap_header(magic)
                return cap
        hint = ""
        if head[:2] == b"\x1f\x8b":
            hint = " (it is gzip-compressed: gunzip it first)"
        raise BadInput(f"{path}: not a pcap or pcapng capture file{hint}")

    def close(self) -> None:
        if self._mm is not None:
            with contextlib.suppress(BufferError):  # a view still holds it
                self._mm.close()
            self._mm = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> CaptureFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def release(self, end: int) -> None:
        """Say the mapped bytes before ``end`` are not needed soon.

        The kernel may then drop them from this process's resident memory
        (they stay in the page cache and come back on access), so reading
        a large file costs memory for the packets kept, not for the bytes.
        """
        if self._mm is None or not hasattr(mmap, "MADV_DONTNEED"):
            return
        end -= end % mmap.PAGESIZE
        if end > self._released:
            with contextlib.suppress(OSError, ValueError):
                self._mm.madvise(mmap.MADV_DONTNEED, self._released, end - self._released)
            self._released = end

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def linktypes(self) -> set[int]:
        return {i.linktype for i in self.interfaces}

    def frame_bytes(self, rec: FrameRecord) -> bytes:
        return self.read(rec.offset, rec.caplen)

    def read(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes of the file from ``offset`` (fewer at its end)."""
        return bytes(self.data[offset:offset + n])

    # -- walking -------------------------------------------------------
    def records(self, start: int | None = None) -> Records:
        """A walk over the records from the file's first one (pcap: or from the
        record header at byte ``start``)."""
        if self.format == "pcapng":
            if start is not None:
                raise ValueError("a pcapng walk starts at the first block")
            return PcapngRecords(self, self.warnings, self._pcapng_frames())
        if start is None:
            start = fmt.PCAP_FILE_HEADER_LEN
        elif not fmt.PCAP_FILE_HEADER_LEN <= start <= self.size:
            raise ValueError(f"offset {start} is outside the records of {self.path}")
        return PcapRecords(self, self.warnings, pos=start, big_endian=self.big_endian,
                           header_len=24 if self.kuznetzov else 16,
                           nanosecond=self.nanosecond, snaplen=self.snaplen,
                           linktype=self.interfaces[0].linktype, growing=self.growing)

    def frames(self) -> Iterator[FrameRecord]:
        """Every frame in file order, one by one. Stops (with a warning) at damage."""
        records = self.records()
        while (chunk := records.read(CHUNK)) is not None:
            yield from chunk.records()

    # pcap ---------------------------------------------------------------
    def _read_pcap_header(self, magic: int) -> None:
        e = ">" if self.big_endian else "<"
        if len(self.data) < fmt.PCAP_FILE_HEADER_LEN:
            raise BadInput(f"{self.path}: pcap file header is truncated")
        _, major, minor, _, _, snaplen, network = struct.unpack_from(e + "IHHiIII", self.data, 0)
        self.nanosecond = magic == fmt.PCAP_MAGIC_NSEC
        self.kuznetzov = magic == _PCAP_MAGIC_KUZNETZOV
        self.snaplen = snaplen
        # The link type is the low 16 bits; the top bits carry FCS info
        # (pcap-linktype(7)), e.g. Ethernet with its FCS is 0x04000001.
        resolution = (10, 9 if self.nanosecond else 6)
        self.interfaces = [Interface(network & 0xFFFF, tsresol=resolution)]
        if major != 2:
            self.warnings.append(f"unusual pcap version {major}.{minor}")

    # pcapng --------------------------------------------------------------
    def _check_pcapng_header(self) -> None:
        if len(self.data) < 28:
            raise BadInput(f"{self.path}: pcapng section header is truncated")
        bom = bytes(self.data[8:12])
        if bom not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
            raise BadInput(f"{self.path}: pcapng section header has a bad byte-order magic")
        self.big_endian = bom == b"\x1a\x2b\x3c\x4d"
        e = ">" if self.big_endian else "<"
        (blen,) = struct.unpack_from(e + "I", self.data, 4)
        if 28 <= blen <= len(self.data):
            self._section_options(e, 24, blen - 4)

    def _section_options(self, e: str, start: int, end: int) -> None:
        for code, value in _options(self.data, e, start, end):
            if code == fmt.OPT_COMMENT:
                self.section_comments.append(value.decode("utf-8", "replace"))
            elif code in _CUSTOM_OPTIONS and len(value) >= 4:
                (pen,) = struct.unpack_from(e + "I", value)
                if pen == fmt.VISUALIZER_PEN:
                    self.custom_data.append(value[4:])

    def _pcapng_frames(self) -> Iterator[FrameRecord]:
        data, size = self.data, len(self.data)
        pos = 0
        e = ">" if self.big_endian else "<"
        while pos < size:
            if pos + 12 > size:
                self.warnings.append(f"file ends inside a block header at byte {pos}")
                return
            if bytes(data[pos:pos + 4]) == b"\x0a\x0d\x0d\x0a":  # new section
                bom = bytes(data[pos + 8:pos + 12])
                if bom not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
                    self.warnings.append(f"section at byte {pos} has a bad byte-order magic")
                    return
                e = ">" if bom == b"\x1a\x2b\x3c\x4d" else "<"
                self.interfaces = []  # interface ids are per section
            btype, blen = struct.unpack_from(e + "II", data, pos)
            if blen < 12 or blen % 4:
                self.warnings.append(f"block at byte {pos} has a bad length ({blen}): "
                                     "the file is damaged from there on")
                return
            if pos + blen > size:
                self.warnings.append(f"file ends inside the block that starts at byte {pos}")
                return
            (trailer,) = struct.unpack_from(e + "I", data, pos + blen - 4)
            if trailer != blen:
                self.warnings.append(f"block at byte {pos}: leading and trailing lengths differ")
                return
            body, end = pos + 8, pos + blen - 4
            if btype == fmt.PCAPNG_EPB or btype == fmt.PCAPNG_OPB:
                frame = self._packet_block(e, btype, body, end, pos)
                if frame is not None:
                    yield frame
            elif btype == fmt.PCAPNG_SPB:
                frame = self._simple_packet_block(e, body, end, pos)
                if frame is not None:
                    yield frame
            elif btype == fmt.PCAPNG_IDB:
                self._interface_block(e, body, end)
            elif btype == fmt.PCAPNG_SHB and pos > 0:  # the first was read at open
                self._section_options(e, body + 16, end)
            pos += blen

    def _interface_block(self, e: str, body: int, end: int) -> None:
        if end - body < 8:
            self.warnings.append("an interface block is too short; ignored")
            self.interfaces.append(Interface(-1))
            return
        linktype, _, _snaplen = struct.unpack_from(e + "HHI", self.data, body)
        iface = Interface(linktype)
        for code, value in _options(self.data, e, body + 8, end):
            if code == fmt.IF_TSRESOL and value:
                r = value[0]
                iface.tsresol = (2, r & 0x7F) if r & 0x80 else (10, r)
            elif code == fmt.IF_NAME:
                iface.name = value.decode("utf-8", "replace")
            elif code == 14 and len(value) == 8:  # if_tsoffset
                (iface.tsoffset,) = struct.unpack(e + "q", value)
        self.interfaces.append(iface)

    def _packet_block(self, e: str, btype: int, body: int, end: int, pos: int
                      ) -> FrameRecord | None:
        data = self.data
        if end - body < 20:
            self.warnings.append(f"packet block at byte {pos} is too short; skipped")
            return None
        if btype == fmt.PCAPNG_EPB:
            iface_id, ts_hi, ts_lo, caplen, origlen = struct.unpack_from(e + "IIIII", data, body)
        else:  # OPB: interface id and drops count are 16-bit
            iface_id, _drops, ts_hi, ts_lo, caplen, origlen = struct.unpack_from(
                e + "HHIIII", data, body)
        start = body + 20
        if caplen > end - start:
            self.warnings.append(f"packet block at byte {pos} claims more bytes than it holds;"
                                 " skipped")
            return None
        if iface_id >= len(self.interfaces):
            self.warnings.append(f"packet block at byte {pos} names unknown interface "
                                 f"{iface_id}; skipped")
            return None
        iface = self.interfaces[iface_id]
        comment = None
        opt_start = start + fmt.pad4(caplen)
        if opt_start < end:
            for code, value in _options(data, e, opt_start, end):
                if code == fmt.OPT_COMMENT:
                    comment = value.decode("utf-8", "replace")
        ts_ns = _to_ns((ts_hi << 32) | ts_lo, iface)
        if not _NS_MIN <= ts_ns <= _NS_MAX:  # the store keeps int64 ns (years 1678..2262)
            if not self._clamped:
                self.warnings.append(f"packet block at byte {pos}: timestamp out of range "
                                     "(damaged, or a wrong if_tsresol); clamped")
                self._clamped = True
            ts_ns = min(max(ts_ns, _NS_MIN), _NS_MAX)
        return FrameRecord(ts_ns, caplen, max(origlen, caplen),
                           iface.linktype, start, iface_id, comment)

    def _simple_packet_block(self, e: str, body: int, end: int, pos: int) -> FrameRecord | None:
        if not self.interfaces or end - body < 4:
            self.warnings.append(f"simple packet block at byte {pos} without interface; skipped")
            return None
        (origlen,) = struct.unpack_from(e + "I", self.data, body)
        caplen = min(origlen, end - body - 4)
        iface = self.interfaces[0]
        return FrameRecord(0, caplen, origlen, iface.linktype, body + 4, 0, None)


_CUSTOM_OPTIONS = (2988, 2989, 19372, 19373)
_PCAP_MAGIC_KUZNETZOV = 0xA1B2CD34  # "modified pcap" with 24-byte record headers
_NS_MIN, _NS_MAX = -(1 << 63), (1 << 63) - 1


def _to_ns(ts: int, iface: Interface) -> int:
    base, exp = iface.tsresol
    if base == 10:
        ns = ts * 10 ** (9 - exp) if exp <= 9 else ts // 10 ** (exp - 9)
    else:
        ns = (ts * 1_000_000_000) >> exp
    return ns + iface.tsoffset * 1_000_000_000


def _options(data: bytes | mmap.mmap, e: str, pos: int, end: int) -> Iterator[tuple[int, bytes]]:
    """pcapng options between ``pos`` and ``end``; stops quietly on damage."""
    while pos + 4 <= end:
        code, length = struct.unpack_from(e + "HH", data, pos)
        if code == fmt.OPT_ENDOFOPT:
            return
        pos += 4
        if pos + length > end:
            return
        yield code, bytes(data[pos:pos + length])
        pos += fmt.pad4(length)
