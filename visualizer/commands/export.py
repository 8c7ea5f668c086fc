"""``visualizer export``: everything or one conversation, to pcap or pcapng."""

from __future__ import annotations

import sys

from visualizer.core.analysis import analyze
from visualizer.core.errors import BadInput
from visualizer.core.export import export_packets, format_for_path
from visualizer.core.recording import RecordingInfo
from visualizer.core.store import PacketStore


def export_command(path: str, output: str, *, stream: int | None, fmt: str | None,
                   annotate: bool) -> int:
    fmt = format_for_path(output, fmt)
    if annotate and fmt != "pcapng":
        raise BadInput("--annotate needs pcapng: classic pcap has no packet comments")
    if annotate:
        raise BadInput("--annotate is not available yet: packet explanations come with "
                       "the teaching scenarios")
    store = PacketStore.from_file(path)
    try:
        if stream is None:
            indices = list(range(len(store)))
        else:
            analysis = analyze(store)
            count = len(analysis.tcp_summaries)
            if not 0 <= stream < count:
                raise BadInput(f"there is no TCP stream {stream}: {path} has {count} "
                               "(numbered from 0, see 'visualizer analyze --stats')")
            indices = analysis.stream_indices(stream).tolist()
        info = RecordingInfo.from_capture(store.capture)
        written = export_packets(store, indices, output, fmt, info=info)
    finally:
        store.close()
    print(f"wrote {output}: {written} packets ({fmt})", file=sys.stderr)
    return 0
