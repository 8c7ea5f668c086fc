"""``visualizer export``: everything or one conversation, to pcap or pcapng, or the
ladder diagram to SVG.

``--annotate`` writes each packet's explanation as a pcapng packet comment
(Wireshark shows it under "Packet comments"), so a teacher can hand the
file to students who open it in Wireshark.
"""

from __future__ import annotations

import sys

from visualizer.commands import warn_about
from visualizer.core.decode.store import PacketStore
from visualizer.core.errors import BadInput
from visualizer.core.export import export_packets, format_for_path, packet_comments
from visualizer.core.flows.analysis import analyze
from visualizer.core.output import check_output
from visualizer.core.pcap.recording import RecordingInfo


def export_command(path: str, output: str, *, stream: int | None, fmt: str | None,
                   annotate: bool, absolute: bool = False, scale: str | None = None) -> int:
    check_output(output)  # a directory or a disk is refused before any work
    if fmt is None and output.lower().endswith(".svg"):
        fmt = "svg"
    fmt = format_for_path(output, fmt)
    if fmt == "svg":
        if annotate:
            raise BadInput("--annotate needs pcapng: an SVG ladder has no packet comments")
        return _export_svg(path, output, stream=stream, absolute=absolute,
                           scale=scale or "order")
    if absolute or scale is not None:
        raise BadInput(f"--absolute and --scale only apply to --format svg, not {fmt}")
    if annotate and fmt != "pcapng":
        raise BadInput("--annotate needs pcapng: classic pcap has no packet comments")
    store = PacketStore.from_file(path)
    try:
        analysis = analyze(store) if stream is not None or annotate else None
        if analysis is None or stream is None:
            indices = list(range(len(store)))
        else:
            count = len(analysis.tcp_summaries)
            if not 0 <= stream < count:
                raise BadInput(f"there is no TCP stream {stream}: {path} has {count} "
                               "(numbered from 0, see 'visualizer analyze --stats')")
            indices = analysis.stream_indices(stream).tolist()
        info = RecordingInfo.from_capture(store.capture)
        comments = packet_comments(analysis, indices) if annotate and analysis else {}
        written = export_packets(store, indices, output, fmt, comments=comments, info=info)
        code = warn_about(path, store)
    finally:
        store.close()
    note = ", each with its explanation as a comment" if comments else ""
    print(f"wrote {output}: {written} packets ({fmt}){note}", file=sys.stderr)
    return code


def _export_svg(path: str, output: str, *, stream: int | None, absolute: bool,
                scale: str) -> int:
    """The ladder of ``stream``, or of every conversation in one picture, as SVG."""
    from visualizer.core.ladder.build import attach_calls, combined_ladder, tcp_ladder
    from visualizer.core.ladder.scene import LadderScene, write_svg
    from visualizer.core.playback.timescale import positions

    store = PacketStore.from_file(path)
    try:
        analysis = analyze(store)
        if stream is not None:
            ladder = tcp_ladder(analysis, stream, absolute=absolute)
        else:
            streams, flows = len(analysis.tcp_summaries), len(analysis.udp_flows)
            try:
                ladder = combined_ladder(analysis, range(streams), range(flows),
                                         absolute=absolute, others=True)
            except BadInput:
                raise BadInput(f"{path}: nothing to draw: no packet has IP or Ethernet "
                               "addresses") from None
        ladder = attach_calls(ladder, RecordingInfo.from_capture(store.capture))
        write_svg(LadderScene(ladder, positions(ladder.timestamps(), scale)), output)
        code = warn_about(path, store)
    finally:
        store.close()
    print(f"wrote {output}: {ladder.title}, {len(ladder.arrows)} packets (svg)",
          file=sys.stderr)
    return code
