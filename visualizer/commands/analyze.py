"""``visualizer analyze``: one line per packet, as a table or JSON Lines.

``--stats`` prints the conversation summary only. It comes from
``faststats.conversation_stats`` (the TCP tracker fed only the packets that
can change a summary); with the environment variable
``VISUALIZER_FULL_ANALYSIS=1`` it comes from the full analysis instead (every
packet through the tracker), which must print the same.
"""

from __future__ import annotations

import json
import os
from typing import Any, TextIO

from visualizer.commands import warn_about
from visualizer.commands.path_records import path_packet_records
from visualizer.commands.progress import counted, load_session, steps
from visualizer.commands.record_lines import write_json_lines
from visualizer.commands.records import packet_records
from visualizer.core.collector import collector_paused
from visualizer.core.decode.store import PacketStore, format_endpoint
from visualizer.core.errors import BadInput
from visualizer.core.filter.evaluate import DisplayFilter
from visualizer.core.flows.analysis import analyze
from visualizer.core.flows.summaries import ConversationStats, conversation_stats, full_stats
from visualizer.core.tcp.states import TcpState


def _table_line(rec: dict[str, Any]) -> str:
    src = rec["src"] or "-"
    dst = rec["dst"] or "-"
    if rec["sport"] is not None:
        src = _endpoint_text(src, rec["sport"])
        dst = _endpoint_text(dst, rec["dport"])
    proto = rec["protocol"] or rec.get("status", "-")
    head = f"{rec['frame']:>6} {rec['time']:>12.6f}  {src:>22} → {dst:<22} {proto:<6}"
    if rec["stream"] is not None:
        detail = (f"#{rec['stream']:<3} {rec['flags']:<12} seq={rec['seq']} ack={rec['ack']} "
                  f"len={rec['len']} win={rec['window']}")
        if rec["analysis"]:
            detail += " [" + " ".join(rec["analysis"]) + "]"
        if "src_state" in rec:   # a packet lost on a path has no states
            detail += f"  {rec['src_state']} / {rec['dst_state']}"
    elif rec["len"] is not None:
        detail = f"len={rec['len']}"
    elif "icmp_type" in rec:
        detail = f"type={rec['icmp_type']} code={rec['icmp_code']}"
        if rec.get("answers_frame"):
            detail += f" (answers frame {rec['answers_frame']})"
    else:
        detail = ""
    if rec.get("note"):
        detail += f" ({rec['status']}: {rec['note']})" if "status" in rec else f" ({rec['note']})"
    if "fate" in rec:   # a recording on a path
        arrived = rec["arrived"]
        if arrived is None:
            detail += f"  LOST ({rec.get('lost_because') or rec['fate']})"
        else:
            detail += f"  arrived {arrived:.6f}" + (f" {rec['fate']}"
                                                     if rec["fate"] != "delivered" else "")
    return f"{head} {detail}".rstrip()


def _endpoint_text(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


FULL_ANALYSIS_ENV = "VISUALIZER_FULL_ANALYSIS"


def stats_of(store: PacketStore) -> ConversationStats:
    """The conversation summary: fast, or from the full analysis when the
    environment asks for it (to compare the two)."""
    if os.environ.get(FULL_ANALYSIS_ENV, "") not in ("", "0"):
        return full_stats(analyze(store))
    return conversation_stats(store)


ENDPOINT_WIDTH = 28   # the narrowest endpoint columns of --stats


def print_stats(stats: ConversationStats, out: TextIO) -> None:
    out.write(f"{stats.packets} packets, {len(stats.tcp)} TCP streams, "
              f"{len(stats.udp)} UDP flows\n")
    ends = _endpoint_texts([c.endpoints for c in stats.tcp] + [f.endpoints for f in stats.udp])
    # as wide as the widest endpoint: "[2001:db8::1]:443" fits as well as "10.0.0.1:80"
    width = max([ENDPOINT_WIDTH] + [len(text) for pair in ends for text in pair])
    header = (f"{'#':>6}  {'endpoint A':>{width}}   {'endpoint B':<{width}} {'pkts A→B':>9} "
              f"{'pkts B→A':>9} {'bytes A→B':>10} {'bytes B→A':>10} {'duration':>10}")
    # One %-template a line, its widths filled in once: an f-string with format
    # specs took 7 µs a line, 0.3 s of a summary of 50,000 streams.
    line = f"%6d  %{width}s ↔ %-{width}s %9d %9d %10d %10d %10.6f"
    if stats.tcp:
        out.write(f"\nTCP streams\n{header}  final states\n")
        state = {s: str(s) for s in TcpState}   # (an enum's str() runs in Python)
        tcp_line = line + "  %s / %s\n"
        out.writelines(tcp_line % (
            c.stream, a, b, c.packets[0], c.packets[1], c.bytes[0], c.bytes[1],
            (c.last_ts_ns - c.first_ts_ns) / 1e9, state[c.states[0]], state[c.states[1]])
            for c, (a, b) in zip(stats.tcp, ends[:len(stats.tcp)], strict=True))
    if stats.udp:
        out.write(f"\nUDP flows\n{header}\n")
        out.writelines((line % (
            f.flow, a, b, f.packets[0], f.packets[1], f.bytes[0], f.bytes[1],
            (f.last_ts_ns - f.first_ts_ns) / 1e9))
            + (f"  {f.icmp_errors} ICMP errors\n" if f.icmp_errors else "\n")
            for f, (a, b) in zip(stats.udp, ends[len(stats.tcp):], strict=True))


def _endpoint_texts(pairs: list[tuple[tuple[bytes, int], tuple[bytes, int]]]
                    ) -> list[tuple[str, str]]:
    """Each pair's endpoints as text, each endpoint formatted once (a server's
    endpoint is in every one of its conversations)."""
    known: dict[tuple[bytes, int], str] = {}
    texts = []
    for a, b in pairs:
        ta = known.get(a)
        if ta is None:
            ta = known[a] = format_endpoint(*a)
        tb = known.get(b)
        if tb is None:
            tb = known[b] = format_endpoint(*b)
        texts.append((ta, tb))
    return texts


def analyze_command(path: str, *, json_lines: bool, stats: bool, out: TextIO,
                    display_filter: str | None = None) -> int:
    """``display_filter``: print only the packets that match it (checked before
    the file is read: a bad filter is a BadInput naming the column)."""
    matching = DisplayFilter(display_filter) if display_filter is not None else None
    if matching is not None and stats:
        raise BadInput("-Y selects packet lines; --stats summarises whole conversations: "
                       "use one or the other")
    # closed at the end (the mapping and its descriptor): callers may run many files
    with load_session(path, analyse=not stats) as session:
        store, analysis = session.store, session.analysis
        assert store is not None
        if stats:
            # The collector held off until the summary is gone: its lines' objects
            # (none in a cycle) set off 130 collections, 0.13 s at 50,000 streams.
            with collector_paused():
                summary = stats_of(store)
                code = warn_about(session)   # after the work: the file may shrink meanwhile
                print_stats(summary, out)
                del summary
            return code
        assert analysis is not None
        view = session.path_view
        shown = matching.mask(store, analysis) if matching is not None else None
        if view is None and json_lines:
            with steps("analyzing", len(store), "packets") as update:
                write_json_lines(store, analysis, out, shown=shown, progress=update)
            return warn_about(session)
        records = (packet_records(store, analysis) if view is None
                   else path_packet_records(store, analysis, view))
        total = len(store) if view is None else len(view)
        records = counted(records, "analyzing", total)   # every packet is looked at
        if shown is not None:
            records = (rec for rec in records if shown[rec["frame"] - 1])
        for rec in records:
            if json_lines:
                out.write(json.dumps(rec, separators=(",", ":")) + "\n")
            else:
                out.write(_table_line(rec) + "\n")
        return warn_about(session)
