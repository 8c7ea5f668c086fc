"""A recording on a path seen once per packet: when it was sent, when (and
whether) it arrived, and the TCP analysis a tap at the receiver would make.

A path recording holds each delivered packet twice, once per end (see
``fates.py``). Listed once, a packet is the copy at the *analysed end*, the
host that receives the data (the server, when the client sends it), or,
when it never reached that end, the copy that left the other one. So a
packet lost on its way to the server is listed with its send time and no
arrival; one lost on its way to the client is listed from the server's
capture, where it left.

The TCP analysis is the one of the analysed end's frames alone, in their
order (``Analysis(only_interface=...)``): what a capture on the receiving
host shows (a lost segment leaves a gap, its retransmission fills it), and
exactly what tshark says of that end
exported on its own (``export --end``), which the tests check. Packets that
never reached the analysed end have no analysis there: they are on the
list so that a loss is seen where it happened.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from visualizer.core.decode.store import PacketStore
from visualizer.core.flows.analysis import Analysis
from visualizer.core.path.fates import ARRIVED, SENT, PathRecord
from visualizer.core.path.link import C2S
from visualizer.core.playback.timescale import NOT_ARRIVED
from visualizer.core.tcp.segment import ACK, SYN


@dataclass(frozen=True)
class PathView:
    """Each packet of a path recording once (see the module docstring)."""

    record: PathRecord
    rows: np.ndarray        # frame indices, in time order
    sent_ns: np.ndarray     # per row: when the packet left its sender's end
    arrived_ns: np.ndarray  # per row: when it reached the other end, NOT_ARRIVED if never
    fate: list[str]         # per row: delivered, lost, corrupted, duplicated
    why: list[str]          # per row: the reason of a loss ("queue full"...), else ""
    analysed: np.ndarray    # the frames at the analysed end, which the TCP analysis sees
    by_packet: dict[int, int]   # the link's packet number -> its row's frame

    def __len__(self) -> int:
        return len(self.rows)

    def shown_as(self, frame: int) -> int:
        """The frame that stands for ``frame`` in the view: itself when it is a row,
        else the row of the same packet (its copy at the other end), or -1."""
        packet = self.record.packet
        n = packet[frame] if 0 <= frame < len(packet) else 0
        row = self.by_packet.get(n, -1) if n else -1
        if row == frame or (row < 0 and self.rows.size and frame in self.rows):
            return frame   # a row of its own (one not matched across the ends, too)
        return row


def path_view(store: PacketStore, record: PathRecord) -> PathView:
    """The view of ``store``, a recording whose path part is ``record``."""
    count = len(store)
    ends = store.column("interface")[:count]
    ts = store.column("ts_ns")[:count]
    packet = np.zeros(count, dtype=np.int64)
    known = min(count, len(record.packet))
    packet[:known] = record.packet[:known]
    role = record.role.ljust(count, "?")[:count]
    sent_frame: dict[int, int] = {}
    arrivals: dict[int, list[int]] = {}
    for index in range(count):
        n = int(packet[index])
        if n and role[index] == SENT:
            sent_frame[n] = index
        elif n and role[index] == ARRIVED:
            arrivals.setdefault(n, []).append(index)
    analysed_end = record.analysed_end
    at_end = ends == analysed_end
    lost_elsewhere = np.array([bool(packet[i]) and role[i] == SENT and not at_end[i]
                               and int(packet[i]) not in arrivals for i in range(count)],
                              dtype=bool)
    rows = np.flatnonzero(at_end | lost_elsewhere)
    sent = np.empty(len(rows), dtype=np.int64)
    arrived = np.empty(len(rows), dtype=np.int64)
    fates, whys = [], []
    for k, index in enumerate(rows.tolist()):
        n = int(packet[index])
        info = record.packets[n - 1] if 0 < n <= len(record.packets) else [C2S, "", "", 0]
        sender = sent_frame.get(n, index)
        sent[k] = ts[sender]
        if role[index] == ARRIVED:
            arrived[k] = ts[index]
        else:
            copies = arrivals.get(n)
            arrived[k] = ts[copies[0]] if copies else NOT_ARRIVED
        fates.append(str(info[1]) or "unmatched")
        whys.append(str(info[2]))
    by_packet = {int(packet[r]): r for r in reversed(rows.tolist()) if packet[r]}
    return PathView(record, rows, sent, arrived, fates, whys, np.flatnonzero(at_end),
                    by_packet)


def sequence_bases(store: PacketStore, analysis: Analysis
                   ) -> dict[tuple[bytes, int, bytes, int], tuple[int, int, int]]:
    """(src, sport, dst, dport) -> (stream, seq base, ack base): absolute minus
    relative numbers of each direction of each TCP stream the analysis saw, to
    number a packet it never saw (one lost on its way) as its stream's others."""
    stream, rel_seq, rel_ack = (analysis.values(n) for n in ("stream", "rel_seq", "rel_ack"))
    src, dst, sport, dport, seq, ack, flags = (store.values(n) for n in (
        "src", "dst", "sport", "dport", "seq", "ack", "tcp_flags"))
    seq_base: dict[tuple[bytes, int, bytes, int], tuple[int, int]] = {}
    ack_base: dict[tuple[bytes, int, bytes, int], int] = {}
    for i in range(len(stream)):
        if stream[i] < 0:
            continue
        key = (store.address(src[i]), sport[i], store.address(dst[i]), dport[i])
        seq_base.setdefault(key, (stream[i], (seq[i] - rel_seq[i]) % 2**32))
        if flags[i] & ACK:   # a SYN's ack field means nothing
            ack_base.setdefault(key, (ack[i] - rel_ack[i]) % 2**32)
    return {key: (number, base, ack_base.get(key, 0))
            for key, (number, base) in seq_base.items()}


def unseen_numbers(store: PacketStore, analysis: Analysis, view: PathView
                   ) -> dict[int, tuple[int, int, int]]:
    """Frame -> (relative seq, relative ack, scaled window) of the TCP packets of
    ``view`` that the analysis never saw (lost before the analysed end), numbered
    as the other packets of their stream, so that their rows read like theirs."""
    lost = np.setdiff1d(view.rows, view.analysed)
    if not len(lost):
        return {}
    bases = sequence_bases(store, analysis)
    src, dst, sport, dport, seq, ack, raw_win, proto, flags = (store.values(n) for n in (
        "src", "dst", "sport", "dport", "seq", "ack", "window", "proto", "tcp_flags"))
    stream, win = analysis.values("stream"), analysis.values("window")
    scale: dict[tuple[bytes, int, bytes, int], int] = {}   # per direction: the window's
    for i in view.analysed.tolist():                       # multiplier, as analysed
        if stream[i] >= 0 and raw_win[i] and not flags[i] & SYN:
            key = (store.address(src[i]), sport[i], store.address(dst[i]), dport[i])
            scale.setdefault(key, max(1, win[i] // raw_win[i]))
    numbers = {}
    for i in lost.tolist():
        key = (store.address(src[i]), sport[i], store.address(dst[i]), dport[i])
        found = bases.get(key)
        if proto[i] == 6 and found is not None:
            _, seq_base, ack_base = found
            numbers[i] = ((seq[i] - seq_base) % 2**32, (ack[i] - ack_base) % 2**32,
                          raw_win[i] * scale.get(key, 1))
    return numbers
