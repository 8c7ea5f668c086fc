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
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from visualizer.commands import warn_about
from visualizer.core.decode import headers as dec
from visualizer.core.decode.store import PacketStore, format_address, format_endpoint
from visualizer.core.flows.analysis import Analysis, analysis_names, analyze
from visualizer.core.flows.summaries import ConversationStats, conversation_stats, full_stats
from visualizer.core.pcap.format import linktype_text
from visualizer.core.tcp.segment import flag_text

PROTOCOLS = {dec.PROTO_TCP: "TCP", dec.PROTO_UDP: "UDP", dec.PROTO_ICMP: "ICMP",
             dec.PROTO_ICMPV6: "ICMPv6"}


def load(path: str) -> tuple[PacketStore, Analysis]:
    store = PacketStore.from_file(path)
    return store, analyze(store)


def packet_records(store: PacketStore, analysis: Analysis) -> Iterator[dict[str, Any]]:
    """One dict per packet with the keys of DESIGN.md's ``analyze --json``."""
    cols = {n: store.values(n) for n in (
        "ts_ns", "status", "ip_version", "proto", "src", "dst", "sport", "dport", "tcp_flags",
        "payload_len", "origlen", "linktype", "icmp_type", "icmp_code")}
    acols = {n: analysis.values(n) for n in (
        "stream", "direction", "rel_seq", "rel_ack", "next_seq", "window", "analysis",
        "dup_ack_count", "bytes_in_flight", "udp_flow")}
    first_ts = int(cols["ts_ns"][0]) if len(store) else 0
    for i in range(len(store)):
        ts = int(cols["ts_ns"][i])
        status = int(cols["status"][i])
        proto = int(cols["proto"][i])
        stream = int(acols["stream"][i])
        rec: dict[str, Any] = {
            "frame": i + 1,
            "time": round((ts - first_ts) / 1e9, 9),
            "epoch": f"{ts // 1_000_000_000}.{ts % 1_000_000_000:09d}",
            "length": int(cols["origlen"][i]),
            "src": None, "dst": None, "sport": None, "dport": None,
            "protocol": None, "stream": None, "seq": None, "ack": None, "len": None,
            "flags": None, "window": None, "analysis": [],
        }
        if status in (dec.OK, dec.MALFORMED) and cols["ip_version"][i]:
            rec["src"] = format_address(store.address(int(cols["src"][i])))
            rec["dst"] = format_address(store.address(int(cols["dst"][i])))
            rec["protocol"] = PROTOCOLS.get(proto, f"IP proto {proto}")
        if stream >= 0:
            direction = int(acols["direction"][i])
            flags = int(cols["tcp_flags"][i])
            s0, s1 = analysis.states(i)
            sender, receiver = (s0, s1) if direction == 0 else (s1, s0)
            rec.update(
                sport=int(cols["sport"][i]), dport=int(cols["dport"][i]), stream=stream,
                seq=int(acols["rel_seq"][i]), ack=int(acols["rel_ack"][i]),
                next_seq=int(acols["next_seq"][i]), len=int(cols["payload_len"][i]),
                flags=flag_text(flags), window=int(acols["window"][i]),
                analysis=analysis_names(int(acols["analysis"][i])),
                src_state=str(sender), dst_state=str(receiver))
            if acols["dup_ack_count"][i]:
                rec["duplicate_ack_num"] = int(acols["dup_ack_count"][i])
            if acols["bytes_in_flight"][i] >= 0:
                rec["bytes_in_flight"] = int(acols["bytes_in_flight"][i])
        elif proto == dec.PROTO_UDP and int(acols["udp_flow"][i]) >= 0:
            rec.update(sport=int(cols["sport"][i]), dport=int(cols["dport"][i]),
                       len=int(cols["payload_len"][i]), udp_flow=int(acols["udp_flow"][i]))
        elif proto in (dec.PROTO_ICMP, dec.PROTO_ICMPV6) and cols["icmp_type"][i] >= 0:
            rec.update(icmp_type=int(cols["icmp_type"][i]), icmp_code=int(cols["icmp_code"][i]))
            link = analysis.icmp_links.get(i)
            if link is not None:
                rec["answers_udp_flow"] = link.flow
                rec["answers_frame"] = link.datagram + 1 if link.datagram >= 0 else None
        if status != dec.OK:
            rec["status"] = dec.STATUS_NAMES[status]
            rec["note"] = store.notes.get(i, "")
            if status == dec.UNSUPPORTED_LINK:
                rec["note"] = f"link type {linktype_text(int(cols['linktype'][i]))} is not decoded"
        yield rec


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


def print_stats(stats: ConversationStats, out: TextIO) -> None:
    out.write(f"{stats.packets} packets, {len(stats.tcp)} TCP streams, "
              f"{len(stats.udp)} UDP flows\n")
    header = (f"{'#':>6}  {'endpoint A':>28}   {'endpoint B':<28} {'pkts A→B':>9} "
              f"{'pkts B→A':>9} {'bytes A→B':>10} {'bytes B→A':>10} {'duration':>10}")
    if stats.tcp:
        out.write(f"\nTCP streams\n{header}  final states\n")
        for c in stats.tcp:
            out.write(_conversation_line(c.stream, c.endpoints, c.packets, c.bytes,
                                         c.last_ts_ns - c.first_ts_ns)
                      + f"  {c.states[0]} / {c.states[1]}\n")
    if stats.udp:
        out.write(f"\nUDP flows\n{header}\n")
        for f in stats.udp:
            out.write(_conversation_line(f.flow, f.endpoints, f.packets, f.bytes,
                                         f.last_ts_ns - f.first_ts_ns)
                      + (f"  {f.icmp_errors} ICMP errors" if f.icmp_errors else "") + "\n")


def _conversation_line(number: int, endpoints: tuple[tuple[bytes, int], tuple[bytes, int]],
                       packets: Sequence[int], octets: Sequence[int], duration_ns: int) -> str:
    (a, ap), (b, bp) = endpoints
    return (f"{number:>6}  {format_endpoint(a, ap):>28} ↔ {format_endpoint(b, bp):<28} "
            f"{packets[0]:>9} {packets[1]:>9} {octets[0]:>10} {octets[1]:>10} "
            f"{duration_ns / 1e9:>10.6f}")


def analyze_command(path: str, *, json_lines: bool, stats: bool, out: TextIO) -> int:
    if stats:
        store = PacketStore.from_file(path)
        try:
            summary = stats_of(store)
            code = warn_about(path, store)
            print_stats(summary, out)
        finally:
            store.close()  # its file descriptor: callers may run many files
        return code
    store, analysis = load(path)
    try:
        code = warn_about(path, store)
        for rec in packet_records(store, analysis):
            if json_lines:
                out.write(json.dumps(rec, separators=(",", ":")) + "\n")
            else:
                out.write(_table_line(rec) + "\n")
    finally:
        store.close()
    return code
