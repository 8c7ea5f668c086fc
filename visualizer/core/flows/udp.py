"""UDP flows: every datagram to its pseudo-connection, ICMP errors to what they answer.

A flow is one pair of endpoints (address and port, either way round),
numbered in the order of its first datagram; side 0 is the endpoint that
sent that datagram. An ICMP error (port unreachable...) whose quote names
a UDP datagram of a flow seen before it is linked to that flow, and to the
last datagram it can answer. As ``tcp/streams.py`` does for TCP, the table
here is fed in frame order and knows nothing of the store; which packets
are datagrams of a flow is decided here too (:func:`datagrams`). The full
analysis feeds it every datagram; the conversation summary only the first
of each flow and the errors, and counts the rest with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from visualizer.core.decode import headers as dec
from visualizer.core.decode.store import PacketStore

Key = tuple[bytes, int, bytes, int]   # source address and port, destination address and port


@dataclass
class UdpFlow:
    """A UDP pseudo-connection: one 5-tuple, both directions."""

    flow: int
    endpoints: tuple[tuple[bytes, int], tuple[bytes, int]]  # side 0 sent first
    first_ts_ns: int
    last_ts_ns: int
    first_frame: int
    last_frame: int
    packets: list[int] = field(default_factory=lambda: [0, 0])
    bytes: list[int] = field(default_factory=lambda: [0, 0])
    icmp_errors: int = 0


@dataclass(frozen=True)
class IcmpLink:
    """An ICMP error and the datagram it answers."""

    flow: int           # UDP flow index
    datagram: int       # 0-based packet index of the datagram (-1 if not seen)


class UdpFlowTable:
    """Feed datagrams and ICMP errors in frame order (see module docstring)."""

    def __init__(self) -> None:
        self.flows: list[UdpFlow] = []
        self.links: dict[int, IcmpLink] = {}     # packet index of an ICMP error -> link
        self._ids: dict[Key, int] = {}            # either way round -> flow
        self._last: dict[Key, int] = {}           # one way -> its last datagram's index

    def feed(self, index: int, src: bytes, sport: int, dst: bytes, dport: int, ts_ns: int,
             length: int) -> int:
        """Count the datagram at packet ``index`` (0-based) on its flow; the flow."""
        key = (src, sport, dst, dport) if (src, sport) <= (dst, dport) else (dst, dport, src,
                                                                             sport)
        flow_id = self._ids.get(key)
        if flow_id is None:
            flow_id = self._ids[key] = len(self.flows)
            self.flows.append(UdpFlow(flow_id, ((src, sport), (dst, dport)), ts_ns, ts_ns,
                                      index + 1, index + 1))
        flow = self.flows[flow_id]
        side = 0 if flow.endpoints[0] == (src, sport) else 1
        flow.packets[side] += 1
        flow.bytes[side] += length
        flow.last_ts_ns, flow.last_frame = ts_ns, index + 1
        self._last[(src, sport, dst, dport)] = index
        return flow_id

    def answer(self, index: int, quoted: dec.Quoted) -> IcmpLink | None:
        """Link the ICMP error at packet ``index`` to the flow its quote names, if
        that flow has been seen."""
        if quoted.proto != dec.PROTO_UDP:
            return None
        a, b = (quoted.src, quoted.sport), (quoted.dst, quoted.dport)
        flow_id = self._ids.get((*a, *b) if a <= b else (*b, *a))
        if flow_id is None:
            return None
        datagram = self._last.get((quoted.src, quoted.sport, quoted.dst, quoted.dport), -1)
        link = self.links[index] = IcmpLink(flow_id, datagram)
        self.flows[flow_id].icmp_errors += 1
        return link


def datagrams(store: PacketStore, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Per packet in ``[start, stop)``: is it a datagram of a UDP flow? Decoded
    whole, and not an IP fragment."""
    stop = len(store) if stop is None else stop
    part = store.column_slice
    udp = part("status", start, stop) == dec.OK
    udp &= part("proto", start, stop) == dec.PROTO_UDP
    udp &= part("fragment", start, stop) == 0
    return udp
