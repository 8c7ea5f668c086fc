"""One-line text for each packet: the columns of a packet list.

The packet table shows these strings and the CLI can print them, so they
live here, free of Qt. Wording follows Wireshark's packet list, which is
what students meet elsewhere: the Info column reads
``37842 → 52147 [SYN] Seq=0 Win=65495 Len=0 MSS=65495 SACK_PERM TSval=… WS=128``
with ``[TCP Retransmission]``-style prefixes for the analysis flags.

Everything is computed on demand from the store's and the analysis's
columns (a million packets must not cost a million strings); a caller that
repaints the same rows often keeps its own small cache.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np

from visualizer.core.decode import headers as dec
from visualizer.core.decode.store import PacketStore, format_address, format_endpoint
from visualizer.core.describe import names
from visualizer.core.flows.analysis import Analysis
from visualizer.core.pcap.format import LINKTYPE_NAMES, linktype_text
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.tcp import analysis_flags as af
from visualizer.core.tcp.options import (
    EOL,
    MSS,
    NOP,
    SACK,
    SACK_PERM,
    TIMESTAMP,
    WSCALE,
    parse_options,
)
from visualizer.core.tcp.segment import ACK, URG, flag_text

__all__ = ["PacketSummary", "analysis_labels", "format_absolute", "format_seconds",
           "icmp_text", "time_digits"]

# Wireshark's Info prefixes for tcp.analysis.*, in the order its packet list
# shows them (each is prepended, so the last one printed comes first).
_PREFIXES = {
    af.ZERO_WINDOW_PROBE_ACK: "TCP ZeroWindowProbeAck",
    af.ZERO_WINDOW: "TCP ZeroWindow",
    af.ZERO_WINDOW_PROBE: "TCP ZeroWindowProbe",
    af.DUPLICATE_ACK: "TCP Dup ACK",
    af.KEEP_ALIVE_ACK: "TCP Keep-Alive ACK",
    af.KEEP_ALIVE: "TCP Keep-Alive",
    af.WINDOW_FULL: "TCP Window Full",
    af.WINDOW_UPDATE: "TCP Window Update",
    af.ACK_LOST_SEGMENT: "TCP ACKed unseen segment",
    af.LOST_SEGMENT: "TCP Previous segment not captured",
    af.OUT_OF_ORDER: "TCP Out-Of-Order",
    af.SPURIOUS_RETRANSMISSION: "TCP Spurious Retransmission",
    af.FAST_RETRANSMISSION: "TCP Fast Retransmission",
    af.RETRANSMISSION: "TCP Retransmission",
    af.REUSED_PORTS: "TCP Port numbers reused",
}
_SCAN_CHUNK = 8192


def icmp_text(proto: int, icmp_type: int, code: int) -> str:
    """``"Destination unreachable (Port unreachable)"`` for ICMP or ICMPv6 type/code."""
    if proto == dec.PROTO_ICMP:
        types = names.ICMP_TYPES
        codes = {3: names.ICMP_UNREACHABLE, 11: names.ICMP_TIME_EXCEEDED}.get(icmp_type, {})
    else:
        types = names.ICMPV6_TYPES
        codes = names.ICMPV6_UNREACHABLE if icmp_type == 1 else {}
    name = types[icmp_type].short if icmp_type in types else f"Type {icmp_type}"
    detail = codes[code].short if code in codes else None
    if detail is None and code and icmp_type not in (0, 8, 128, 129):
        detail = f"code {code}"
    return f"{name} ({detail})" if detail else name


def _short(table: dict[int, names.Name], number: int, default: str) -> str:
    return table[number].short if number in table else default


def analysis_labels(bits: int, dup_count: int = 0, dup_of: int | None = None) -> list[str]:
    """Wireshark's words for an analysis bitmask: ``["TCP Dup ACK 5#1"]``.

    ``dup_of`` is the 1-based frame a duplicate ACK repeats. A fast or
    spurious retransmission is also a retransmission in the vocabulary, but
    Wireshark names only the more precise kind.
    """
    if bits & (af.FAST_RETRANSMISSION | af.SPURIOUS_RETRANSMISSION):
        bits &= ~af.RETRANSMISSION
    labels = []
    for bit, label in _PREFIXES.items():
        if not bits & bit:
            continue
        if bit == af.DUPLICATE_ACK:
            label += f" {dup_of if dup_of is not None else '?'}#{dup_count}"
        labels.append(label)
    return labels


def time_digits(capture: CaptureFile | None) -> int:
    """Decimal places the capture's timestamps carry (6 for µs, 9 for ns)."""
    digits = 6
    for iface in getattr(capture, "interfaces", ()):
        base, exponent = iface.tsresol
        digits = max(digits, math.ceil(exponent * math.log10(base)) if base > 1 else 0)
    return min(digits, 9)


def format_seconds(ns: int, digits: int = 9) -> str:
    """``1_500`` ns -> ``"0.000001500"`` (truncated to ``digits``, as Wireshark does)."""
    sign = "-" if ns < 0 else ""
    sec, frac = divmod(abs(ns), 1_000_000_000)
    if digits <= 0:
        return f"{sign}{sec}"
    return f"{sign}{sec}.{frac // 10 ** (9 - digits):0{digits}d}"


def format_duration(ns: int) -> str:
    """A span for a sentence: ``"35 µs"``, ``"1.2 ms"``, ``"3.00 s"``."""
    if ns < 1_000_000:
        return f"{ns / 1000:.0f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.1f} ms"
    return f"{ns / 1e9:.2f} s"


def format_absolute(ts_ns: int, digits: int = 9) -> str:
    """Local date and time: ``"2026-11-21 22:35:01.123456789"``."""
    sec, frac = divmod(ts_ns, 1_000_000_000)
    try:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(sec))
    except (OverflowError, OSError, ValueError):  # beyond what the C library handles
        return format_seconds(ts_ns, digits)
    return f"{stamp}.{frac // 10 ** (9 - digits):0{digits}d}" if digits > 0 else stamp


class PacketSummary:
    """Column text for the packets of one store and its analysis.

    Methods take a 0-based packet index below the number of analysed
    packets. Non-TCP packets give ``""`` for the TCP-only columns.
    """

    def __init__(self, store: PacketStore, analysis: Analysis,
                 unseen: dict[int, tuple[int, int, int]] | None = None) -> None:
        """``unseen``: relative (seq, ack) and scaled window of TCP packets the
        analysis never saw but that belong to one of its streams (on a path, those
        lost on the way)."""
        self.store, self.analysis = store, analysis
        self._unseen = unseen or {}
        v, a = store.values, analysis.values
        self._status, self._ipv, self._proto = v("status"), v("ip_version"), v("proto")
        self._src, self._dst, self._sport, self._dport = v("src"), v("dst"), v("sport"), v("dport")
        self._flags, self._seq, self._ack = v("tcp_flags"), v("seq"), v("ack")
        self._plen, self._urgent, self._thl = v("payload_len"), v("urgent"), v("tcp_header_len")
        self._itype, self._icode, self._fragment = v("icmp_type"), v("icmp_code"), v("fragment")
        self._linktype, self._ethertype = v("linktype"), v("ethertype")
        self._stream, self._dir = a("stream"), a("direction")
        self._rel_seq, self._rel_ack, self._win = a("rel_seq"), a("rel_ack"), a("window")
        self._bits, self._dups = a("analysis"), a("dup_ack_count")
        self._udp_flow = a("udp_flow")
        self._dup_of: dict[int, int | None] = {}

    # -- plain columns ---------------------------------------------------
    def is_tcp(self, i: int) -> bool:
        """Analysed as TCP (a stream member), so seq/ack/flags mean something."""
        return self._stream[i] >= 0 or i in self._unseen

    def _rel(self, i: int) -> tuple[int, int]:
        """Relative (seq, ack) of packet ``i``."""
        found = self._unseen.get(i)
        return found[:2] if found is not None else (self._rel_seq[i], self._rel_ack[i])

    def has_ports(self, i: int) -> bool:
        """A TCP or UDP header was read (not so for later IP fragments)."""
        if self._stream[i] >= 0 or self._udp_flow[i] >= 0:
            return True
        return (self._proto[i] in (dec.PROTO_TCP, dec.PROTO_UDP) and self._ipv[i] != 0
                and self._status[i] != dec.NOT_IP and bool(self._sport[i] | self._dport[i]))

    def protocol(self, i: int) -> str:
        status = self._status[i]
        if status == dec.UNSUPPORTED_LINK:
            link = self._linktype[i]
            return LINKTYPE_NAMES.get(link, linktype_text(link))
        if status == dec.NOT_IP:
            if self._linktype[i] in dec.ETHERTYPE_LINKS:
                etype = self._ethertype[i]
                return _short(names.ETHERTYPES, etype, f"0x{etype:04x}")
            return "not IP"
        ipv = self._ipv[i]
        if not ipv:
            return "malformed"
        proto = self._proto[i]
        if self._fragment[i] and not self.has_ports(i):
            return f"IPv{ipv}"
        return _short(names.IP_PROTOCOLS, proto, f"IPv{ipv}")

    def source(self, i: int) -> str:
        return self._endpoint(self._src[i], self._sport[i], i)

    def destination(self, i: int) -> str:
        return self._endpoint(self._dst[i], self._dport[i], i)

    def _endpoint(self, address_id: int, port: int, i: int) -> str:
        raw = self.store.address(address_id)
        if not raw:
            return ""
        return format_endpoint(raw, port) if self.has_ports(i) else format_address(raw)

    def flags(self, i: int) -> str:
        """``"SYN, ACK"`` (Wireshark's spelling), ``""`` for non-TCP."""
        return self._flag_words(i) if self.is_tcp(i) else ""

    def seq(self, i: int, *, absolute: bool = False) -> str:
        if not self.is_tcp(i):
            return ""
        return str(self._seq[i] if absolute else self._rel(i)[0])

    def ack(self, i: int, *, absolute: bool = False) -> str:
        if not self.is_tcp(i) or not self._flags[i] & ACK:
            return ""
        return str(self._ack[i] if absolute else self._rel(i)[1])

    def length(self, i: int) -> str:
        """Transport payload bytes (TCP and UDP only)."""
        return str(self._plen[i]) if self.has_ports(i) else ""

    # -- analysis -----------------------------------------------------------
    def problems(self, i: int) -> list[str]:
        """The analysis labels of packet ``i`` (``[]`` for a clean packet)."""
        bits = self._bits[i]
        if not bits:
            return []
        dup_of = self.dup_ack_of(i) if bits & af.DUPLICATE_ACK else None
        return analysis_labels(bits, self._dups[i], dup_of)

    def dup_ack_of(self, i: int) -> int | None:
        """The 1-based frame a duplicate ACK repeats (None when ``i`` is none).

        Wireshark's ``duplicate_ack_frame``: the packet with which this side
        of the stream last changed its acknowledgement number, i.e. the first
        of the run of packets from this side carrying the same ack. The
        analysis keeps no column for it, so it is looked up backwards in
        chunks and remembered.
        """
        if not self._bits[i] & af.DUPLICATE_ACK:
            return None
        if i in self._dup_of:
            return self._dup_of[i]
        stream = self.analysis.column("stream")
        direction = self.analysis.column("direction")
        acks = self.store.column("ack")
        s, d, a = stream[i], direction[i], acks[i]
        earliest = i      # earliest packet from this side seen so far with ack ``a``
        found: int | None = None
        hi = i
        while hi > 0:
            lo = max(0, hi - _SCAN_CHUNK)
            side = lo + np.flatnonzero((stream[lo:hi] == s) & (direction[lo:hi] == d))
            other = side[acks[side] != a]
            if len(other):
                later = side[side > other[-1]]
                found = int(later[0]) if len(later) else earliest
                break
            if len(side):
                earliest = int(side[0])
            hi = lo
        else:  # this side never sent another ack: it changed from 0 at its first packet
            found = earliest if a else None
        if len(self._dup_of) > 100_000:
            self._dup_of.clear()
        result = None if found is None else found + 1
        self._dup_of[i] = result
        return result

    # -- info ------------------------------------------------------------
    def info(self, i: int, *, absolute: bool = False) -> str:
        """Wireshark-style Info text (see module docstring)."""
        status = self._status[i]
        note = self.store.notes.get(i, "")
        if self.is_tcp(i):
            text = self._tcp_info(i, absolute)
            if status == dec.MALFORMED:
                text += f" [Malformed: {note}]"
            return text
        if status == dec.UNSUPPORTED_LINK:
            return f"link type {self.protocol(i)} is not decoded"  # e.g. LINKTYPE_USER0 (147)
        if status == dec.NOT_IP:
            name = self.protocol(i)
            detail = f"{name} ({note})" if note and name not in note else (note or name)
            return f"{detail}: not IP, not analysed"
        if status == dec.MALFORMED:
            return f"Malformed packet: {note}" if note else "Malformed packet"
        proto = self._proto[i]
        if self._fragment[i] and not self.has_ports(i):
            name = _short(names.IP_PROTOCOLS, proto, str(proto))
            return f"Fragmented IP protocol (proto={name} {proto})"
        if proto == dec.PROTO_UDP:
            return f"{self._sport[i]} → {self._dport[i]} Len={self._plen[i]}"
        if proto in (dec.PROTO_ICMP, dec.PROTO_ICMPV6) and self._itype[i] >= 0:
            return icmp_text(proto, self._itype[i], self._icode[i])
        if proto == dec.PROTO_TCP:  # a fragment or other TCP the tracker skipped
            return f"{self._sport[i]} → {self._dport[i]} [{self._flag_words(i)}]"
        return note or _short(names.IP_PROTOCOLS, proto, f"IP protocol {proto}")

    def _flag_words(self, i: int) -> str:
        return flag_text(self._flags[i]).replace(",", ", ")

    def _tcp_info(self, i: int, absolute: bool) -> str:
        flags = self._flags[i]
        parts = [f"{self._sport[i]} → {self._dport[i]} [{self._flag_words(i)}]",
                 f"Seq={self._seq[i] if absolute else self._rel(i)[0]}"]
        if flags & ACK:
            parts.append(f"Ack={self._ack[i] if absolute else self._rel(i)[1]}")
        parts.append(f"Win={self._unseen[i][2] if i in self._unseen else self._win[i]}")
        if flags & URG:
            parts.append(f"Urg={self._urgent[i]}")
        parts.append(f"Len={self._plen[i]}")
        if self._thl[i] > 20:
            parts.extend(self._option_words(i, absolute))
        labels = self.problems(i)
        prefix = "".join(f"[{label}] " for label in labels)
        return prefix + " ".join(parts)

    def _option_words(self, i: int, absolute: bool) -> Sequence[str]:
        """Options in the order the packet carries them, as Wireshark lists them."""
        raw = self.store.tcp_options(i)
        opts = parse_options(raw)
        words = []
        for kind in _option_kinds(raw):
            if kind == MSS and opts.mss is not None:
                words.append(f"MSS={opts.mss}")
            elif kind == WSCALE and opts.wscale is not None:
                words.append(f"WS={1 << opts.wscale}")
            elif kind == SACK_PERM and opts.sack_permitted:
                words.append("SACK_PERM")
            elif kind == TIMESTAMP and opts.timestamp is not None:
                words.append(f"TSval={opts.timestamp[0]} TSecr={opts.timestamp[1]}")
            elif kind == SACK and opts.sack_blocks:
                # SACK edges are the peer's sequence numbers: relative to the
                # same base as this packet's ack.
                base = 0 if absolute or not self._flags[i] & ACK else \
                    (self._ack[i] - self._rel(i)[1]) & 0xFFFFFFFF
                words.extend(f"SLE={(left - base) & 0xFFFFFFFF} SRE={(right - base) & 0xFFFFFFFF}"
                             for left, right in opts.sack_blocks)
        return words

    def tooltip(self, i: int) -> str:
        """Why the row is coloured as it is: analysis words, malformation, comment."""
        lines = self.problems(i)
        status = self._status[i]
        if status != dec.OK:
            note = self.store.notes.get(i, "")
            lines.append(f"{dec.STATUS_NAMES[status]}: {note}" if note
                         else dec.STATUS_NAMES[status])
        link = self.analysis.icmp_links.get(i)
        if link is not None and link.datagram >= 0:
            lines.append(f"Answers the datagram in frame {link.datagram + 1}")
        comment = self.store.comments.get(i)
        if comment:
            lines.append(f"Comment: {comment}")
        return "\n".join(lines)


def _option_kinds(raw: bytes) -> list[int]:
    """Option kinds in wire order, each once (NOPs skipped; stops where parsing would)."""
    kinds: list[int] = []
    pos, n = 0, len(raw)
    while pos < n:
        kind = raw[pos]
        if kind == EOL:
            break
        if kind == NOP:
            pos += 1
            continue
        if pos + 1 >= n or raw[pos + 1] < 2:
            break
        if kind not in kinds:
            kinds.append(kind)
        pos += raw[pos + 1]
    return kinds
