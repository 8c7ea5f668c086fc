"""One pass over a PacketStore: TCP streams, UDP flows, ICMP errors linked.

The result is columns again (one entry per packet), so a million packets
cost a few dozen bytes each, not a Python object each. The per-packet work
is the sans-I/O TCP tracker's (``visualizer.core.tcp``) and the UDP flow
table's (``flows/udp.py``); this module only feeds them and files their
answers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from visualizer.core.collector import collector_paused
from visualizer.core.decode.headers import PROTO_TCP, MalformedReason
from visualizer.core.decode.store import PacketStore, format_endpoint
from visualizer.core.flows.feeding import NO_STATE, STATES, feed_batch
from visualizer.core.flows.segments import Segments, tracked
from visualizer.core.flows.udp import IcmpLink, UdpFlow, UdpFlowTable, datagrams
from visualizer.core.table import ColumnTable
from visualizer.core.tcp.events import Event, StateChanged
from visualizer.core.tcp.segment import RST, TcpSegment
from visualizer.core.tcp.states import TcpState
from visualizer.core.tcp.streams import ConnectionSummary, TcpStreamTable

CLIENT_SERVER = ("client", "server")
NO_ROLES = ("", "")
_BOGUS_TCP = (MalformedReason.TCP_HEADER_LENGTH, MalformedReason.TCP_HEADER_TOO_LONG)
# Packets fed a batch at a time (flows/feeding.py): compiled, a batch holds the
# GIL throughout, a few ms, which a GUI thread waits for.
BATCH = 4096
PROGRESS_EVERY = 4 * BATCH   # progress() is asked before packets at multiples of it


# name -> array typecode for the per-packet analysis columns
COLUMNS: dict[str, str] = {
    "stream": "i",          # tcp.stream, -1 for non-TCP
    "direction": "b",       # 0: from the side that opened / was seen first
    # relative numbers are modulo 2**32 (tcp.ack without ACK: the raw field)
    "rel_seq": "I", "rel_ack": "I", "next_seq": "I",
    "window": "i",          # scaled window (tcp.window_size): at most 65,535 << 14
    "bytes_in_flight": "i",  # -1 when tshark shows none; below 2e9 (connection.py)
    "analysis": "I",        # tcp.analysis.* bits (visualizer.core.tcp.analysis_flags)
    "dup_ack_count": "I",
    "state0": "B", "state1": "B",  # endpoint states after the packet (NO_STATE: n/a)
    "udp_flow": "i",        # -1 for non-UDP
}


class Analysis(ColumnTable):
    """The analysis of a whole store (see module docstring)."""

    def __init__(self, store: PacketStore, *, only_interface: int | None = None) -> None:
        """``only_interface``: analyse only the packets captured on that interface
        (one end of a path: a tap there); the others get no analysis."""
        super().__init__(COLUMNS)
        self.store = store
        self.only_interface = only_interface
        self.tcp = TcpStreamTable()
        self.udp = UdpFlowTable()
        self.udp_flows: list[UdpFlow] = self.udp.flows
        self.icmp_links: dict[int, IcmpLink] = self.udp.links
        self.events: dict[int, tuple[Event, ...]] = {}  # index -> TCP events (sparse)
        self._udp_keys: dict[tuple[bytes, int, bytes, int], int] = {}
        self._last_datagram: dict[tuple[bytes, int, bytes, int], int] = {}
        self._summaries: list[ConnectionSummary] | None = None
        # per kind, by number: (the conversation they were made for, its two texts)
        self._endpoint_texts: dict[str, list[tuple[object, tuple[str, str]] | None]] = {
            "tcp": [], "udp": []}
        self._named = (0, 0)   # TCP streams and UDP flows name_conversations() named

    def run(self, progress: Callable[[int, int], bool] | None = None) -> Analysis:
        """Analyse every packet not analysed yet (call again after the store grows)."""
        with collector_paused():   # see core/collector.py
            self._run(progress)
        self.forget_copies()
        self._summaries = None
        return self

    def _run(self, progress: Callable[[int, int], bool] | None) -> None:
        store = self.store
        start, total = len(self._cols["stream"]), len(store)
        if start >= total:
            return
        # 1: TCP, 2: UDP, 0: other, -1: seen at the other end of a path (not this tap's)
        kinds = tracked(store, start, total).astype(np.int8)
        kinds[datagrams(store, start, total)] = 2
        if self.only_interface is not None:
            kinds[store.column_slice("interface", start, total) != self.only_interface] = -1
        # TCP headers tshark numbers but does not analyse: a bogus header length
        bogus = (np.isin(store.column_slice("reason", start, total), _BOGUS_TCP)
                 & (store.column_slice("fragment", start, total) == 0))
        segments = Segments(store)
        first = min(total, (start // BATCH + 1) * BATCH)   # later batches start at multiples
        for lo in (start, *range(first, total, BATCH)):
            if progress is not None and not lo % PROGRESS_EVERY and not progress(lo, total):
                break
            hi = min(total, first if lo == start else lo + BATCH)
            batch = kinds[lo - start:hi - start]
            reserve, udp_flows = self._other_packets(segments, batch, lo,
                                                     bogus[lo - start:hi - start])
            entries = feed_batch(self.tcp, segments, lo, (batch == 1).tolist(), reserve,
                                 udp_flows, self.events)
            for name, values in entries.columns():   # stream last: see Entries.columns
                self._cols[name].fromlist(values)

    def _other_packets(self, segments: Segments, kinds: np.ndarray, lo: int,
                       bogus: np.ndarray) -> tuple[dict[int, TcpSegment], dict[int, int]]:
        """Feed the UDP datagrams and ICMP errors of the batch from packet ``lo``
        to the UDP flow table, in frame order; return the TCP headers to number
        without analysing them and each datagram's flow (``feed_batch``'s
        arguments)."""
        store = self.store
        v = store.values
        src, dst, sport, dport = v("src"), v("dst"), v("sport"), v("dport")
        plen, ts, address, quoted = v("payload_len"), v("ts_ns"), store.address, store.quoted
        reserve: dict[int, TcpSegment] = {}
        udp_flows: dict[int, int] = {}
        for i in (np.flatnonzero((kinds == 0) | (kinds == 2)) + lo).tolist():
            kind = kinds[i - lo]
            if kind == 2:
                udp_flows[i] = self.udp.feed(i, address(src[i]), sport[i], address(dst[i]),
                                             dport[i], ts[i], plen[i])
            elif kind == 0:
                if i in quoted:   # an ICMP error
                    q = quoted[i]
                    self.udp.answer(i, q)
                    if q.proto == PROTO_TCP:   # tshark numbers the quoted conversation
                        reserve[i] = TcpSegment(i + 1, ts[i], q.src, q.sport, q.dst, q.dport,
                                                0, 0, 0, 0, 0)
                elif bogus[i - lo]:
                    reserve[i] = segments.at(i)
        return reserve, udp_flows

    # -- reading (and column, column_slice, values: ColumnTable) --------
    def states(self, index: int) -> tuple[TcpState | None, TcpState | None]:
        """(side 0, side 1) endpoint states after packet ``index``."""
        s0, s1 = self._cols["state0"][index], self._cols["state1"][index]
        return (None if s0 == NO_STATE else STATES[s0], None if s1 == NO_STATE else STATES[s1])

    def state_changes(self, index: int) -> list[StateChanged]:
        """The endpoint state changes packet ``index`` caused, in order."""
        return [e for e in self.events.get(index, ()) if isinstance(e, StateChanged)]

    def refused_listen(self, index: int, endpoint: int,
                       members: np.ndarray | None = None) -> int:
        """The packet whose reset showed that ``endpoint`` (taken to be in
        LISTEN when packet ``index``'s SYN came) was not listening; -1: none.

        A SYN puts the receiving side in LISTEN, as if it had listened since
        before the capture. When its next state change is back to CLOSED on
        a reset, nobody listened (a connection refused): no LISTEN to draw.
        ``members``: the stream's packets (``stream_indices``), when the
        caller has them already.
        """
        if members is None:
            stream = int(self.values("stream")[index])
            if stream < 0:
                return -1
            members = self.stream_indices(stream)
        if not len(members) or members[-1] <= index:   # nothing after it (a scan's SYN)
            return -1
        flags = self.store.values("tcp_flags")
        for later in members[members > index].tolist():
            for change in self.state_changes(later):
                if change.endpoint == endpoint:
                    refused = (change.old is TcpState.LISTEN and change.new is TcpState.CLOSED
                               and bool(flags[later] & RST))
                    return later if refused else -1
        return -1

    @property
    def tcp_summaries(self) -> list[ConnectionSummary]:
        if self._summaries is None:
            self._summaries = self.tcp.summaries()
        return self._summaries

    def endpoint_texts(self, kind: str, number: int) -> tuple[str, str]:
        """The two endpoints of TCP stream or UDP flow ``number`` (``kind`` "tcp" or
        "udp") as text, sides 0 and 1: made once, for every view that names them
        (the conversations list and the timeline's rows each made them for
        every conversation, 71,000 in a capture of short connections)."""
        conversation = (self.tcp.connections[number] if kind == "tcp"
                        else self.udp_flows[number])
        made = self._endpoint_texts[kind]
        kept = made[number] if number < len(made) else None
        # (a stream numbered for an ICMP error's quoted header gets its connection,
        # and its sides' order, from its first segment: the texts follow it)
        if kept is None or kept[0] is not conversation:
            ends = conversation.endpoints
            kept = (conversation, (format_endpoint(*ends[0]), format_endpoint(*ends[1])))
            if number >= len(made):
                # The loader's thread and the window's may both get here: each
                # only appends empty entries and stores into one, so a race
                # leaves at most a few empty entries more at the end.
                made.extend([None] * (number + 1 - len(made)))
            made[number] = kept
        return kept[1]

    def endpoint_texts_of(self, kind: str, start: int, stop: int) -> list[tuple[str, str]]:
        """:meth:`endpoint_texts` of conversations ``start`` to ``stop`` - 1, those
        made already read without a call each (a batch's new rows of the timeline:
        thousands at a time; kept by number, a lookup costs a third of one keyed
        by a (kind, number) tuple)."""
        conversations = self.tcp.connections if kind == "tcp" else self.udp_flows
        made = self._endpoint_texts[kind][start:stop]   # one C call: a consistent copy
        texts = []
        for at, conversation in enumerate(conversations[start:stop]):
            kept = made[at] if at < len(made) else None
            texts.append(kept[1] if kept is not None and kept[0] is conversation
                         else self.endpoint_texts(kind, start + at))
        return texts

    def name_conversations(self) -> None:
        """Make the endpoint texts of the conversations found since the last call.

        A window's loader thread calls this after each batch, so that the
        views, in the window's thread, find them made: for a capture of 71,000
        short connections that was 0.3 s of the window's time while it loaded,
        in the list's and the timeline's turns, and the loader's share of the
        GIL doubled it.
        """
        tcp, udp = self._named
        named = (len(self.tcp.connections), len(self.udp_flows))
        self.endpoint_texts_of("tcp", tcp, named[0])
        self.endpoint_texts_of("udp", udp, named[1])
        self._named = named

    def tcp_roles(self, stream: int) -> tuple[str, str]:
        """("client", "server") for sides 0 and 1 of TCP stream ``stream`` when its
        first packet is the opening SYN, else ("", ""): who is who is unknown.

        Decided once per stream, so that every view (a ladder window that
        starts mid-stream, an explanation) names the same endpoint the client.
        """
        return CLIENT_SERVER if self.tcp.connections[stream].syn_first else NO_ROLES

    def stream_indices(self, stream: int) -> np.ndarray:
        """0-based indices of the packets of TCP stream ``stream``."""
        return self.rows_of("stream", stream)


def analyze(store: PacketStore, *, only_interface: int | None = None) -> Analysis:
    return Analysis(store, only_interface=only_interface).run()
