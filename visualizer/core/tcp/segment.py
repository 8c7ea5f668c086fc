"""The decoded TCP segment the tracker consumes.

The header decoder produces these from raw frames; tests build them with
the factory in ``visualizer.core.tcp.testing``. The tracker never needs
anything else about a packet.
"""

from __future__ import annotations

from typing import Final, NamedTuple

FIN: Final = 0x001
SYN: Final = 0x002
RST: Final = 0x004
PSH: Final = 0x008
ACK: Final = 0x010
URG: Final = 0x020
ECE: Final = 0x040
CWR: Final = 0x080
AE: Final = 0x100  # formerly NS (RFC 3540), now AccECN (RFC 9768)

FLAG_NAMES = ((FIN, "FIN"), (SYN, "SYN"), (RST, "RST"), (PSH, "PSH"), (ACK, "ACK"),
              (URG, "URG"), (ECE, "ECE"), (CWR, "CWR"), (AE, "AE"))


def flag_text(flags: int) -> str:
    """``"SYN,ACK"`` style text for a flag set (empty string for none)."""
    return ",".join(name for bit, name in FLAG_NAMES if flags & bit)


class TcpSegment(NamedTuple):
    """Immutable. A named tuple rather than a frozen dataclass: the analysis makes
    one per packet, and a frozen dataclass's ``__init__`` (a ``setattr`` call a
    field) cost ten times as much."""

    frame: int        # 1-based frame number in the capture, as Wireshark numbers them
    ts_ns: int        # capture timestamp, Unix epoch nanoseconds
    src: bytes        # packed source address: 4 bytes (IPv4) or 16 (IPv6)
    sport: int
    dst: bytes
    dport: int
    seq: int          # absolute sequence number as on the wire
    ack: int          # absolute acknowledgement number (meaningful with ACK)
    flags: int        # the 9 flag bits above
    window: int       # raw 16-bit window field, not yet scaled
    payload_len: int  # TCP payload bytes, from the IP length (not the capture length)
    options: bytes = b""  # raw option bytes, possibly truncated or malformed
    urgent: int = 0
