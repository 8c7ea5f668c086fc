"""Fast header decoding: link layer, IPv4/IPv6, TCP, UDP, ICMP/ICMPv6.

Reads only what the columns of the PacketStore need, straight from the
file's bytes with ``struct.unpack_from``; no scapy objects. Never raises on
bad bytes: a frame whose headers cannot be trusted comes back with status
MALFORMED and a note saying what was wrong. Full dissection (for the
packet on screen) is scapy's job elsewhere.
"""

from __future__ import annotations

import mmap
import struct
from typing import NamedTuple, TypeAlias

from visualizer.core.pcap import format as fmt

Buffer: TypeAlias = bytes | bytearray | memoryview | mmap.mmap

# Frame status, as stored in the PacketStore's ``status`` column.
OK = 0
MALFORMED = 1          # headers truncated or inconsistent
UNSUPPORTED_LINK = 2   # link type we do not decode
NOT_IP = 3             # ARP, STP, ... : kept, shown, not analysed
STATUS_NAMES = {OK: "ok", MALFORMED: "malformed", UNSUPPORTED_LINK: "unsupported link type",
                NOT_IP: "not IP"}

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_ICMPV6 = 58

_ETH_IPV4 = 0x0800
_ETH_IPV6 = 0x86DD
_ETH_VLAN = (0x8100, 0x88A8, 0x9100)
_IPV6_EXT = (0, 43, 60)  # hop-by-hop, routing, destination options
_AF_INET6 = (10, 24, 28, 30)  # Linux, BSD, FreeBSD, Darwin values of AF_INET6

_u16 = struct.Struct("!H")
_u32 = struct.Struct("!I")
_ipv4 = struct.Struct("!BBHHHBBH4s4s")
_ipv6 = struct.Struct("!IHBB16s16s")
_tcp = struct.Struct("!HHIIHHHH")
_udp = struct.Struct("!HHHH")


class Quoted(NamedTuple):
    """The datagram an ICMP error quotes (for linking it to its flow)."""

    src: bytes
    dst: bytes
    proto: int
    sport: int
    dport: int


class Decoded(NamedTuple):
    status: int = OK
    note: str = ""
    ip_version: int = 0
    src: bytes = b""
    dst: bytes = b""
    proto: int = 0            # IP protocol number of the transport header
    sport: int = 0
    dport: int = 0
    tcp_flags: int = 0
    seq: int = 0
    ack: int = 0
    window: int = 0
    urgent: int = 0
    payload_len: int = 0      # transport payload bytes as on the wire
    l4_offset: int = 0        # offset of the transport header within the frame
    tcp_header_len: int = 0   # 20..60; options are bytes 20..tcp_header_len
    icmp_type: int = -1
    icmp_code: int = -1
    quoted: Quoted | None = None
    fragment: bool = False    # a non-first IPv4/IPv6 fragment: no transport header


_UNSUPPORTED = Decoded(UNSUPPORTED_LINK, "link type not decoded")


def decode(linktype: int, buf: Buffer, off: int, caplen: int,
           origlen: int | None = None) -> Decoded:
    """Decode the frame at ``buf[off:off+caplen]`` of link type ``linktype``.

    ``origlen`` is the frame's length on the wire; lengths in the headers
    are trusted only up to it, as Wireshark does.
    """
    end = off + caplen
    wire = off + max(caplen, origlen or 0)
    if linktype == fmt.LINKTYPE_ETHERNET:
        if caplen < 14:
            return Decoded(MALFORMED, "Ethernet header truncated")
        pos = off + 12
        (etype,) = _u16.unpack_from(buf, pos)
        pos += 2
        while etype in _ETH_VLAN:
            if pos + 4 > end:
                return Decoded(MALFORMED, "VLAN tag truncated")
            (etype,) = _u16.unpack_from(buf, pos + 2)
            pos += 4
        return _by_ethertype(etype, buf, pos, end, off, wire)
    if linktype in (fmt.LINKTYPE_RAW, fmt.LINKTYPE_IPV4, fmt.LINKTYPE_IPV6):
        return _ip(buf, off, end, off, wire)
    if linktype == fmt.LINKTYPE_LINUX_SLL:
        if caplen < 16:
            return Decoded(MALFORMED, "Linux cooked header truncated")
        (etype,) = _u16.unpack_from(buf, off + 14)
        return _by_ethertype(etype, buf, off + 16, end, off, wire)
    if linktype == fmt.LINKTYPE_LINUX_SLL2:
        if caplen < 20:
            return Decoded(MALFORMED, "Linux cooked v2 header truncated")
        (etype,) = _u16.unpack_from(buf, off)
        return _by_ethertype(etype, buf, off + 20, end, off, wire)
    if linktype in (fmt.LINKTYPE_NULL, fmt.LINKTYPE_LOOP):
        if caplen < 4:
            return Decoded(MALFORMED, "loopback header truncated")
        raw = bytes(buf[off:off + 4])
        if linktype == fmt.LINKTYPE_LOOP:
            family = int.from_bytes(raw, "big")
        else:  # host byte order of the writer: take whichever reading is small
            family = min(int.from_bytes(raw, "little"), int.from_bytes(raw, "big"))
        if family == 2:
            return _ipv4_packet(buf, off + 4, end, off, wire)
        if family in _AF_INET6:
            return _ipv6_packet(buf, off + 4, end, off, wire)
        return Decoded(NOT_IP, f"loopback family {family}")
    return _UNSUPPORTED


def _by_ethertype(etype: int, buf: Buffer, pos: int, end: int, base: int, wire: int) -> Decoded:
    if etype == _ETH_IPV4:
        return _ipv4_packet(buf, pos, end, base, wire)
    if etype == _ETH_IPV6:
        return _ipv6_packet(buf, pos, end, base, wire)
    return Decoded(NOT_IP, f"ethertype 0x{etype:04x}")


def _ip(buf: Buffer, pos: int, end: int, base: int, wire: int) -> Decoded:
    if pos >= end:
        return Decoded(MALFORMED, "empty IP packet")
    version = buf[pos] >> 4
    if version == 4:
        return _ipv4_packet(buf, pos, end, base, wire)
    if version == 6:
        return _ipv6_packet(buf, pos, end, base, wire)
    return Decoded(MALFORMED, f"IP version {version}")


def _ipv4_packet(buf: Buffer, pos: int, end: int, base: int, wire: int) -> Decoded:
    if pos + 20 > end:
        return Decoded(MALFORMED, "IPv4 header truncated", 4)
    vihl, _tos, total, _ident, frag, _ttl, proto, _csum, src, dst = _ipv4.unpack_from(buf, pos)
    if vihl >> 4 != 4:
        return Decoded(MALFORMED, f"IP version {vihl >> 4} in an IPv4 frame", 4)
    ihl = (vihl & 0x0F) * 4
    if ihl < 20:
        return Decoded(MALFORMED, f"IPv4 header length {ihl} < 20", 4, src, dst, proto)
    if pos + ihl > end:
        return Decoded(MALFORMED, "IPv4 options truncated", 4, src, dst, proto)
    if total == 0:  # TSO: the NIC fills it in; use what was captured
        total = end - pos
    if total < ihl:
        return Decoded(MALFORMED, f"IPv4 total length {total} < header length {ihl}",
                       4, src, dst, proto)
    if frag & 0x1FFF:
        return Decoded(OK, "IPv4 fragment", 4, src, dst, proto, fragment=True)
    ip_end = min(pos + total, wire)  # a total length beyond the frame is not believed
    if frag & 0x2000:  # first fragment: the transport header, but not the whole payload
        d = _transport(4, src, dst, proto, buf, pos + ihl, ip_end, end, base)
        return d._replace(note=d.note or "IPv4 first fragment", fragment=True)
    return _transport(4, src, dst, proto, buf, pos + ihl, ip_end, end, base)


def _ipv6_packet(buf: Buffer, pos: int, end: int, base: int, wire: int) -> Decoded:
    if pos + 40 > end:
        return Decoded(MALFORMED, "IPv6 header truncated", 6)
    vtf, plen, nxt, _hlim, src, dst = _ipv6.unpack_from(buf, pos)
    if vtf >> 28 != 6:
        return Decoded(MALFORMED, f"IP version {vtf >> 28} in an IPv6 frame", 6)
    pos += 40
    wire_end = min(pos + plen, wire)
    if plen == 0:  # jumbogram or TSO: use what was captured
        wire_end = end
    for _ in range(8):  # bounded walk over extension headers
        if nxt in _IPV6_EXT or nxt == 51:
            if pos + 2 > end:
                return Decoded(MALFORMED, "IPv6 extension header truncated", 6, src, dst, nxt)
            hdr_len = (buf[pos + 1] + 2) * 4 if nxt == 51 else (buf[pos + 1] + 1) * 8
            nxt = buf[pos]
            pos += hdr_len
        elif nxt == 44:  # fragment header
            if pos + 8 > end:
                return Decoded(MALFORMED, "IPv6 fragment header truncated", 6, src, dst, nxt)
            (offset_flags,) = _u16.unpack_from(buf, pos + 2)
            nxt = buf[pos]
            pos += 8
            if offset_flags & 0xFFF8:
                return Decoded(OK, "IPv6 fragment", 6, src, dst, nxt, fragment=True)
        else:
            break
    else:
        return Decoded(MALFORMED, "too many IPv6 extension headers", 6, src, dst, nxt)
    if pos > wire_end:
        return Decoded(MALFORMED, "IPv6 extension headers exceed the payload length",
                       6, src, dst, nxt)
    return _transport(6, src, dst, nxt, buf, pos, wire_end, end, base)


def _transport(ipv: int, src: bytes, dst: bytes, proto: int, buf: Buffer, pos: int,
               wire_end: int, end: int, base: int) -> Decoded:
    """Decode the transport header at ``pos``; ``wire_end`` is where the IP
    payload ends on the wire, ``end`` where the captured bytes end."""
    if proto == PROTO_TCP:
        if pos + 20 > end:
            return Decoded(MALFORMED, "TCP header truncated", ipv, src, dst, proto)
        sport, dport, seq, ack, off_flags, window, _csum, urg = _tcp.unpack_from(buf, pos)
        hlen = (off_flags >> 12) * 4
        flags = off_flags & 0x01FF
        if hlen < 20:
            return Decoded(MALFORMED, f"TCP header length {hlen} < 20", ipv, src, dst, proto,
                           sport, dport, flags, seq, ack, window, urg, 0, pos - base, 20)
        payload = wire_end - pos - hlen
        if payload < 0:
            return Decoded(MALFORMED, "TCP header longer than the IP payload", ipv, src, dst,
                           proto, sport, dport, flags, seq, ack, window, urg, 0, pos - base, hlen)
        if pos + hlen > end:  # options cut off by the snaplen: fields above still good
            return Decoded(MALFORMED, "TCP options truncated", ipv, src, dst, proto, sport,
                           dport, flags, seq, ack, window, urg, payload, pos - base,
                           end - pos)
        return Decoded(OK, "", ipv, src, dst, proto, sport, dport, flags, seq, ack, window,
                       urg, payload, pos - base, hlen)
    if proto == PROTO_UDP:
        if pos + 8 > end:
            return Decoded(MALFORMED, "UDP header truncated", ipv, src, dst, proto)
        sport, dport, ulen, _csum = _udp.unpack_from(buf, pos)
        if ulen == 0 and ipv == 6:  # jumbogram
            ulen = wire_end - pos
        if ulen < 8:
            return Decoded(MALFORMED, f"UDP length {ulen} < 8", ipv, src, dst, proto,
                           sport, dport, l4_offset=pos - base)
        return Decoded(OK, "", ipv, src, dst, proto, sport, dport, payload_len=ulen - 8,
                       l4_offset=pos - base)
    if proto in (PROTO_ICMP, PROTO_ICMPV6):
        if pos + 4 > end:
            return Decoded(MALFORMED, "ICMP header truncated", ipv, src, dst, proto)
        itype, code = buf[pos], buf[pos + 1]
        quoted = None
        is_error = (itype in (3, 4, 5, 11, 12) if proto == PROTO_ICMP else 1 <= itype <= 4)
        if is_error:
            quoted = _quoted(buf, pos + 8, end)
        return Decoded(OK, "", ipv, src, dst, proto, payload_len=max(wire_end - pos - 8, 0),
                       l4_offset=pos - base, icmp_type=itype, icmp_code=code, quoted=quoted)
    return Decoded(OK, "", ipv, src, dst, proto, payload_len=max(wire_end - pos, 0),
                   l4_offset=pos - base)


def _quoted(buf: Buffer, pos: int, end: int) -> Quoted | None:
    """The IP header + first 8 transport bytes quoted by an ICMP error."""
    if pos >= end:
        return None
    version = buf[pos] >> 4
    if version == 4 and pos + 20 <= end:
        vihl, _, _, _, _, _, proto, _, src, dst = _ipv4.unpack_from(buf, pos)
        tpos = pos + (vihl & 0x0F) * 4
    elif version == 6 and pos + 40 <= end:
        _, _, proto, _, src, dst = _ipv6.unpack_from(buf, pos)
        tpos = pos + 40
    else:
        return None
    sport = dport = 0
    if proto in (PROTO_TCP, PROTO_UDP) and tpos + 4 <= end:
        sport, dport = struct.unpack_from("!HH", buf, tpos)
    return Quoted(src, dst, proto, sport, dport)
