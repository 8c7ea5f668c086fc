"""Follow one TCP stream or UDP flow of an analysed capture.

The packets are the analysis's (``tcp.stream`` / UDP flow numbers); their
payload bytes are read back from the file. Node 0 is the sender of the
conversation's first packet, as in tshark's ``-z follow`` header.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from visualizer.core.decode.store import PacketStore, format_endpoint
from visualizer.core.errors import BadInput
from visualizer.core.flows.analysis import Analysis
from visualizer.core.follow.reassembly import Chunk, TcpFollower

UDP_HEADER = 8


@dataclass(frozen=True)
class Followed:
    """The payload of one conversation: chunks in the order they became contiguous."""

    protocol: str                        # "tcp" or "udp"
    number: int                          # tcp.stream or the UDP flow
    nodes: tuple[str, str]               # endpoint text of node 0 and node 1
    chunks: list[Chunk]

    def sent(self, direction: int) -> int:
        """Bytes node ``direction`` sent (gap markers not counted)."""
        return sum(len(c.data) for c in self.chunks if c.direction == direction and not c.gap)


def _payload(store: PacketStore, index: int, start: int, length: int) -> bytes:
    """``length`` payload bytes at ``start`` in frame ``index`` (in the datagram it
    completed, for the last of a fragmented one), or those captured."""
    frame = store.datagram_payload(index)
    if frame is None:
        frame = store.frame(index)
    return frame[start:start + length] if start < len(frame) else b""


def _nodes(store: PacketStore, first: int) -> tuple[tuple[int, int], tuple[str, str]]:
    v = store.values
    src, sport, dst, dport = v("src")[first], v("sport")[first], v("dst")[first], v("dport")[first]
    return ((src, sport), (format_endpoint(store.address(src), sport),
                           format_endpoint(store.address(dst), dport)))


def follow_tcp(store: PacketStore, analysis: Analysis, stream: int) -> Followed:
    """The reassembled payload of TCP stream ``stream`` (BadInput if there is none)."""
    if not 0 <= stream < len(analysis.tcp.connections):
        raise BadInput(f"there is no TCP stream {stream}: this capture has "
                       f"{_count(len(analysis.tcp.connections), 'TCP stream')}")
    indices = analysis.stream_indices(stream)
    if not len(indices) and stream in analysis.tcp.reserved:
        raise BadInput(f"TCP stream {stream} is a number tshark gives to a TCP header it "
                       "does not follow (one quoted by an ICMP error, or a bogus one): "
                       "there is nothing to follow")
    if not len(indices):   # its packets are no longer in a ring buffer's store
        raise BadInput(f"TCP stream {stream} has no packet left to follow")
    node0, nodes = _nodes(store, int(indices[0]))
    v, a = store.values, analysis.values
    src, sport, flags, plen = v("src"), v("sport"), v("tcp_flags"), v("payload_len")
    l4, thl = v("l4_offset"), v("tcp_header_len")
    seq, ack = a("rel_seq"), a("rel_ack")
    follower = TcpFollower()
    for i in indices.tolist():
        direction = 0 if (src[i], sport[i]) == node0 else 1
        data = _payload(store, i, l4[i] + thl[i], plen[i]) if plen[i] else b""
        follower.feed(direction, i + 1, seq[i], ack[i], flags[i], plen[i], data)
    return Followed("tcp", stream, nodes, follower.chunks)


def follow_udp(store: PacketStore, analysis: Analysis, flow: int) -> Followed:
    """The datagrams' payloads of UDP flow ``flow``, in frame order."""
    if not 0 <= flow < len(analysis.udp_flows):
        raise BadInput(f"there is no UDP stream {flow}: this capture has "
                       f"{_count(len(analysis.udp_flows), 'UDP stream')}")
    indices = np.flatnonzero(analysis.column("udp_flow") == flow)
    if not len(indices):
        raise BadInput(f"UDP stream {flow} has no packet left to follow")
    node0, nodes = _nodes(store, int(indices[0]))
    v = store.values
    src, sport, plen, l4 = v("src"), v("sport"), v("payload_len"), v("l4_offset")
    chunks = []
    for i in indices.tolist():
        data = _payload(store, i, l4[i] + UDP_HEADER, plen[i]) if plen[i] else b""
        if data:
            chunks.append(Chunk(0 if (src[i], sport[i]) == node0 else 1, i + 1, data))
    return Followed("udp", flow, nodes, chunks)


def _count(n: int, what: str) -> str:
    return f"no {what}s" if n == 0 else f"{n} {what}{'s' if n != 1 else ''} (0 to {n - 1})"
