"""The ladder (sequence) diagram model: lanes, arrows and state changes.

One lane per endpoint, keyed by address *and port*, so a client and a
server on 127.0.0.1 get two lanes (Wireshark's flow graph collapses them).
The text renderer of ``visualizer ladder``, the SVG writer and the GUI
ladder all draw this model.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from itertools import chain
from typing import NamedTuple

import numpy as np

from visualizer.core.decode.store import format_address, format_endpoint
from visualizer.core.describe.kinds import ICMP_K, OTHER_K, UDP_K, packet_kinds
from visualizer.core.describe.summary import PacketSummary, format_duration
from visualizer.core.errors import BadInput
from visualizer.core.flows.analysis import Analysis
from visualizer.core.pcap.recording import RecordingInfo
from visualizer.core.tcp.analysis_flags import analysis_names
from visualizer.core.tcp.options import parse_options
from visualizer.core.tcp.segment import ACK, flag_text
from visualizer.core.tcp.states import TcpState
from visualizer.core.traffic.calls import SocketCall

NO_PORT = -1   # a host lane (ICMP, ARP...): an address without a port


@dataclass(frozen=True)
class Lane:
    address: bytes
    port: int  # NO_PORT for a host lane
    role: str  # "client", "server", or "" when unknown

    @property
    def endpoint(self) -> str:
        if self.port == NO_PORT:
            return format_address(self.address)
        return format_endpoint(self.address, self.port)

    @property
    def label(self) -> str:
        text = self.endpoint
        return f"{text} ({self.role})" if self.role else text


@dataclass(slots=True)
class Arrow:
    """A packet's arrow. Not frozen, unlike the ladder's other parts: a ladder
    makes one per packet, and a frozen dataclass's ``__init__`` (a ``setattr``
    call a field) took 5 µs against 0.9 µs, a third of a SYN scan's ladder
    (one arrow each). Treat it as read-only all the same."""

    index: int          # 0-based packet index
    ts_ns: int
    src_lane: int
    dst_lane: int
    label: str          # "SYN seq=0 ack=0 len=0 win=65495"
    analysis: tuple[str, ...]
    # lane -> the states it passed through on this packet, in order (usually
    # one; a FIN+ACK can take the active closer through FIN-WAIT-2 to TIME-WAIT)
    transitions: dict[int, tuple[TcpState, ...]] = field(default_factory=dict)
    kind: int = OTHER_K     # a visualizer.core.describe.kinds code, for the arrow's colour
    options: str = ""       # TCP options as TcpOptions.summary() writes them
    conversation: str = ""  # "TCP stream 0", "UDP flow 2": which ladder it came from
    # On a path (ladder/transit.py): when it arrived at the other end (ts_ns is when it
    # left), -1 if it never did; 0 off a path. Its fate, and why it was lost.
    arrival_ns: int = 0
    fate: str = ""
    why: str = ""

    @property
    def tag(self) -> str:
        """The first word of the label: ``"SYN,ACK"``, ``"UDP"``, ``"ICMP"``."""
        return self.label.split(" ", 1)[0]

    @property
    def short_options(self) -> str:
        """The options for a diagram: timestamps only on SYNs, and without their values.

        Timestamps ride on nearly every segment once negotiated; the SYNs
        are where the negotiation shows.
        """
        text = _TS_VALUES.sub("TS" if "SYN" in self.tag else "", self.options)
        return " ".join(text.split())


_TS_VALUES = re.compile(r"TS=\d+/\d+")


@dataclass(frozen=True)
class StateChange:
    """A lane's state changing on one arrow.

    The sender of a packet changes state when the packet leaves, the
    receiver when it lands: that is where a drawing puts the change, and
    what :meth:`Ladder.states_at` means by "as of" a point in the flight.
    """

    lane: int
    arrow: int                      # arrow number (index into Ladder.arrows)
    at_sender: bool
    states: tuple[TcpState, ...]    # passed through in order; the last is the new state


@dataclass(frozen=True)
class LaneCall:
    """A socket call drawn on the lane of the endpoint that made it.

    The call's start and return are placed *between* the arrows, by time:
    gap ``g`` lies after arrow ``g - 1`` and before arrow ``g`` (gap 0 is
    before the first packet, gap ``len(arrows)`` after the last). A call
    whose return lies in a later gap than its start spans packets, e.g.
    connect() from before the SYN to after the SYN-ACK: drawn as a bracket.
    """

    lane: int
    side: str           # "client", "server", "client 2"...
    call: str           # "connect", "accept", "recv"...
    args: str
    result: str
    start_ns: int
    end_ns: int
    start_gap: int
    end_gap: int
    failed: bool = False
    local: str = ""     # the socket's endpoints as the log has them ("" when unknown)
    remote: str = ""

    @property
    def spans(self) -> bool:
        """True when packets passed while the call was running."""
        return self.end_gap > self.start_gap

    @property
    def opening(self) -> str:
        """``"connect(127.0.0.1:52147)"``."""
        return f"{self.call}({self.args})"

    @property
    def summary(self) -> str:
        """The call and its result on one line: ``"send(64 bytes) → 64"``."""
        return f"{self.opening} → {self.result}"

    @property
    def returned(self) -> str:
        """``"connect() returned 0"``, ``"connect() failed: ECONNREFUSED"``."""
        verb = "failed:" if self.failed else "returned"
        return f"{self.call}() {verb} {self.result}".rstrip()


class CallEvent(NamedTuple):
    """A call starting, returning, or both (``part`` "whole") within one gap."""

    ns: int
    call: int   # index into Ladder.calls
    part: str   # "whole" | "start" | "end"


@dataclass
class Ladder:
    title: str
    lanes: list[Lane]
    initial_states: dict[int, TcpState]
    arrows: list[Arrow]
    calls: list[LaneCall] = field(default_factory=list)   # see attach_calls

    def timestamps(self) -> np.ndarray:
        """The arrows' capture times (int64 ns), for ``timescale.positions``."""
        return np.fromiter((a.ts_ns for a in self.arrows), dtype=np.int64,
                           count=len(self.arrows))

    @cached_property
    def state_changes(self) -> list[list[StateChange]]:
        """Per lane, its state changes in arrow order."""
        changes: list[list[StateChange]] = [[] for _ in self.lanes]
        for n, arrow in enumerate(self.arrows):
            for lane, states in arrow.transitions.items():
                changes[lane].append(StateChange(lane, n, lane == arrow.src_lane, states))
        return changes

    @cached_property
    def call_events(self) -> list[list[CallEvent]]:
        """Per gap between arrows (``len(arrows) + 1`` of them), its call events in time order.

        A call that starts and returns in the same gap is one "whole" event;
        one that spans packets has a "start" and, in a later gap, an "end".
        """
        gaps: list[list[CallEvent]] = [[] for _ in range(len(self.arrows) + 1)]
        for k, call in enumerate(self.calls):
            if call.spans:
                gaps[call.start_gap].append(CallEvent(call.start_ns, k, "start"))
                gaps[call.end_gap].append(CallEvent(call.end_ns, k, "end"))
            else:
                gaps[call.start_gap].append(CallEvent(call.start_ns, k, "whole"))
        for events in gaps:
            events.sort()
        return gaps

    @cached_property
    def _change_arrows(self) -> list[list[int]]:
        return [[c.arrow for c in lane] for lane in self.state_changes]

    def states_at(self, arrow: int, progress: float = 1.0) -> dict[int, TcpState]:
        """Each lane's state while arrow number ``arrow`` is ``progress`` (0..1) on its way.

        Arrows before it have landed; the sender of ``arrow`` has already
        changed state, its receiver changes when ``progress`` reaches 1.
        ``arrow`` -1 gives the states before the first packet. Lanes
        without known states are absent.
        """
        states = dict(self.initial_states)
        for lane, numbers in enumerate(self._change_arrows):
            k = bisect.bisect_right(numbers, arrow)
            while k > 0:
                change = self.state_changes[lane][k - 1]
                if change.arrow < arrow or change.at_sender or progress >= 1.0:
                    states[lane] = change.states[-1]
                    break
                k -= 1
        return states


def tcp_ladder(analysis: Analysis, stream: int, *, absolute: bool = False,
               kinds: np.ndarray | None = None, limit: int | None = None,
               start: int = 0) -> Ladder:
    """The ladder of TCP stream ``stream``.

    ``kinds`` (``packet_kinds`` of every packet) saves recomputing them when
    many ladders are built from one analysis. ``limit``: only packets below
    this index (a live capture's analysis may run ahead of what is shown);
    ``start``: only packets from this index on (a window into a huge stream).
    """
    connections = analysis.tcp.connections
    if not 0 <= stream < len(connections):
        raise BadInput(f"there is no TCP stream {stream}: this capture has "
                       f"{len(connections)} (numbered from 0, see 'analyze --stats')")
    members = analysis.stream_indices(stream)
    indices = members
    if limit is not None:
        indices = indices[indices < limit]
    if start:
        indices = indices[indices >= start]
    if kinds is None and len(indices):
        first, last = int(indices[0]), int(indices[-1]) + 1
        kinds = np.zeros(last, dtype=np.uint8)
        kinds[first:] = packet_kinds(analysis, first, last)
    return _TcpLadders(analysis, absolute, kinds).ladder(stream, indices, members)


class _TcpLadders:
    """Builds TCP streams' ladders, with the columns they read looked up once:
    a SYN scan has 200,000 one-packet streams, and looking the dozen columns
    up again for each cost more than drawing its one arrow."""

    def __init__(self, analysis: Analysis, absolute: bool, kinds: np.ndarray | None) -> None:
        store = analysis.store
        self.analysis, self.store, self.absolute, self.kinds = analysis, store, absolute, kinds
        # the live columns: plain ints per index, and no copy of a million entries
        v = store.values
        self.flags, self.plen, self.thl, self.ts = (v("tcp_flags"), v("payload_len"),
                                                    v("tcp_header_len"), v("ts_ns"))
        self.seq_raw, self.ack_raw = v("seq"), v("ack")
        a = analysis.values
        self.direction, self.rel_seq, self.rel_ack, self.window, self.bits = (
            a("direction"), a("rel_seq"), a("rel_ack"), a("window"), a("analysis"))
        self.connections = analysis.tcp.connections
        self._flag_text: dict[int, str] = {}
        self._names: dict[int, tuple[str, ...]] = {}

    def ladder(self, stream: int, indices: np.ndarray, members: np.ndarray) -> Ladder:
        """Stream ``stream``'s ladder of its packets ``indices`` (``members``: all of them)."""
        analysis, absolute, kinds = self.analysis, self.absolute, self.kinds
        endpoints = self.connections[stream].endpoints
        title = f"TCP stream {stream}"
        if not len(indices):
            return Ladder(title, [Lane(a, p, "") for a, p in endpoints], {}, [])
        assert kinds is not None
        lanes = [Lane(a, p, role) for (a, p), role in zip(endpoints, analysis.tcp_roles(stream),
                                                          strict=True)]
        flags_c, plen, thl, ts = self.flags, self.plen, self.thl, self.ts
        seq_c = self.seq_raw if absolute else self.rel_seq
        ack_c = self.ack_raw if absolute else self.rel_ack
        direction_c, window, bits = self.direction, self.window, self.bits
        initial: dict[int, TcpState] = {}
        arrows = []
        for i in indices.tolist():
            direction = direction_c[i]
            flags = flags_c[i]
            text = self._flag_text.get(flags)
            if text is None:
                text = self._flag_text[flags] = flag_text(flags) or "<none>"
            label = f"{text} seq={seq_c[i]}"
            if flags & ACK:
                label += f" ack={ack_c[i]}"
            label += f" len={plen[i]} win={window[i]}"
            transitions: dict[int, tuple[TcpState, ...]] = {}
            for change in analysis.state_changes(i):
                if change.new is TcpState.LISTEN and change.endpoint not in initial:
                    # The server listened before the capture began; the SYN only shows it,
                    # unless a reset answers it: then nobody listened (connection refused).
                    refused = analysis.refused_listen(i, change.endpoint, members) >= 0
                    initial[change.endpoint] = TcpState.CLOSED if refused else TcpState.LISTEN
                    continue
                initial.setdefault(change.endpoint, change.old)
                transitions[change.endpoint] = (*transitions.get(change.endpoint, ()),
                                                change.new)
            options = self._options(i) if thl[i] > 20 else ""
            arrows.append(Arrow(i, ts[i], direction, 1 - direction, label,
                                self._analysis_names(bits[i]), transitions,
                                int(kinds[i]), options, title))
        for lane, state in enumerate(analysis.states(int(indices[0]))):
            if state is not None:
                initial.setdefault(lane, state)
        return Ladder(title, lanes, initial, arrows)

    def _analysis_names(self, bits: int) -> tuple[str, ...]:
        names = self._names.get(bits)
        if names is None:
            names = self._names[bits] = tuple(analysis_names(bits))
        return names

    def _options(self, i: int) -> str:
        opts = parse_options(self.store.tcp_options(i))
        if opts.sack_blocks and not self.absolute:
            # SACK edges are the acked side's sequence numbers: relative, like ack
            base = (self.ack_raw[i] - self.rel_ack[i]) & 0xFFFFFFFF
            opts = opts._replace(sack_blocks=tuple(
                ((left - base) & 0xFFFFFFFF, (right - base) & 0xFFFFFFFF)
                for left, right in opts.sack_blocks))
        return opts.summary()


def udp_roles(endpoints: Sequence[tuple[bytes, int]]) -> tuple[str, str]:
    """Client and server of a UDP flow whose side 0 sent first.

    UDP has no handshake to say who started: the side with the only
    well-known port (below 1024) is the server, as for DNS seen from its
    reply; otherwise the side that sent first is the client, as in every
    request/reply exchange.
    """
    (_, port0), (_, port1) = endpoints
    return ("server", "client") if port0 < 1024 <= port1 else ("client", "server")


def udp_ladder(analysis: Analysis, flow: int, *, limit: int | None = None,
               start: int = 0) -> Ladder:
    """The ladder of UDP flow ``flow`` (and ICMP errors answering it), packets
    ``start`` to ``limit``."""
    if not 0 <= flow < len(analysis.udp_flows):
        raise BadInput(f"there is no UDP flow {flow}")
    store = analysis.store
    info = analysis.udp_flows[flow]
    lanes = [Lane(a, p, role) for (a, p), role in zip(info.endpoints, udp_roles(info.endpoints),
                                                      strict=True)]
    udp_flow = analysis.column("udp_flow")
    src, sport = store.column("src"), store.column("sport")
    plen, ts = store.column("payload_len"), store.column("ts_ns")
    title = f"UDP flow {flow}"
    arrows = []
    stop = len(udp_flow) if limit is None else limit
    linked = {i for i, link in analysis.icmp_links.items()
              if link.flow == flow and start <= i < stop}
    rows = analysis.rows_of("udp_flow", flow)
    own = rows[(rows >= start) & (rows < stop)].tolist()
    for i in sorted({*own, *linked}):
        if i not in linked:
            side = 0 if (store.address(int(src[i])), int(sport[i])) == info.endpoints[0] else 1
            arrows.append(Arrow(i, int(ts[i]), side, 1 - side,
                                f"UDP len={int(plen[i])}", (), kind=UDP_K,
                                conversation=title))
        else:
            d = store.decoded(i)
            kind = "port unreachable" if d.icmp_code in (3, 4) else f"code {d.icmp_code}"
            # The error comes from the quoted destination's host, back to its sender.
            arrows.append(Arrow(i, int(ts[i]), 1, 0, f"ICMP type {d.icmp_type} {kind}",
                                ("icmp_error",), kind=ICMP_K, conversation=title))
    return Ladder(title, lanes, {}, arrows)


OTHER_TITLE = "other packets"
ETHERNET = 1   # LINKTYPE_ETHERNET: a non-IP frame's hosts are its MAC addresses


def other_indices(analysis: Analysis, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Packets ``start:stop`` that belong to no TCP stream or UDP flow and answer
    none (ICMP echo, ARP, IGMP, routing protocols...)."""
    stream = analysis.column("stream")
    stop = len(stream) if stop is None else min(stop, len(stream))
    alone = ((stream[start:stop] < 0) & (analysis.column("udp_flow")[start:stop] < 0))
    found = np.flatnonzero(alone) + start
    if analysis.icmp_links:
        found = found[~np.isin(found, np.fromiter(analysis.icmp_links, dtype=np.int64))]
    return found


def other_ladder(analysis: Analysis, *, limit: int | None = None, start: int = 0) -> Ladder:
    """The packets of :func:`other_indices` between hosts: a lane per IP address
    (or, for a non-IP Ethernet frame, per MAC address). Frames with neither
    (another link type, a truncated header) are left to the table and timeline."""
    store = analysis.store
    src, dst, link = store.values("src"), store.values("dst"), store.values("linktype")
    indices = other_indices(analysis, start, limit)
    kinds = packet_kinds(analysis, start, int(indices[-1]) + 1) if len(indices) else None
    summary = PacketSummary(store, analysis)
    lanes: dict[bytes, int] = {}
    arrows = []
    for i in indices.tolist():
        ends = _hosts(store.address(src[i]), store.address(dst[i]),
                      store.frame(i)[:12] if link[i] == ETHERNET else b"")
        if ends is None:
            continue
        a, b = (lanes.setdefault(host, len(lanes)) for host in ends)
        name, info = summary.protocol(i), summary.info(i)
        label = info if info.startswith(name) else f"{name} {info}"
        arrows.append(Arrow(i, int(store.values("ts_ns")[i]), a, b, label, (),
                            kind=int(kinds[i - start]) if kinds is not None else OTHER_K,
                            conversation=OTHER_TITLE))
    return Ladder(OTHER_TITLE, [Lane(host, NO_PORT, "") for host in lanes], {}, arrows)


def _hosts(src: bytes, dst: bytes, ethernet: bytes) -> tuple[bytes, bytes] | None:
    """The two hosts of a packet: its IP addresses, else its frame's MAC addresses."""
    if src and dst and src != dst:
        return src, dst
    if len(ethernet) == 12 and ethernet[6:] != ethernet[:6]:
        return ethernet[6:], ethernet[:6]
    return None


def all_ladders(analysis: Analysis, *, absolute: bool = False) -> Iterator[Ladder]:
    """Every TCP stream's ladder, then every UDP flow's, one at a time: a scan's
    200,000 one-packet streams need not all be in memory at once."""
    streams = len(analysis.tcp.connections)
    if streams:
        ladders = _TcpLadders(analysis, absolute, packet_kinds(analysis))
        for s, members in enumerate(analysis.rows_of_each("stream", streams)):
            yield ladders.ladder(s, members, members)
    for f in range(len(analysis.udp_flows)):
        yield udp_ladder(analysis, f)


def combined_ladder(analysis: Analysis, streams: Iterable[int] = (),
                    flows: Iterable[int] = (), *, absolute: bool = False,
                    limit: int | None = None, start: int = 0, others: bool = False
                    ) -> Ladder:
    """One ladder for several TCP streams and UDP flows: a lane per endpoint.
    With ``others``, the packets of no conversation (:func:`other_ladder`) too.

    Lanes are ordered by first appearance. An endpoint that takes part in
    several TCP streams (a server with many clients) has one state per
    connection, not one state, so its lane shows no state band; a lane of a
    single TCP stream keeps its states. ``limit`` and ``start`` as for
    :func:`tcp_ladder`.
    """
    streams, flows = list(dict.fromkeys(streams)), list(dict.fromkeys(flows))
    parts = [tcp_ladder(analysis, s, absolute=absolute, limit=limit, start=start)
             for s in streams]
    parts += [udp_ladder(analysis, f, limit=limit, start=start) for f in flows]
    if others:
        rest = other_ladder(analysis, limit=limit, start=start)
        if rest.arrows:
            parts.append(rest)
    if not parts:
        raise BadInput("choose at least one TCP stream or UDP flow")
    if len(parts) == 1:
        return parts[0]
    return merge_ladders(parts, _combined_title(streams, flows))


def merge_ladders(parts: Sequence[Ladder], title: str) -> Ladder:
    """The ladders in ``parts`` drawn as one (see :func:`combined_ladder`)."""
    tagged = sorted((arrow.index, k, arrow) for k, part in enumerate(parts)
                    for arrow in part.arrows)
    keys: dict[tuple[bytes, int], int] = {}
    roles: dict[int, set[str]] = {}
    tcp_users: dict[int, int] = {}   # lane -> how many TCP ladders use it
    maps: list[list[int]] = [[] for _ in parts]

    def lane_of(k: int, local: int) -> int:
        lane = parts[k].lanes[local]
        number = keys.setdefault((lane.address, lane.port), len(keys))
        roles.setdefault(number, set()).add(lane.role)
        return number

    for _, k, arrow in tagged:
        for local in (arrow.src_lane, arrow.dst_lane):
            while len(maps[k]) <= local:
                maps[k].append(-1)
            if maps[k][local] < 0:
                maps[k][local] = lane_of(k, local)
    for k, part in enumerate(parts):   # lanes of ladders without arrows (never in practice)
        maps[k] += [-1] * (len(part.lanes) - len(maps[k]))
        for local in range(len(part.lanes)):
            if maps[k][local] < 0:
                maps[k][local] = lane_of(k, local)
        if part.initial_states or any(a.transitions for a in part.arrows):
            for number in set(maps[k]):
                tcp_users[number] = tcp_users.get(number, 0) + 1
    shared = {lane for lane, users in tcp_users.items() if users > 1}
    lanes = [Lane(address, port, next(iter(roles[n])) if len(roles[n]) == 1 else "")
             for (address, port), n in keys.items()]
    initial = {maps[k][local]: state for k, part in enumerate(parts)
               for local, state in part.initial_states.items()
               if maps[k][local] not in shared}
    arrows = []
    for _, k, arrow in tagged:
        m = maps[k]
        transitions = {m[local]: states for local, states in arrow.transitions.items()
                       if m[local] not in shared}
        arrows.append(Arrow(arrow.index, arrow.ts_ns, m[arrow.src_lane], m[arrow.dst_lane],
                            arrow.label, arrow.analysis, transitions, arrow.kind,
                            arrow.options, arrow.conversation))
    return Ladder(title, lanes, initial, arrows)


def _combined_title(streams: Sequence[int], flows: Sequence[int]) -> str:
    parts = []
    if streams:
        word = "TCP stream" if len(streams) == 1 else "TCP streams"
        parts.append(f"{word} {', '.join(map(str, streams))}")
    if flows:
        word = "UDP flow" if len(flows) == 1 else "UDP flows"
        parts.append(f"{word} {', '.join(map(str, flows))}")
    return " + ".join(parts)


# -- socket calls -----------------------------------------------------------------------
def attach_calls(ladder: Ladder, recording: RecordingInfo | None) -> Ladder:
    """``ladder`` with the socket calls of ``recording`` on their lanes (DESIGN: Views).

    A call goes on the lane of its socket's local endpoint; a socket bound
    to the wildcard address (0.0.0.0:port, a listening or unconnected
    socket) goes on the one lane with its port. A call whose peer is known
    but is no lane here belongs to another conversation and is left out;
    a call made before the socket had an address (socket(), setsockopt())
    goes where that side's next call with an address goes. Malformed
    records are skipped: a recording is a file from anywhere. Apply this
    to the final ladder (after :func:`merge_ladders`), which it does not
    change; without a recording or arrows the ladder comes back as it was.
    """
    if recording is None or not recording.calls or not ladder.arrows:
        return ladder
    calls: list[SocketCall] = []
    for record in recording.calls:
        try:
            calls.append(SocketCall.from_dict(record))
        except BadInput:
            continue
    calls.sort(key=lambda c: c.start_ns)
    lanes = ladder.lanes
    # None: the socket has no address yet; -1: another conversation's socket.
    placed: list[int | None] = [_lane_of_call(c, lanes) for c in calls]
    for k, call in enumerate(calls):
        if placed[k] is None:
            nearest = (j for j in chain(range(k + 1, len(calls)), range(k - 1, -1, -1))
                       if calls[j].side == call.side and calls[j].local)
            placed[k] = next((placed[j] for j in nearest if placed[j] is not None), -1)
    ts = np.maximum.accumulate(ladder.timestamps())
    marks = []
    for call, lane in zip(calls, placed, strict=True):
        if lane is None or lane < 0:
            continue
        end = max(call.end_ns, call.start_ns)
        start_gap, end_gap = np.searchsorted(ts, [call.start_ns, end], side="right").tolist()
        marks.append(LaneCall(lane, call.side, call.call, call.args, call.result,
                              call.start_ns, end, start_gap, end_gap, call.failed,
                              call.local, call.remote))
    return replace(ladder, calls=marks)


def _lane_of_call(call: SocketCall, lanes: Sequence[Lane]) -> int | None:
    """The lane of ``call``'s socket: None when it has no address, -1 when not here."""
    local = _endpoint(call.local)
    if local is None:
        return None
    lane = _find_lane(local, lanes)
    if lane < 0:
        return -1
    remote = _endpoint(call.remote)
    if remote is not None and _find_lane(remote, lanes) < 0:
        return -1
    return lane


def _find_lane(endpoint: tuple[bytes, int], lanes: Sequence[Lane]) -> int:
    address, port = endpoint
    for k, lane in enumerate(lanes):
        if lane.address == address and lane.port == port:
            return k
    if not any(address):   # the wildcard: whichever single lane has the port
        same = [k for k, lane in enumerate(lanes) if lane.port == port]
        if len(same) == 1:
            return same[0]
    return -1


def _endpoint(text: str) -> tuple[bytes, int] | None:
    """``"127.0.0.1:80"`` or ``"[::1]:80"`` as (packed address, port); None if not one."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.packed, int(port)


def describe_call(ladder: Ladder, number: int) -> str:
    """Several lines about socket call ``number``, for a tooltip or an SVG title."""
    call = ladder.calls[number]
    t0 = ladder.arrows[0].ts_ns if ladder.arrows else call.start_ns
    lane = ladder.lanes[call.lane]
    lines = [f"{call.side.capitalize()} ({lane.endpoint}): {call.opening}",
             call.returned,
             f"socket {call.local or '(no address yet)'}"
             + (f" ↔ {call.remote}" if call.remote else ""),
             f"called at {(call.start_ns - t0) / 1e9:.6f} s, "
             f"took {format_duration(call.end_ns - call.start_ns)}"]
    if call.spans:
        first = ladder.arrows[call.start_gap].index + 1
        last = ladder.arrows[call.end_gap - 1].index + 1
        lines.append(f"packets meanwhile: frame {first}" if first == last
                     else f"packets meanwhile: frames {first}–{last}")
    return "\n".join(lines)


def describe(ladder: Ladder, arrow_number: int) -> str:
    """Several lines about one arrow, for a tooltip or an SVG title."""
    arrow = ladder.arrows[arrow_number]
    t0 = ladder.arrows[0].ts_ns
    lines = [f"Frame {arrow.index + 1} · {arrow.conversation or ladder.title} · "
             f"{(arrow.ts_ns - t0) / 1e9:.6f} s",
             f"{ladder.lanes[arrow.src_lane].label} → {ladder.lanes[arrow.dst_lane].label}",
             arrow.label]
    if arrow.options:
        lines.append(f"Options: {arrow.options}")
    if arrow.analysis:
        lines.append("Analysis: " + ", ".join(name.replace("_", " ")
                                                for name in arrow.analysis))
    for lane, states in sorted(arrow.transitions.items()):
        who = ladder.lanes[lane]
        lines.append(f"{who.role.capitalize() or who.endpoint} → "
                     + " → ".join(map(str, states)))
    return "\n".join(lines)
