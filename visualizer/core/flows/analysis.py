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
from visualizer.core.decode.store import PacketStore
from visualizer.core.flows.segments import segment_builder, tracked
from visualizer.core.flows.udp import IcmpLink, UdpFlow, UdpFlowTable, datagrams
from visualizer.core.table import ColumnTable
from visualizer.core.tcp.events import Event, StateChanged
from visualizer.core.tcp.segment import RST, TcpSegment
from visualizer.core.tcp.states import TcpState
from visualizer.core.tcp.streams import ConnectionSummary, TcpStreamTable

STATES: tuple[TcpState, ...] = tuple(TcpState)
_STATE_CODE = {state: i for i, state in enumerate(STATES)}
NO_STATE = 255
CLIENT_SERVER = ("client", "server")
NO_ROLES = ("", "")
_BOGUS_TCP = (MalformedReason.TCP_HEADER_LENGTH, MalformedReason.TCP_HEADER_TOO_LONG)


# name -> array typecode for the per-packet analysis columns
COLUMNS: dict[str, str] = {
    "stream": "i",          # tcp.stream, -1 for non-TCP
    "direction": "b",       # 0: from the side that opened / was seen first
    "rel_seq": "q", "rel_ack": "q", "next_seq": "q",
    "window": "q",          # scaled window (tcp.window_size)
    "bytes_in_flight": "q",  # -1 when tshark shows none
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

    def run(self, progress: Callable[[int, int], bool] | None = None) -> Analysis:
        """Analyse every packet not analysed yet (call again after the store grows)."""
        with collector_paused():   # see core/collector.py
            self._run(progress)
        self.forget_copies()
        self._summaries = None
        return self

    def _run(self, progress: Callable[[int, int], bool] | None) -> None:
        store = self.store
        v = store.values
        src, dst, sport, dport = v("src"), v("dst"), v("sport"), v("dport")
        plen, ts = v("payload_len"), v("ts_ns")
        # the columns' bound append methods, looked up once rather than per packet
        c = {name: col.append for name, col in self._cols.items()}
        stream_c, dir_c, seq_c, ack_c, nxt_c = (c["stream"], c["direction"], c["rel_seq"],
                                                c["rel_ack"], c["next_seq"])
        win_c, bif_c = c["window"], c["bytes_in_flight"]
        an_c, dup_c = c["analysis"], c["dup_ack_count"]
        s0_c, s1_c, udp_c = c["state0"], c["state1"], c["udp_flow"]
        address, feed, segment = store.address, self.tcp.feed, segment_builder(store)
        datagram, answer, quoted = self.udp.feed, self.udp.answer, store.quoted
        events = self.events
        state_code = _STATE_CODE
        start, total = len(self._cols["stream"]), len(store)
        # 1: TCP, 2: UDP, 0: other, -1: seen at the other end of a path (not this tap's)
        kinds = tracked(store, start, total).astype(np.int8)
        # TCP headers tshark numbers but does not analyse: a bogus header length
        bogus = (np.isin(store.column_slice("reason", start, total), _BOGUS_TCP)
                 & (store.column_slice("fragment", start, total) == 0)).tolist()
        reserve = self.tcp.reserve
        kinds[datagrams(store, start, total)] = 2
        if self.only_interface is not None:
            kinds[store.column_slice("interface", start, total) != self.only_interface] = -1
        for i, kind in zip(range(start, total), kinds.tolist(), strict=True):
            if progress is not None and not i % 16384 and not progress(i, total):
                break
            if kind == 1:
                r = feed(segment(i))
                if r.events:
                    events[i] = r.events
                stream_c(r.stream)
                dir_c(r.direction)
                seq_c(r.seq)
                ack_c(r.ack)
                nxt_c(r.next_seq)
                win_c(r.window)
                bif = r.bytes_in_flight
                bif_c(-1 if bif is None else bif)
                an_c(r.analysis)
                dup_c(r.dup_ack_count or 0)
                s0, s1 = r.states
                s0_c(state_code[s0])
                s1_c(state_code[s1])
                udp_c(-1)
                continue
            stream_c(-1)
            dir_c(0)
            seq_c(0)
            ack_c(0)
            nxt_c(0)
            win_c(-1)
            bif_c(-1)
            an_c(0)
            dup_c(0)
            s0_c(NO_STATE)
            s1_c(NO_STATE)
            if kind == 2:
                udp_c(datagram(i, address(src[i]), sport[i], address(dst[i]), dport[i],
                               ts[i], plen[i]))
                continue
            if kind == 0:
                if i in quoted:  # an ICMP error
                    q = quoted[i]
                    answer(i, q)
                    if q.proto == PROTO_TCP:  # tshark numbers the quoted conversation
                        reserve(TcpSegment(i + 1, ts[i], q.src, q.sport, q.dst, q.dport, 0, 0,
                                           0, 0, 0))
                elif bogus[i - start]:
                    reserve(segment(i))
            udp_c(-1)

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
