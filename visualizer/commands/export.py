"""``visualizer export``: everything or one conversation, to pcap or pcapng, the
ladder diagram to SVG, or the per-packet analysis table to Parquet.

``--annotate`` writes each packet's explanation as a pcapng packet comment
(Wireshark shows it under "Packet comments"), so a teacher can hand the
file to students who open it in Wireshark.
"""

from __future__ import annotations

import sys
from dataclasses import replace

from visualizer.commands import warn_about
from visualizer.commands.progress import load_session
from visualizer.core.errors import BadInput
from visualizer.core.export import export_packets, format_for_path, packet_comments
from visualizer.core.output import check_output
from visualizer.core.path.fates import END_NAMES


def export_command(path: str, output: str, *, stream: int | None, fmt: str | None,
                   annotate: bool, absolute: bool = False, scale: str | None = None,
                   end: str | None = None) -> int:
    check_output(output)  # a directory or a disk is refused before any work
    if fmt is None and output.lower().endswith(".svg"):
        fmt = "svg"
    if fmt is None and output.lower().endswith(".parquet"):
        fmt = "parquet"
    fmt = format_for_path(output, fmt)
    if fmt == "parquet":
        if annotate or absolute or scale is not None or end is not None:
            raise BadInput("--annotate, --absolute, --scale and --end do not apply to parquet "
                           "(a table with every packet's analysis)")
        from visualizer.commands.parquet import export_parquet

        return export_parquet(path, output, stream=stream)
    if fmt == "svg":
        if annotate:
            raise BadInput("--annotate needs pcapng: an SVG ladder has no packet comments")
        return _export_svg(path, output, stream=stream, absolute=absolute, scale=scale)
    if absolute or scale is not None:
        raise BadInput(f"--absolute and --scale only apply to --format svg, not {fmt}")
    if annotate and fmt != "pcapng":
        raise BadInput("--annotate needs pcapng: classic pcap has no packet comments")
    with load_session(path, analyse=stream is not None or annotate) as session:
        store, analysis = session.store, session.analysis
        assert store is not None
        if analysis is None or stream is None:
            indices = list(range(len(store)))
        else:
            count = len(analysis.tcp_summaries)
            if not 0 <= stream < count:
                raise BadInput(f"there is no TCP stream {stream}: {path} has {count} "
                               "(numbered from 0, see 'visualizer analyze --stats')")
            indices = analysis.stream_indices(stream).tolist()
        info = session.recording
        if end is not None:
            if info is None or not info.path:
                raise BadInput(f"--end {end}: {path} is not a recording on a path (it has one "
                               "end)")
            at_end = store.column("interface") == END_NAMES.index(end)
            indices = [i for i in indices if at_end[i]]
            info = replace(info, path={})   # one end's frames: the match no longer applies
        comments = packet_comments(analysis, indices) if annotate and analysis else {}
        written = export_packets(store, indices, output, fmt, comments=comments, info=info)
        code = warn_about(session)   # after the work: the file may shrink meanwhile
    note = ", each with its explanation as a comment" if comments else ""
    print(f"wrote {output}: {written} packets ({fmt}){note}", file=sys.stderr)
    return code


def _export_svg(path: str, output: str, *, stream: int | None, absolute: bool,
                scale: str | None) -> int:
    """The ladder of ``stream``, or of every conversation in one picture, as SVG."""
    from visualizer.core.ladder.build import Ladder, attach_calls, tcp_ladder
    from visualizer.core.ladder.scene import LadderScene, write_svg
    from visualizer.core.playback.timescale import positions

    with load_session(path) as session:
        assert session.analysis is not None
        ladder: Ladder | None
        if stream is not None:
            ladder = attach_calls(tcp_ladder(session.analysis, stream, absolute=absolute),
                                  session.recording)
        elif session.path_view is not None:   # on a path: arrows take their time
            ladder = session.ladder(absolute=absolute)
            scale = scale or "real"
        else:
            ladder = session.ladder(session.ladder_window(everything=True), absolute=absolute)
        if ladder is None:
            raise BadInput(f"{path}: nothing to draw: no packet has IP or Ethernet addresses")
        write_svg(LadderScene(ladder, positions(ladder.timestamps(), scale or "order")), output)
        code = warn_about(session)
    print(f"wrote {output}: {ladder.title}, {len(ladder.arrows)} packets (svg)",
          file=sys.stderr)
    return code
