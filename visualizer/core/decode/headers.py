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
from visualizer.core.tcp.options import TIMESTAMPS_ONLY_PREFIX

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
    TUNNEL_TRUNCATED = 26        # detail: the Tunnel (or LLC/FDDI/802.11 layer) cut short

    def text(self, detail: tuple[object, ...] = ()) -> str:
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
    _R.TUNNEL_TRUNCATED: "{} header truncated",
}


class Tunnel(enum.IntEnum):
    """The innermost encapsulation a frame's IP packet was found in (the
    store's ``tunnel`` column). Below 100: opened, the columns describe the
    inner packet. From 100 on: recognised but not opened, the columns
    describe the outer packet (and analyze warns)."""

    NONE = 0
    GRE = 1
    ERSPAN = 2
    PPPOE = 3
    IP_IN_IP = 4
    VXLAN = 5
    GTP_U = 6
    GENEVE = 7
    MPLS = 8
    ARUBA_GRE = 9      # GRE carrying 802.11 frames (Aruba access points)
    LLC = 10           # LLC/SNAP (FDDI, 802.3): a link layer, named for the note only
    TEREDO = 11
    # recognised, not opened
    L2TP = 100
    GRE_OTHER = 101    # GRE with a payload type we do not open

    @property
    def label(self) -> str:
        return _TUNNEL_NAMES[self]

    @property
    def opened(self) -> bool:
        return self < 100


_TUNNEL_NAMES = {
    Tunnel.NONE: "", Tunnel.GRE: "GRE", Tunnel.ERSPAN: "ERSPAN", Tunnel.PPPOE: "PPPoE",
    Tunnel.IP_IN_IP: "IP-in-IP", Tunnel.VXLAN: "VXLAN", Tunnel.GTP_U: "GTP-U",
    Tunnel.GENEVE: "Geneve", Tunnel.MPLS: "MPLS", Tunnel.ARUBA_GRE: "Aruba GRE (802.11)",
    Tunnel.LLC: "LLC", Tunnel.L2TP: "L2TP", Tunnel.GRE_OTHER: "GRE (payload type not decoded)",
    Tunnel.TEREDO: "Teredo",
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
_u16x2 = struct.Struct("!HH")
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
    tunnel: int = 0           # a Tunnel: the innermost encapsulation (columns: the inner packet)
    ip_offset: int = 0        # where the (innermost) IP header starts (fragments only)
    timestamps_only: bool = False  # TCP options exactly NOP NOP TS (most Linux segments)

    @property
    def note(self) -> str:
        """Why the frame is not plain OK, in words (for display: decide on the fields)."""
        if self.status == MALFORMED:
            if self.reason == _R.TUNNEL_TRUNCATED:
                return self.reason.text((_layer_name(self.detail[0]),))
            return self.reason.text(self.detail)
        if self.status == NOT_IP and self.tunnel:
            return f"not IP, inside {Tunnel(self.tunnel).label}"
        if self.status == NOT_IP:
            if self.detail:
                return f"loopback family {self.detail[0]}"
            return f"ethertype 0x{self.ethertype:04x}"
        if self.status == UNSUPPORTED_LINK:
            return "link type not decoded"
        if self.fragment:  # a first fragment carries its transport header
            return f"IPv{self.ip_version} {'first ' if self.l4_offset else ''}fragment"
        if self.tunnel >= 100:
            return f"inside an unsupported tunnel: {Tunnel(self.tunnel).label}"
        return ""


# Layers that TUNNEL_TRUNCATED names (a Tunnel, or one of these link layers)
_FDDI, _WLAN = 200, 201


def _layer_name(code: int) -> str:
    if code == _FDDI:
        return "FDDI"
    if code == _WLAN:
        return "802.11"
    return Tunnel(code).label if code in Tunnel._value2member_map_ else str(code)


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
        return _by_ethertype(etype, buf, pos, end, off, wire)._replace(ethertype=etype)
    if linktype in (fmt.LINKTYPE_RAW, fmt.LINKTYPE_IPV4, fmt.LINKTYPE_IPV6):
        return _ip(buf, off, end, off, wire)
    if linktype == fmt.LINKTYPE_LINUX_SLL:
        if caplen < 16:
            return Decoded(MALFORMED, _R.SLL_TRUNCATED)
        (etype,) = _u16.unpack_from(buf, off + 14)
        return _by_ethertype(etype, buf, off + 16, end, off, wire)._replace(ethertype=etype)
    if linktype == fmt.LINKTYPE_LINUX_SLL2:
        if caplen < 20:
            return Decoded(MALFORMED, _R.SLL2_TRUNCATED)
        (etype,) = _u16.unpack_from(buf, off)
        return _by_ethertype(etype, buf, off + 20, end, off, wire)._replace(ethertype=etype)
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
    if linktype == fmt.LINKTYPE_FDDI:  # frame control, two addresses, then LLC
        if caplen < 13:
            return Decoded(MALFORMED, _R.TUNNEL_TRUNCATED, detail=(_FDDI,))
        return _llc(buf, off + 13, end, off, wire, 0)
    return _UNSUPPORTED


def _by_ethertype(etype: int, buf: Buffer, pos: int, end: int, base: int, wire: int,
                  depth: int = 0) -> Decoded:
    if etype == _ETH_IPV4:
        return _ipv4_packet(buf, pos, end, base, wire, depth)
    if etype == _ETH_IPV6:
        return _ipv6_packet(buf, pos, end, base, wire, depth)
    if depth < _MAX_DEPTH:
        if etype <= 1500:  # an 802.3 length: LLC follows
            return _llc(buf, pos, end, base, wire, depth)
        if etype == _ETH_PPPOE_SESSION:
            return _inside(Tunnel.PPPOE, _pppoe(buf, pos, end, base, wire, depth + 1))
        if etype in _ETH_MPLS:
            return _inside(Tunnel.MPLS, _mpls(buf, pos, end, base, wire, depth + 1))
        if etype == _ETH_TEB:
            return _ethernet(buf, pos, end, base, wire, depth + 1)
    return Decoded(NOT_IP, ethertype=etype)


def _ip(buf: Buffer, pos: int, end: int, base: int, wire: int, depth: int = 0) -> Decoded:
    if pos >= end:
        return Decoded(MALFORMED, _R.EMPTY_IP)
    version = buf[pos] >> 4
    if version == 4:
        return _ipv4_packet(buf, pos, end, base, wire, depth)
    if version == 6:
        return _ipv6_packet(buf, pos, end, base, wire, depth)
    return Decoded(MALFORMED, _R.IP_VERSION, detail=(version,))


def _ipv4_packet(buf: Buffer, pos: int, end: int, base: int, wire: int,
                 depth: int = 0) -> Decoded:
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
        return Decoded(OK, _R.NONE, 4, src, dst, proto, fragment=True, ip_offset=pos - base)
    ip_end = min(pos + total, wire)  # a total length beyond the frame is not believed
    if frag & 0x2000:  # first fragment: the transport header, but not the whole payload
        return _transport(4, src, dst, proto, buf, pos + ihl, ip_end, end, base,
                          _MAX_DEPTH)._replace(fragment=True, ip_offset=pos - base)
    return _transport(4, src, dst, proto, buf, pos + ihl, ip_end, end, base, depth)


def _ipv6_packet(buf: Buffer, pos: int, end: int, base: int, wire: int,
                 depth: int = 0) -> Decoded:
    if pos + 40 > end:
        return Decoded(MALFORMED, _R.IPV6_TRUNCATED, 6)
    start = pos
    vtf, plen, nxt, _hlim, src, dst = _ipv6.unpack_from(buf, pos)
    if vtf >> 28 != 6:
        return Decoded(MALFORMED, _R.IPV6_VERSION, 6, detail=(vtf >> 28,))
    pos += 40
    wire_end = min(pos + plen, wire)
    if plen == 0:  # jumbogram or TSO: use what was captured
        wire_end = end
    first_fragment = False
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
                return Decoded(OK, _R.NONE, 6, src, dst, nxt, fragment=True,
                               ip_offset=start - base)
            first_fragment = bool(offset_flags & 1)
        else:
            break
    else:
        return Decoded(MALFORMED, _R.IPV6_TOO_MANY_EXTENSIONS, 6, src, dst, nxt)
    if pos > wire_end:
        return Decoded(MALFORMED, _R.IPV6_EXTENSIONS_TOO_LONG, 6, src, dst, nxt)
    if first_fragment:
        return _transport(6, src, dst, nxt, buf, pos, wire_end, end, base,
                          _MAX_DEPTH)._replace(fragment=True, ip_offset=start - base)
    return _transport(6, src, dst, nxt, buf, pos, wire_end, end, base, depth)


def _transport(ipv: int, src: bytes, dst: bytes, proto: int, buf: Buffer, pos: int,
               wire_end: int, end: int, base: int, depth: int = 0) -> Decoded:
    """Decode the transport header at ``pos``; ``wire_end`` is where the IP
    payload ends on the wire, ``end`` where the captured bytes end. A tunnel
    (IP-in-IP, GRE, and the UDP ones) is opened while ``depth`` allows."""
    if proto in IP_TUNNELS and depth < _MAX_DEPTH:
        inner = _ip_tunnel(proto, buf, pos, wire_end, end, base, depth + 1)
        if isinstance(inner, Decoded):
            return inner
        if inner:  # recognised, not opened: the outer packet, named
            return Decoded(OK, _R.NONE, ipv, src, dst, proto,
                           payload_len=max(wire_end - pos, 0), l4_offset=pos - base,
                           tunnel=inner)
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
                       urg, payload, pos - base, hlen, timestamps_only=hlen == 32 and buf[
                           pos + 20:pos + 24] == TIMESTAMPS_ONLY_PREFIX)
    if proto == PROTO_UDP:
        if pos + 8 > end:
            return Decoded(MALFORMED, _R.UDP_TRUNCATED, ipv, src, dst, proto)
        sport, dport, ulen, _csum = _udp.unpack_from(buf, pos)
        if ulen == 0 and ipv == 6:  # jumbogram
            ulen = wire_end - pos
        if ulen < 8:
            return Decoded(MALFORMED, _R.UDP_LENGTH, ipv, src, dst, proto, sport, dport,
                           l4_offset=pos - base, detail=(ulen,))
        outer = Decoded(OK, _R.NONE, ipv, src, dst, proto, sport, dport, payload_len=ulen - 8,
                        l4_offset=pos - base)
        if depth < _MAX_DEPTH and (sport in UDP_TUNNELS or dport in UDP_TUNNELS):
            # Wireshark tries the lower port's dissector first
            for port in sorted((sport, dport)):
                kind = UDP_TUNNELS.get(port)
                if kind is None:
                    continue
                found = _udp_tunnel(kind, buf, pos + 8, min(pos + ulen, wire_end), end, base,
                                    depth + 1)
                if found is None:
                    break
                if isinstance(found, Decoded):
                    return found
                return outer._replace(tunnel=found)
        return outer
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


# --------------------------------------------------------------------------
# Tunnels and link-layer encapsulations. Each returns the inner packet's
# Decoded; ``_ip_tunnel`` and ``_udp_tunnel`` may instead return a Tunnel
# that was recognised but is not opened (the caller keeps the outer packet),
# or Tunnel.NONE / None when the payload is not that tunnel after all.

_MAX_DEPTH = 4   # encapsulations opened one inside the other (bounds the work per frame)
_ETH_PPPOE_SESSION = 0x8864
_ETH_MPLS = (0x8847, 0x8848)
_ETH_TEB = 0x6558          # transparent Ethernet bridging: an Ethernet frame follows
_GRE_ERSPAN_2 = 0x88BE     # ERSPAN type I (no sequence number) or II
_GRE_ERSPAN_3 = 0x22EB
_GRE_PPP = 0x880B          # enhanced GRE (version 1, PPTP)
_PROTO_IPIP, _PROTO_IPV6, _PROTO_GRE, _PROTO_L2TP = 4, 41, 47, 115
IP_TUNNELS = (_PROTO_IPIP, _PROTO_IPV6, _PROTO_GRE, _PROTO_L2TP)
UDP_TUNNELS = {4789: Tunnel.VXLAN, 2152: Tunnel.GTP_U, 6081: Tunnel.GENEVE,
                1701: Tunnel.L2TP, 3544: Tunnel.TEREDO}
_PPP_IPV4, _PPP_IPV6 = 0x0021, 0x0057


def _inside(tunnel: Tunnel, d: Decoded) -> Decoded:
    """``d`` found inside ``tunnel``: tagged, unless a deeper tunnel tagged it already."""
    return d if d.tunnel else d._replace(tunnel=tunnel)


def _truncated(layer: int) -> Decoded:
    return Decoded(MALFORMED, _R.TUNNEL_TRUNCATED, detail=(layer,), tunnel=(
        layer if layer in Tunnel._value2member_map_ else 0))


def _ethernet(buf: Buffer, pos: int, end: int, base: int, wire: int, depth: int) -> Decoded:
    if pos + 14 > end:
        return Decoded(MALFORMED, _R.ETHERNET_TRUNCATED)
    (etype,) = _u16.unpack_from(buf, pos + 12)
    pos += 14
    while etype in _ETH_VLAN:
        if pos + 4 > end:
            return Decoded(MALFORMED, _R.VLAN_TRUNCATED)
        (etype,) = _u16.unpack_from(buf, pos + 2)
        pos += 4
    return _by_ethertype(etype, buf, pos, end, base, wire, depth)


def _llc(buf: Buffer, pos: int, end: int, base: int, wire: int, depth: int) -> Decoded:
    """IEEE 802.2 LLC; SNAP with OUI 0 carries an EtherType (RFC 1042)."""
    if pos + 3 > end:
        return _truncated(Tunnel.LLC)
    if buf[pos] == 0xAA and buf[pos + 1] == 0xAA and buf[pos + 2] == 0x03:
        if pos + 8 > end:
            return _truncated(Tunnel.LLC)
        (etype,) = _u16.unpack_from(buf, pos + 6)
        if etype > 1500:
            return _by_ethertype(etype, buf, pos + 8, end, base, wire, depth)
    return Decoded(NOT_IP)


def _pppoe(buf: Buffer, pos: int, end: int, base: int, wire: int, depth: int) -> Decoded:
    """PPPoE session stage (RFC 2516): 6 bytes, then a PPP protocol number."""
    if pos + 8 > end:
        return _truncated(Tunnel.PPPOE)
    (length,) = _u16.unpack_from(buf, pos + 4)
    return _ppp(buf, pos + 6, end, base, min(wire, pos + 6 + length), depth)


def _ppp(buf: Buffer, pos: int, end: int, base: int, wire: int, depth: int) -> Decoded:
    """A PPP frame without HDLC framing (address/control bytes skipped if present)."""
    if pos + 2 <= end and buf[pos] == 0xFF and buf[pos + 1] == 0x03:
        pos += 2
    if pos + 1 > end:
        return _truncated(Tunnel.PPPOE)
    if buf[pos] & 1:  # protocol field compressed to one byte
        proto, pos = buf[pos], pos + 1
    elif pos + 2 <= end:
        (proto,) = _u16.unpack_from(buf, pos)
        pos += 2
    else:
        return _truncated(Tunnel.PPPOE)
    if proto == _PPP_IPV4:
        return _ipv4_packet(buf, pos, end, base, wire, depth)
    if proto == _PPP_IPV6:
        return _ipv6_packet(buf, pos, end, base, wire, depth)
    return Decoded(NOT_IP)


def _mpls(buf: Buffer, pos: int, end: int, base: int, wire: int, depth: int) -> Decoded:
    """An MPLS label stack, then IPv4/IPv6 by the first nibble, or (nibble 0) a
    pseudowire control word and an Ethernet frame, as Wireshark guesses."""
    for _ in range(16):
        if pos + 4 > end:
            return _truncated(Tunnel.MPLS)
        bottom = buf[pos + 2] & 1
        pos += 4
        if bottom:
            break
    else:
        return Decoded(NOT_IP)
    if pos >= end:
        return _truncated(Tunnel.MPLS)
    nibble = buf[pos] >> 4
    if nibble in (4, 6):
        return _ip(buf, pos, end, base, wire, depth)
    if nibble == 0:
        return _ethernet(buf, pos + 4, end, base, wire, depth)
    return Decoded(NOT_IP)


def _ip_tunnel(proto: int, buf: Buffer, pos: int, wire_end: int, end: int, base: int,
               depth: int) -> Decoded | Tunnel:
    if proto == _PROTO_IPIP:
        return _inside(Tunnel.IP_IN_IP, _ipv4_packet(buf, pos, end, base, wire_end, depth))
    if proto == _PROTO_IPV6:
        return _inside(Tunnel.IP_IN_IP, _ipv6_packet(buf, pos, end, base, wire_end, depth))
    if proto == _PROTO_L2TP:
        return Tunnel.L2TP
    return _gre(buf, pos, wire_end, end, base, depth)


def _gre(buf: Buffer, pos: int, wire: int, end: int, base: int, depth: int) -> Decoded | Tunnel:
    """GRE (RFC 2784/2890; version 1 is PPTP's, RFC 2637)."""
    if pos + 4 > end:
        return _truncated(Tunnel.GRE)
    flags, ptype = _u16x2.unpack_from(buf, pos)
    version = flags & 7
    if version == 0:
        if flags & 0x4000:  # source routing (RFC 1701): not opened
            return Tunnel.GRE_OTHER
        start = pos + 4 + 4 * (bool(flags & 0x8000) + bool(flags & 0x2000)
                               + bool(flags & 0x1000))
    elif version == 1 and ptype == _GRE_PPP:
        start = pos + 8 + 4 * (bool(flags & 0x1000) + bool(flags & 0x0080))
    else:
        return Tunnel.GRE_OTHER
    if start > end:
        return _truncated(Tunnel.GRE)
    if ptype == _ETH_IPV4:
        return _inside(Tunnel.GRE, _ipv4_packet(buf, start, end, base, wire, depth))
    if ptype == _ETH_IPV6:
        return _inside(Tunnel.GRE, _ipv6_packet(buf, start, end, base, wire, depth))
    if ptype == _GRE_PPP:
        if start >= wire:  # an acknowledgement only
            return Tunnel.GRE_OTHER
        return _inside(Tunnel.GRE, _ppp(buf, start, end, base, wire, depth))
    if ptype in (_ETH_TEB, *_ETH_MPLS):
        return _inside(Tunnel.GRE, _by_ethertype(ptype, buf, start, end, base, wire, depth))
    if ptype == _GRE_ERSPAN_2:  # type I has no header; type II (sequence number set) 8 bytes
        start += 8 if flags & 0x1000 else 0
        return _inside(Tunnel.ERSPAN, _ethernet(buf, start, end, base, wire, depth))
    if ptype == _GRE_ERSPAN_3:  # 12 bytes, 8 more with the platform-specific subheader
        if start + 12 > end:
            return _truncated(Tunnel.ERSPAN)
        start += 20 if buf[start + 11] & 1 else 12
        return _inside(Tunnel.ERSPAN, _ethernet(buf, start, end, base, wire, depth))
    if 0x8200 <= ptype <= 0x8300:
        return _inside(Tunnel.ARUBA_GRE, _wlan(buf, start, end, base, wire, depth))
    return Tunnel.GRE_OTHER


def _wlan(buf: Buffer, pos: int, end: int, base: int, wire: int, depth: int) -> Decoded:
    """An IEEE 802.11 data frame (no FCS), then LLC/SNAP."""
    if pos + 24 > end:
        return _truncated(_WLAN)
    fc, flags = buf[pos], buf[pos + 1]
    ftype, subtype = (fc >> 2) & 3, fc >> 4
    if ftype != 2 or subtype & 4 or flags & 0x40:  # not data, no data, or encrypted
        return Decoded(NOT_IP)
    size = 24 + (6 if flags & 3 == 3 else 0)
    if subtype & 8:  # QoS data: QoS control, and HT control when "order" is set
        size += 2 + (4 if flags & 0x80 else 0)
    return _llc(buf, pos + size, end, base, wire, depth)


def _udp_tunnel(kind: Tunnel, buf: Buffer, pos: int, wire: int, end: int, base: int,
                depth: int) -> Decoded | Tunnel | None:
    if kind == Tunnel.VXLAN:
        if pos + 8 > end:
            return _truncated(kind)
        return _inside(kind, _ethernet(buf, pos + 8, end, base, wire, depth))
    if kind == Tunnel.GTP_U:
        if pos + 8 > end:
            return _truncated(kind)
        flags, mtype = buf[pos], buf[pos + 1]
        if flags >> 5 != 1 or not flags & 0x10:  # GTPv1, not GTP'
            return None
        if mtype != 0xFF:  # only G-PDUs carry user packets
            return Tunnel.NONE
        start = pos + 8
        if flags & 0x07:
            if start + 4 > end:
                return _truncated(kind)
            nxt = buf[start + 3]
            start += 4
            while flags & 0x04 and nxt:  # extension headers, 4n bytes, next type last
                if start + 1 > end or buf[start] == 0:
                    return _truncated(kind)
                size = buf[start] * 4
                if start + size > end:
                    return _truncated(kind)
                nxt = buf[start + size - 1]
                start += size
        if start >= wire:
            return Tunnel.NONE
        return _inside(kind, _ip(buf, start, end, base, wire, depth))
    if kind == Tunnel.GENEVE:
        if pos + 8 > end:
            return _truncated(kind)
        start = pos + 8 + (buf[pos] & 0x3F) * 4
        (ptype,) = _u16.unpack_from(buf, pos + 2)
        if start > end:
            return _truncated(kind)
        if ptype in (_ETH_IPV4, _ETH_IPV6, _ETH_TEB):
            return _inside(kind, _by_ethertype(ptype, buf, start, end, base, wire, depth))
        return None
    if kind == Tunnel.TEREDO:  # RFC 4380: optional authentication and origin, then IPv6
        if pos + 2 <= end and buf[pos] == 0 and buf[pos + 1] == 1:
            if pos + 4 > end:
                return None
            pos += 4 + buf[pos + 2] + buf[pos + 3] + 9
        if pos + 2 <= end and buf[pos] == 0 and buf[pos + 1] == 0:
            pos += 8
        if pos + 40 > end or buf[pos] >> 4 != 6:
            return None
        return _inside(kind, _ipv6_packet(buf, pos, end, base, wire, depth))
    return kind  # L2TP: recognised, not opened


def transport(ipv: int, src: bytes, dst: bytes, proto: int, payload: bytes) -> Decoded:
    """Decode a whole (reassembled) IP payload; offsets are within ``payload``."""
    return _transport(ipv, src, dst, proto, payload, 0, len(payload), len(payload), 0)


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
