"""``analyze`` of a recording on a path: each packet once, with ``sent``,
``arrived`` and ``fate`` (see ``core/path/view.py`` for which copy is listed
and whose analysis it carries)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from visualizer.commands.records import packet_records
from visualizer.core.decode.store import PacketStore
from visualizer.core.ladder.build import Ladder, attach_calls
from visualizer.core.ladder.transit import path_ladder
from visualizer.core.path.fates import PathRecord
from visualizer.core.path.view import (
    NOT_ARRIVED,
    PathView,
    end_analysis,
    path_view,
    sequence_bases,
)
from visualizer.core.pcap.recording import RecordingInfo

ANALYSIS_KEYS = ("stream", "seq", "ack", "next_seq", "analysis", "src_state",
                 "dst_state", "duplicate_ack_num", "bytes_in_flight", "udp_flow")


def view_of(store: PacketStore) -> PathView | None:
    """The path view of ``store``, None when it is not a recording on a path."""
    info = RecordingInfo.from_capture(store.capture)
    if info is None or not info.path:
        return None
    return path_view(store, PathRecord.from_dict(info.path))


def path_ladder_of(store: PacketStore, view: PathView, *, absolute: bool = False) -> Ladder:
    """The ladder of a path recording: sloped arrows, crosses for the lost ones."""
    with end_analysis(store, view.analysed) as (sub, analysis):
        ladder = path_ladder(store, view, sub, analysis, absolute=absolute)
    return attach_calls(ladder, RecordingInfo.from_capture(store.capture))


def path_packet_records(store: PacketStore, view: PathView) -> Iterator[dict[str, Any]]:
    """One dict per packet of ``view``, in time order; ``frame`` is the frame
    number in the recording (as Wireshark numbers it)."""
    with end_analysis(store, view.analysed) as (sub, analysis):
        analysed = dict(zip(view.analysed.tolist(), packet_records(sub, analysis),
                            strict=True))
        bases = sequence_bases(sub, analysis)
        lost = [int(f) for f in view.rows.tolist() if f not in analysed]
        with end_analysis(store, view.rows[[f not in analysed for f in view.rows.tolist()]]
                          ) as (alone, alone_analysis):
            others = dict(zip(lost, packet_records(alone, alone_analysis), strict=True))
            for k, frame in enumerate(lost):
                rec = others[frame]
                for name in ANALYSIS_KEYS:
                    rec.pop(name, None)
                rec.update(stream=None, seq=None, ack=None, analysis=[])
                key = (alone.address(int(alone.values("src")[k])), int(alone.values("sport")[k]),
                       alone.address(int(alone.values("dst")[k])), int(alone.values("dport")[k]))
                found = bases.get(key)
                if found is not None and rec["flags"] is not None:
                    stream, seq_base, ack_base = found
                    rec.update(stream=stream,
                               seq=(int(alone.values("seq")[k]) - seq_base) % 2**32,
                               ack=(int(alone.values("ack")[k]) - ack_base) % 2**32)
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
