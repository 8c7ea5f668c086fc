"""Expert information: the analysis's findings, grouped by severity and kind.

As Wireshark's Expert Information dialog lists them: each kind of finding
(a retransmission, a zero window, a reset, a malformed frame, a link type
that is not decoded...) with its severity, its count and its packets. The
findings come from what the decoder and the TCP analysis already mark (the
``tcp.analysis.*`` bits, the RST flag, the decoder's status); nothing is
analysed again. Severities and wording follow Wireshark's expert items.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from visualizer.core.decode import headers as dec
from visualizer.core.decode.store import PacketStore
from visualizer.core.flows.analysis import Analysis
from visualizer.core.pcap.format import linktype_text
from visualizer.core.tcp import analysis_flags as af
from visualizer.core.tcp.segment import RST


class Severity(enum.IntEnum):
    """Wireshark's expert severities, most severe last."""

    CHAT = 0
    NOTE = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.capitalize()


_S = Severity
#: analysis flag name -> (severity, Wireshark's text)
FLAG_FINDINGS: dict[str, tuple[Severity, str]] = {
    "retransmission": (_S.NOTE, "This frame is a (suspected) retransmission"),
    "fast_retransmission": (_S.NOTE, "This frame is a (suspected) fast retransmission"),
    "spurious_retransmission": (_S.NOTE, "This frame is a (suspected) spurious retransmission"),
    "out_of_order": (_S.WARNING, "This frame is a (suspected) out-of-order segment"),
    "lost_segment": (_S.WARNING, "Previous segment(s) not captured (common at capture start)"),
    "ack_lost_segment": (_S.WARNING,
                         "ACKed segment that wasn't captured (common at capture start)"),
    "duplicate_ack": (_S.NOTE, "Duplicate ACK"),
    "zero_window": (_S.WARNING, "TCP Zero Window segment"),
    "zero_window_probe": (_S.NOTE, "TCP Zero Window Probe"),
    "zero_window_probe_ack": (_S.NOTE, "ACK to a TCP Zero Window Probe"),
    "window_update": (_S.CHAT, "TCP window update"),
    "window_full": (_S.WARNING, "TCP window specified by the receiver is now completely full"),
    "keep_alive": (_S.NOTE, "TCP keep-alive segment"),
    "keep_alive_ack": (_S.NOTE, "ACK to a TCP keep-alive segment"),
    "reused_ports": (_S.NOTE, "A new TCP session is started with the same ports as an "
                              "earlier session in this trace"),
}
RESET_TEXT = "Connection reset (RST)"


@dataclass(frozen=True)
class Finding:
    """One kind of finding and the packets that carry it."""

    severity: Severity
    kind: str              # "zero_window", "reset", "malformed", "undecoded_link", ...
    text: str
    indices: np.ndarray    # 0-based packet indices, ascending

    @property
    def count(self) -> int:
        return len(self.indices)


def findings(store: PacketStore, analysis: Analysis | None) -> list[Finding]:
    """Every kind of finding present in the capture, most severe first, then by
    count (largest first). Only packets both decoded and analysed are looked at
    while a capture is still being read."""
    return FindingsSoFar().update(store, analysis)


class FindingsSoFar:
    """:func:`findings` of a capture that grows, each packet looked at once.

    A window refreshes its findings as a file loads; looking at every packet
    again each time cost 140 ms a refresh at 10^7 packets (five columns
    copied whole and fifteen masks over them), a stall of the window each
    second. This keeps each kind's packets so far and reads only the new ones.
    Another store or analysis (a new capture, a ring buffer's new store)
    starts it over.
    """

    def __init__(self) -> None:
        self._source: tuple[PacketStore, Analysis | None] | None = None
        self._done = 0
        self._kinds: dict[str, tuple[Severity, str, list[np.ndarray]]] = {}

    def is_of(self, store: PacketStore, analysis: Analysis | None) -> bool:
        """Are the findings so far those of this store and analysis?"""
        return self._source is not None and self._source[0] is store \
            and self._source[1] is analysis

    def update(self, store: PacketStore, analysis: Analysis | None) -> list[Finding]:
        n = len(store) if analysis is None else min(len(store), len(analysis.values("stream")))
        if not self.is_of(store, analysis) or n < self._done:
            self._source, self._done, self._kinds = (store, analysis), 0, {}
        if n > self._done:
            for severity, kind, text, hits in _found(store, analysis, self._done, n):
                self._kinds.setdefault(kind, (severity, text, []))[2].append(hits + self._done)
            self._done = n
        found = []
        for kind, (severity, text, parts) in self._kinds.items():
            if len(parts) > 1:
                parts[:] = [np.concatenate(parts)]
            found.append(Finding(severity, kind, text, parts[0]))
        found.sort(key=lambda f: (-f.severity, -f.count, f.kind))
        return found


def _found(store: PacketStore, analysis: Analysis | None, start: int, stop: int
           ) -> list[tuple[Severity, str, str, np.ndarray]]:
    """The findings among packets [start, stop): (severity, kind, text, indices
    counted from ``start``), each kind that has any."""
    found = []
    status = store.column_slice("status", start, stop)
    bad = np.flatnonzero(status == dec.MALFORMED)
    if len(bad):
        found.append((_S.ERROR, "malformed", "Malformed frame", bad))
    unsupported = status == dec.UNSUPPORTED_LINK
    if unsupported.any():
        links = store.column_slice("linktype", start, stop)
        for link in np.unique(links[unsupported]).tolist():
            found.append((_S.WARNING, f"undecoded_link:{link}",
                          f"Link type {linktype_text(int(link))} is not decoded",
                          np.flatnonzero(unsupported & (links == link))))
    if analysis is not None:
        streams = analysis.column_slice("stream", start, stop)
        resets = np.flatnonzero(
            (streams >= 0) & (store.column_slice("tcp_flags", start, stop) & RST != 0))
        if len(resets):
            found.append((_S.WARNING, "reset", RESET_TEXT, resets))
        flags = analysis.column_slice("analysis", start, stop)
        present = int(np.bitwise_or.reduce(flags)) if len(flags) else 0
        for bit, name in enumerate(af.ANALYSIS_FLAGS):
            if present & (1 << bit):
                severity, text = FLAG_FINDINGS[name]
                found.append((severity, name, text, np.flatnonzero(flags & (1 << bit))))
    return found


def problem_indices(found: list[Finding], least: Severity = Severity.WARNING) -> np.ndarray:
    """The packets with a finding of severity ``least`` or above, ascending."""
    parts = [f.indices for f in found if f.severity >= least]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


def next_index(indices: np.ndarray, current: int, *, forward: bool = True) -> int | None:
    """The first of ``indices`` after ``current`` (before it, backwards), or None."""
    if forward:
        k = int(np.searchsorted(indices, current, side="right"))
        return int(indices[k]) if k < len(indices) else None
    k = int(np.searchsorted(indices, current, side="left")) - 1
    return int(indices[k]) if k >= 0 else None


def summary_lines(found: list[Finding]) -> list[str]:
    """Expert information as text: one line per kind, grouped by severity."""
    if not found:
        return ["Expert information: nothing to report"]
    lines = ["Expert information:"]
    for severity in sorted({f.severity for f in found}, reverse=True):
        group = [f for f in found if f.severity == severity]
        lines.append(f"{severity.label} ({sum(f.count for f in group):,})")
        for f in group:
            first = ", ".join(str(i + 1) for i in f.indices[:5].tolist())
            more = ", …" if f.count > 5 else ""
            lines.append(f"  {f.count:>9,}  {f.text} (frame{'s' if f.count > 1 else ''} "
                         f"{first}{more})")
    return lines
