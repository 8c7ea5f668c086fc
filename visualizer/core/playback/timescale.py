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
