"""The fast header decoder, checked against frames scapy builds."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, UDPerror
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
from scapy.layers.l2 import CookedLinux, Dot1Q, Ether
from scapy.packet import Raw

from visualizer.core.decode import headers as dec
from visualizer.core.errors import BadInput
from visualizer.core.pcap import format as fmt
from visualizer.core.pcap.reader import CaptureFile

V4 = socket.inet_aton


def d(linktype: int, frame: bytes) -> dec.Decoded:
    return dec.decode(linktype, frame, 0, len(frame))


def test_ethernet_ipv4_tcp_fields() -> None:
    pkt = (Ether() / IP(src="10.0.0.1", dst="10.0.0.2")
           / TCP(sport=40000, dport=80, seq=4_000_000_000, ack=7, flags="PA", window=512,
                 options=[("MSS", 1460), ("NOP", None), ("WScale", 7)]) / Raw(b"x" * 100))
    r = d(fmt.LINKTYPE_ETHERNET, bytes(pkt))
    assert r.status == dec.OK
    assert (r.ip_version, r.src, r.dst, r.proto) == (4, V4("10.0.0.1"), V4("10.0.0.2"), 6)
    assert (r.sport, r.dport, r.seq, r.ack, r.window) == (40000, 80, 4_000_000_000, 7, 512)
    assert r.tcp_flags == 0x18
    assert r.payload_len == 100
    assert r.tcp_header_len == 28
    assert r.l4_offset == 34


def test_payload_length_comes_from_ip_not_from_padding() -> None:
    # A 60-byte minimum Ethernet frame pads a bare ACK; the padding is not payload.
    frame = bytes(Ether() / IP() / TCP(flags="A")).ljust(60, b"\0")
    assert d(fmt.LINKTYPE_ETHERNET, frame).payload_len == 0


def test_snaplen_truncated_payload_keeps_wire_length() -> None:
    whole = bytes(Ether() / IP() / TCP() / Raw(b"y" * 1000))
    r = dec.decode(fmt.LINKTYPE_ETHERNET, whole[:80], 0, 80, len(whole))
    assert (r.status, r.payload_len) == (dec.OK, 1000)


def test_ip_length_beyond_the_frame_on_the_wire_is_not_believed() -> None:
    # As Wireshark: an IPv4 total length larger than the frame is capped by it.
    frame = bytearray(bytes(Ether() / IP() / TCP()))
    frame[16:18] = (820).to_bytes(2, "big")
    r = dec.decode(fmt.LINKTYPE_ETHERNET, bytes(frame), 0, len(frame), len(frame))
    assert r.payload_len == 0


def test_first_fragment_has_ports_but_is_marked() -> None:
    r = d(fmt.LINKTYPE_RAW, bytes(IP(flags="MF") / TCP(sport=7, dport=8) / Raw(b"q" * 50)))
    assert (r.fragment, r.sport, r.dport) == (True, 7, 8)


def test_vlan_and_ipv6_udp() -> None:
    pkt = Ether() / Dot1Q(vlan=5) / IPv6(src="::1", dst="::1") / UDP(sport=5, dport=53) / b"abc"
    r = d(fmt.LINKTYPE_ETHERNET, bytes(pkt))
    assert (r.ip_version, r.proto, r.sport, r.dport, r.payload_len) == (6, 17, 5, 53, 3)
    assert r.src == socket.inet_pton(socket.AF_INET6, "::1")


def test_ipv6_extension_headers_are_walked() -> None:
    pkt = IPv6() / IPv6ExtHdrHopByHop() / TCP(sport=1, dport=2, flags="S")
    r = d(fmt.LINKTYPE_RAW, bytes(pkt))
    assert (r.status, r.proto, r.sport, r.tcp_flags) == (dec.OK, 6, 1, 2)


def test_non_first_fragments_have_no_transport_header() -> None:
    v4 = bytes(IP(frag=100, proto=6) / Raw(b"z" * 40))
    assert d(fmt.LINKTYPE_RAW, v4).fragment
    v6 = bytes(IPv6() / IPv6ExtHdrFragment(offset=10, nh=17) / Raw(b"z" * 40))
    assert d(fmt.LINKTYPE_RAW, v6).fragment


@pytest.mark.parametrize(("linktype", "head"), [
    (fmt.LINKTYPE_LINUX_SLL, bytes(CookedLinux(proto=0x0800))),
    (fmt.LINKTYPE_LINUX_SLL2, b"\x08\x00" + b"\0" * 18),
    (fmt.LINKTYPE_NULL, (2).to_bytes(4, "little")),
    (fmt.LINKTYPE_NULL, (2).to_bytes(4, "big")),
    (fmt.LINKTYPE_LOOP, (2).to_bytes(4, "big")),
    (fmt.LINKTYPE_RAW, b""),
    (fmt.LINKTYPE_IPV4, b""),
])
def test_link_types(linktype: int, head: bytes) -> None:
    frame = head + bytes(IP(src="1.2.3.4", dst="5.6.7.8") / UDP(sport=9, dport=10))
    r = d(linktype, frame)
    assert (r.status, r.src, r.sport, r.dport) == (dec.OK, V4("1.2.3.4"), 9, 10)


def test_icmp_port_unreachable_quotes_the_datagram() -> None:
    pkt = (IP(src="127.0.0.1", dst="127.0.0.1") / ICMP(type=3, code=3)
           / IPerror(src="127.0.0.1", dst="127.0.0.1") / UDPerror(sport=5000, dport=6000))
    r = d(fmt.LINKTYPE_RAW, bytes(pkt))
    assert (r.proto, r.icmp_type, r.icmp_code) == (1, 3, 3)
    assert r.quoted == dec.Quoted(V4("127.0.0.1"), V4("127.0.0.1"), 17, 5000, 6000)


def test_not_ip_and_unsupported_link() -> None:
    arp = bytes(Ether(type=0x0806)) + b"\0" * 28
    assert d(fmt.LINKTYPE_ETHERNET, arp).status == dec.NOT_IP
    assert d(147, b"\0" * 40).status == dec.UNSUPPORTED_LINK


@pytest.mark.parametrize("cut", [5, 14, 20, 33, 40, 53])
def test_truncated_headers_are_marked_malformed(cut: int) -> None:
    frame = bytes(Ether() / IP() / TCP(options=[("MSS", 1460)]))[:cut]
    r = d(fmt.LINKTYPE_ETHERNET, frame)
    assert r.status == dec.MALFORMED
    assert r.note


def test_bad_header_lengths_are_malformed() -> None:
    bad_ihl = bytearray(bytes(IP() / TCP()))
    bad_ihl[0] = 0x42
    assert d(fmt.LINKTYPE_RAW, bytes(bad_ihl)).status == dec.MALFORMED
    bad_doff = bytearray(bytes(IP() / TCP()))
    bad_doff[32] = 0x30  # data offset 3 words
    assert d(fmt.LINKTYPE_RAW, bytes(bad_doff)).status == dec.MALFORMED


LINKTYPES = [0, 1, 101, 108, 113, 228, 229, 276, 147]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(LINKTYPES), st.binary(max_size=200))
def test_decoder_never_raises(linktype: int, frame: bytes) -> None:
    r = dec.decode(linktype, frame, 0, len(frame))
    assert r.status in dec.STATUS_NAMES
    assert r.payload_len >= 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.sampled_from([b"\xd4\xc3\xb2\xa1", b"\x0a\x0d\x0d\x0a",
                                                  b"\xa1\xb2\x3c\x4d", b""]))
def test_reader_parses_or_refuses(tail: bytes, magic: bytes) -> None:
    data = magic + tail
    try:
        cap = CaptureFile.from_bytes(data)
    except BadInput:
        return
    for rec in cap.frames():
        assert 0 <= rec.offset <= rec.offset + rec.caplen <= len(data)
        dec.decode(rec.linktype, data, rec.offset, rec.caplen)
