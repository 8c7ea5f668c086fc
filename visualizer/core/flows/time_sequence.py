"""tcptrace's time-sequence graph as arrays, for a front end to plot.

For one direction of one TCP stream: each data segment from its first to
its last sequence number at the time it was seen (retransmissions marked),
the acknowledgements coming back from the receiver, the receive window it
advertises (ack + window), and the SYN and FIN, which take one sequence
number each. Times are seconds since ``t0_ns`` (the GUI: the first packet
of the capture, so that every plot shares one time axis).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from visualizer.core.flows.analysis import Analysis
from visualizer.core.tcp.analysis_flags import RETRANSMISSIONS
from visualizer.core.tcp.segment import ACK, FIN, SYN


@dataclass(frozen=True)
class TimeSequence:
    """The series of one sender's time-sequence graph (module docstring)."""

    time: np.ndarray           # per data segment: seconds
    seq: np.ndarray            # relative sequence number of its first byte
    end: np.ndarray            # seq + payload length
    retransmitted: np.ndarray  # bool
    ack_time: np.ndarray       # per acknowledgement from the receiver: seconds
    ack: np.ndarray            # relative acknowledgement number
    window: np.ndarray         # ack + advertised (scaled) window
    control_time: np.ndarray   # per SYN or FIN of the sender: seconds
    control_seq: np.ndarray    # its sequence number
    control_syn: np.ndarray    # bool: a SYN (else a FIN)
    stream_time: np.ndarray    # per packet of the stream, either way: seconds
    sent_seq: np.ndarray       # per packet of the sender: its sequence number
    # On a path, from the sender's TCP_INFO: the edge its congestion window
    # allows (the last ack + cwnd × MSS), at each sample's time. Empty otherwise.
    cwnd_time: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cwnd_edge: np.ndarray = field(default_factory=lambda: np.zeros(0))


def busier_sender(analysis: Analysis, stream: int, count: int) -> int:
    """The direction (0 or 1) of TCP ``stream`` that sent more payload bytes
    in packets [0, count) (0 on a tie)."""
    indices = analysis.stream_indices(stream)
    indices = indices[indices < count]
    plen = analysis.store.column("payload_len")[indices]
    sent = analysis.column("direction")[indices]
    return 0 if plen[sent == 0].sum() >= plen[sent == 1].sum() else 1


def time_sequence(analysis: Analysis, stream: int, sender: int, *, count: int,
                  t0_ns: int = 0) -> TimeSequence:
    """The graph of direction ``sender`` of TCP ``stream``, packets [0, count)."""
    store = analysis.store
    indices = analysis.stream_indices(stream)
    indices = indices[indices < count]
    seconds = (store.column("ts_ns")[indices] - t0_ns) / 1e9
    direction = analysis.column("direction")[indices]
    flags = store.column("tcp_flags")[indices].astype(np.int32)
    plen = store.column("payload_len")[indices].astype(np.int64)
    seq = analysis.column("rel_seq")[indices]
    out = direction == sender
    data = out & (plen > 0)
    retrans = data & (analysis.column("analysis")[indices] & RETRANSMISSIONS != 0)
    back = (direction != sender) & (flags & ACK != 0)
    ack = analysis.column("rel_ack")[indices][back]
    window = ack + np.maximum(analysis.column("window")[indices][back], 0)
    control = out & (flags & (SYN | FIN) != 0)
    return TimeSequence(
        time=seconds[data], seq=seq[data], end=seq[data] + plen[data],
        retransmitted=retrans[data],
        ack_time=seconds[back], ack=ack, window=window,
        control_time=seconds[control], control_seq=seq[control],
        control_syn=flags[control] & SYN != 0,
        stream_time=seconds, sent_seq=seq[out])


def with_congestion_window(series: TimeSequence, samples: list[dict[str, object]],
                           sender: str, t0_ns: int) -> TimeSequence:
    """``series`` with the sender's congestion-window edge: ``samples`` are the
    recording's TCP_INFO samples (``path.tcpinfo``, as dicts), ``sender`` the
    sending endpoint as ``format_endpoint`` writes it. The edge is where the
    sender must stop before more ACKs come: the receiver's last ack plus
    cwnd segments of MSS bytes; it falls when cwnd is cut after a loss."""
    mine = [s for s in samples if s.get("local") == sender]
    if not mine or not len(series.ack_time):
        return series
    times = (np.array([int(str(s["ts_ns"])) for s in mine], dtype=np.int64) - t0_ns) / 1e9
    cwnd = np.array([int(str(s["cwnd"])) * int(str(s["mss"])) for s in mine], dtype=np.int64)
    last = np.searchsorted(series.ack_time, times, side="right") - 1
    known = last >= 0
    edge = series.ack[np.maximum(last, 0)] + cwnd
    return replace(series, cwnd_time=times[known], cwnd_edge=edge[known])
