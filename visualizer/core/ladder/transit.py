"""The ladder of a recording on a path: arrows that take time to arrive.

Each arrow of a path ladder leaves its sender's lane when the packet left
its end and reaches the receiver's lane when it arrived at the other end
(the textbooks' sloped arrows); an arrow of a packet that never arrived
ends in a cross half-way, with the reason. The packets and their analysis
are those of ``path.view``: the receiving end's frames, analysed as a tap
there sees them, plus the packets lost before they got there.
"""

from __future__ import annotations

import numpy as np

from visualizer.core.decode.store import PacketStore
from visualizer.core.describe.kinds import ACK_K, DATA_K, FIN_K, RST_K, SYN_K, SYNACK_K, UDP_K
from visualizer.core.flows.analysis import Analysis
from visualizer.core.ladder.build import Arrow, Ladder, combined_ladder
from visualizer.core.path.view import NOT_ARRIVED, PathView, sequence_bases, unseen_numbers
from visualizer.core.playback.timescale import arrival_positions as landing
from visualizer.core.tcp.segment import ACK, FIN, RST, SYN, flag_text

LOST_ARROW = NOT_ARRIVED   # Arrow.arrival_ns of a packet that never arrived


def path_ladder(store: PacketStore, analysis: Analysis, view: PathView, *,
                absolute: bool = False) -> Ladder:
    """The ladder of ``view`` (of ``store``); ``analysis`` is the receiving end's
    (``Analysis(only_interface=...)``, as ``Session`` makes it)."""
    # The other end's copies have no analysis: drawing them as packets of no
    # conversation would draw every packet twice, so the ladder has no others.
    ladder = combined_ladder(analysis, range(len(analysis.tcp.connections)),
                             range(len(analysis.udp_flows)), absolute=absolute)
    row_of = {int(frame): k for k, frame in enumerate(view.rows.tolist())}
    at_end = set(view.analysed.tolist())
    arrows = [_on_path(arrow, arrow.index, view, row_of[arrow.index])
              for arrow in ladder.arrows if arrow.index in at_end]
    lanes = {(lane.address, lane.port): n for n, lane in enumerate(ladder.lanes)}
    bases = sequence_bases(store, analysis)
    numbers = unseen_numbers(store, analysis, view)
    for k, frame in enumerate(view.rows.tolist()):
        if frame not in at_end:
            lost = _lost_arrow(store, frame, lanes, bases, numbers, absolute)
            if lost is not None:
                arrows.append(_on_path(lost, frame, view, k))
    arrows.sort(key=lambda a: (a.ts_ns, a.index))
    ladder.arrows = arrows
    ladder.title = f"{ladder.title}, on a path ({view.record.params.summary()})"
    return ladder


def _on_path(arrow: Arrow, frame: int, view: PathView, k: int) -> Arrow:
    """``arrow`` as packet ``frame`` of the recording: sent, arrived, fate."""
    arrived = int(view.arrived_ns[k])
    return Arrow(frame, int(view.sent_ns[k]), arrow.src_lane, arrow.dst_lane, arrow.label,
                 arrow.analysis, arrow.transitions, arrow.kind, arrow.options,
                 arrow.conversation, arrival_ns=LOST_ARROW if arrived == NOT_ARRIVED
                 else arrived, fate=view.fate[k], why=view.why[k])


def _lost_arrow(store: PacketStore, frame: int, lanes: dict[tuple[bytes, int], int],
                bases: dict[tuple[bytes, int, bytes, int], tuple[int, int, int]],
                numbers: dict[int, tuple[int, int, int]], absolute: bool) -> Arrow | None:
    """The arrow of a packet the receiving end never saw, numbered like its stream."""
    src, dst = store.address(int(store.values("src")[frame])), store.address(
        int(store.values("dst")[frame]))
    sport, dport = int(store.values("sport")[frame]), int(store.values("dport")[frame])
    a, b = lanes.get((src, sport)), lanes.get((dst, dport))
    if a is None or b is None:
        return None
    plen = int(store.values("payload_len")[frame])
    if int(store.values("proto")[frame]) == 17:
        return Arrow(frame, 0, a, b, f"UDP len={plen}", (), kind=UDP_K)
    flags = int(store.values("tcp_flags")[frame])
    seq, ack = int(store.values("seq")[frame]), int(store.values("ack")[frame])
    found, known = bases.get((src, sport, dst, dport)), numbers.get(frame)
    stream, window = "", int(store.values("window")[frame])
    if found is not None and known is not None:   # numbered as its stream's others
        stream = f"TCP stream {found[0]}"
        window = known[2]
        if not absolute:
            seq, ack = known[0], known[1]
    label = f"{flag_text(flags) or '<none>'} seq={seq}"
    if flags & ACK:
        label += f" ack={ack}"
    label += f" len={plen} win={window}"
    return Arrow(frame, 0, a, b, label, (), kind=_tcp_kind(flags, plen), conversation=stream)


def _tcp_kind(flags: int, plen: int) -> int:
    if flags & RST:
        return RST_K
    if flags & SYN:
        return SYNACK_K if flags & ACK else SYN_K
    if flags & FIN:
        return FIN_K
    return DATA_K if plen else ACK_K


def arrival_positions(ladder: Ladder, positions: np.ndarray) -> np.ndarray | None:
    """Where each arrow lands on the ladder's axis (``positions`` are where they
    leave; None for a ladder that is not on a path): see ``timescale.arrival_positions``."""
    arrivals = np.fromiter((a.arrival_ns for a in ladder.arrows), np.int64,
                           len(ladder.arrows))
    return landing(ladder.timestamps(), arrivals, positions)
