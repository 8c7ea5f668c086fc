"""Packet list text: Wireshark's wording for the Info, Protocol and Flags columns."""

from __future__ import annotations

import struct
import subprocess
import time
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, UDPerror
from scapy.layers.inet6 import ICMPv6DestUnreach, IPerror6, IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.utils import wrpcap

from visualizer.core.decode.store import PacketStore
from visualizer.core.describe.summary import (
    PacketSummary,
    analysis_labels,
    format_absolute,
    format_seconds,
    icmp_text,
    time_digits,
)
from visualizer.core.flows.analysis import analyze
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.tcp import analysis_flags as af
from visualizer.core.tcp.testing import Capture, Conversation, options_bytes, write_pcap

SAMPLES = Path(__file__).parents[2] / "resources" / "samples"
LO = "127.0.0.1"
LINUX_SYN = options_bytes(mss=1460, sack_perm=True, ts=(1, 0), wscale=7)
# Windows' SYN layout: MSS, NOP, WS, NOP, NOP, SACK_PERM
WINDOWS_SYN = struct.pack("!BBH", 2, 4, 1460) + b"\x01\x03\x03\x08" + b"\x01\x01\x04\x02"


def summary_of(path: Path) -> PacketSummary:
    store = PacketStore.from_file(str(path))
    return PacketSummary(store, analyze(store))


def troubled_capture() -> Capture:
    """Two TCP conversations with most of what the analysis can flag."""
    cap = Capture()
    c = Conversation(("10.0.0.1", 40000), ("10.0.0.2", 47000), capture=cap)
    c.handshake(client_opts=LINUX_SYN, server_opts=options_bytes(mss=1400, wscale=2))
    first = c.c2s("PA", data=100)                                 # 4
    assert first is not None
    c.c2s("PA", data=100, seq=first.seq)                          # 5 retransmission
    c.s2c("A")                                                    # 6
    lost = c.client.snd_nxt
    c.c2s("PA", data=100, captured=False)
    c.c2s("PA", data=100)                                         # 7 previous not captured
    for _ in range(3):
        c.s2c("A", ack=lost)                                      # 8-10 dup ACKs of 6
    c.c2s("PA", data=100, seq=lost, dt=100)                       # 11 fast retransmission
    c.s2c("A")                                                    # 12
    c.s2c("A", win=0)                                             # 13 zero window
    c.c2s("A", data=1)                                            # 14 zero window probe
    c.s2c("A", win=0)                                             # 15 zero window + unseen
    c.s2c("A", win=1000)                                          # 16 window update
    c.c2s("A", seq=c.client.snd_nxt - 1, advance=False, dt=10**9)  # 17 dup ACK of 3
    c.s2c("A", options=options_bytes(sack=[(c.client.snd_nxt + 10,
                                            c.client.snd_nxt + 20)]))  # 18 with SACK
    c.close()
    w = Conversation(("10.0.0.3", 40001), ("10.0.0.2", 47000), capture=cap)
    w.handshake(client_opts=WINDOWS_SYN)
    w.c2s("AU", data=5, urgent=3)
    w.c2s("R")
    return cap


@pytest.fixture(scope="module")
def troubled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("summary") / "troubled.pcap"
    return write_pcap(path, troubled_capture().segments)


def other_packets() -> list[Packet]:
    truncated_tcp = bytes(Ether() / IP(src=LO, dst=LO) / TCP(sport=1, dport=2))[:40]
    return [
        Ether() / IP(src=LO, dst=LO) / UDP(sport=4000, dport=9) / b"first",
        Ether() / IP(src=LO, dst=LO) / ICMP(type=3, code=3) / IPerror(src=LO, dst=LO)
        / UDPerror(sport=4000, dport=9),
        Ether() / IPv6(src="::1", dst="::1") / UDP(sport=4001, dport=9) / b"x",
        Ether() / IPv6(src="::1", dst="::1") / ICMPv6DestUnreach(code=4)
        / IPerror6(src="::1", dst="::1") / UDPerror(sport=4001, dport=9),
        Ether() / IP(src=LO, dst=LO, frag=5, proto=17) / b"fragment tail",
        Ether(type=0x0806) / (b"\0" * 28),
        Ether(truncated_tcp),
        Ether() / IP(src=LO, dst=LO) / ICMP(type=11, code=0),
    ]


@pytest.fixture(scope="module")
def others(tmp_path_factory: pytest.TempPathFactory) -> Path:
    packets = other_packets()
    for k, pkt in enumerate(packets):
        pkt.time = 1_700_000_000 + k / 1000
    path = tmp_path_factory.mktemp("summary") / "others.pcap"
    wrpcap(str(path), packets)
    return path


@pytest.mark.parametrize(("frame", "info"), [
    (1, "40000 → 47000 [SYN] Seq=0 Win=65535 Len=0 MSS=1460 SACK_PERM TSval=1 TSecr=0 WS=128"),
    (2, "47000 → 40000 [SYN, ACK] Seq=0 Ack=1 Win=65535 Len=0 MSS=1400 WS=4"),
    (4, "40000 → 47000 [PSH, ACK] Seq=1 Ack=1 Win=8388480 Len=100"),
    (5, "[TCP Retransmission] 40000 → 47000 [PSH, ACK] Seq=1 Ack=1 Win=8388480 Len=100"),
    (7, "[TCP Previous segment not captured] 40000 → 47000 [PSH, ACK] Seq=201 Ack=1 "
        "Win=8388480 Len=100"),
    (8, "[TCP Dup ACK 6#1] 47000 → 40000 [ACK] Seq=1 Ack=101 Win=262140 Len=0"),
    (10, "[TCP Dup ACK 6#3] 47000 → 40000 [ACK] Seq=1 Ack=101 Win=262140 Len=0"),
    (11, "[TCP Fast Retransmission] 40000 → 47000 [PSH, ACK] Seq=101 Ack=1 Win=8388480 "
         "Len=100"),
    (13, "[TCP ZeroWindow] 47000 → 40000 [ACK] Seq=1 Ack=301 Win=0 Len=0"),
    (14, "[TCP ZeroWindowProbe] 40000 → 47000 [ACK] Seq=301 Ack=1 Win=8388480 Len=1"),
    (15, "[TCP ZeroWindow] [TCP ACKed unseen segment] 47000 → 40000 [ACK] Seq=1 Ack=302 "
         "Win=0 Len=0"),
    (16, "[TCP Window Update] 47000 → 40000 [ACK] Seq=1 Ack=302 Win=4000 Len=0"),
    (17, "[TCP Dup ACK 3#1] 40000 → 47000 [ACK] Seq=301 Ack=1 Win=8388480 Len=0"),
    (18, "[TCP Dup ACK 15#1] 47000 → 40000 [ACK] Seq=1 Ack=302 Win=4000 Len=0 SLE=312 SRE=322"),
    (23, "40001 → 47000 [SYN] Seq=0 Win=65535 Len=0 MSS=1460 WS=256 SACK_PERM"),
    (26, "40001 → 47000 [ACK, URG] Seq=1 Ack=1 Win=65535 Urg=3 Len=5"),
    (27, "40001 → 47000 [RST] Seq=6 Win=65535 Len=0"),
])
def test_tcp_info(troubled: Path, frame: int, info: str) -> None:
    assert summary_of(troubled).info(frame - 1) == info


def test_tcp_columns(troubled: Path) -> None:
    s = summary_of(troubled)
    assert (s.protocol(1), s.source(1), s.destination(1)) == ("TCP", "10.0.0.2:47000",
                                                                "10.0.0.1:40000")
    assert (s.flags(1), s.seq(1), s.ack(1), s.length(1)) == ("SYN, ACK", "0", "1", "0")
    assert (s.seq(1, absolute=True), s.ack(1, absolute=True)) == ("5000", "1001")
    assert s.ack(0) == ""  # a SYN carries no acknowledgement
    assert s.info(3, absolute=True).startswith("40000 → 47000 [PSH, ACK] Seq=1001 Ack=5001 ")
    assert s.problems(7) == ["TCP Dup ACK 6#1"] and s.dup_ack_of(7) == 6
    assert s.dup_ack_of(6) is None
    assert s.tooltip(4) == "TCP Retransmission" and s.tooltip(0) == ""


@pytest.mark.parametrize(("frame", "protocol", "info", "source"), [
    (1, "UDP", "4000 → 9 Len=5", "127.0.0.1:4000"),
    (2, "ICMP", "Destination unreachable (Port unreachable)", "127.0.0.1"),
    (3, "UDP", "4001 → 9 Len=1", "[::1]:4001"),
    (4, "ICMPv6", "Destination Unreachable (Port unreachable)", "::1"),
    (5, "IPv4", "Fragmented IP protocol (proto=UDP 17)", "127.0.0.1"),
    (6, "ARP", "ARP (ethertype 0x0806): not IP, not analysed", ""),
    (7, "TCP", "Malformed packet: TCP header truncated", "127.0.0.1"),
    (8, "ICMP", "Time-to-live exceeded (Time to live exceeded in transit)", "127.0.0.1"),
])
def test_other_packets(others: Path, frame: int, protocol: str, info: str,
                       source: str) -> None:
    s = summary_of(others)
    i = frame - 1
    assert (s.protocol(i), s.info(i), s.source(i)) == (protocol, info, source)
    assert s.flags(i) == s.seq(i) == s.ack(i) == ""


def test_other_packets_tooltips_and_lengths(others: Path) -> None:
    s = summary_of(others)
    assert s.tooltip(1) == "Answers the datagram in frame 1"
    assert s.tooltip(6) == "malformed: TCP header truncated"
    assert s.length(0) == "5" and s.length(1) == "" and s.length(4) == ""


def test_recorded_sample_matches_wireshark_text() -> None:
    s = summary_of(SAMPLES / "tcp-handshake.pcapng")
    assert s.info(0) == ("37842 → 52147 [SYN] Seq=0 Win=65495 Len=0 MSS=65495 SACK_PERM "
                         "TSval=2586006021 TSecr=0 WS=1024")
    assert s.info(13) == ("37842 → 52147 [ACK] Seq=194 Ack=194 Win=65536 Len=0 "
                          "TSval=2586006022 TSecr=4018057980")
    assert summary_of(SAMPLES / "udp-datagrams.pcapng").info(0) == "35533 → 50367 Len=64"


def test_labels_follow_wireshark_order_and_precision() -> None:
    assert analysis_labels(af.RETRANSMISSION | af.FAST_RETRANSMISSION) == [
        "TCP Fast Retransmission"]
    assert analysis_labels(af.ACK_LOST_SEGMENT | af.ZERO_WINDOW) == [
        "TCP ZeroWindow", "TCP ACKed unseen segment"]
    assert analysis_labels(af.DUPLICATE_ACK, 2, 7) == ["TCP Dup ACK 7#2"]
    assert analysis_labels(0) == []


@pytest.mark.parametrize(("proto", "icmp_type", "code", "text"), [
    (1, 8, 0, "Echo (ping) request"),
    (1, 3, 1, "Destination unreachable (Host unreachable)"),
    (1, 3, 99, "Destination unreachable (code 99)"),
    (58, 129, 0, "Echo (ping) reply"),
    (58, 200, 0, "Type 200"),
])
def test_icmp_text(proto: int, icmp_type: int, code: int, text: str) -> None:
    assert icmp_text(proto, icmp_type, code) == text


def test_time_text() -> None:
    assert format_seconds(1_500) == "0.000001500"
    assert format_seconds(2_000_001_999, 6) == "2.000001"
    assert format_seconds(-1_500, 6) == "-0.000001"
    ts = 1_700_000_000_123_456_789
    local = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1_700_000_000))
    assert format_absolute(ts) == f"{local}.123456789"
    assert format_absolute(ts, 6) == f"{local}.123456"


def test_time_digits_follow_the_file() -> None:
    assert time_digits(None) == 6
    with CaptureFile.open(str(SAMPLES / "tcp-handshake.pcapng")) as capture:
        list(capture.frames())  # pcapng announces its resolution as it is read
        assert time_digits(capture) == 9


@pytest.mark.tshark
def test_info_matches_tshark(troubled: Path, others: Path) -> None:
    for path, frames in ((troubled, None), (others, (1, 2, 3, 4, 8))):
        s = summary_of(path)
        out = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields",
                              "-e", "_ws.col.Info"], check=True, capture_output=True,
                             text=True, timeout=120).stdout.splitlines()
        wanted = frames or range(1, len(out) + 1)
        assert [s.info(f - 1) for f in wanted] == [out[f - 1].rstrip() for f in wanted]
