"""One pass over a PacketStore: TCP streams, UDP flows, ICMP errors linked.

The result is columns again (one entry per packet), so a million packets
cost a few dozen bytes each, not a Python object each. The per-packet TCP
work is the sans-I/O tracker's (``visualizer.core.tcp``); this module only
feeds it and files its answers.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from visualizer.core.decode import headers as dec
from visualizer.core.decode.store import PacketStore
from visualizer.core.flows.segments import segment_builder, tracked
from visualizer.core.tcp.connection import ANALYSIS_FLAGS
from visualizer.core.tcp.events import Event, StateChanged
from visualizer.core.tcp.states import TcpState
from visualizer.core.tcp.streams import ConnectionSummary, TcpStreamTable

STATES: tuple[TcpState, ...] = tuple(TcpState)
_STATE_CODE = {state: i for i, state in enumerate(STATES)}
_FLAG_BIT = {name: 1 << i for i, name in enumerate(ANALYSIS_FLAGS)}
NO_STATE = 255


def analysis_names(bits: int) -> list[str]:
    """The ``tcp.analysis.*`` names in a bitmask, in vocabulary order."""
    return [name for i, name in enumerate(ANALYSIS_FLAGS) if bits >> i & 1]


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


# name -> array typecode for the per-packet analysis columns
COLUMNS: dict[str, str] = {
    "stream": "i",          # tcp.stream, -1 for non-TCP
    "direction": "b",       # 0: from the side that opened / was seen first
    "rel_seq": "q", "rel_ack": "q", "next_seq": "q",
    "window": "q",          # scaled window (tcp.window_size)
    "bytes_in_flight": "q",  # -1 when tshark shows none
    "analysis": "I",        # bitmask over ANALYSIS_FLAGS
    "dup_ack_count": "I",
    "state0": "B", "state1": "B",  # endpoint states after the packet (NO_STATE: n/a)
    "udp_flow": "i",        # -1 for non-UDP
}


class Analysis:
    """The analysis of a whole store (see module docstring)."""

    def __init__(self, store: PacketStore) -> None:
        self.store = store
        self.tcp = TcpStreamTable()
        self.udp_flows: list[UdpFlow] = []
        self.icmp_links: dict[int, IcmpLink] = {}
        self.events: dict[int, tuple[Event, ...]] = {}  # index -> TCP events (sparse)
        self._udp_keys: dict[tuple[bytes, int, bytes, int], int] = {}
        self._last_datagram: dict[tuple[bytes, int, bytes, int], int] = {}
        self._cols: dict[str, array[Any]] = {n: array(t) for n, t in COLUMNS.items()}
        self._np: dict[str, np.ndarray] = {}
        self._summaries: list[ConnectionSummary] | None = None

    def run(self, progress: Callable[[int, int], bool] | None = None) -> Analysis:
        """Analyse every packet not analysed yet (call again after the store grows)."""
        store = self.store
        v = store.values
        status, proto, src, dst = v("status"), v("proto"), v("src"), v("dst")
        sport, dport, plen, ts = v("sport"), v("dport"), v("payload_len"), v("ts_ns")
        fragments = v("fragment")
        c = self._cols
        stream_c, dir_c, seq_c, ack_c, nxt_c = (c["stream"], c["direction"], c["rel_seq"],
                                                c["rel_ack"], c["next_seq"])
        win_c, bif_c = c["window"], c["bytes_in_flight"]
        an_c, dup_c = c["analysis"], c["dup_ack_count"]
        s0_c, s1_c, udp_c = c["state0"], c["state1"], c["udp_flow"]
        address, feed, segment = store.address, self.tcp.feed, segment_builder(store)
        flag_bit, state_code = _FLAG_BIT, _STATE_CODE
        start, total = len(stream_c), len(store)
        for i, tcp in zip(range(start, total), tracked(store, start, total).tolist(),
                          strict=True):
            if progress is not None and not i % 16384 and not progress(i, total):
                break
            if tcp:
                r = feed(segment(i))
                if r.events:
                    self.events[i] = r.events
                bits = 0
                for name in r.analysis:
                    bits |= flag_bit[name]
                stream_c.append(r.stream)
                dir_c.append(r.direction)
                seq_c.append(r.seq)
                ack_c.append(r.ack)
                nxt_c.append(r.next_seq)
                win_c.append(r.window)
                bif_c.append(-1 if r.bytes_in_flight is None else r.bytes_in_flight)
                an_c.append(bits)
                dup_c.append(r.dup_ack_count or 0)
                s0_c.append(state_code[r.states[0]])
                s1_c.append(state_code[r.states[1]])
                udp_c.append(-1)
                continue
            stream_c.append(-1)
            dir_c.append(0)
            seq_c.append(0)
            ack_c.append(0)
            nxt_c.append(0)
            win_c.append(-1)
            bif_c.append(-1)
            an_c.append(0)
            dup_c.append(0)
            s0_c.append(NO_STATE)
            s1_c.append(NO_STATE)
            flow = -1
            p = proto[i]
            if p == dec.PROTO_UDP and status[i] == dec.OK and not fragments[i]:
                flow = self._udp(i, address(src[i]), sport[i], address(dst[i]), dport[i],
                                 ts[i], plen[i])
            elif p in (dec.PROTO_ICMP, dec.PROTO_ICMPV6) and i in store.quoted:
                self._icmp(i, store.quoted[i])
            udp_c.append(flow)
        self._np.clear()
        self._summaries = None
        return self

    def _udp(self, i: int, src: bytes, sport: int, dst: bytes, dport: int, ts: int,
             length: int) -> int:
        key = (src, sport, dst, dport) if (src, sport) <= (dst, dport) else (dst, dport, src,
                                                                             sport)
        flow_id = self._udp_keys.get(key)
        if flow_id is None:
            flow_id = self._udp_keys[key] = len(self.udp_flows)
            self.udp_flows.append(UdpFlow(flow_id, ((src, sport), (dst, dport)), ts, ts,
                                          i + 1, i + 1))
        flow = self.udp_flows[flow_id]
        side = 0 if flow.endpoints[0] == (src, sport) else 1
        flow.packets[side] += 1
        flow.bytes[side] += length
        flow.last_ts_ns, flow.last_frame = ts, i + 1
        self._last_datagram[(src, sport, dst, dport)] = i
        return flow_id

    def _icmp(self, i: int, quoted: dec.Quoted) -> None:
        if quoted.proto != dec.PROTO_UDP:
            return
        a, b = (quoted.src, quoted.sport), (quoted.dst, quoted.dport)
        key = (*a, *b) if a <= b else (*b, *a)
        flow_id = self._udp_keys.get(key)
        if flow_id is None:
            return
        datagram = self._last_datagram.get((quoted.src, quoted.sport, quoted.dst,
                                            quoted.dport), -1)
        self.icmp_links[i] = IcmpLink(flow_id, datagram)
        self.udp_flows[flow_id].icmp_errors += 1

    # -- reading -------------------------------------------------------
    def column(self, name: str) -> np.ndarray:
        col = self._cols[name]
        arr = self._np.get(name)
        if arr is None or len(arr) != len(col):  # see PacketStore.column
            arr = self._np[name] = np.frombuffer(col.tobytes(), dtype=np.dtype(col.typecode))
        return arr

    def column_slice(self, name: str, start: int, stop: int) -> np.ndarray:
        """Entries ``start:stop`` only (see ``PacketStore.column_slice``)."""
        col = self._cols[name]
        return np.frombuffer(col[start:stop].tobytes(), dtype=np.dtype(col.typecode))

    def values(self, name: str) -> array[Any]:
        """The live column (plain ints on indexing), for per-packet loops."""
        return self._cols[name]

    def states(self, index: int) -> tuple[TcpState | None, TcpState | None]:
        """(side 0, side 1) endpoint states after packet ``index``."""
        s0, s1 = self._cols["state0"][index], self._cols["state1"][index]
        return (None if s0 == NO_STATE else STATES[s0], None if s1 == NO_STATE else STATES[s1])

    def state_changes(self, index: int) -> list[StateChanged]:
        """The endpoint state changes packet ``index`` caused, in order."""
        return [e for e in self.events.get(index, ()) if isinstance(e, StateChanged)]

    @property
    def tcp_summaries(self) -> list[ConnectionSummary]:
        if self._summaries is None:
            self._summaries = self.tcp.summaries()
        return self._summaries

    def stream_indices(self, stream: int) -> np.ndarray:
        """0-based indices of the packets of TCP stream ``stream``."""
        return np.flatnonzero(self.column("stream") == stream)


def analyze(store: PacketStore) -> Analysis:
    return Analysis(store).run()
