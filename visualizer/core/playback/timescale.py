"""Where each packet sits along the time axis of the ladder and the playback.

Three scales (DESIGN.md: Views):

- ``order``: equal spacing, packet i at i;
- ``real``: proportional to the timestamps;
- ``log``: each gap drawn as ``MIN_GAP + log10(1 + gap/1 µs)``, so the
  microsecond gaps of loopback and the second-long gaps of a retransmission
  timeout are both visible on one axis.

Every scale spans the same range, 0 to n-1, so a view can use one
pixels-per-step figure whatever the scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SCALES: dict[str, str] = {
    "order": "Event order",
    "real": "Real time",
    "log": "Log of gaps",
}
MIN_GAP = 0.25  # log scale: packets at the same instant still get apart


def positions(ts_ns: Sequence[int] | np.ndarray, scale: str) -> np.ndarray:
    """Positions (float64, 0..n-1, non-decreasing) of packets stamped ``ts_ns``."""
    if scale not in SCALES:
        raise ValueError(f"unknown time scale {scale!r}: choose one of {', '.join(SCALES)}")
    ts = np.asarray(ts_ns, dtype=np.int64)
    n = len(ts)
    if n < 2 or scale == "order":
        return np.arange(n, dtype=np.float64)
    gaps = np.maximum(np.diff(ts), 0).astype(np.float64)
    if scale == "log":
        gaps = MIN_GAP + np.log10(1.0 + gaps / 1000.0)
    total = gaps.sum()
    if total <= 0:
        return np.arange(n, dtype=np.float64)
    pos = np.empty(n, dtype=np.float64)
    pos[0] = 0.0
    np.cumsum(gaps, out=pos[1:])
    return pos * ((n - 1) / total)


NOT_ARRIVED = -1   # an arrival time (ns) of a packet that never arrived
LOST_REACH = 0.55  # a lost packet ends this far along its way (the cross on the link)


def arrival_positions(sent_ns: Sequence[int] | np.ndarray, arrival_ns: Sequence[int] |
                      np.ndarray, pos: np.ndarray) -> np.ndarray | None:
    """Where packets that left at ``pos`` (stamped ``sent_ns``) land on the same axis.

    For a recording on a path, where each packet has an arrival time; None when
    none has (``arrival_ns`` all 0). Times between two departures fall between
    their positions, and after the last one at the pace of the whole axis. A
    packet that never arrived (``NOT_ARRIVED``) lands ``LOST_REACH`` of a typical
    transit after it left: where the ladder draws its cross, and where playback
    stops flying it.
    """
    arrivals = np.asarray(arrival_ns, dtype=np.int64)
    if not len(arrivals) or not arrivals.any():
        return None
    sent = np.asarray(sent_ns, dtype=np.int64)
    # Arrival order need not be send order, but np.interp wants rising x.
    rising = np.maximum.accumulate(sent)
    land = np.interp(arrivals, rising, pos)
    span = float(rising[-1] - rising[0])
    pace = (float(pos[-1] - pos[0]) / span) if span > 0 else 0.0
    beyond = arrivals > rising[-1]
    land[beyond] = pos[-1] + (arrivals[beyond] - rising[-1]) * pace
    lost = arrivals == NOT_ARRIVED
    transit = land - pos
    typical = float(np.median(transit[~lost])) if (~lost).any() else 1.0
    land[lost] = pos[lost] + max(typical, 0.5) * LOST_REACH
    return np.maximum(land, pos)
