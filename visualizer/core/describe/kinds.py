"""What kind of packet each one is, for colours, markers and legends.

One small vocabulary shared by the packet table (row colours), the
timeline (marker colours) and the ladder (arrow colours), so a SYN looks
the same everywhere. Colours are plain ``#rrggbb`` strings, a light and a
dark variant per kind; the GUI picks by palette.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from visualizer.core.decode import headers as dec
from visualizer.core.flows.analysis import Analysis
from visualizer.core.tcp.analysis_flags import PROBLEMS
from visualizer.core.tcp.segment import ACK, FIN, RST, SYN


class Kind(NamedTuple):
    code: int
    name: str
    label: str        # for legends
    light: str        # row/marker colour on a light palette
    dark: str         # on a dark palette
    marker: str       # strong colour for markers and arrows (both palettes)
    text: str = ""    # row text colour when the palette's default would not read


KINDS: tuple[Kind, ...] = (
    Kind(0, "syn", "SYN (connection open)", "#d6f5d6", "#1e4620", "#2e9e3e"),
    Kind(1, "synack", "SYN-ACK", "#c8efe6", "#1b4a40", "#1d9a80"),
    Kind(2, "fin", "FIN (closing)", "#dde3f7", "#2a3357", "#4a63c8"),
    Kind(3, "rst", "RST (reset)", "#f8d0d0", "#5a1e1e", "#d03030"),
    Kind(4, "data", "Data", "#fdf3d0", "#4d4219", "#c99a06"),
    Kind(5, "ack", "Pure ACK", "#eeeeee", "#33363a", "#7d8590"),
    Kind(6, "udp", "UDP datagram", "#dcecfb", "#1d3a57", "#2f7fd0"),
    Kind(7, "icmp", "ICMP", "#f3dcf5", "#4a2350", "#a646b8"),
    Kind(8, "problem", "TCP problem (retransmission, dup ACK, zero window...)",
         "#1c1c1c", "#4a1414", "#e8413c", "#ff7b72"),
    Kind(9, "other", "Other / not analysed", "#ffffff", "#26282b", "#a0a0a0"),
)
KIND_BY_NAME = {k.name: k for k in KINDS}
SYN_K, SYNACK_K, FIN_K, RST_K, DATA_K, ACK_K, UDP_K, ICMP_K, PROBLEM_K, OTHER_K = range(10)



def packet_kinds(analysis: Analysis, start: int = 0, stop: int | None = None) -> np.ndarray:
    """The kind code (``uint8``) of packets ``start:stop``."""
    store = analysis.store
    stop = len(analysis.values("stream")) if stop is None else stop
    proto = store.column_slice("proto", start, stop)
    status = store.column_slice("status", start, stop)
    flags = store.column_slice("tcp_flags", start, stop).astype(np.int32)
    plen = store.column_slice("payload_len", start, stop)
    stream = analysis.column_slice("stream", start, stop)
    bits = analysis.column_slice("analysis", start, stop)
    kinds = np.full(stop - start, OTHER_K, dtype=np.uint8)
    tcp = stream >= 0
    kinds[tcp & (flags & ACK != 0) & (plen == 0)] = ACK_K
    kinds[tcp & (plen > 0)] = DATA_K
    kinds[tcp & (flags & FIN != 0)] = FIN_K
    kinds[tcp & (flags & (SYN | ACK) == SYN)] = SYN_K
    kinds[tcp & (flags & (SYN | ACK) == SYN | ACK)] = SYNACK_K
    kinds[tcp & (flags & RST != 0)] = RST_K
    kinds[tcp & (bits & PROBLEMS != 0)] = PROBLEM_K
    ok = status == dec.OK
    kinds[ok & (proto == dec.PROTO_UDP)] = UDP_K
    kinds[(proto == dec.PROTO_ICMP) | (proto == dec.PROTO_ICMPV6)] = ICMP_K
    return kinds
