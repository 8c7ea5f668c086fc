"""Fast header decoding: link layer, IPv4/IPv6, TCP, UDP, ICMP/ICMPv6.

Reads only what the columns of the PacketStore need, straight from the
file's bytes with ``struct.unpack_from``; no scapy objects. Never raises on
bad bytes: a frame whose headers cannot be trusted comes back with status
MALFORMED and a :class:`MalformedReason` saying what was wrong. Full
dissection (for the packet on screen) is scapy's job elsewhere.

Code decides on the typed facts (``status``, ``reason``, ``ethertype``,
``fragment``); ``Decoded.note`` is text derived from them, for people only.
"""

from __future__ import annotations

import enum
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


class MalformedReason(enum.IntEnum):
    """Why a frame is MALFORMED (the store's ``reason`` column; NONE for any other status)."""

    NONE = 0
    ETHERNET_TRUNCATED = 1
    VLAN_TRUNCATED = 2
    SLL_TRUNCATED = 3
    SLL2_TRUNCATED = 4
    LOOPBACK_TRUNCATED = 5
    EMPTY_IP = 6
    IP_VERSION = 7
    IPV4_TRUNCATED = 8
    IPV4_VERSION = 9
    IPV4_HEADER_LENGTH = 10
    IPV4_OPTIONS_TRUNCATED = 11
    IPV4_TOTAL_LENGTH = 12
    IPV6_TRUNCATED = 13
    IPV6_VERSION = 14
    IPV6_EXTENSION_TRUNCATED = 15
    IPV6_FRAGMENT_TRUNCATED = 16
    IPV6_TOO_MANY_EXTENSIONS = 17
    IPV6_EXTENSIONS_TOO_LONG = 18
    TCP_TRUNCATED = 19
    TCP_HEADER_LENGTH = 20
    TCP_HEADER_TOO_LONG = 21
    TCP_OPTIONS_TRUNCATED = 22   # the fields before the options are sound: still tracked
    UDP_TRUNCATED = 23
    UDP_LENGTH = 24
    ICMP_TRUNCATED = 25

    def text(self, detail: tuple[int, ...] = ()) -> str:
        """What to tell a person; ``detail`` fills in the numbers the text quotes."""
        return _MALFORMED_TEXT[self].format(*detail)


_R = MalformedReason
_MALFORMED_TEXT = {
    _R.NONE: "", _R.ETHERNET_TRUNCATED: "Ethernet header truncated",
    _R.VLAN_TRUNCATED: "VLAN tag truncated", _R.SLL_TRUNCATED: "Linux cooked header truncated",
    _R.SLL2_TRUNCATED: "Linux cooked v2 header truncated",
    _R.LOOPBACK_TRUNCATED: "loopback header truncated", _R.EMPTY_IP: "empty IP packet",
    _R.IP_VERSION: "IP version {}", _R.IPV4_TRUNCATED: "IPv4 header truncated",
    _R.IPV4_VERSION: "IP version {} in an IPv4 frame",
    _R.IPV4_HEADER_LENGTH: "IPv4 header length {} < 20",
    _R.IPV4_OPTIONS_TRUNCATED: "IPv4 options truncated",
    _R.IPV4_TOTAL_LENGTH: "IPv4 total length {} < header length {}",
    _R.IPV6_TRUNCATED: "IPv6 header truncated", _R.IPV6_VERSION: "IP version {} in an IPv6 frame",
    _R.IPV6_EXTENSION_TRUNCATED: "IPv6 extension header truncated",
    _R.IPV6_FRAGMENT_TRUNCATED: "IPv6 fragment header truncated",
    _R.IPV6_TOO_MANY_EXTENSIONS: "too many IPv6 extension headers",
    _R.IPV6_EXTENSIONS_TOO_LONG: "IPv6 extension headers exceed the payload length",
    _R.TCP_TRUNCATED: "TCP header truncated", _R.TCP_HEADER_LENGTH: "TCP header length {} < 20",
    _R.TCP_HEADER_TOO_LONG: "TCP header longer than the IP payload",
    _R.TCP_OPTIONS_TRUNCATED: "TCP options truncated", _R.UDP_TRUNCATED: "UDP header truncated",
    _R.UDP_LENGTH: "UDP length {} < 8", _R.ICMP_TRUNCATED: "ICMP header truncated",
}

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_ICMPV6 = 58

_ETH_IPV4 = 0x0800
_ETH_IPV6 = 0x86DD
#: The link types whose frames name their payload by an EtherType (``Decoded.ethertype``).
ETHERTYPE_LINKS = (fmt.LINKTYPE_ETHERNET, fmt.LINKTYPE_LINUX_SLL, fmt.LINKTYPE_LINUX_SLL2)
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
    reason: MalformedReason = MalformedReason.NONE
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
    ethertype: int = 0        # the EtherType after any VLAN tags (ETHERTYPE_LINKS only)
    detail: tuple[int, ...] = ()  # the numbers ``note`` quotes (a loopback family for NOT_IP)

    @property
    def note(self) -> str:
        """Why the frame is not plain OK, in words (for display: decide on the fields)."""
        if self.status == MALFORMED:
            return self.reason.text(self.detail)
        if self.status == NOT_IP:
            if self.detail:
                return f"loopback family {self.detail[0]}"
            return f"ethertype 0x{self.ethertype:04x}"
        if self.status == UNSUPPORTED_LINK:
            return "link type not decoded"
        if self.fragment:  # a first fragment carries its transport header
            return f"IPv{self.ip_version} {'first ' if self.l4_offset else ''}fragment"
        return ""


_UNSUPPORTED = Decoded(UNSUPPORTED_LINK)


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
            return Decoded(MALFORMED, _R.ETHERNET_TRUNCATED)
        pos = off + 12
        (etype,) = _u16.unpack_from(buf, pos)
        pos += 2
        while etype in _ETH_VLAN:
            if pos + 4 > end:
                return Decoded(MALFORMED, _R.VLAN_TRUNCATED)
            (etype,) = _u16.unpack_from(buf, pos + 2)
            pos += 4
        return _by_ethertype(etype, buf, pos, end, off, wire)
    if linktype in (fmt.LINKTYPE_RAW, fmt.LINKTYPE_IPV4, fmt.LINKTYPE_IPV6):
        return _ip(buf, off, end, off, wire)
    if linktype == fmt.LINKTYPE_LINUX_SLL:
        if caplen < 16:
            return Decoded(MALFORMED, _R.SLL_TRUNCATED)
        (etype,) = _u16.unpack_from(buf, off + 14)
        return _by_ethertype(etype, buf, off + 16, end, off, wire)
    if linktype == fmt.LINKTYPE_LINUX_SLL2:
        if caplen < 20:
            return Decoded(MALFORMED, _R.SLL2_TRUNCATED)
        (etype,) = _u16.unpack_from(buf, off)
        return _by_ethertype(etype, buf, off + 20, end, off, wire)
    if linktype in (fmt.LINKTYPE_NULL, fmt.LINKTYPE_LOOP):
        if caplen < 4:
            return Decoded(MALFORMED, _R.LOOPBACK_TRUNCATED)
        raw = bytes(buf[off:off + 4])
        if linktype == fmt.LINKTYPE_LOOP:
            family = int.from_bytes(raw, "big")
        else:  # host byte order of the writer: take whichever reading is small
            family = min(int.from_bytes(raw, "little"), int.from_bytes(raw, "big"))
        if family == 2:
            return _ipv4_packet(buf, off + 4, end, off, wire)
        if family in _AF_INET6:
            return _ipv6_packet(buf, off + 4, end, off, wire)
        return Decoded(NOT_IP, detail=(family,))
    return _UNSUPPORTED


def _by_ethertype(etype: int, buf: Buffer, pos: int, end: int, base: int, wire: int) -> Decoded:
    if etype == _ETH_IPV4:
        return _ipv4_packet(buf, pos, end, base, wire)._replace(ethertype=etype)
    if etype == _ETH_IPV6:
        return _ipv6_packet(buf, pos, end, base, wire)._replace(ethertype=etype)
    return Decoded(NOT_IP, ethertype=etype)


def _ip(buf: Buffer, pos: int, end: int, base: int, wire: int) -> Decoded:
    if pos >= end:
        return Decoded(MALFORMED, _R.EMPTY_IP)
    version = buf[pos] >> 4
    if version == 4:
        return _ipv4_packet(buf, pos, end, base, wire)
    if version == 6:
        return _ipv6_packet(buf, pos, end, base, wire)
    return Decoded(MALFORMED, _R.IP_VERSION, detail=(version,))


def _ipv4_packet(buf: Buffer, pos: int, end: int, base: int, wire: int) -> Decoded:
    if pos + 20 > end:
        return Decoded(MALFORMED, _R.IPV4_TRUNCATED, 4)
    vihl, _tos, total, _ident, frag, _ttl, proto, _csum, src, dst = _ipv4.unpack_from(buf, pos)
    if vihl >> 4 != 4:
        return Decoded(MALFORMED, _R.IPV4_VERSION, 4, detail=(vihl >> 4,))
    ihl = (vihl & 0x0F) * 4
    if ihl < 20:
        return Decoded(MALFORMED, _R.IPV4_HEADER_LENGTH, 4, src, dst, proto, detail=(ihl,))
    if pos + ihl > end:
        return Decoded(MALFORMED, _R.IPV4_OPTIONS_TRUNCATED, 4, src, dst, proto)
    if total == 0:  # TSO: the NIC fills it in; use what was captured
        total = end - pos
    if total < ihl:
        return Decoded(MALFORMED, _R.IPV4_TOTAL_LENGTH, 4, src, dst, proto,
                       detail=(total, ihl))
    if frag & 0x1FFF:
        return Decoded(OK, _R.NONE, 4, src, dst, proto, fragment=True)
    ip_end = min(pos + total, wire)  # a total length beyond the frame is not believed
    if frag & 0x2000:  # first fragment: the transport header, but not the whole payload
        return _transport(4, src, dst, proto, buf, pos + ihl, ip_end, end, base)._replace(
            fragment=True)
    return _transport(4, src, dst, proto, buf, pos + ihl, ip_end, end, base)


def _ipv6_packet(buf: Buffer, pos: int, end: int, base: int, wire: int) -> Decoded:
    if pos + 40 > end:
        return Decoded(MALFORMED, _R.IPV6_TRUNCATED, 6)
    vtf, plen, nxt, _hlim, src, dst = _ipv6.unpack_from(buf, pos)
    if vtf >> 28 != 6:
        return Decoded(MALFORMED, _R.IPV6_VERSION, 6, detail=(vtf >> 28,))
    pos += 40
    wire_end = min(pos + plen, wire)
    if plen == 0:  # jumbogram or TSO: use what was captured
        wire_end = end
    for _ in range(8):  # bounded walk over extension headers
        if nxt in _IPV6_EXT or nxt == 51:
            if pos + 2 > end:
                return Decoded(MALFORMED, _R.IPV6_EXTENSION_TRUNCATED, 6, src, dst, nxt)
            hdr_len = (buf[pos + 1] + 2) * 4 if nxt == 51 else (buf[pos + 1] + 1) * 8
            nxt = buf[pos]
            pos += hdr_len
        elif nxt == 44:  # fragment header
            if pos + 8 > end:
                return Decoded(MALFORMED, _R.IPV6_FRAGMENT_TRUNCATED, 6, src, dst, nxt)
            (offset_flags,) = _u16.unpack_from(buf, pos + 2)
            nxt = buf[pos]
            pos += 8
            if offset_flags & 0xFFF8:
                return Decoded(OK, _R.NONE, 6, src, dst, nxt, fragment=True)
        else:
            break
    else:
        return Decoded(MALFORMED, _R.IPV6_TOO_MANY_EXTENSIONS, 6, src, dst, nxt)
    if pos > wire_end:
        return Decoded(MALFORMED, _R.IPV6_EXTENSIONS_TOO_LONG, 6, src, dst, nxt)
    return _transport(6, src, dst, nxt, buf, pos, wire_end, end, base)


def _transport(ipv: int, src: bytes, dst: bytes, proto: int, buf: Buffer, pos: int,
               wire_end: int, end: int, base: int) -> Decoded:
    """Decode the transport header at ``pos``; ``wire_end`` is where the IP
    payload ends on the wire, ``end`` where the captured bytes end."""
    if proto == PROTO_TCP:
        if pos + 20 > end:
            return Decoded(MALFORMED, _R.TCP_TRUNCATED, ipv, src, dst, proto)
        sport, dport, seq, ack, off_flags, window, _csum, urg = _tcp.unpack_from(buf, pos)
        hlen = (off_flags >> 12) * 4
        flags = off_flags & 0x01FF
        if hlen < 20:
            return Decoded(MALFORMED, _R.TCP_HEADER_LENGTH, ipv, src, dst, proto, sport, dport,
                           flags, seq, ack, window, urg, 0, pos - base, 20, detail=(hlen,))
        payload = wire_end - pos - hlen
        if payload < 0:
            return Decoded(MALFORMED, _R.TCP_HEADER_TOO_LONG, ipv, src, dst, proto, sport, dport,
                           flags, seq, ack, window, urg, 0, pos - base, hlen)
        if pos + hlen > end:  # options cut off by the snaplen: fields above still good
            return Decoded(MALFORMED, _R.TCP_OPTIONS_TRUNCATED, ipv, src, dst, proto, sport,
                           dport, flags, seq, ack, window, urg, payload, pos - base,
                           end - pos)
        return Decoded(OK, _R.NONE, ipv, src, dst, proto, sport, dport, flags, seq, ack, window,
                       urg, payload, pos - base, hlen)
    if proto == PROTO_UDP:
        if pos + 8 > end:
            return Decoded(MALFORMED, _R.UDP_TRUNCATED, ipv, src, dst, proto)
        sport, dport, ulen, _csum = _udp.unpack_from(buf, pos)
        if ulen == 0 and ipv == 6:  # jumbogram
            ulen = wire_end - pos
        if ulen < 8:
            return Decoded(MALFORMED, _R.UDP_LENGTH, ipv, src, dst, proto, sport, dport,
                           l4_offset=pos - base, detail=(ulen,))
        return Decoded(OK, _R.NONE, ipv, src, dst, proto, sport, dport, payload_len=ulen - 8,
                       l4_offset=pos - base)
    if proto in (PROTO_ICMP, PROTO_ICMPV6):
        if pos + 4 > end:
            return Decoded(MALFORMED, _R.ICMP_TRUNCATED, ipv, src, dst, proto)
        itype, code = buf[pos], buf[pos + 1]
        quoted = None
        is_error = (itype in (3, 4, 5, 11, 12) if proto == PROTO_ICMP else 1 <= itype <= 4)
        if is_error:
            quoted = _quoted(buf, pos + 8, end)
        return Decoded(OK, _R.NONE, ipv, src, dst, proto, payload_len=max(wire_end - pos - 8, 0),
                       l4_offset=pos - base, icmp_type=itype, icmp_code=code, quoted=quoted)
    return Decoded(OK, _R.NONE, ipv, src, dst, proto, payload_len=max(wire_end - pos, 0),
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
