"""The ladder (sequence) diagram model: lanes, arrows and state changes.

One lane per endpoint, keyed by address *and port*, so a client and a
server on 127.0.0.1 get two lanes (Wireshark's flow graph collapses them).
The text renderer of ``visualizer ladder`` and the GUI ladder both draw
this model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from visualizer.core.analysis import Analysis, analysis_names
from visualizer.core.errors import BadInput
from visualizer.core.store import format_endpoint
from visualizer.core.tcp.segment import ACK, SYN, flag_text
from visualizer.core.tcp.states import TcpState


@dataclass(frozen=True)
class Lane:
    address: bytes
    port: int
    role: str  # "client", "server", or "" when unknown

    @property
    def label(self) -> str:
        text = format_endpoint(self.address, self.port)
        return f"{text} ({self.role})" if self.role else text


@dataclass(frozen=True)
class Arrow:
    index: int          # 0-based packet index
    ts_ns: int
    src_lane: int
    dst_lane: int
    label: str          # "SYN seq=0 ack=0 len=0 win=65495"
    analysis: tuple[str, ...]
    # lane -> the states it passed through on this packet, in order (usually
    # one; a FIN+ACK can take the active closer through FIN-WAIT-2 to TIME-WAIT)
    transitions: dict[int, tuple[TcpState, ...]] = field(default_factory=dict)


@dataclass
class Ladder:
    title: str
    lanes: list[Lane]
    initial_states: dict[int, TcpState]
    arrows: list[Arrow]


def tcp_ladder(analysis: Analysis, stream: int, *, absolute: bool = False) -> Ladder:
    """The ladder of TCP stream ``stream``."""
    summaries = analysis.tcp_summaries
    if not 0 <= stream < len(summaries):
        raise BadInput(f"there is no TCP stream {stream}: this capture has "
                       f"{len(summaries)} (numbered from 0, see 'analyze --stats')")
    store = analysis.store
    indices = analysis.stream_indices(stream)
    summary = summaries[stream]
    flags_c = store.column("tcp_flags")
    first = int(indices[0])
    opener_syn = flags_c[first] & (SYN | ACK) == SYN
    roles = ("client", "server") if opener_syn else ("", "")
    lanes = [Lane(a, p, role) for (a, p), role in zip(summary.endpoints, roles, strict=True)]
    cols = {n: analysis.column(n) for n in ("direction", "rel_seq", "rel_ack", "window",
                                            "analysis")}
    plen, seq_raw, ack_raw, ts = (store.column("payload_len"), store.column("seq"),
                                  store.column("ack"), store.column("ts_ns"))
    initial: dict[int, TcpState] = {}
    arrows = []
    for i in indices.tolist():
        direction = int(cols["direction"][i])
        flags = int(flags_c[i])
        seq = int(seq_raw[i] if absolute else cols["rel_seq"][i])
        ack = int(ack_raw[i] if absolute else cols["rel_ack"][i])
        label = f"{flag_text(flags) or '<none>'} seq={seq}"
        if flags & ACK:
            label += f" ack={ack}"
        label += f" len={int(plen[i])} win={int(cols['window'][i])}"
        transitions: dict[int, tuple[TcpState, ...]] = {}
        for change in analysis.state_changes(i):
            if change.new is TcpState.LISTEN and change.endpoint not in initial:
                # The server listened before the capture began; the SYN only shows it.
                initial[change.endpoint] = TcpState.LISTEN
                continue
            initial.setdefault(change.endpoint, change.old)
            transitions[change.endpoint] = (*transitions.get(change.endpoint, ()), change.new)
        arrows.append(Arrow(i, int(ts[i]), direction, 1 - direction, label,
                            tuple(analysis_names(int(cols["analysis"][i]))), transitions))
    for lane, state in enumerate(analysis.states(int(indices[0]))):
        if state is not None:
            initial.setdefault(lane, state)
    return Ladder(f"TCP stream {stream}", lanes, initial, arrows)


def udp_ladder(analysis: Analysis, flow: int) -> Ladder:
    """The ladder of UDP flow ``flow`` (and ICMP errors answering it)."""
    if not 0 <= flow < len(analysis.udp_flows):
        raise BadInput(f"there is no UDP flow {flow}")
    store = analysis.store
    info = analysis.udp_flows[flow]
    lanes = [Lane(a, p, "") for a, p in info.endpoints]
    udp_flow = analysis.column("udp_flow")
    src, sport = store.column("src"), store.column("sport")
    plen, ts = store.column("payload_len"), store.column("ts_ns")
    arrows = []
    linked = {i for i, link in analysis.icmp_links.items() if link.flow == flow}
    for i in sorted({*np.flatnonzero(udp_flow == flow).tolist(), *linked}):
        if i not in linked:
            side = 0 if (store.address(int(src[i])), int(sport[i])) == info.endpoints[0] else 1
            arrows.append(Arrow(i, int(ts[i]), side, 1 - side,
                                f"UDP len={int(plen[i])}", ()))
        else:
            d = store.decoded(i)
            kind = "port unreachable" if d.icmp_code in (3, 4) else f"code {d.icmp_code}"
            # The error comes from the quoted destination's host, back to its sender.
            arrows.append(Arrow(i, int(ts[i]), 1, 0, f"ICMP type {d.icmp_type} {kind}",
                                ("icmp_error",)))
    return Ladder(f"UDP flow {flow}", lanes, {}, arrows)


def all_ladders(analysis: Analysis, *, absolute: bool = False) -> list[Ladder]:
    """Every TCP stream's ladder, then every UDP flow's."""
    ladders = [tcp_ladder(analysis, s, absolute=absolute)
               for s in range(len(analysis.tcp_summaries))]
    ladders += [udp_ladder(analysis, f) for f in range(len(analysis.udp_flows))]
    return ladders

