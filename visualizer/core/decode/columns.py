"""Header decoding for thousands of frames at once, with numpy.

``decode.decode()`` walks one frame in Python (a few microseconds each: seconds
for a million packets). Here a chunk of frames is decoded with numpy gathers
over the file's bytes: the common case only, i.e. Ethernet without VLAN tags,
Linux cooked (v1, v2), BSD/OpenBSD loopback or raw IP, carrying IPv4 without
fragmentation or IPv6 without extension headers, carrying TCP, UDP, a
non-error ICMP message or another protocol, with every header complete.
Every other frame (VLAN, fragments, extension headers, ICMP errors and their
quotes, tunnels (IP-in-IP, GRE, UDP to a tunnel's port), truncated or
inconsistent headers, not IP, unknown link types) goes
to ``decode.decode()``, which stays the reference: for the frames handled
here the columns are exactly what it would give (tests/core/test_fastdecode.py
compares them over the tcpdump corpus).

The chunks come from the one walk over a capture's records
(``pcap/records.py``). Also here: interning a chunk's addresses into the
store's address table.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from visualizer.core.decode import headers as dec
from visualizer.core.pcap import format as fmt
from visualizer.core.pcap.records import FrameChunk
from visualizer.core.tcp.options import TIMESTAMPS_ONLY_PREFIX

# The decoded columns (PacketStore.COLUMNS minus the record's own fields).
DECODED = ("status", "ip_version", "proto", "sport", "dport", "tcp_flags", "seq", "ack",
           "window", "urgent", "payload_len", "l4_offset", "tcp_header_len", "icmp_type",
           "icmp_code", "fragment", "reason", "ethertype", "tunnel", "timestamps_only")

_ETH_IPV4 = 0x0800
_ETH_IPV6 = 0x86DD
_AF_INET6 = (10, 24, 28, 30)           # as decode: Linux, BSD, FreeBSD, Darwin
_IPV6_NOT_TRANSPORT = (0, 43, 44, 51, 60)  # extension headers decode() walks
_ICMP_ERRORS = (3, 4, 5, 11, 12)       # ICMPv4 types that quote a datagram
_TUNNEL_PROTOS = tuple(dec.IP_TUNNELS)   # IP-in-IP, GRE, ...: decode() opens them
_TUNNEL_PORTS = tuple(dec.UDP_TUNNELS)   # VXLAN, GTP-U, ...
_M32 = 0xFFFFFFFF
_TIMESTAMPS_ONLY = int.from_bytes(TIMESTAMPS_ONLY_PREFIX, "big")


class DecodedChunk(NamedTuple):
    """The decoded columns of a chunk, plus what the store keeps aside."""

    columns: dict[str, np.ndarray]      # DECODED name -> int64 array
    addr_kind: np.ndarray   # uint8 per address (src, dst, src, dst, ...): 0 none, 4, 16
    addr_v4: np.ndarray     # uint32, where kind is 4
    addr_v6: np.ndarray     # (2n, 16) uint8, where kind is 16
    notes: dict[int, str]               # index within the chunk -> note
    quoted: dict[int, dec.Quoted]
    fallback: int                       # frames decode() did (for tests and profiling)


# --------------------------------------------------------------------------
# Decoding


def decode_chunk(chunk: FrameChunk) -> DecodedChunk:
    """The decoded columns of every frame in ``chunk`` (see module docstring)."""
    data = chunk.data
    buf = np.frombuffer(data or b"\0", dtype=np.uint8)  # (frames of 0 bytes hold none)
    n = len(chunk.offset)
    off, caplen = chunk.offset - chunk.base, chunk.caplen
    end = off + caplen
    wire = off + np.maximum(caplen, chunk.origlen)

    def u8(pos: np.ndarray) -> np.ndarray:  # clipped: rows that read past the end are not fast
        return buf.take(pos, mode="clip").astype(np.int64)

    def u16(pos: np.ndarray) -> np.ndarray:
        return u8(pos) << 8 | u8(pos + 1)

    def u32(pos: np.ndarray) -> np.ndarray:
        return u16(pos) << 16 | u16(pos + 2)

    cols = {name: np.zeros(n, np.int64) for name in DECODED}
    cols["icmp_type"][:] = -1
    cols["icmp_code"][:] = -1

    # -- link layer: where the IP header starts, and which version it must be
    ip_pos = np.full(n, -1, np.int64)
    version = np.zeros(n, np.int64)
    link = chunk.linktype
    for lt in np.unique(link).tolist():
        rows = np.flatnonzero(link == lt)
        o, cl = off[rows], caplen[rows]
        if lt in (fmt.LINKTYPE_ETHERNET, fmt.LINKTYPE_LINUX_SLL, fmt.LINKTYPE_LINUX_SLL2):
            head, at = {fmt.LINKTYPE_ETHERNET: (14, 12), fmt.LINKTYPE_LINUX_SLL: (16, 14),
                        fmt.LINKTYPE_LINUX_SLL2: (20, 0)}[lt]
            etype = u16(o + at)
            v = np.where(etype == _ETH_IPV4, 4, np.where(etype == _ETH_IPV6, 6, 0))
            v[cl < head] = 0
            cols["ethertype"][rows] = etype
        elif lt in (fmt.LINKTYPE_RAW, fmt.LINKTYPE_IPV4, fmt.LINKTYPE_IPV6):
            head = 0
            v = np.where(cl >= 1, u8(o) >> 4, 0)
            v[(v != 4) & (v != 6)] = 0
        elif lt in (fmt.LINKTYPE_NULL, fmt.LINKTYPE_LOOP):
            head = 4
            big = u32(o)
            if lt == fmt.LINKTYPE_LOOP:
                family = big
            else:
                little = u8(o) | u8(o + 1) << 8 | u8(o + 2) << 16 | u8(o + 3) << 24
                family = np.minimum(big, little)
            v = np.where(family == 2, 4, np.where(np.isin(family, _AF_INET6), 6, 0))
            v[cl < head] = 0
        else:
            continue
        version[rows] = v
        ip_pos[rows] = o + head
    fast = version != 0

    # -- IP: the transport header's position and where the IP payload ends
    l4 = np.zeros(n, np.int64)
    wire_end = np.zeros(n, np.int64)
    addr_pos = np.zeros(n, np.int64)    # of the source address; the destination follows
    rows4 = np.flatnonzero(version == 4)
    if len(rows4):
        p, e = ip_pos[rows4], end[rows4]
        vihl = u8(p)
        ihl = (vihl & 0x0F) * 4
        total = u16(p + 2)
        total = np.where(total == 0, e - p, total)
        ok = ((p + 20 <= e) & (vihl >> 4 == 4) & (ihl >= 20) & (p + ihl <= e) & (total >= ihl)
              & (u16(p + 6) & 0x3FFF == 0)   # neither a fragment nor a first fragment
              & ~np.isin(u8(p + 9), _TUNNEL_PROTOS))
        fast[rows4] = ok
        cols["proto"][rows4] = u8(p + 9)
        l4[rows4] = p + ihl
        wire_end[rows4] = np.minimum(p + total, wire[rows4])
        addr_pos[rows4] = p + 12
    rows6 = np.flatnonzero(version == 6)
    if len(rows6):
        p, e = ip_pos[rows6], end[rows6]
        plen = u16(p + 4)
        nxt = u8(p + 6)
        start = p + 40
        we = np.where(plen == 0, e, np.minimum(start + plen, wire[rows6]))
        ok = ((p + 40 <= e) & (u8(p) >> 4 == 6) & ~np.isin(nxt, _IPV6_NOT_TRANSPORT)
              & ~np.isin(nxt, _TUNNEL_PROTOS) & (start <= we))
        fast[rows6] = ok
        cols["proto"][rows6] = nxt
        l4[rows6] = start
        wire_end[rows6] = we
        addr_pos[rows6] = p + 8
    cols["ip_version"][:] = version

    # -- transport
    proto = cols["proto"]
    rows = np.flatnonzero(fast & (proto == dec.PROTO_TCP))
    if len(rows):
        p, e = l4[rows], end[rows]
        off_flags = u16(p + 12)
        hlen = (off_flags >> 12) * 4
        payload = wire_end[rows] - p - hlen
        fast[rows] = (p + 20 <= e) & (hlen >= 20) & (payload >= 0) & (p + hlen <= e)
        cols["sport"][rows] = u16(p)
        cols["dport"][rows] = u16(p + 2)
        cols["seq"][rows] = u32(p + 4)
        cols["ack"][rows] = u32(p + 8)
        cols["tcp_flags"][rows] = off_flags & 0x01FF
        cols["window"][rows] = u16(p + 14)
        cols["urgent"][rows] = u16(p + 18)
        cols["payload_len"][rows] = payload
        cols["tcp_header_len"][rows] = hlen
        # options NOP NOP TS and nothing else (a row whose header was not all
        # captured is not fast: decode() gives its columns)
        cols["timestamps_only"][rows] = (hlen == 32) & (u32(p + 20) == _TIMESTAMPS_ONLY)
    rows = np.flatnonzero(fast & (proto == dec.PROTO_UDP))
    if len(rows):
        p, e = l4[rows], end[rows]
        ulen = u16(p + 4)
        ulen = np.where((ulen == 0) & (version[rows] == 6), wire_end[rows] - p, ulen)
        sport, dport = u16(p), u16(p + 2)
        fast[rows] = ((p + 8 <= e) & (ulen >= 8) & ~np.isin(sport, _TUNNEL_PORTS)
                      & ~np.isin(dport, _TUNNEL_PORTS))
        cols["sport"][rows] = sport
        cols["dport"][rows] = dport
        cols["payload_len"][rows] = ulen - 8
    rows = np.flatnonzero(fast & ((proto == dec.PROTO_ICMP) | (proto == dec.PROTO_ICMPV6)))
    if len(rows):
        p, e = l4[rows], end[rows]
        itype = u8(p)
        error = np.where(proto[rows] == dec.PROTO_ICMP, np.isin(itype, _ICMP_ERRORS),
                         (itype >= 1) & (itype <= 4))
        fast[rows] = (p + 4 <= e) & ~error    # an error's quote is decode()'s work
        cols["icmp_type"][rows] = itype
        cols["icmp_code"][rows] = u8(p + 1)
        cols["payload_len"][rows] = np.maximum(wire_end[rows] - p - 8, 0)
    rows = np.flatnonzero(fast & ~np.isin(proto, (dec.PROTO_TCP, dec.PROTO_UDP, dec.PROTO_ICMP,
                                                  dec.PROTO_ICMPV6)))
    if len(rows):
        cols["payload_len"][rows] = np.maximum(wire_end[rows] - l4[rows], 0)
    cols["l4_offset"][:] = l4 - off
    np.minimum(cols["payload_len"], _M32, out=cols["payload_len"])

    # -- addresses, as (src, dst) pairs in frame order
    kind = np.repeat(np.where(version == 4, 4, 16).astype(np.uint8), 2)
    kind[np.repeat(~fast, 2)] = 0
    v4 = np.zeros(2 * n, np.uint32)
    v6 = np.zeros((2 * n, 16), np.uint8)
    sel = np.flatnonzero(fast & (version == 4))
    if len(sel):
        octets = buf[addr_pos[sel, None] + np.arange(8)].astype(np.uint32)
        words = octets[:, 0::4] << 24 | octets[:, 1::4] << 16 | octets[:, 2::4] << 8 \
            | octets[:, 3::4]
        v4[2 * sel] = words[:, 0]
        v4[2 * sel + 1] = words[:, 1]
    sel = np.flatnonzero(fast & (version == 6))
    if len(sel):
        octets = buf[addr_pos[sel, None] + np.arange(32)]
        v6[2 * sel] = octets[:, :16]
        v6[2 * sel + 1] = octets[:, 16:]

    # -- everything else: decode(), the reference
    notes: dict[int, str] = {}
    quoted: dict[int, dec.Quoted] = {}
    slow = np.flatnonzero(~fast)
    if len(slow):
        _decode_slowly(data, chunk, off, slow, cols, kind, v4, v6, notes, quoted)
    return DecodedChunk(cols, kind, v4, v6, notes, quoted, len(slow))


def _decode_slowly(data: dec.Buffer, chunk: FrameChunk, off: np.ndarray, rows: np.ndarray,
                   cols: dict[str, np.ndarray], kind: np.ndarray, v4: np.ndarray,
                   v6: np.ndarray, notes: dict[int, str], quoted: dict[int, dec.Quoted]) -> None:
    decode = dec.decode
    targets = [cols[name] for name in DECODED]
    links, offs = chunk.linktype.tolist(), off.tolist()
    caplens, origlens = chunk.caplen.tolist(), chunk.origlen.tolist()
    for i in rows.tolist():
        d = decode(links[i], data, offs[i], caplens[i], origlens[i])
        _set(targets, kind, v4, v6, i, d)
        if d.note:
            notes[i] = d.note
        if d.quoted is not None:
            quoted[i] = d.quoted


def set_row(chunk: DecodedChunk, i: int, d: dec.Decoded) -> None:
    """Put ``d`` in row ``i`` of a decoded chunk (its columns, addresses and quote)."""
    _set([chunk.columns[name] for name in DECODED], chunk.addr_kind, chunk.addr_v4,
         chunk.addr_v6, i, d)
    chunk.notes.pop(i, None)
    if d.quoted is not None:
        chunk.quoted[i] = d.quoted


def _set(targets: list[np.ndarray], kind: np.ndarray, v4: np.ndarray, v6: np.ndarray, i: int,
         d: dec.Decoded) -> None:
    values = (d.status, d.ip_version, d.proto, d.sport, d.dport, d.tcp_flags, d.seq,
              d.ack, d.window, d.urgent, min(d.payload_len, _M32), d.l4_offset,
              d.tcp_header_len, d.icmp_type, d.icmp_code, d.fragment, d.reason, d.ethertype,
              d.tunnel, d.timestamps_only)
    for target, value in zip(targets, values, strict=True):
        target[i] = value
    for j, raw in ((2 * i, d.src), (2 * i + 1, d.dst)):
        if len(raw) == 4:
            kind[j] = 4
            v4[j] = int.from_bytes(raw, "big")
        elif len(raw) == 16:
            kind[j] = 16
            v6[j] = np.frombuffer(raw, np.uint8)
        elif raw:  # no other length comes out of decode(); keep it if one ever does
            raise ValueError(f"address of {len(raw)} bytes")


# --------------------------------------------------------------------------
# Addresses


def intern_addresses(chunk: DecodedChunk, ids: dict[bytes, int],
                     table: list[bytes]) -> np.ndarray:
    """Address ids (int64, src and dst alternating) for a decoded chunk.

    Unknown addresses are added to ``table`` / ``ids`` in order of first
    appearance (source before destination within a frame), as the
    frame-by-frame loop did, so ids come out the same.
    """
    kind = chunk.addr_kind
    out = np.full(len(kind), -1, np.int64)
    groups: list[tuple[np.ndarray, list[bytes], np.ndarray, np.ndarray]] = []
    sel = np.flatnonzero(kind == 4)
    if len(sel):
        uniq, first, inverse = np.unique(chunk.addr_v4[sel], return_index=True,
                                         return_inverse=True)
        groups.append((sel, [v.to_bytes(4, "big") for v in uniq.tolist()], first, inverse))
    sel = np.flatnonzero(kind == 16)
    if len(sel):
        rows = chunk.addr_v6[sel]
        halves = rows.view(">u8")
        order = np.lexsort((halves[:, 1], halves[:, 0]))  # stable: a run starts at its first
        ordered = halves[order]
        starts = np.ones(len(order), bool)
        starts[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
        inverse = np.empty(len(order), np.int64)
        inverse[order] = np.cumsum(starts) - 1
        first = order[starts]
        groups.append((sel, [bytes(r) for r in rows[first]], first, inverse))
    new = [(int(sel[first[slot]]), raw) for sel, raws, first, _ in groups
           for slot, raw in enumerate(raws) if raw not in ids]
    new.sort()
    for _, raw in new:
        ids[raw] = len(table)
        table.append(raw)
    for sel, raws, _, inverse in groups:
        out[sel] = np.fromiter((ids[raw] for raw in raws), np.int64, len(raws))[inverse]
    return out
