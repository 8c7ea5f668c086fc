"""``analyze`` of a recording on a path: each packet once, with ``sent``,
``arrived`` and ``fate`` (see ``core/path/view.py`` for which copy is listed
and whose analysis it carries)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from visualizer.commands.records import packet_records
from visualizer.core.decode.store import PacketStore
from visualizer.core.path.fates import PathRecord
from visualizer.core.path.view import NOT_ARRIVED, PathView, end_analysis, path_view
from visualizer.core.pcap.recording import RecordingInfo

ANALYSIS_KEYS = ("stream", "seq", "ack", "next_seq", "analysis", "src_state",
                 "dst_state", "duplicate_ack_num", "bytes_in_flight", "udp_flow")


def view_of(store: PacketStore) -> PathView | None:
    """The path view of ``store``, None when it is not a recording on a path."""
    info = RecordingInfo.from_capture(store.capture)
    if info is None or not info.path:
        return None
    return path_view(store, PathRecord.from_dict(info.path))


def path_packet_records(store: PacketStore, view: PathView) -> Iterator[dict[str, Any]]:
    """One dict per packet of ``view``, in time order; ``frame`` is the frame
    number in the recording (as Wireshark numbers it)."""
    with end_analysis(store, view.analysed) as (sub, analysis):
        analysed = dict(zip(view.analysed.tolist(), packet_records(sub, analysis),
                            strict=True))
        bases = _sequence_bases(sub, analysed.values())
        lost = [int(f) for f in view.rows.tolist() if f not in analysed]
        with end_analysis(store, view.rows[[f not in analysed for f in view.rows.tolist()]]
                          ) as (alone, _ignored):
            others = dict(zip(lost, packet_records(alone, _ignored), strict=True))
            seq, ack = alone.values("seq"), alone.values("ack")
            for k, frame in enumerate(lost):
                rec = others[frame]
                for name in ANALYSIS_KEYS:
                    rec.pop(name, None)
                found = bases.get((rec["src"], rec["sport"], rec["dst"], rec["dport"]))
                rec.update(stream=None, seq=None, ack=None, analysis=[])
                if found is not None and rec["flags"] is not None:
                    stream, (base_seq, base_ack) = found
                    rec.update(stream=stream, seq=(int(seq[k]) - base_seq) % 2**32,
                               ack=(int(ack[k]) - base_ack) % 2**32)
        first = int(view.sent_ns[0]) if len(view) else 0
        for k, frame in enumerate(view.rows.tolist()):
            rec = dict(analysed.get(frame) or others[frame])
            rec["frame"] = frame + 1
            sent, arrived = int(view.sent_ns[k]), int(view.arrived_ns[k])
            rec["time"] = round((sent - first) / 1e9, 9)
            rec["sent"] = round((sent - first) / 1e9, 9)
            rec["arrived"] = None if arrived == NOT_ARRIVED else round((arrived - first) / 1e9, 9)
            rec["fate"] = view.fate[k]
            if view.why[k]:
                rec["lost_because"] = view.why[k]
            yield rec


def _sequence_bases(store: PacketStore, records: Any) -> dict[tuple[Any, ...],
                                                              tuple[int, tuple[int, int]]]:
    """(src, sport, dst, dport) -> (stream, (seq base, ack base)): absolute minus
    relative numbers of that direction, to number a packet the analysis never saw."""
    seq, ack = store.values("seq"), store.values("ack")
    seq_base: dict[tuple[Any, ...], tuple[int, int]] = {}
    ack_base: dict[tuple[Any, ...], int] = {}
    for k, rec in enumerate(records):
        if rec["stream"] is None or rec["seq"] is None:
            continue
        key = (rec["src"], rec["sport"], rec["dst"], rec["dport"])
        seq_base.setdefault(key, (rec["stream"], (int(seq[k]) - rec["seq"]) % 2**32))
        if "ACK" in rec["flags"].split(","):   # a SYN's ack field means nothing
            ack_base.setdefault(key, (int(ack[k]) - rec["ack"]) % 2**32)
    return {key: (stream, (base, ack_base.get(key, 0)))
            for key, (stream, base) in seq_base.items()}
