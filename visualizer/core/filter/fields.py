"""The fields a display filter knows, named as tshark names them, each read
from the store's and the analysis's columns for every packet at once.

A field gives one or more *occurrences* (``ip.addr`` is ``ip.src`` and
``ip.dst``; ``tcp.port`` the two ports): each a pair of arrays over the
packets, the values and whether the packet has the field at all. Fields of
kind ``protocol`` (``tcp``, ``tcp.analysis.retransmission``) have no value,
only presence, as in tshark. Fields with an ``extent`` (the bytes they span)
can be searched with ``contains``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from visualizer.core.decode import headers as dec
from visualizer.core.decode.store import PacketStore
from visualizer.core.filter import raw
from visualizer.core.flows.analysis import Analysis
from visualizer.core.pcap import format as fmt
from visualizer.core.tcp import analysis_flags as af

Occurrence = tuple[np.ndarray | None, np.ndarray]   # (values or None, present)
Extent = tuple[np.ndarray, np.ndarray, np.ndarray]  # (present, start, stop) within the frame

#: kinds of field: what a value must be to compare with it
PROTOCOL, INTEGER, TIME, IPV4, IPV6, ETHER, BYTES = (
    "protocol", "integer", "time", "IPv4 address", "IPv6 address", "Ethernet address", "bytes")

_LINK_HEADER = {fmt.LINKTYPE_ETHERNET: 14, fmt.LINKTYPE_LINUX_SLL: 16,
                fmt.LINKTYPE_LINUX_SLL2: 20, fmt.LINKTYPE_RAW: 0, fmt.LINKTYPE_IPV4: 0,
                fmt.LINKTYPE_IPV6: 0, fmt.LINKTYPE_NULL: 4, fmt.LINKTYPE_LOOP: 4}
_VLAN = (0x8100, 0x88A8, 0x9100)
HEAD = 64   # bytes of each frame read at once for header fields: Ethernet, VLAN, IP, ports


class Context:
    """Packets [start, stop) of a store and its analysis, with what the fields
    computed from them kept for the rest of one evaluation. Arrays are over
    those packets only (``n`` of them): row ``r`` is packet ``start + r``."""

    def __init__(self, store: PacketStore, analysis: Analysis | None, stop: int,
                 first_number: int = 1, start: int = 0) -> None:
        self.store, self.analysis = store, analysis
        self.start, self.stop, self.n = start, stop, stop - start
        self.first_number = first_number
        self._cache: dict[str, np.ndarray] = {}

    def col(self, name: str) -> np.ndarray:
        return self.store.column(name)[self.start:self.stop]

    def acol(self, name: str) -> np.ndarray:
        if self.analysis is None:   # a store without analysis: nothing is tracked
            return np.full(self.n, -1, np.int64)
        return self.analysis.column(name)[self.start:self.stop]

    def cached(self, key: str, make: Callable[[], np.ndarray]) -> np.ndarray:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    # -- which packets carry which protocol -----------------------------
    def ip4(self) -> np.ndarray:
        return self.cached("ip4", lambda: self.col("ip_version") == 4)

    def ip6(self) -> np.ndarray:
        return self.cached("ip6", lambda: self.col("ip_version") == 6)

    def transport(self, proto: int) -> np.ndarray:
        """Packets whose transport header of protocol ``proto`` was decoded (not
        an IP fragment; a TCP header whose options the snaplen cut is still one)."""
        def make() -> np.ndarray:
            ok = self.col("status") == dec.OK
            if proto == dec.PROTO_TCP:
                ok |= self.col("reason") == dec.MalformedReason.TCP_OPTIONS_TRUNCATED
            return ok & (self.col("proto") == proto) & (self.col("fragment") == 0)
        return self.cached(f"transport{proto}", make)

    def icmp(self, version: int) -> np.ndarray:
        return self.cached(f"icmp{version}", lambda: (
            (self.col("ip_version") == version) & (self.col("icmp_type") >= 0)
            & (self.col("proto") == (dec.PROTO_ICMP if version == 4 else dec.PROTO_ICMPV6))))

    def ip_start(self) -> np.ndarray:
        """Where each frame's IP header starts (-1: no IP), after any VLAN tags."""
        def make() -> np.ndarray:
            link = self.col("linktype")
            start = np.full(self.n, -1, np.int64)
            for lt, head in _LINK_HEADER.items():
                start[link == lt] = head
            start[(self.col("ip_version") == 0)] = -1
            eth = np.flatnonzero((link == fmt.LINKTYPE_ETHERNET) & (start >= 0))
            for _ in range(2):   # Q-in-Q at most
                etype = self.u16(eth, start[eth] - 2)
                tagged = np.isin(etype, _VLAN)
                start[eth[tagged]] += 4
                eth = eth[tagged]
            return start
        return self.cached("ip_start", make)

    # -- bytes the store does not keep -------------------------------------
    def head(self) -> np.ndarray:
        """The first HEAD bytes of every frame (one pass over the file for all
        the header fields a filter names)."""
        return self.cached("head", lambda: raw.gather(
            self.store, np.arange(self.start, self.stop), np.zeros(self.n, np.int64), HEAD))

    def bytes_at(self, rows: np.ndarray, at: np.ndarray, width: int) -> np.ndarray:
        """Bytes ``at[k]:at[k]+width`` of frame ``rows[k]``, as int64 (0 past its end)."""
        if not len(rows) or int(at.max()) + width <= HEAD:
            return self.head()[rows[:, None], at[:, None] + np.arange(width)].astype(np.int64)
        return raw.gather(self.store, rows + self.start, at, width).astype(np.int64)

    def u16(self, rows: np.ndarray, at: np.ndarray) -> np.ndarray:
        b = self.bytes_at(rows, at, 2)
        return b[:, 0] << 8 | b[:, 1]


# --------------------------------------------------------------------------
# Field makers


@dataclass(frozen=True)
class Spec:
    kind: str
    values: Callable[[Context], list[Occurrence]] | None = None
    extent: Callable[[Context], Extent] | None = None


def _one(make: Callable[[Context], Occurrence]) -> Callable[[Context], list[Occurrence]]:
    return lambda c: [make(c)]


def _protocol(present: Callable[[Context], np.ndarray],
              extent: Callable[[Context], Extent] | None = None) -> Spec:
    return Spec(PROTOCOL, _one(lambda c: (None, present(c))), extent)


def _column(kind: str, name: str, present: Callable[[Context], np.ndarray]) -> Spec:
    return Spec(kind, _one(lambda c: (c.col(name), present(c))))


def _bytes_field(kind: str, present: Callable[[Context], np.ndarray],
                 at: Callable[[Context, np.ndarray], np.ndarray], width: int,
                 value: Callable[[np.ndarray], np.ndarray]) -> Callable[[Context], Occurrence]:
    """A field read from the frame: ``width`` bytes at ``at(context, rows)``,
    turned into values by ``value``."""
    def make(c: Context) -> Occurrence:
        where = present(c)
        rows = np.flatnonzero(where)
        values = np.zeros(c.n, np.int64)
        values[rows] = value(c.bytes_at(rows, at(c, rows), width))
        return values, where
    return make


def _big_endian(b: np.ndarray) -> np.ndarray:
    out = np.zeros(len(b), np.int64)
    for k in range(b.shape[1]):
        out = out << 8 | b[:, k]
    return out


def _header_field(kind: str, present: Callable[[Context], np.ndarray],
                  base: Callable[[Context, np.ndarray], np.ndarray], offset: int, width: int,
                  shift: int = 0, mask: int | None = None) -> Spec:
    def value(b: np.ndarray) -> np.ndarray:
        v = _big_endian(b) >> shift
        return v & mask if mask is not None else v
    return Spec(kind, _one(_bytes_field(kind, present, lambda c, r: base(c, r) + offset,
                                        width, value)))


def _ip_base(c: Context, rows: np.ndarray) -> np.ndarray:
    return c.ip_start()[rows]


def _l4_base(c: Context, rows: np.ndarray) -> np.ndarray:
    return c.col("l4_offset")[rows].astype(np.int64)


def _frame_base(c: Context, rows: np.ndarray) -> np.ndarray:
    return np.zeros(len(rows), np.int64)


def _tcp(c: Context) -> np.ndarray:
    return c.transport(dec.PROTO_TCP)


def _udp(c: Context) -> np.ndarray:
    return c.transport(dec.PROTO_UDP)


def _eth(c: Context) -> np.ndarray:
    return c.cached("eth", lambda: (c.col("linktype") == fmt.LINKTYPE_ETHERNET)
                    & (c.col("caplen") >= 14))


def _ip4_header(c: Context) -> np.ndarray:
    return c.cached("ip4_header", lambda: c.ip4() & (c.ip_start() >= 0))


def _ip6_header(c: Context) -> np.ndarray:
    return c.cached("ip6_header", lambda: c.ip6() & (c.ip_start() >= 0))


def _tracked(c: Context) -> np.ndarray:
    return c.cached("tracked", lambda: _tcp(c) & (c.acol("stream") >= 0))


def _addresses(version: int, which: tuple[str, ...]) -> Callable[[Context], list[Occurrence]]:
    def make(c: Context) -> list[Occurrence]:
        present = c.ip4() if version == 4 else c.ip6()
        return [(c.col(name), present & (c.col(name) >= 0)) for name in which]
    return make


def _ports(proto: int, which: tuple[str, ...]) -> Callable[[Context], list[Occurrence]]:
    def make(c: Context) -> list[Occurrence]:
        present = c.transport(proto)
        return [(c.col(name), present) for name in which]
    return make


def _ether(which: tuple[int, ...]) -> Callable[[Context], list[Occurrence]]:
    def make(c: Context) -> list[Occurrence]:
        rows = np.flatnonzero(_eth(c))
        head = c.bytes_at(rows, np.zeros(len(rows), np.int64), 12)
        out: list[Occurrence] = []
        for at in which:
            values = np.zeros(c.n, np.int64)
            values[rows] = _big_endian(head[:, at:at + 6])
            out.append((values, _eth(c)))
        return out
    return make


def _analysis(column: str, present: Callable[[Context], np.ndarray]) -> Spec:
    return Spec(INTEGER, _one(lambda c: (c.acol(column), present(c))))


def _flag(bit: int) -> Spec:
    return _protocol(lambda c: (c.acol("analysis") & bit) != 0)


def _tcp_flag(bit: int) -> Spec:
    return Spec(INTEGER, _one(lambda c: ((c.col("tcp_flags") & bit) != 0, _tcp(c))))


def _extent(present: Callable[[Context], np.ndarray],
            start: Callable[[Context], np.ndarray],
            stop: Callable[[Context], np.ndarray] | None = None) -> Callable[[Context], Extent]:
    def make(c: Context) -> Extent:
        end = stop(c) if stop is not None else c.col("caplen").astype(np.int64)
        return present(c), start(c), end
    return make


def _payload_end(c: Context) -> np.ndarray:
    return c.col("l4_offset").astype(np.int64) + _payload_start_offset(c) + c.col("payload_len")


def _payload_start_offset(c: Context) -> np.ndarray:
    return np.where(c.col("proto") == dec.PROTO_TCP, c.col("tcp_header_len").astype(np.int64),
                    8)


def _payload_start(c: Context) -> np.ndarray:
    return c.col("l4_offset").astype(np.int64) + _payload_start_offset(c)


def _relative_time(c: Context) -> np.ndarray:
    ts = c.col("ts_ns")
    return ts - int(c.store.values("ts_ns")[0]) if len(ts) else ts


def _every(c: Context) -> np.ndarray:
    return np.ones(c.n, bool)


FIELDS: dict[str, Spec] = {
    # frame
    "frame": _protocol(_every, _extent(_every, lambda c: np.zeros(c.n, np.int64))),
    "frame.number": Spec(INTEGER, _one(lambda c: (
        np.arange(c.first_number + c.start, c.first_number + c.stop, dtype=np.int64),
        _every(c)))),
    "frame.time_relative": Spec(TIME, _one(lambda c: (_relative_time(c), _every(c)))),
    "frame.time_epoch": _column(TIME, "ts_ns", _every),
    "frame.len": _column(INTEGER, "origlen", _every),
    "frame.cap_len": _column(INTEGER, "caplen", _every),
    # Ethernet
    "eth": _protocol(_eth, _extent(_eth, lambda c: np.zeros(c.n, np.int64))),
    "eth.dst": Spec(ETHER, _ether((0,))),
    "eth.src": Spec(ETHER, _ether((6,))),
    "eth.addr": Spec(ETHER, _ether((0, 6))),
    "eth.type": _header_field(INTEGER, _eth, _frame_base, 12, 2),
    # IPv4
    "ip": _protocol(lambda c: c.ip4(), _extent(_ip4_header, lambda c: c.ip_start())),
    "ip.version": Spec(INTEGER, _one(lambda c: (c.col("ip_version"), c.ip4()))),
    "ip.hdr_len": _header_field(INTEGER, _ip4_header, _ip_base, 0, 1, mask=0x0F),
    "ip.dsfield": _header_field(INTEGER, _ip4_header, _ip_base, 1, 1),
    "ip.dsfield.dscp": _header_field(INTEGER, _ip4_header, _ip_base, 1, 1, shift=2),
    "ip.len": _header_field(INTEGER, _ip4_header, _ip_base, 2, 2),
    "ip.id": _header_field(INTEGER, _ip4_header, _ip_base, 4, 2),
    "ip.flags.rb": _header_field(INTEGER, _ip4_header, _ip_base, 6, 1, shift=7, mask=1),
    "ip.flags.df": _header_field(INTEGER, _ip4_header, _ip_base, 6, 1, shift=6, mask=1),
    "ip.flags.mf": _header_field(INTEGER, _ip4_header, _ip_base, 6, 1, shift=5, mask=1),
    "ip.ttl": _header_field(INTEGER, _ip4_header, _ip_base, 8, 1),
    "ip.proto": Spec(INTEGER, _one(lambda c: (c.col("proto"), c.ip4()))),
    "ip.checksum": _header_field(INTEGER, _ip4_header, _ip_base, 10, 2),
    "ip.src": Spec(IPV4, _addresses(4, ("src",))),
    "ip.dst": Spec(IPV4, _addresses(4, ("dst",))),
    "ip.addr": Spec(IPV4, _addresses(4, ("src", "dst"))),
    # IPv6
    "ipv6": _protocol(lambda c: c.ip6(), _extent(_ip6_header, lambda c: c.ip_start())),
    "ipv6.version": Spec(INTEGER, _one(lambda c: (c.col("ip_version"), c.ip6()))),
    "ipv6.tclass": _header_field(INTEGER, _ip6_header, _ip_base, 0, 2, shift=4, mask=0xFF),
    "ipv6.flow": _header_field(INTEGER, _ip6_header, _ip_base, 1, 3, mask=0xFFFFF),
    "ipv6.plen": _header_field(INTEGER, _ip6_header, _ip_base, 4, 2),
    "ipv6.nxt": _header_field(INTEGER, _ip6_header, _ip_base, 6, 1),
    "ipv6.hlim": _header_field(INTEGER, _ip6_header, _ip_base, 7, 1),
    "ipv6.src": Spec(IPV6, _addresses(6, ("src",))),
    "ipv6.dst": Spec(IPV6, _addresses(6, ("dst",))),
    "ipv6.addr": Spec(IPV6, _addresses(6, ("src", "dst"))),
    # TCP
    "tcp": _protocol(_tcp, _extent(_tcp, lambda c: c.col("l4_offset").astype(np.int64))),
    "tcp.srcport": Spec(INTEGER, _ports(dec.PROTO_TCP, ("sport",))),
    "tcp.dstport": Spec(INTEGER, _ports(dec.PROTO_TCP, ("dport",))),
    "tcp.port": Spec(INTEGER, _ports(dec.PROTO_TCP, ("sport", "dport"))),
    "tcp.stream": _analysis("stream", _tracked),
    "tcp.len": _column(INTEGER, "payload_len", _tcp),
    "tcp.seq": _analysis("rel_seq", _tracked),
    "tcp.seq_raw": _column(INTEGER, "seq", _tcp),
    "tcp.ack": _analysis("rel_ack", _tracked),
    "tcp.ack_raw": _column(INTEGER, "ack", _tcp),
    "tcp.hdr_len": _column(INTEGER, "tcp_header_len", _tcp),
    "tcp.flags": _column(INTEGER, "tcp_flags", _tcp),
    "tcp.flags.ns": _tcp_flag(0x100),
    "tcp.flags.cwr": _tcp_flag(0x80),
    "tcp.flags.ece": _tcp_flag(0x40),
    "tcp.flags.urg": _tcp_flag(0x20),
    "tcp.flags.ack": _tcp_flag(0x10),
    "tcp.flags.push": _tcp_flag(0x08),
    "tcp.flags.reset": _tcp_flag(0x04),
    "tcp.flags.syn": _tcp_flag(0x02),
    "tcp.flags.fin": _tcp_flag(0x01),
    "tcp.window_size_value": _column(INTEGER, "window", _tcp),
    "tcp.window_size": _analysis("window", _tracked),
    "tcp.urgent_pointer": _column(INTEGER, "urgent", _tcp),
    "tcp.checksum": _header_field(INTEGER, _tcp, _l4_base, 16, 2),
    "tcp.payload": Spec(BYTES, None, _extent(lambda c: _tcp(c) & (c.col("payload_len") > 0),
                                             _payload_start, _payload_end)),
    "tcp.analysis": _protocol(lambda c: c.acol("analysis") != 0),
    "tcp.analysis.flags": _protocol(lambda c: c.acol("analysis") != 0),
    "tcp.analysis.bytes_in_flight": _analysis("bytes_in_flight",
                                              lambda c: c.acol("bytes_in_flight") >= 0),
    "tcp.analysis.duplicate_ack_num": _analysis("dup_ack_count",
                                                lambda c: c.acol("dup_ack_count") > 0),
    **{f"tcp.analysis.{name}": _flag(1 << i) for i, name in enumerate(af.ANALYSIS_FLAGS)},
    # UDP
    "udp": _protocol(_udp, _extent(_udp, lambda c: c.col("l4_offset").astype(np.int64))),
    "udp.srcport": Spec(INTEGER, _ports(dec.PROTO_UDP, ("sport",))),
    "udp.dstport": Spec(INTEGER, _ports(dec.PROTO_UDP, ("dport",))),
    "udp.port": Spec(INTEGER, _ports(dec.PROTO_UDP, ("sport", "dport"))),
    "udp.length": _header_field(INTEGER, _udp, _l4_base, 4, 2),
    "udp.checksum": _header_field(INTEGER, _udp, _l4_base, 6, 2),
    "udp.stream": Spec(INTEGER, _one(lambda c: (c.acol("udp_flow"), c.acol("udp_flow") >= 0))),
    "udp.payload": Spec(BYTES, None, _extent(lambda c: _udp(c) & (c.col("payload_len") > 0),
                                             _payload_start, _payload_end)),
    # ICMP
    "icmp": _protocol(lambda c: c.icmp(4), _extent(
        lambda c: c.icmp(4), lambda c: c.col("l4_offset").astype(np.int64))),
    "icmp.type": Spec(INTEGER, _one(lambda c: (c.col("icmp_type"), c.icmp(4)))),
    "icmp.code": Spec(INTEGER, _one(lambda c: (c.col("icmp_code"), c.icmp(4)))),
    "icmp.checksum": _header_field(INTEGER, lambda c: c.icmp(4), _l4_base, 2, 2),
    "icmp.ident": _header_field(INTEGER, lambda c: c.icmp(4) & np.isin(c.col("icmp_type"),
                                                                       (0, 8)), _l4_base, 4, 2),
    "icmp.seq": _header_field(INTEGER, lambda c: c.icmp(4) & np.isin(c.col("icmp_type"), (0, 8)),
                              _l4_base, 6, 2),
    "icmpv6": _protocol(lambda c: c.icmp(6), _extent(
        lambda c: c.icmp(6), lambda c: c.col("l4_offset").astype(np.int64))),
    "icmpv6.type": Spec(INTEGER, _one(lambda c: (c.col("icmp_type"), c.icmp(6)))),
    "icmpv6.code": Spec(INTEGER, _one(lambda c: (c.col("icmp_code"), c.icmp(6)))),
}
