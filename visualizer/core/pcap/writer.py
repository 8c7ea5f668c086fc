"""Writing pcap and pcapng files from raw frames (no dissection).

Used by export and by the recorder. Frames and timestamps pass through
unchanged, so an export of an unmodified selection is byte-identical in its
packet records.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from visualizer import APP_NAME, __version__
from visualizer.core.pcap import format as fmt

_CUSTOM_CHUNK = 65000


class PcapWriter:
    """Classic little-endian pcap, microsecond or nanosecond resolution."""

    def __init__(self, out: BinaryIO, linktype: int, *, nanosecond: bool = True,
                 snaplen: int = fmt.PCAP_SNAPLEN) -> None:
        self._out = out
        self._nanosecond = nanosecond
        out.write(fmt.pcap_file_header(linktype, nanosecond=nanosecond, snaplen=snaplen))

    def write(self, ts_ns: int, frame: bytes, origlen: int | None = None) -> None:
        origlen = len(frame) if origlen is None else origlen
        self._out.write(fmt.pcap_record_header(ts_ns, len(frame), origlen,
                                               nanosecond=self._nanosecond))
        self._out.write(frame)


class PcapngWriter:
    """Little-endian pcapng with one section, nanosecond timestamps.

    ``interfaces`` is a list of (linktype, name). Packet comments become
    ``opt_comment`` options, which Wireshark shows as packet comments.
    """

    def __init__(self, out: BinaryIO, interfaces: list[tuple[int, str]], *,
                 comment: str | None = None, custom: bytes | None = None) -> None:
        self._out = out
        opts = fmt.pcapng_option(fmt.SHB_USERAPPL, f"{APP_NAME} {__version__}".encode())
        if comment:
            opts = fmt.pcapng_option(fmt.OPT_COMMENT, comment_bytes(comment)) + opts
        if custom is not None:
            # A custom option of the section header, not a custom block:
            # Wireshark 4.0 lists custom blocks as frames, shifting frame numbers.
            # An option holds at most 64 KiB: long data spans several, in order.
            pen = struct.pack("<I", fmt.VISUALIZER_PEN)
            opts += b"".join(
                fmt.pcapng_option(fmt.OPT_CUSTOM_BINARY_NOCOPY,
                                  pen + custom[start:start + _CUSTOM_CHUNK])
                for start in range(0, max(len(custom), 1), _CUSTOM_CHUNK))
        opts += fmt.pcapng_option(fmt.OPT_ENDOFOPT, b"")
        shb = struct.pack("<IHHq", fmt.PCAPNG_BYTE_ORDER_MAGIC, 1, 0, -1) + opts
        out.write(fmt.pcapng_block(fmt.PCAPNG_SHB, shb))
        for linktype, name in interfaces:
            iopts = fmt.pcapng_option(fmt.IF_TSRESOL, b"\x09")
            if name:
                iopts = fmt.pcapng_option(fmt.IF_NAME, name.encode()) + iopts
            iopts += fmt.pcapng_option(fmt.OPT_ENDOFOPT, b"")
            out.write(fmt.pcapng_block(fmt.PCAPNG_IDB,
                                       struct.pack("<HHI", linktype, 0, 0) + iopts))

    def write(self, ts_ns: int, frame: bytes, origlen: int | None = None, *,
              interface: int = 0, comment: str | None = None) -> None:
        origlen = len(frame) if origlen is None else origlen
        head = struct.pack("<IIIII", interface, ts_ns >> 32, ts_ns & 0xFFFFFFFF,
                           len(frame), origlen)
        body = head + frame + b"\0" * (fmt.pad4(len(frame)) - len(frame))
        if comment:
            body += fmt.pcapng_option(fmt.OPT_COMMENT, comment_bytes(comment))
            body += fmt.pcapng_option(fmt.OPT_ENDOFOPT, b"")
        self._out.write(fmt.pcapng_block(fmt.PCAPNG_EPB, body))


MAX_OPTION = 0xFFFF  # a pcapng option's length is 16 bits


def comment_bytes(comment: str) -> bytes:
    """``comment`` as UTF-8, cut (at a character boundary) to fit one option."""
    raw = comment.encode()
    if len(raw) <= MAX_OPTION:
        return raw
    marker = b" [...]"
    return raw[:MAX_OPTION - len(marker)].decode(errors="ignore").encode() + marker
