"""Reading pcap and pcapng files without dissection.

``CaptureFile`` opens a file, reads its headers and hands out walks over
its records (``records()``, see ``pcap/records.py``), which say where each
frame's bytes lie rather than copying them: a million-packet file is
indexed without building a million byte strings. The bytes are read with
``pread`` (``pcap/source.py``), never mapped, so a file that shrinks while
it is read ends the reading with a warning instead of killing the process.
The walk never raises on damaged content; it stops at the first record it
cannot trust and says why in ``warnings``. Only a file that is not a
capture at all (or cannot be opened) raises ``BadInput``.
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, ClassVar

from visualizer.core.errors import BadInput
from visualizer.core.pcap import format as fmt
from visualizer.core.pcap.records import (
    FrameRecord,
    PcapngRecords,
    PcapRecords,
    Records,
)
from visualizer.core.pcap.source import BytesSource, FileSource

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
    source: BytesSource | FileSource
    format: str                       # "pcap" or "pcapng"
    big_endian: bool = False
    nanosecond: bool = False          # pcap only: ns magic
    kuznetzov: bool = False           # pcap only: "modified pcap", 24-byte record headers
    snaplen: int = fmt.PCAP_SNAPLEN
    interfaces: list[Interface] = field(default_factory=list)
    section_comments: list[str] = field(default_factory=list)
    custom_data: list[bytes] = field(default_factory=list)  # our PEN's section options
    warnings: list[str] = field(default_factory=list)   # the source's list, shared
    _clamped: bool = False            # a timestamp out of int64 range was warned about
    growing: ClassVar[bool] = False   # the file is still being written (GrowingCapture)

    # -- opening -------------------------------------------------------
    @classmethod
    def open(cls, path: str) -> CaptureFile:
        """Open a regular file. Anything else is refused before it is opened:
        opening a FIFO waits for a writer, and a pipe's size is 0 (the reader
        needs a file it can read again, as the views do long after loading)."""
        try:
            _refuse_unless_regular(path, os.stat(path).st_mode)
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # should it be a FIFO by now
        except FileNotFoundError:
            raise BadInput(f"{path}: no such file") from None
        except OSError as err:
            raise BadInput(f"{path}: cannot open: {err.strerror}") from None
        try:
            _refuse_unless_regular(path, os.fstat(fd).st_mode)
            source = FileSource(fd, [])
            if source.size == 0:
                raise BadInput(f"{path}: the file is empty, not a pcap or pcapng capture")
            return cls._over(source, path)
        except BaseException:
            os.close(fd)
            raise

    @classmethod
    def from_bytes(cls, data: bytes, path: str = "<bytes>") -> CaptureFile:
        return cls._over(BytesSource(data, []), path)

    @classmethod
    def _over(cls, source: BytesSource | FileSource, path: str) -> CaptureFile:
        head = source.read(0, 4)
        if len(head) < 4:
            raise BadInput(f"{path}: too short to be a pcap or pcapng capture")
        if head == b"\x0a\x0d\x0d\x0a":
            cap = cls(path, source, "pcapng", warnings=source.warnings)
            cap._check_pcapng_header()
            return cap
        for order in ("<", ">"):
            (magic,) = struct.unpack(order + "I", head)
            if magic in (fmt.PCAP_MAGIC_USEC, fmt.PCAP_MAGIC_NSEC, _PCAP_MAGIC_KUZNETZOV):
                cap = cls(path, source, "pcap", big_endian=(order == ">"),
                          warnings=source.warnings)
                cap._read_pcap_header(magic)
                return cap
        hint = ""
        if head[:2] == b"\x1f\x8b":
            hint = " (it is gzip-compressed: gunzip it first)"
        raise BadInput(f"{path}: not a pcap or pcapng capture file{hint}")

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> CaptureFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def size(self) -> int:
        return self.source.size

    @property
    def truncated(self) -> bool:
        """The file shrank while it was read: what was read is all there is."""
        return self.source.truncated

    @property
    def linktypes(self) -> set[int]:
        return {i.linktype for i in self.interfaces}

    def frame_bytes(self, rec: FrameRecord) -> bytes:
        return self.read(rec.offset, rec.caplen)

    def read(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes of the file from ``offset`` (fewer at its end)."""
        return self.source.read(offset, n)

    def copy(self, offset: int, n: int, out: BinaryIO) -> int:
        """Write up to ``n`` of the file's bytes from ``offset`` to ``out``; how many
        there were (fewer at its end, and once it has shrunk)."""
        return self.source.copy(offset, n, out)

    # -- walking -------------------------------------------------------
    def records(self, start: int | None = None) -> Records:
        """A walk over the records from the file's first one (pcap: or from the
        record header at byte ``start``)."""
        if self.format == "pcapng":
            if start is not None:
                raise ValueError("a pcapng walk starts at the first block")
            return PcapngRecords(self.source, self.warnings, self._pcapng_frames())
        if start is None:
            start = fmt.PCAP_FILE_HEADER_LEN
        elif not fmt.PCAP_FILE_HEADER_LEN <= start <= self.size:
            raise ValueError(f"offset {start} is outside the records of {self.path}")
        return PcapRecords(self.source, self.warnings, pos=start, big_endian=self.big_endian,
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
        head = self.read(0, fmt.PCAP_FILE_HEADER_LEN)
        if len(head) < fmt.PCAP_FILE_HEADER_LEN:
            raise BadInput(f"{self.path}: pcap file header is truncated")
        _, major, minor, _, _, snaplen, network = struct.unpack_from(e + "IHHiIII", head, 0)
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
        head = self.read(0, 28)
        if len(head) < 28:
            raise BadInput(f"{self.path}: pcapng section header is truncated")
        bom = head[8:12]
        if bom not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
            raise BadInput(f"{self.path}: pcapng section header has a bad byte-order magic")
        self.big_endian = bom == b"\x1a\x2b\x3c\x4d"
        e = ">" if self.big_endian else "<"
        (blen,) = struct.unpack_from(e + "I", head, 4)
        if 28 <= blen <= self.size:
            self._section_options(e, self.read(0, blen), 24, blen - 4)

    def _section_options(self, e: str, block: bytes, start: int, end: int) -> None:
        for code, value in _options(block, e, start, end):
            if code == fmt.OPT_COMMENT:
                self.section_comments.append(value.decode("utf-8", "replace"))
            elif code in _CUSTOM_OPTIONS and len(value) >= 4:
                (pen,) = struct.unpack_from(e + "I", value)
                if pen == fmt.VISUALIZER_PEN:
                    self.custom_data.append(value[4:])

    def _pcapng_frames(self) -> Iterator[FrameRecord]:
        """The frames of the packet blocks, block by block (for ``PcapngRecords``)."""
        source = self.source
        pos = 0
        e = ">" if self.big_endian else "<"
        while pos < source.size:
            head = self.read(pos, 12)
            if len(head) < 12:
                if not source.truncated:
                    self.warnings.append(f"file ends inside a block header at byte {pos}")
                return
            if head[:4] == b"\x0a\x0d\x0d\x0a":  # new section
                bom = head[8:12]
                if bom not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
                    self.warnings.append(f"section at byte {pos} has a bad byte-order magic")
                    return
                e = ">" if bom == b"\x1a\x2b\x3c\x4d" else "<"
                self.interfaces = []  # interface ids are per section
            btype, blen = struct.unpack_from(e + "II", head)
            if blen < 12 or blen % 4:
                self.warnings.append(f"block at byte {pos} has a bad length ({blen}): "
                                     "the file is damaged from there on")
                return
            block = self.read(pos, blen) if pos + blen <= source.size else b""
            if len(block) < blen:
                if not source.truncated:
                    self.warnings.append(
                        f"file ends inside the block that starts at byte {pos}")
                return
            (trailer,) = struct.unpack_from(e + "I", block, blen - 4)
            if trailer != blen:
                self.warnings.append(f"block at byte {pos}: leading and trailing lengths differ")
                return
            end = blen - 4
            if btype == fmt.PCAPNG_EPB or btype == fmt.PCAPNG_OPB:
                frame = self._packet_block(e, btype, block, end, pos)
                if frame is not None:
                    yield frame
            elif btype == fmt.PCAPNG_SPB:
                frame = self._simple_packet_block(e, block, end, pos)
                if frame is not None:
                    yield frame
            elif btype == fmt.PCAPNG_IDB:
                self._interface_block(e, block, end)
            elif btype == fmt.PCAPNG_SHB and pos > 0:  # the first was read at open
                self._section_options(e, block, 24, end)
            pos += blen

    # The block readers below get the whole block (``block``, from its type on),
    # where its body runs from byte 8 to ``end``; ``pos`` is the block's place in
    # the file.

    def _interface_block(self, e: str, block: bytes, end: int) -> None:
        if end - 8 < 8:
            self.warnings.append("an interface block is too short; ignored")
            self.interfaces.append(Interface(-1))
            return
        linktype, _, _snaplen = struct.unpack_from(e + "HHI", block, 8)
        iface = Interface(linktype)
        for code, value in _options(block, e, 16, end):
            if code == fmt.IF_TSRESOL and value:
                r = value[0]
                iface.tsresol = (2, r & 0x7F) if r & 0x80 else (10, r)
            elif code == fmt.IF_NAME:
                iface.name = value.decode("utf-8", "replace")
            elif code == 14 and len(value) == 8:  # if_tsoffset
                (iface.tsoffset,) = struct.unpack(e + "q", value)
        self.interfaces.append(iface)

    def _packet_block(self, e: str, btype: int, block: bytes, end: int, pos: int
                      ) -> FrameRecord | None:
        if end - 8 < 20:
            self.warnings.append(f"packet block at byte {pos} is too short; skipped")
            return None
        if btype == fmt.PCAPNG_EPB:
            iface_id, ts_hi, ts_lo, caplen, origlen = struct.unpack_from(e + "IIIII", block, 8)
        else:  # OPB: interface id and drops count are 16-bit
            iface_id, _drops, ts_hi, ts_lo, caplen, origlen = struct.unpack_from(
                e + "HHIIII", block, 8)
        start = 28
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
            for code, value in _options(block, e, opt_start, end):
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
                           iface.linktype, pos + start, iface_id, comment)

    def _simple_packet_block(self, e: str, block: bytes, end: int, pos: int
                             ) -> FrameRecord | None:
        if not self.interfaces or end - 8 < 4:
            self.warnings.append(f"simple packet block at byte {pos} without interface; skipped")
            return None
        (origlen,) = struct.unpack_from(e + "I", block, 8)
        caplen = min(origlen, end - 12)
        iface = self.interfaces[0]
        return FrameRecord(0, caplen, origlen, iface.linktype, pos + 12, 0, None)


def _refuse_unless_regular(path: str, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise BadInput(f"{path}: is a directory, not a capture file")
    if stat.S_ISFIFO(mode):
        raise BadInput(f"{path}: is a pipe, not a capture file: save what comes through it "
                       "to a file and open that")
    kind = "a socket" if stat.S_ISSOCK(mode) else "a device"
    raise BadInput(f"{path}: is {kind}, not a capture file")


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


def _options(data: bytes, e: str, pos: int, end: int) -> Iterator[tuple[int, bytes]]:
    """pcapng options between ``pos`` and ``end``; stops quietly on damage."""
    while pos + 4 <= end:
        code, length = struct.unpack_from(e + "HH", data, pos)
        if code == fmt.OPT_ENDOFOPT:
            return
        pos += 4
        if pos + length > end:
            return
        yield code, data[pos:pos + length]
        pos += fmt.pad4(length)
