"""Breakpoints: the next (or previous) packet worth stopping at.

Rewinding and stopping at the interesting moment turns watching into
looking. A breakpoint kind is a condition on one packet, read from the
columns (the TCP analysis, the decoded flags, a path recording's fates):

- ``state``: it changes an endpoint's TCP state;
- ``retransmission``: any kind (tshark's ``tcp.analysis.retransmission``,
  ``fast_retransmission``, ``spurious_retransmission``);
- ``rst``: it carries the RST flag;
- ``zero-window``: ``tcp.analysis.zero_window``;
- ``data``: a TCP segment or UDP datagram with a payload;
- ``flag``: any ``tcp.analysis`` flag;
- ``lost``: a packet of a path recording that never reached the other end.

:func:`breakpoint_mask` says which of the played packets match; :func:`find`
walks from the current one in either direction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from visualizer.core.decode.headers import PROTO_TCP, PROTO_UDP
from visualizer.core.flows.analysis import Analysis
from visualizer.core.path.view import NOT_ARRIVED, PathView
from visualizer.core.tcp import analysis_flags as af
from visualizer.core.tcp.analysis_flags import analysis_names
from visualizer.core.tcp.events import StateChanged
from visualizer.core.tcp.segment import RST

__all__ = ["BREAKPOINTS", "breakpoint_mask", "find", "stop_reason"]

#: kind -> what the status bar calls it
BREAKPOINTS: dict[str, str] = {
    "state": "a state change",
    "retransmission": "a retransmission",
    "rst": "a reset (RST)",
    "zero-window": "a zero window",
    "data": "data",
    "flag": "an analysis flag",
    "lost": "a packet lost on the path",
}


def _state_changes(analysis: Analysis) -> set[int]:
    return {i for i, events in analysis.events.items()
            if any(isinstance(e, StateChanged) for e in events)}


def _lost(view: PathView | None) -> set[int]:
    if view is None:
        return set()
    return {int(i) for i in view.rows[view.arrived_ns == NOT_ARRIVED]}


def breakpoint_mask(kind: str, analysis: Analysis, packets: Sequence[int] | np.ndarray,
                    path: PathView | None = None) -> np.ndarray:
    """For each store index of ``packets``: does that packet match ``kind``?"""
    if kind not in BREAKPOINTS:
        raise ValueError(f"unknown breakpoint {kind!r}: choose from {', '.join(BREAKPOINTS)}")
    rows = np.asarray(packets, dtype=np.int64)
    store = analysis.store
    if kind in ("state", "lost"):
        chosen = _state_changes(analysis) if kind == "state" else _lost(path)
        return np.array([int(i) in chosen for i in rows], dtype=bool)
    proto = np.asarray(store.values("proto"))[rows]
    if kind == "rst":
        return (proto == PROTO_TCP) & (np.asarray(store.values("tcp_flags"))[rows] & RST > 0)
    if kind == "data":
        return ((proto == PROTO_TCP) | (proto == PROTO_UDP)) & (
            np.asarray(store.values("payload_len"))[rows] > 0)
    bits = np.asarray(analysis.values("analysis"))[rows]
    want = {"retransmission": af.RETRANSMISSIONS, "zero-window": af.ZERO_WINDOW,
            "flag": af.ALL}[kind]
    return (bits & want) > 0


def find(mask: np.ndarray, index: int, direction: int) -> int:
    """The first matching position after ``index`` (direction 1) or before it (-1);
    -1 when there is none. ``index`` -1 is before the first packet."""
    if direction > 0:
        hits = np.flatnonzero(mask[index + 1:])
        return index + 1 + int(hits[0]) if len(hits) else -1
    hits = np.flatnonzero(mask[:max(index, 0)])
    return int(hits[-1]) if len(hits) else -1


def stop_reason(kind: str, analysis: Analysis, index: int, *, first_number: int = 1,
                path: PathView | None = None) -> str:
    """What the status bar says: 'Stopped at frame 7: a retransmission (retransmission)'."""
    detail = ""
    if kind == "state":
        detail = "; ".join(f"{c.old} → {c.new}" for c in analysis.state_changes(index))
    elif kind in ("retransmission", "flag", "zero-window"):
        detail = ", ".join(analysis_names(int(analysis.values("analysis")[index])))
    elif kind == "data":
        detail = f"{analysis.store.values('payload_len')[index]} bytes"
    elif kind == "lost" and path is not None:
        row = np.flatnonzero(path.rows == index)
        if len(row):
            k = int(row[0])
            detail = path.fate[k] + (f": {path.why[k]}" if path.why[k] else "")
    text = f"Stopped at frame {first_number + index}: {BREAKPOINTS[kind]}"
    return f"{text} ({detail})" if detail else text
