"""Tunnels and link-layer encapsulations: the inner TCP conversation is tracked.

Each case wraps the same little TCP conversation (handshake, data both
ways, a retransmission, close) in one encapsulation, built with scapy, and
checks that ``analyze --json`` agrees with tshark on every TCP frame
(stream, relative seq/ack, len, analysis flags), that the store names the
tunnel, and that the vectorised decoding path agrees with decode().
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from oracle import compare_file
from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III
from scapy.contrib.geneve import GENEVE
from scapy.contrib.gtp import GTP_U_Header
from scapy.contrib.mpls import MPLS
from scapy.layers.dot11 import Dot11, Dot11QoS
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import GRE, LLC, SNAP, Dot1Q, Dot3, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.layers.vxlan import VXLAN
from scapy.packet import Packet, Raw
from scapy.utils import PcapWriter

from visualizer.core.decode import headers as dec
from visualizer.core.decode.dissect import dissect
from visualizer.core.decode.store import PacketStore
from visualizer.core.flows.analysis import analyze

OUTER4 = {"src": "192.0.2.1", "dst": "192.0.2.2"}
OUTER6 = {"src": "2001:db8::1", "dst": "2001:db8::2"}


def conversation(inner6: bool = False) -> list[Packet]:
    """A client's connection, as IP packets: handshake, data, a retransmission, close."""
    if inner6:
        def ip(reply: bool) -> Packet:
            return IPv6(src="2001:db8:1::2" if reply else "2001:db8:1::1",
                        dst="2001:db8:1::1" if reply else "2001:db8:1::2")
    else:
        def ip(reply: bool) -> Packet:
            return IP(src="10.9.0.2" if reply else "10.9.0.1",
                      dst="10.9.0.1" if reply else "10.9.0.2")
    c, s = 1000, 5000
    out = [
        ip(False) / TCP(sport=40000, dport=80, flags="S", seq=c),
        ip(True) / TCP(sport=80, dport=40000, flags="SA", seq=s, ack=c + 1),
        ip(False) / TCP(sport=40000, dport=80, flags="A", seq=c + 1, ack=s + 1),
        ip(False) / TCP(sport=40000, dport=80, flags="PA", seq=c + 1, ack=s + 1) / Raw(b"x" * 100),
        ip(False) / TCP(sport=40000, dport=80, flags="PA", seq=c + 1, ack=s + 1) / Raw(b"x" * 100),
        ip(True) / TCP(sport=80, dport=40000, flags="PA", seq=s + 1, ack=c + 101) / Raw(b"y" * 50),
        ip(False) / TCP(sport=40000, dport=80, flags="FA", seq=c + 101, ack=s + 51),
        ip(True) / TCP(sport=80, dport=40000, flags="FA", seq=s + 51, ack=c + 102),
        ip(False) / TCP(sport=40000, dport=80, flags="A", seq=c + 102, ack=s + 52),
    ]
    return out


def fddi(inner: Packet) -> bytes:
    # frame control (LLC, async), destination, source; then LLC/SNAP
    return (b"\x50" + bytes.fromhex("0000000000a1") + bytes.fromhex("0000000000a2")
            + bytes(LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0, code=0x0800) / inner))


def eth(inner: Packet) -> Packet:
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / inner


def inner_eth(inner: Packet) -> Packet:
    return Ether(src="02:00:00:00:01:01", dst="02:00:00:00:01:02") / inner


# name -> (wrap an inner IP packet into a frame, link type, inner IPv6?, tunnel)
CASES: dict[str, tuple[Callable[[Packet], Packet | bytes], int, bool, dec.Tunnel]] = {
    "gre": (lambda p: eth(IP(**OUTER4) / GRE() / p), 1, False, dec.Tunnel.GRE),
    "gre-key-seq-ipv6": (lambda p: eth(IP(**OUTER4) / GRE(key_present=1, key=7,
                                                        seqnum_present=1, sequence_number=3)
                                       / p), 1, True, dec.Tunnel.GRE),
    "gre-teb": (lambda p: eth(IP(**OUTER4) / GRE(proto=0x6558) / inner_eth(p)), 1, False,
                dec.Tunnel.GRE),
    "erspan-ii": (lambda p: eth(IP(**OUTER4) / GRE(seqnum_present=1) / ERSPAN_II(session_id=1)
                                / inner_eth(p)), 1, False, dec.Tunnel.ERSPAN),
    "erspan-iii": (lambda p: eth(IP(**OUTER4) / GRE() / ERSPAN_III(session_id=1)
                                 / inner_eth(p)), 1, False, dec.Tunnel.ERSPAN),
    "pppoe-qinq": (lambda p: eth(Dot1Q(vlan=10) / Dot1Q(vlan=20) / PPPoE(sessionid=9)
                                 / PPP(proto=0x21) / p), 1, False, dec.Tunnel.PPPOE),
    "pppoe-ipv6": (lambda p: eth(PPPoE(sessionid=9) / PPP(proto=0x57) / p), 1, True,
                   dec.Tunnel.PPPOE),
    "4in4": (lambda p: eth(IP(**OUTER4) / p), 1, False, dec.Tunnel.IP_IN_IP),
    "6in4": (lambda p: eth(IP(**OUTER4) / p), 1, True, dec.Tunnel.IP_IN_IP),
    "4in6": (lambda p: eth(IPv6(**OUTER6) / p), 1, False, dec.Tunnel.IP_IN_IP),
    "6in6": (lambda p: eth(IPv6(**OUTER6) / p), 1, True, dec.Tunnel.IP_IN_IP),
    "vxlan": (lambda p: eth(IP(**OUTER4) / UDP(sport=51000, dport=4789) / VXLAN(vni=42)
                            / inner_eth(p)), 1, False, dec.Tunnel.VXLAN),
    "gtp-u": (lambda p: eth(IP(**OUTER4) / UDP(sport=2152, dport=2152)
                            / GTP_U_Header(teid=77) / p), 1, False, dec.Tunnel.GTP_U),
    "gtp-u-ipv6": (lambda p: eth(IPv6(**OUTER6) / UDP(sport=2152, dport=2152)
                                 / GTP_U_Header(teid=77, S=1, seq=5) / p), 1, True,
                   dec.Tunnel.GTP_U),
    "geneve": (lambda p: eth(IP(**OUTER4) / UDP(sport=52000, dport=6081)
                             / GENEVE(vni=5, proto=0x6558) / inner_eth(p)), 1, False,
               dec.Tunnel.GENEVE),
    "mpls": (lambda p: eth(MPLS(label=100, s=0, ttl=64) / MPLS(label=200, s=1, ttl=64) / p),
             1, False, dec.Tunnel.MPLS),
    "mpls-ipv6-in-gre": (lambda p: eth(IP(**OUTER4) / GRE(proto=0x8847)
                                       / MPLS(label=16, s=1, ttl=64) / p), 1, True,
                         dec.Tunnel.MPLS),
    "fddi-llc": (fddi, 10, False, dec.Tunnel.NONE),
    "802.3-llc-snap": (lambda p: Dot3(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                       / LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0, code=0x0800) / p,
                       1, False, dec.Tunnel.NONE),
    "aruba-802.11": (lambda p: eth(IP(**OUTER4) / GRE(proto=0x8200)
                                   / Dot11(type=2, subtype=8, FCfield=1,
                                           addr1="02:00:00:00:00:0a", addr2="02:00:00:00:00:0b",
                                           addr3="02:00:00:00:00:0c")
                                   / Dot11QoS() / LLC(dsap=0xAA, ssap=0xAA, ctrl=3)
                                   / SNAP(OUI=0, code=0x0800) / p), 1, False,
                     dec.Tunnel.ARUBA_GRE),
    "teredo": (lambda p: eth(IP(**OUTER4) / UDP(sport=3544, dport=50000) / p), 1, True,
               dec.Tunnel.TEREDO),
}


def write(path: Path, frames: list[Packet | bytes], linktype: int) -> Path:
    with PcapWriter(str(path), linktype=linktype, sync=True) as out:
        for n, frame in enumerate(frames):
            pkt = frame if isinstance(frame, Packet) else Raw(frame)
            pkt.time = 1_700_000_000 + n * 0.01
            out.write(pkt)
    return path


@pytest.mark.tshark
@pytest.mark.parametrize("name", sorted(CASES))
def test_inner_conversation_agrees_with_tshark(name: str, tmp_path: Path) -> None:
    wrap, linktype, inner6, tunnel = CASES[name]
    packets = conversation(inner6)
    path = write(tmp_path / f"{name}.pcap", [wrap(p) for p in packets], linktype)
    store = PacketStore.from_file(str(path))
    try:
        assert list(store.column("proto")) == [dec.PROTO_TCP] * len(packets)
        assert set(store.column("tunnel").tolist()) == {int(tunnel)}
        assert set(store.column("ip_version").tolist()) == {6 if inner6 else 4}
        assert store.warnings() == []
        analysis = analyze(store)
        assert set(analysis.column("stream").tolist()) == {0}
    finally:
        store.close()
    result = compare_file(path)
    assert result.differences == []
    assert result.only_tshark_frames == result.only_ours_frames == []
    assert result.compared == len(packets)


# the detail tree's layers between the frame's first and the inner TCP
OUTER_LAYERS = {
    "4in4": ["IPv4", "IPv4"], "4in6": ["IPv6", "IPv4"], "6in4": ["IPv4", "IPv6"],
    "6in6": ["IPv6", "IPv6"], "802.3-llc-snap": ["LLC", "SNAP", "IPv4"],
    "aruba-802.11": ["IPv4", "GRE", "IEEE 802.11", "802.11 QoS", "LLC", "SNAP", "IPv4"],
    "erspan-ii": ["IPv4", "GRE", "ERSPAN type II", "Ethernet II", "IPv4"],
    "erspan-iii": ["IPv4", "GRE", "ERSPAN type III", "Ethernet II", "IPv4"],
    "fddi-llc": ["LLC", "SNAP", "IPv4"],
    "geneve": ["IPv4", "UDP", "Geneve", "Ethernet II", "IPv4"],
    "gre": ["IPv4", "GRE", "IPv4"], "gre-key-seq-ipv6": ["IPv4", "GRE", "IPv6"],
    "gre-teb": ["IPv4", "GRE", "Ethernet II", "IPv4"],
    "gtp-u": ["IPv4", "UDP", "GTP-U", "IPv4"], "gtp-u-ipv6": ["IPv6", "UDP", "GTP-U", "IPv6"],
    "mpls": ["MPLS", "MPLS", "IPv4"], "mpls-ipv6-in-gre": ["IPv4", "GRE", "MPLS", "IPv6"],
    "pppoe-ipv6": ["PPPoE", "PPP", "IPv6"],
    "pppoe-qinq": ["802.1Q VLAN", "802.1Q VLAN", "PPPoE", "PPP", "IPv4"],
    "teredo": ["IPv4", "UDP", "IPv6"], "vxlan": ["IPv4", "UDP", "VXLAN", "Ethernet II", "IPv4"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_detail_tree_shows_the_outer_headers_then_the_inner_tcp(name: str) -> None:
    wrap, linktype, inner6, _ = CASES[name]
    frame = wrap(conversation(inner6)[0])
    raw = frame if isinstance(frame, bytes) else bytes(frame)
    nodes = dissect(raw, linktype)
    assert [n.label for n in nodes][1:] == [*OUTER_LAYERS[name], "TCP"]
    pos = 0
    for node in nodes:  # the layers follow each other over the frame's bytes
        assert (node.start, node.end is not None) == (pos, True), node.label
        pos = node.end
    assert pos == len(raw)


def test_unsupported_tunnel_is_named_once_in_a_warning(tmp_path: Path) -> None:
    frames = [eth(IP(**OUTER4) / UDP(sport=1701, dport=1701) / Raw(b"\xc8\x02" + b"\0" * 30))
              for _ in range(3)]
    frames.append(eth(IP(**OUTER4) / GRE(proto=0x1234) / Raw(b"\0" * 20)))
    store = PacketStore.from_file(str(write(tmp_path / "l2tp.pcap", frames, 1)))
    try:
        assert store.warnings() == [
            "3 packets inside an unsupported tunnel: L2TP (analysed as the outer packet only)",
            "1 packet inside an unsupported tunnel: GRE (payload type not decoded) "
            "(analysed as the outer packet only)"]
        assert store.notes[0] == "inside an unsupported tunnel: L2TP"
        analysis = analyze(store)
        assert len(analysis.udp_flows) == 1  # the outer UDP flow is still tracked
    finally:
        store.close()


def test_truncated_tunnel_header_is_malformed_with_its_name(tmp_path: Path) -> None:
    frame = bytes(eth(IP(**OUTER4) / UDP(sport=51000, dport=4789) / Raw(b"\x08\0\0")))
    d = dec.decode(1, frame, 0, len(frame))
    assert (d.status, d.note) == (dec.MALFORMED, "VXLAN header truncated")
