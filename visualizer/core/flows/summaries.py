"""The conversation summary (``analyze --stats``) without tracking every packet.

The summary of a TCP stream is its endpoints, packets and bytes per side,
first and last time, final endpoint states and initial RTT. Counting is
numpy's work once each packet's stream and side are known, and only a few
packets can change anything else; the TCP tracker (the same
:class:`TcpStreamTable` as the full analysis) is fed just those, in frame
order:

- every SYN, FIN or RST (a SYN may start a new stream; all three move states);
- per 4-tuple, in each stretch between SYN-without-ACK packets (where a new
  stream may start), the first packet from each direction and the first with
  ACK from each direction (they set the base sequence numbers that decide
  whether a later SYN starts a new stream);
- while a side's SYN or FIN waits for its acknowledgement, the next packet
  with ACK from the other side (it may acknowledge it: a state change);
- while the initial RTT is unknown after a SYN, the next ACK without SYN.

What the tracker keeps that matters here (base sequence numbers, the SYN and
FIN ends awaiting an ACK, the states, the SYN time) changes only on those
packets, and how it changes depends only on those facts and the packet; so
the states, streams and RTTs come out exactly as with every packet fed, and
a packet not fed belongs to the stream of the last fed packet of its 4-tuple
(tests/core/test_faststats.py compares the summaries with the full analysis).
UDP flows are the flow table's (``flows/udp.py``), fed only the first
datagram of each flow and the ICMP errors; numpy counts the rest.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import numpy as np

from visualizer.core.collector import collector_paused
from visualizer.core.decode.store import PacketStore
from visualizer.core.flows.analysis import Analysis
from visualizer.core.flows.feeding import feed_selected
from visualizer.core.flows.segments import Segments, tracked
from visualizer.core.flows.udp import UdpFlow, UdpFlowTable, datagrams
from visualizer.core.tcp.segment import ACK, FIN, RST, SYN
from visualizer.core.tcp.streams import ConnectionSummary, TcpStreamTable

_new_tuple: Final = tuple.__new__


class ConversationStats(NamedTuple):
    """What ``analyze --stats`` prints."""

    packets: int
    tcp: list[ConnectionSummary]
    udp: list[UdpFlow]


def full_stats(analysis: Analysis) -> ConversationStats:
    """The summary from a full analysis (every packet through the tracker)."""
    return ConversationStats(len(analysis.store), analysis.tcp_summaries, analysis.udp_flows)


def conversation_stats(store: PacketStore) -> ConversationStats:
    """The summary of the whole store, as :func:`full_stats` gives it, faster."""
    with collector_paused():
        return ConversationStats(len(store), _tcp_summaries(store), _udp_flows(store))


# --------------------------------------------------------------------------
# Columns
#
# The arrays here are gathered from transient views of the store's live
# columns rather than from ``store.column()``, whose cached full copies would
# stay in memory after the summary (a million packets: tens of MB). The store
# must not grow meanwhile (the GUI appends under its document's lock).


def _gather(store: PacketStore, name: str, rows: np.ndarray) -> np.ndarray:
    """Column ``name`` at ``rows``, as a new array."""
    col = store.values(name)
    view = np.frombuffer(col, dtype=np.dtype(col.typecode))
    picked = view[rows]
    del view
    return picked


def _codes(store: PacketStore, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(source, destination) of each row as one int64: address id and port."""
    codes = []
    for address, port in (("src", "sport"), ("dst", "dport")):
        code = _gather(store, address, rows).astype(np.int64)
        code <<= 16
        code |= _gather(store, port, rows)
        codes.append(code)
    return codes[0], codes[1]


def _pairs(store: PacketStore, rows: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Endpoint pairs of ``rows``: (source codes, direction, order, starts).

    ``order`` is a stable order that puts the rows of each pair together (in
    file order within a pair), ``starts`` marks where each pair's run begins
    in it, and ``direction`` is True for a row sent by the pair's higher
    endpoint.
    """
    src, hi = _codes(store, rows)
    direction = src > hi
    lo = np.minimum(src, hi)
    np.maximum(src, hi, out=hi)
    span = int(hi.max()) + 1
    if int(lo.max()) < (1 << 62) // span:  # one int64 key: a faster sort, less memory
        lo *= span
        lo += hi
        del hi
        order = np.argsort(lo, kind="stable")
        key = lo[order]
        del lo
        starts = np.ones(len(order), bool)
        starts[1:] = key[1:] != key[:-1]
    else:
        order = np.lexsort((hi, lo))
        lo, hi = lo[order], hi[order]
        starts = np.ones(len(order), bool)
        starts[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    return src, direction, order, starts


# --------------------------------------------------------------------------
# TCP


class _Pairs:
    """The TCP rows grouped by endpoint pair ("position": index in that order)."""

    def __init__(self, store: PacketStore, rows: np.ndarray) -> None:
        src, direction, order, starts = _pairs(store, rows)
        del src
        index = np.int32 if len(order) < 1 << 31 else np.int64
        self.order = order.astype(index)            # position -> row number
        del order
        self.rank = np.empty_like(self.order)       # row number -> position
        self.rank[self.order] = np.arange(len(self.order), dtype=index)
        self.starts = starts
        self.first = np.flatnonzero(starts)         # each pair's first position
        self.direction = direction[self.order]
        self.flags = _gather(store, "tcp_flags", rows)[self.order]
        # each position's pair's end (the next pair's first position)
        self.pair_end = np.append(self.first[1:], len(self.order)).astype(
            index)[np.cumsum(starts) - 1]

    def following(self, candidates: np.ndarray) -> np.ndarray:
        """For each position, the first of ``candidates`` (sorted positions) after
        it in its pair, or -1: the tracker's loop then reads one entry rather
        than searching twice (for the candidate and for its pair's end)."""
        n = len(self.order)
        at = np.full(n + 1, n, self.order.dtype)   # a candidate's position, or past the end
        at[candidates] = candidates
        # the first candidate at or after each position, read backwards (a running
        # minimum: a search of the candidates for every position took 3 times as long)
        first_from = np.minimum.accumulate(at[::-1])
        nxt = first_from[n - 1::-1].copy()          # ... after each position
        del at, first_from
        nxt[nxt >= self.pair_end] = -1
        return nxt

    def static_feed(self) -> np.ndarray:
        """Positions that must be fed whatever the tracker's state (module docstring)."""
        flags, direction = self.flags, self.direction
        feed = (flags & (SYN | FIN | RST)) != 0
        stretch = np.cumsum(self.starts | ((flags & (SYN | ACK)) == SYN))
        has_ack = (flags & ACK) != 0
        for d in (False, True):
            for wanted in (direction == d, (direction == d) & has_ack):
                at = np.flatnonzero(wanted)
                s = stretch[at]
                first = np.ones(len(at), bool)
                first[1:] = s[1:] != s[:-1]
                feed[at[first]] = True
        return np.flatnonzero(feed)


def _tcp_summaries(store: PacketStore) -> list[ConnectionSummary]:
    rows = np.flatnonzero(tracked(store))
    n = len(rows)
    if not n:
        return []
    pairs = _Pairs(store, rows)
    order, rank = pairs.order, pairs.rank
    has_ack = (pairs.flags & ACK) != 0
    index = order.dtype
    next_ack_from = [pairs.following(np.flatnonzero(has_ack & (pairs.direction == d))
                                     .astype(index)) for d in (False, True)]
    next_ack_no_syn = pairs.following(
        np.flatnonzero(has_ack & ((pairs.flags & SYN) == 0)).astype(index))
    del has_ack

    v = store.values
    ts = v("ts_ns")
    table = TcpStreamTable()
    fed = feed_selected(   # the arrays as memoryviews: compiled, indexing them is cheap
        table, Segments(store), np.sort(order[pairs.static_feed()]).tolist(), rows.data, order.data,
        rank.data, (next_ack_from[0].data, next_ack_from[1].data), next_ack_no_syn.data,
        (v("src"), v("sport"), v("dst"), v("dport")))
    del next_ack_from, next_ack_no_syn, rank

    # Every packet not fed belongs to the stream of the last fed one of its pair
    # (the first of each pair is fed); positions keep a stream's packets together.
    count = len(table.connections)
    stream_at: np.ndarray = np.full(n, -1, np.int32 if count < 1 << 31 else np.int64)
    stream_at[fed.positions] = fed.streams
    last_fed = np.where(stream_at >= 0, np.arange(n), 0)
    np.maximum.accumulate(last_fed, out=last_fed)
    stream_at = stream_at[last_fed]
    del last_fed
    run_ends = np.append(np.flatnonzero(stream_at[1:] != stream_at[:-1]), n - 1)
    last = np.empty(count, np.int64)
    last[stream_at[run_ends]] = rows[order[run_ends]]
    cell = stream_at.astype(np.int64)
    cell *= 2
    ends = np.asarray(fed.ends, np.int64).reshape(-1, 2)
    ep0_is_hi = ends[:, 0] > ends[:, 1]     # per stream: side 0 is the higher endpoint
    cell += pairs.direction ^ ep0_is_hi[stream_at]  # the side
    del stream_at
    packets = np.bincount(cell, minlength=2 * count).tolist()
    octets = np.bincount(cell, weights=_gather(store, "payload_len", rows)[order],
                         minlength=2 * count).astype(np.int64).tolist()
    del cell
    # made from plain tuples, in C: calling the class goes through its Python __new__
    return [_new_tuple(ConnectionSummary, (
        c.stream, c.endpoints, (packets[2 * k], packets[2 * k + 1]),
        (octets[2 * k], octets[2 * k + 1]), c.first_ts_ns, ts[end], c.first_frame, end + 1,
        c.states, c.initial_rtt_ns))
        for k, (c, end) in enumerate(zip(table.connections, last.tolist(), strict=True))]


# --------------------------------------------------------------------------
# UDP


def _udp_flows(store: PacketStore) -> list[UdpFlow]:
    """The flows of the full analysis: the flow table is fed the first datagram of
    each endpoint pair and the ICMP errors, in frame order, so it numbers the
    flows, names their sides and links the errors as when fed every datagram;
    the counts and last times are numpy's. (Its links name the datagram an
    error answers only as far as it was fed; the summary keeps none.)"""
    rows = np.flatnonzero(datagrams(store))
    if not len(rows):
        return []
    src, _, order, starts = _pairs(store, rows)
    group = np.empty(len(order), np.int64)   # row -> its pair
    group[order] = np.cumsum(starts) - 1
    firsts = order[starts]                   # each pair's first row (the order is stable)
    lasts = order[np.append(np.flatnonzero(starts)[1:], len(order)) - 1]
    del order, starts
    v = store.values
    ts, plen, src_id, dst_id = v("ts_ns"), v("payload_len"), v("src"), v("dst")
    sport, dport, address, quoted = v("sport"), v("dport"), store.address, store.quoted
    table = UdpFlowTable()
    flow_of_pair = np.empty(len(firsts), np.int64)
    fed = [(i, pair) for pair, i in enumerate(rows[firsts].tolist())]
    for i, pair in sorted(fed + [(i, -1) for i in quoted]):
        if pair < 0:
            table.answer(i, quoted[i])
        else:
            flow_of_pair[pair] = table.feed(i, address(src_id[i]), sport[i], address(dst_id[i]),
                                            dport[i], ts[i], plen[i])
    flow = flow_of_pair[group]
    del group
    first_of_flow = np.empty(len(firsts), np.int64)
    first_of_flow[flow_of_pair] = firsts
    cell = flow * 2 + (src != src[first_of_flow][flow])
    count = len(table.flows)
    packets = np.bincount(cell, minlength=2 * count).tolist()
    octets = np.bincount(cell, weights=_gather(store, "payload_len", rows),
                         minlength=2 * count).tolist()
    last_row = np.empty(count, np.int64)
    last_row[flow_of_pair] = rows[lasts]
    for k, (f, last) in enumerate(zip(table.flows, last_row.tolist(), strict=True)):
        f.packets = [int(packets[2 * k]), int(packets[2 * k + 1])]
        f.bytes = [int(octets[2 * k]), int(octets[2 * k + 1])]
        f.last_ts_ns, f.last_frame = ts[last], last + 1
    return table.flows
