"""Exporting packets of a PacketStore to pcap or pcapng.

Frames and timestamps are copied as they are: exporting everything of a
pcap to pcap reproduces the input's packet records byte for byte. An
annotated pcapng export carries each packet's explanation as its packet
comment (:func:`packet_comments`), for students who open it in Wireshark.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import BinaryIO

import numpy as np

from visualizer.core.decode.store import PacketStore
from visualizer.core.describe.explain import explain
from visualizer.core.errors import BadInput, VisualizerError
from visualizer.core.flows.analysis import Analysis
from visualizer.core.output import written
from visualizer.core.pcap.format import LINKTYPE_NAMES, PCAP_RECORD_HEADER_LEN
from visualizer.core.pcap.recording import RecordingInfo
from visualizer.core.pcap.source import TRUNCATED
from visualizer.core.pcap.writer import PcapngWriter, PcapWriter
from visualizer.core.tcp.analysis_flags import analysis_names

FORMATS = ("pcap", "pcapng")


def format_for_path(path: str, requested: str | None) -> str:
    """The export format: as requested, else from the file name, else pcapng."""
    if requested:
        return requested
    return "pcap" if path.lower().endswith((".pcap", ".cap", ".dmp")) else "pcapng"


def annotation(analysis: Analysis, index: int) -> str:
    """The comment an annotated export gives packet ``index``: its explanation, one paragraph,
    then its analysis flags by name (as the ladder and ``analyze`` show them)."""
    text = explain(analysis, index).plain()
    names = analysis_names(int(analysis.values("analysis")[index]))
    if names:
        text += " Analysis flags: " + ", ".join(n.replace("_", " ") for n in names) + "."
    return text


def packet_comments(analysis: Analysis, indices: Iterable[int]) -> dict[int, str]:
    """:func:`annotation` of each packet in ``indices``, for ``export_packets(comments=...)``.

    Packets the analysis has not reached yet (a capture still loading) get none.
    """
    analysed = len(analysis.values("stream"))
    return {i: annotation(analysis, i) for i in indices if 0 <= i < analysed}


def export_packets(store: PacketStore, indices: Iterable[int], path: str, fmt: str, *,
                   comments: Mapping[int, str] | None = None,
                   info: RecordingInfo | None = None) -> int:
    """Write the packets at ``indices`` (0-based, in order) to ``path``.

    ``comments`` (pcapng only) adds a comment per packet index, after any
    comment the packet already had (unless that one already ends with it:
    annotating an annotated file does not repeat the explanations).
    ``info`` is carried into a pcapng.
    ``path`` is written by the rules of :mod:`visualizer.core.output`: a
    regular file through a temporary name (a failure never leaves a
    half-written export behind), a device or FIFO in place. Returns the
    packet count; raises OutputFailed when the write fails, and
    VisualizerError when the capture file has shrunk since it was read.
    """
    if fmt not in FORMATS:
        raise BadInput(f"unknown export format {fmt!r}: choose pcap or pcapng")
    indices = list(indices)
    _check_times(store, indices, fmt)
    with written(path, prefix=".export-") as out:
        if fmt == "pcap":
            _write_pcap(store, indices, out)
        else:
            _write_pcapng(store, indices, out, comments or {}, info)
    return len(indices)


PCAP_LAST_NS = (2**32 - 1) * 10**9 + 999_999_999   # 2106-02-07: 32-bit seconds end there


def _check_times(store: PacketStore, indices: list[int], fmt: str) -> None:
    """BadInput for a time the format cannot hold: before 1970 (a file's negative
    timestamp offset can make one), or past 2106 in classic pcap."""
    if not indices:
        return
    ts = store.column("ts_ns")[np.asarray(indices, dtype=np.int64)]
    early = np.flatnonzero(ts < 0)
    if len(early):
        raise BadInput(f"packet {indices[int(early[0])] + 1} is dated before 1970 (the file's "
                       f"timestamp offset puts it there): {fmt} cannot hold that time")
    late = np.flatnonzero(ts > PCAP_LAST_NS)
    if fmt == "pcap" and len(late):
        raise BadInput(f"packet {indices[int(late[0])] + 1} is dated after 2106, past what "
                       "classic pcap can hold: export to pcapng instead")


def _write_pcap(store: PacketStore, indices: list[int], out: BinaryIO) -> None:
    link = store.column("linktype")
    picked = np.asarray(indices, dtype=np.int64)
    kinds = np.unique(link[picked]).tolist() or [_first_linktype(store)]
    if len(kinds) > 1:
        names = ", ".join(LINKTYPE_NAMES.get(k, str(k)) for k in kinds)
        raise BadInput(f"these packets have several link types ({names}); classic pcap holds "
                       "only one: export to pcapng instead")
    cap = store.capture
    # Keep the input's resolution so timestamps are written back unchanged.
    nanosecond = cap.nanosecond if cap.format == "pcap" else True
    writer = PcapWriter(out, kinds[0], nanosecond=nanosecond, snaplen=cap.snaplen)
    if cap.format == "pcap" and not cap.big_endian and not cap.kuznetzov and len(picked):
        _copy_records(store, picked, out)
        return
    ts, orig = store.column("ts_ns"), store.column("origlen")
    for i in indices:
        writer.write(int(ts[i]), _frame(store, i), int(orig[i]))


def _copy_records(store: PacketStore, picked: np.ndarray, out: BinaryIO) -> None:
    """Copy the input's records as they are, one write per run of adjacent ones.

    For a little-endian pcap source the records we would write are the ones
    in the file (same resolution, byte order and header layout), so a
    million-packet export is a few large writes instead of two million small
    ones.
    """
    capture = store.capture
    starts = store.column("offset")[picked] - PCAP_RECORD_HEADER_LEN
    ends = store.column("offset")[picked] + store.column("caplen")[picked]
    breaks = np.flatnonzero(starts[1:] != ends[:-1]) + 1
    firsts = np.concatenate(([0], breaks)).tolist()
    lasts = np.concatenate((breaks, [len(picked)])).tolist()
    for a, b in zip(firsts, lasts, strict=True):
        start, end = int(starts[a]), int(ends[b - 1])
        if capture.copy(start, end - start, out) < end - start:
            raise _shrunk(store)


def _frame(store: PacketStore, index: int) -> bytes:
    frame = store.frame(index)
    if len(frame) != store.values("caplen")[index]:
        raise _shrunk(store)
    return frame


def _shrunk(store: PacketStore) -> VisualizerError:
    return VisualizerError(f"{store.capture.path}: {TRUNCATED}: nothing was exported")


def _write_pcapng(store: PacketStore, indices: list[int], out: BinaryIO,
                  comments: Mapping[int, str], info: RecordingInfo | None) -> None:
    cap = store.capture
    interfaces = [(i.linktype, i.name) for i in cap.interfaces] or [(_first_linktype(store), "")]
    writer = PcapngWriter(out, interfaces, comment=info.summary() if info else None,
                          custom=info.to_payload() if info else None)
    ts, orig, iface = store.column("ts_ns"), store.column("origlen"), store.column("interface")
    for i in indices:
        old, new = store.comments.get(i), comments.get(i)
        if old and new and old.endswith(new):
            new = None
        text = "\n".join(c for c in (old, new) if c) or None
        writer.write(int(ts[i]), _frame(store, i), int(orig[i]), interface=int(iface[i]),
                     comment=text)


def _first_linktype(store: PacketStore) -> int:
    ifaces = store.capture.interfaces
    return ifaces[0].linktype if ifaces else 1
