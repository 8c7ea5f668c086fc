"""The loops that feed packets to the TCP tracker.

:func:`feed_batch` is the full analysis's: every TCP packet, keeping the
answers. :func:`feed_selected` is the conversation summary's: only the
packets that can change a summary, chosen as it goes.

:class:`~visualizer.core.flows.analysis.Analysis` hands :func:`feed_batch`
a batch of packets at a time with what it has worked out for them already
(which are TCP, which headers to number unanalysed, the UDP flows). The
loop feeds the TCP packets to the tracker in frame order and keeps each
packet's entries in plain lists, one per analysis column, which the
analysis appends to its columns in one call each.

mypyc compiles this module with the tracker (``core/compiled.py``): the
loops, the segments and the calls into the tracker then run in C, with no
Python-level call per packet. Interpreted, they give the same answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from heapq import heappop, heappush
from typing import Final

from visualizer.core.flows.segments import Segments
from visualizer.core.tcp.events import Event
from visualizer.core.tcp.segment import TcpSegment
from visualizer.core.tcp.states import TcpState
from visualizer.core.tcp.streams import TcpStreamTable

STATES: Final[tuple[TcpState, ...]] = tuple(TcpState)
STATE_CODE: Final[dict[TcpState, int]] = {state: i for i, state in enumerate(STATES)}
NO_STATE: Final = 255


class Entries:
    """A batch's entries for each analysis column, in packet order."""

    def __init__(self) -> None:
        self.stream: list[int] = []
        self.direction: list[int] = []
        self.rel_seq: list[int] = []
        self.rel_ack: list[int] = []
        self.next_seq: list[int] = []
        self.window: list[int] = []
        self.bytes_in_flight: list[int] = []
        self.analysis: list[int] = []
        self.dup_ack_count: list[int] = []
        self.state0: list[int] = []
        self.state1: list[int] = []
        self.udp_flow: list[int] = []

    def columns(self) -> list[tuple[str, list[int]]]:
        """(column name, entries) for every column, ``stream`` last: readers take
        the length of ``stream`` as how far the analysis has got."""
        return [("direction", self.direction), ("rel_seq", self.rel_seq),
                ("rel_ack", self.rel_ack), ("next_seq", self.next_seq),
                ("window", self.window), ("bytes_in_flight", self.bytes_in_flight),
                ("analysis", self.analysis), ("dup_ack_count", self.dup_ack_count),
                ("state0", self.state0), ("state1", self.state1),
                ("udp_flow", self.udp_flow), ("stream", self.stream)]


def feed_batch(table: TcpStreamTable, segments: Segments, start: int, tcp: list[bool],
               reserve: dict[int, TcpSegment], udp_flows: dict[int, int],
               events: dict[int, tuple[Event, ...]]) -> Entries:
    """The entries of packets ``start`` to ``start + len(tcp)``.

    ``tcp``: per packet, does the tracker take it. ``reserve``: the packets
    whose segment gets a stream number without being analysed (an ICMP
    error's quoted header, a bogus TCP header), numbered in turn with the
    others. ``udp_flows``: the UDP packets' flows. Packets with TCP events
    get them in ``events``.
    """
    out = Entries()
    feed = table.feed
    for i in range(start, start + len(tcp)):
        if tcp[i - start]:
            r = feed(segments.at(i))
            if r.events:
                events[i] = r.events
            out.stream.append(r.stream)
            out.direction.append(r.direction)
            out.rel_seq.append(r.seq)
            out.rel_ack.append(r.ack)
            out.next_seq.append(r.next_seq)
            out.window.append(r.window)
            bif = r.bytes_in_flight
            out.bytes_in_flight.append(-1 if bif is None else bif)
            out.analysis.append(r.analysis)
            dup = r.dup_ack_count
            out.dup_ack_count.append(0 if dup is None else dup)
            s0, s1 = r.states
            out.state0.append(STATE_CODE[s0])
            out.state1.append(STATE_CODE[s1])
            out.udp_flow.append(-1)
            continue
        if i in reserve:
            table.reserve(reserve[i])
        out.stream.append(-1)
        out.direction.append(0)
        out.rel_seq.append(0)
        out.rel_ack.append(0)
        out.next_seq.append(0)
        out.window.append(-1)
        out.bytes_in_flight.append(-1)
        out.analysis.append(0)
        out.dup_ack_count.append(0)
        out.state0.append(NO_STATE)
        out.state1.append(NO_STATE)
        out.udp_flow.append(udp_flows.get(i, -1))
    return out


class Fed:
    """What :func:`feed_selected` fed: each packet's position and stream, and
    each stream's endpoints as (side 0, side 1) codes (address id << 16 | port)."""

    def __init__(self) -> None:
        self.positions: list[int] = []
        self.streams: list[int] = []
        self.ends: list[tuple[int, int]] = []


def feed_selected(table: TcpStreamTable, segments: Segments, static: list[int],
                  rows: Sequence[int], order: Sequence[int], rank: Sequence[int],
                  ack_from: tuple[Sequence[int], Sequence[int]], ack_no_syn: Sequence[int],
                  codes: tuple[Sequence[int], Sequence[int], Sequence[int], Sequence[int]]
                  ) -> Fed:
    """Feed ``table``, in frame order, the packets of ``static`` and those their
    answers call for (``flows/summaries.py`` says which and why).

    The TCP packets are ``rows`` (packet numbers); a packet is known by its
    index there ("row") and by its place with its endpoint pair's others
    ("position": ``order`` maps positions to rows, ``rank`` rows to
    positions). ``static``: the rows to feed whatever happens, sorted. For a
    position, ``ack_from[hi]`` is the position of the pair's next packet with
    ACK sent by its higher (``hi``) or lower endpoint, and ``ack_no_syn`` the
    next with ACK and no SYN; -1 for none. ``codes``: the store's src, sport,
    dst and dport columns.
    """
    src, sport, dst, dport = codes
    queued = bytearray(len(order))
    for row in static:
        queued[row] = 1
    added: list[int] = []     # a heap of the rows queued on the way
    fed = Fed()
    ends = fed.ends
    k = 0
    while True:
        if added and (k == len(static) or added[0] < static[k]):
            row = heappop(added)
        elif k < len(static):
            row = static[k]
            k += 1
        else:
            break
        i = rows[row]
        seg = segments.at(i)
        conn = table.track(seg)
        stream = conn.stream
        if stream == len(ends):
            a = src[i] << 16 | sport[i]
            b = dst[i] << 16 | dport[i]
            ends.append((a, b) if conn.side_of(seg) == 0 else (b, a))
        position = rank[row]
        fed.positions.append(position)
        fed.streams.append(stream)
        for side in conn.waiting_sides():   # the other side's next ACK
            acker, other = ends[stream][1 - side], ends[stream][side]
            _queue(ack_from[1 if acker > other else 0][position], order, queued, added)
        if conn.rtt_pending:
            _queue(ack_no_syn[position], order, queued, added)
    return fed


def _queue(position: int, order: Sequence[int], queued: bytearray, added: list[int]) -> None:
    """Feed the packet at ``position`` (-1: none) in its turn, once."""
    if position >= 0:
        row = order[position]
        if not queued[row]:
            queued[row] = 1
            heappush(added, row)
