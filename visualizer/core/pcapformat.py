"""Byte layouts of the pcap and pcapng formats: constants and header packing.

Shared by the capture process (which writes a pcap stream in its hot loop)
and the file reader/writers. Kept free of I/O so both can use it.
"""

from __future__ import annotations

import struct

# Link-layer header types (https://www.tcpdump.org/linktypes.html).
LINKTYPE_NULL = 0          # BSD loopback, 4-byte family in host order
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101         # raw IPv4 or IPv6
LINKTYPE_LOOP = 108        # OpenBSD loopback, family in network order
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

LINKTYPE_NAMES = {
    LINKTYPE_NULL: "BSD loopback",
    LINKTYPE_ETHERNET: "Ethernet",
    LINKTYPE_RAW: "raw IP",
    LINKTYPE_LOOP: "OpenBSD loopback",
    LINKTYPE_LINUX_SLL: "Linux cooked (SLL)",
    LINKTYPE_IPV4: "raw IPv4",
    LINKTYPE_IPV6: "raw IPv6",
    LINKTYPE_LINUX_SLL2: "Linux cooked v2 (SLL2)",
}

# Classic pcap magic numbers as read with native ("<") byte order.
PCAP_MAGIC_USEC = 0xA1B2C3D4
PCAP_MAGIC_NSEC = 0xA1B23C4D
PCAP_SNAPLEN = 262144

_PCAP_FILE_HEADER = struct.Struct("<IHHiIII")
PCAP_RECORD_HEADER = struct.Struct("<IIII")
PCAP_FILE_HEADER_LEN = _PCAP_FILE_HEADER.size
PCAP_RECORD_HEADER_LEN = PCAP_RECORD_HEADER.size

# pcapng block types.
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_IDB = 0x00000001
PCAPNG_OPB = 0x00000002  # obsolete packet block
PCAPNG_SPB = 0x00000003
PCAPNG_NRB = 0x00000004
PCAPNG_ISB = 0x00000005
PCAPNG_EPB = 0x00000006
PCAPNG_CUSTOM_COPY = 0x00000BAD
PCAPNG_CUSTOM_NOCOPY = 0x40000BAD
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D

# pcapng option codes used here.
OPT_ENDOFOPT = 0
OPT_COMMENT = 1
SHB_HARDWARE = 2
SHB_OS = 3
SHB_USERAPPL = 4
OPT_CUSTOM_BINARY_NOCOPY = 19373  # PEN + binary, "should not be copied"
IF_NAME = 2
IF_TSRESOL = 9
IF_FILTER = 11

# Private Enterprise Number written in our custom options. 32473 is the PEN
# IANA reserves for documentation and examples (RFC 5612); readers that do
# not know it skip the option, which is what we want from Wireshark.
VISUALIZER_PEN = 32473
VISUALIZER_BLOCK_MAGIC = b"PKTVIS1\0"


def pcap_file_header(linktype: int, *, nanosecond: bool = True,
                     snaplen: int = PCAP_SNAPLEN) -> bytes:
    """The 24-byte global header of a little-endian classic pcap file."""
    magic = PCAP_MAGIC_NSEC if nanosecond else PCAP_MAGIC_USEC
    return _PCAP_FILE_HEADER.pack(magic, 2, 4, 0, 0, snaplen, linktype)


def pcap_record_header(ts_ns: int, caplen: int, origlen: int, *,
                       nanosecond: bool = True) -> bytes:
    """The 16-byte per-record header for a frame stamped ``ts_ns`` (Unix ns)."""
    sec, frac = divmod(ts_ns, 1_000_000_000)
    if not nanosecond:
        frac //= 1000
    return PCAP_RECORD_HEADER.pack(sec, frac, caplen, origlen)


def pad4(n: int) -> int:
    """``n`` rounded up to a multiple of four (pcapng alignment)."""
    return (n + 3) & ~3


def pcapng_option(code: int, value: bytes) -> bytes:
    """One little-endian pcapng option (code, length, value, padding)."""
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (pad4(len(value)) - len(value))


def pcapng_block(block_type: int, body: bytes) -> bytes:
    """A little-endian pcapng block around ``body`` (which is padded here)."""
    body = body + b"\0" * (pad4(len(body)) - len(body))
    total = 12 + len(body)
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)
