"""The per-packet records of ``analyze --json`` (DESIGN.md), shared by ``analyze``,
the path's records and the tests that compare them with tshark."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from visualizer.core.decode import headers as dec
from visualizer.core.decode.store import PacketStore, format_address
from visualizer.core.describe.names import IP_PROTOCOLS
from visualizer.core.flows.analysis import Analysis
from visualizer.core.pcap.format import linktype_text
from visualizer.core.tcp.analysis_flags import analysis_names
from visualizer.core.tcp.segment import flag_text


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
            known = IP_PROTOCOLS.get(proto)
            rec["protocol"] = known.short if known is not None else f"IP proto {proto}"
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
