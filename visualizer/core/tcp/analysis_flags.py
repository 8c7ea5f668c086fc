"""The ``tcp.analysis.*`` vocabulary, one bit per flag, defined once.

The tracker sets these bits (``PacketResult.analysis``), the analysis keeps
them in its ``analysis`` column, and every reader tests them: the JSON
output and the ladder turn them into names, the packet list into
Wireshark's labels, the colours and graphs into masks. Names are tshark's
``tcp.analysis.<name>`` field names, so results can be checked against
tshark field by field.
"""

from __future__ import annotations

from typing import Final

RETRANSMISSION: Final = 1 << 0
FAST_RETRANSMISSION: Final = 1 << 1
SPURIOUS_RETRANSMISSION: Final = 1 << 2
OUT_OF_ORDER: Final = 1 << 3
LOST_SEGMENT: Final = 1 << 4
ACK_LOST_SEGMENT: Final = 1 << 5
DUPLICATE_ACK: Final = 1 << 6
ZERO_WINDOW: Final = 1 << 7
ZERO_WINDOW_PROBE: Final = 1 << 8
ZERO_WINDOW_PROBE_ACK: Final = 1 << 9
WINDOW_UPDATE: Final = 1 << 10
WINDOW_FULL: Final = 1 << 11
KEEP_ALIVE: Final = 1 << 12
KEEP_ALIVE_ACK: Final = 1 << 13
REUSED_PORTS: Final = 1 << 14

#: The names, in bit order: ``ANALYSIS_FLAGS[i]`` is the name of bit ``1 << i``.
ANALYSIS_FLAGS = (
    "retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order",
    "lost_segment", "ack_lost_segment", "duplicate_ack", "zero_window",
    "zero_window_probe", "zero_window_probe_ack", "window_update", "window_full",
    "keep_alive", "keep_alive_ack", "reused_ports",
)
ALL = (1 << len(ANALYSIS_FLAGS)) - 1

#: Every kind of retransmission (tshark marks a fast or spurious one as a
#: retransmission too, and so does the tracker).
RETRANSMISSIONS = RETRANSMISSION | FAST_RETRANSMISSION | SPURIOUS_RETRANSMISSION

#: What means something went wrong (Wireshark's "Bad TCP" colouring rule
#: leaves out window updates and keep-alives the same way).
PROBLEMS = (RETRANSMISSIONS | OUT_OF_ORDER | LOST_SEGMENT | ACK_LOST_SEGMENT | DUPLICATE_ACK
            | ZERO_WINDOW | ZERO_WINDOW_PROBE | WINDOW_FULL | REUSED_PORTS)


def analysis_names(bits: int) -> list[str]:
    """The names of the flags in ``bits``, in vocabulary order."""
    if not bits:
        return []
    return [name for i, name in enumerate(ANALYSIS_FLAGS) if bits >> i & 1]

