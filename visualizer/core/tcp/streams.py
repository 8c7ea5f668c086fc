"""The TCP stream table: every segment of a capture to its connection.

Stream indices follow tshark's ``tcp.stream``: connections are numbered in
the order of their first packet, and an address/port pair gets a new stream
when tshark 4.0 would start a new conversation: a SYN without ACK whose
sequence number differs from the base sequence number its sender already
has on the existing conversation (whether that conversation was closed,
reset or is still open does not matter to tshark 4.0). That first SYN carries
``reused_ports``. A SYN with the same sequence number is a retransmission of
the same connection.

tshark also numbers a conversation it meets only in a TCP header it does not
analyse: one quoted by an ICMP error, or one whose header length is bogus
(below 20). :meth:`TcpStreamTable.reserve` takes such a header: it gets the
stream number tshark gives it (a new one when the conversation is new), and
the conversation's first analysed segment later starts the connection under
that number.
"""

from __future__ import annotations

from typing import NamedTuple

from visualizer.core.tcp.connection import PacketResult, TcpConnection
from visualizer.core.tcp.segment import TcpSegment
from visualizer.core.tcp.states import TcpState

__all__ = ["ConnectionSummary", "TcpStreamTable"]


class ConnectionSummary(NamedTuple):
    """One line of a conversation summary (index 0/1: side 0/1, as in PacketResult).

    Immutable. A named tuple rather than a frozen dataclass, as PacketResult is:
    a summary of many short connections makes tens of thousands, and a frozen
    dataclass's ``__init__`` runs in Python (a fifth of ``--stats``'s own work)."""

    stream: int
    endpoints: tuple[tuple[bytes, int], tuple[bytes, int]]
    packets: tuple[int, int]
    bytes: tuple[int, int]
    first_ts_ns: int
    last_ts_ns: int
    first_frame: int
    last_frame: int
    states: tuple[TcpState, TcpState]
    initial_rtt_ns: int | None


class TcpStreamTable:
    """Feed segments in frame order; get one :class:`PacketResult` each."""

    def __init__(self) -> None:
        self.connections: list[TcpConnection] = []
        self._current: dict[tuple[bytes, int, bytes, int], TcpConnection] = {}
        self._reserved: set[int] = set()  # streams numbered by reserve(), no segment yet

    def feed(self, seg: TcpSegment) -> PacketResult:
        """Track ``seg`` on its connection (creating or replacing it as tshark does)."""
        return self._connection(seg).receive(seg)

    def track(self, seg: TcpSegment) -> TcpConnection:
        """As :meth:`feed`, without the packet's result: its connection, after it."""
        conn = self._connection(seg)
        conn.track(seg)
        return conn

    def _connection(self, seg: TcpSegment) -> TcpConnection:
        """The connection ``seg`` belongs to (new, or a new one replacing the
        pair's last, where tshark starts one)."""
        key = _key(seg)
        conn = self._current.get(key)
        if conn is None:
            conn = self._new(key, seg, None)
        elif conn.stream in self._reserved:  # numbered already, first segment now
            # (a reused-ports flag went to the unanalysed header, as in tshark)
            self._reserved.discard(conn.stream)
            conn = TcpConnection(conn.stream, seg)
            self.connections[conn.stream] = conn
            self._current[key] = conn
        elif conn.starts_new_connection(seg):
            conn = self._new(key, seg, conn.stream)
        return conn

    @property
    def reserved(self) -> frozenset[int]:
        """Streams numbered by :meth:`reserve` that no segment has joined."""
        return frozenset(self._reserved)

    def reserve(self, seg: TcpSegment) -> int:
        """The stream tshark gives a TCP header it does not analyse (see the
        module docstring); numbers a new conversation without tracking it."""
        key = _key(seg)
        conn = self._current.get(key)
        if conn is not None and conn.stream in self._reserved:
            return conn.stream
        if conn is None or conn.starts_new_connection(seg):
            previous = None if conn is None else conn.stream
            conn = self._new(key, seg, previous)
            self._reserved.add(conn.stream)
        return conn.stream

    def _new(self, key: tuple[bytes, int, bytes, int], seg: TcpSegment,
             previous_stream: int | None) -> TcpConnection:
        conn = TcpConnection(len(self.connections), seg, previous_stream=previous_stream)
        self.connections.append(conn)
        self._current[key] = conn
        return conn

    def summaries(self) -> list[ConnectionSummary]:
        """One summary per connection, in stream order (those there are now).

        Another thread may call this while the reader's thread feeds the
        table (the window explains a packet while a file loads). It walks a
        copy: compiled, a comprehension allocates its result at the length of
        the list it walks and stores by index while that list's *current*
        length allows, so a list the feeder appends to meanwhile (it may run
        whenever this thread calls into interpreted code) is written past its
        end, corrupting the heap.
        """
        connections = self.connections[:]   # one C call: the feeder cannot run within it
        return [ConnectionSummary(
            c.stream, c.endpoints, (c.packets[0], c.packets[1]), (c.bytes[0], c.bytes[1]),
            c.first_ts_ns, c.last_ts_ns, c.first_frame, c.last_frame, c.states,
            c.initial_rtt_ns) for c in connections]


def _key(seg: TcpSegment) -> tuple[bytes, int, bytes, int]:
    """The conversation's key: its two (address, port) ends, the lower first.

    Compared field by field rather than as ``(src, sport) <= (dst, dport)``:
    compiled, each pair would be a tuple made for the comparison alone.
    """
    src, dst = seg.src, seg.dst
    if src < dst or (src == dst and seg.sport <= seg.dport):
        return (src, seg.sport, dst, seg.dport)
    return (dst, seg.dport, src, seg.sport)
