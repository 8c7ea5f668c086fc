"""``analyze`` of a recording on a path: each packet once, with
``sent``, ``arrived`` and ``fate`` (see ``core/path/view.py`` for which copy
is listed and whose analysis it carries)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from visualizer.commands.records import packet_records
from visualizer.core.decode import headers as dec
from visualizer.core.decode.store import PacketStore
from visualizer.core.flows.analysis import Analysis
from visualizer.core.path.view import NOT_ARRIVED, PathView, sequence_bases
from visualizer.core.tcp.segment import flag_text


def path_packet_records(store: PacketStore, analysis: Analysis, view: PathView
                        ) -> Iterator[dict[str, Any]]:
    """One dict per packet of ``view``, in time order; ``frame`` is the frame
    number in the recording (as Wireshark numbers it). ``analysis`` is the
    receiving end's (``Session.analysis`` of a path recording)."""
    records = list(packet_records(store, analysis))
    bases = sequence_bases(store, analysis)
    at_end = set(view.analysed.tolist())
    first = int(view.sent_ns[0]) if len(view) else 0
    for k, frame in enumerate(view.rows.tolist()):
        rec = records[frame]
        if frame not in at_end:
            _number_lost(store, frame, rec, bases)
        sent, arrived = int(view.sent_ns[k]), int(view.arrived_ns[k])
        rec["time"] = rec["sent"] = round((sent - first) / 1e9, 9)
        rec["arrived"] = None if arrived == NOT_ARRIVED else round((arrived - first) / 1e9, 9)
        rec["fate"] = view.fate[k]
        if view.why[k]:
            rec["lost_because"] = view.why[k]
        yield rec


def _number_lost(store: PacketStore, i: int, rec: dict[str, Any],
                 bases: dict[tuple[bytes, int, bytes, int], tuple[int, int, int]]) -> None:
    """Fill in the transport fields of a packet the analysed end never saw, numbered
    like the rest of its stream (the analysis of that end has none for it)."""
    v = store.values
    proto = int(v("proto")[i])
    if proto not in (dec.PROTO_TCP, dec.PROTO_UDP):
        return
    sport, dport = int(v("sport")[i]), int(v("dport")[i])
    rec.update(sport=sport, dport=dport, len=int(v("payload_len")[i]))
    if proto != dec.PROTO_TCP:
        return
    rec.update(flags=flag_text(int(v("tcp_flags")[i])), window=int(v("window")[i]))
    found = bases.get((store.address(int(v("src")[i])), sport,
                       store.address(int(v("dst")[i])), dport))
    if found is not None:
        stream, seq_base, ack_base = found
        rec.update(stream=stream, seq=(int(v("seq")[i]) - seq_base) % 2**32,
                   ack=(int(v("ack")[i]) - ack_base) % 2**32)
