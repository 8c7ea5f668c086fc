"""Plain-language explanations: every packet gets its own, with the reasons for its numbers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, UDPerror
from scapy.layers.inet6 import ICMPv6DestUnreach, IPerror6, IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet
from scapy.utils import wrpcap

from visualizer.core.decode.store import PacketStore
from visualizer.core.describe.explain import Explanation, explain
from visualizer.core.flows.analysis import Analysis, analyze
from visualizer.core.tcp.testing import Conversation, write_pcap

SAMPLES = Path(__file__).parents[2] / "resources" / "samples"
MS, US = 1_000_000, 1_000
LO = "127.0.0.1"


def analysis_of(path: Path | str) -> Analysis:
    return analyze(PacketStore.from_file(str(path)))


@pytest.fixture(scope="module")
def tcp_sample() -> Analysis:
    return analysis_of(SAMPLES / "tcp-handshake.pcapng")


@pytest.fixture(scope="module")
def udp_sample() -> Analysis:
    return analysis_of(SAMPLES / "udp-datagrams.pcapng")


def all_of(a: Analysis, *, absolute: bool = False) -> list[Explanation]:
    return [explain(a, i, absolute=absolute) for i in range(len(a.store))]


# -- the bundled recordings -------------------------------------------------------------

def test_every_packet_of_the_tcp_sample_is_explained_specifically(tcp_sample: Analysis) -> None:
    found = all_of(tcp_sample)
    titles = [e.title for e in found]
    assert titles == [
        "SYN: the client opens a connection",
        "SYN-ACK: the server answers",
        "ACK: the handshake is complete",
        "Data: the client sends 64 bytes",
        "ACK: the server acknowledges 64 bytes",
        "Data: the server sends 64 bytes",
        "ACK: the client acknowledges 64 bytes",
        "Data: the client sends 64 bytes",
        "Data: the server sends 64 bytes",
        "Data: the client sends 64 bytes",
        "Data: the server sends 64 bytes",
        "FIN: the client closes its side",
        "FIN: the server closes its side too",
        "ACK of the server's FIN: the connection is closed",
    ]
    assert len({e.text for e in found}) == len(found)  # no two packets share a text
    rel_seq, rel_ack = tcp_sample.column("rel_seq"), tcp_sample.column("rel_ack")
    for i, e in enumerate(found):
        assert e.text.endswith(".") and e.numbers, i
        assert f"seq {rel_seq[i]} relative" in e.numbers[2]
        if i:  # everything after the SYN carries an ACK, and the text says what it means
            assert str(rel_ack[i]) in e.text, i


def test_every_datagram_of_the_udp_sample_is_explained(udp_sample: Analysis) -> None:
    found = all_of(udp_sample)
    client, server = "127.0.0.1:35533", "127.0.0.1:50367"
    assert found[0].title == f"UDP: {client} sends the first datagram (64 bytes)"
    assert "no handshake" in found[0].text
    for i, e in enumerate(found[1:], start=1):
        if i % 2:
            assert e.title == f"UDP: {server} answers with a datagram (64 bytes)"
            assert "not an acknowledgement" in e.text
        else:
            assert e.title == f"UDP: {client} sends another datagram (64 bytes)"
            assert "no sequence numbers" in e.text
        assert "sendto()" in e.text
    assert found[1].text.startswith(f"{server} sends a datagram of 64 bytes back to {client}")
    assert "64 bytes of data + 8 bytes of UDP header = 72" in found[0].numbers[1]


def test_the_syn_ack_names_both_isns_and_the_plus_one(tcp_sample: Analysis) -> None:
    store = tcp_sample.store
    client_isn, server_isn = int(store.column("seq")[0]), int(store.column("seq")[1])
    e = explain(tcp_sample, 1)
    assert f"ISN {server_isn}, shown as relative 0" in e.text
    assert (f"ack = the client's ISN {client_isn} + 1 = {client_isn + 1}, shown as relative 1, "
            "because the SYN consumes one sequence number") in e.text
    assert "the client moves from SYN-SENT to ESTABLISHED" in e.text
    assert "The server moves from LISTEN to SYN-RECEIVED" in e.text


def test_the_syn_and_the_third_ack(tcp_sample: Analysis) -> None:
    store = tcp_sample.store
    syn, ack = explain(tcp_sample, 0), explain(tcp_sample, 2)
    assert f"ISN {int(store.column('seq')[0])}, shown as relative 0" in syn.text
    assert "the SYN consumes one sequence number" in syn.text
    assert "The client moves from CLOSED to SYN-SENT" in syn.text
    assert any(line.startswith("options: MSS") for line in syn.numbers)
    server_isn = int(store.column("seq")[1])
    assert f"ack = the server's ISN + 1 = 1 (in absolute numbers {server_isn} + 1" in ack.text
    assert "The server moves from SYN-RECEIVED to ESTABLISHED" in ack.text


def test_data_says_where_the_next_segment_starts(tcp_sample: Analysis) -> None:
    first, later = explain(tcp_sample, 3), explain(tcp_sample, 8)
    assert "sequence numbers 1 to 64" in first.text
    assert "seq + len = 1 + 64 = 65" in first.text
    assert "only confirms the server's SYN" in first.text
    assert "seq + len = 65 + 64 = 129" in later.text
    assert "every byte the client sent before 129" in later.text


def test_fins_consume_one_sequence_number(tcp_sample: Analysis) -> None:
    fin, fin_ack, last = explain(tcp_sample, 11), explain(tcp_sample, 12), explain(tcp_sample, 13)
    assert "The FIN takes sequence number 193" in fin.text
    assert "the client's next seq is 194" in fin.text
    assert "ESTABLISHED to FIN-WAIT-1" in fin.text and "ESTABLISHED to CLOSE-WAIT" in fin.text
    assert "ack = the client's FIN (193) + 1 = 194" in fin_ack.text
    assert "FIN-WAIT-1 through FIN-WAIT-2 to TIME-WAIT" in fin_ack.text
    assert "ack = the server's FIN (193) + 1 = 194" in last.text
    assert "LAST-ACK to CLOSED" in last.text


def test_absolute_numbers_show_the_raw_fields(tcp_sample: Analysis) -> None:
    store = tcp_sample.store
    seq, ack = store.column("seq"), store.column("ack")
    synack = explain(tcp_sample, 1, absolute=True)
    assert "relative" not in synack.text
    assert f"= {int(ack[1])}, because" in synack.text
    data = explain(tcp_sample, 3, absolute=True)
    assert f"sequence numbers {int(seq[3])} to {int(seq[3]) + 63}" in data.text
    assert f"= {int(seq[3]) + 64}." in data.text
    fin_ack = explain(tcp_sample, 12, absolute=True)
    assert f"FIN ({int(seq[11])}) + 1 = {int(ack[12])}" in fin_ack.text
    relative = explain(tcp_sample, 3)
    assert str(int(seq[3])) not in relative.text
    assert relative.numbers == data.numbers  # the numbers lines always give both


def test_plain_joins_title_and_text(tcp_sample: Analysis) -> None:
    e = explain(tcp_sample, 0)
    assert e.plain() == f"{e.title}. {e.text}"


def test_packets_not_analysed_are_refused(tcp_sample: Analysis) -> None:
    with pytest.raises(IndexError):
        explain(tcp_sample, 14)
    with pytest.raises(IndexError):
        explain(tcp_sample, -1)


# -- scripted TCP trouble -------------------------------------------------------------

def rto() -> Conversation:
    conv = Conversation()
    conv.handshake()
    conv.c2s("PA", data=100, delivered=False)                    # 4
    conv.c2s("PA", data=100, seq=1001, dt=300 * MS)              # 5: timer expired
    conv.s2c("A")                                                # 6
    return conv


def fast_retransmission() -> Conversation:
    conv = Conversation()
    conv.handshake()
    conv.c2s("PA", data=100, delivered=False)                    # 4: lost after the tap
    for _ in range(3):
        conv.c2s("PA", data=100)                                 # 5-7
    for _ in range(3):
        conv.s2c("A")                                            # 8-10: ack 1 again
    conv.c2s("PA", data=100, seq=1001)                           # 11
    return conv


def zero_window() -> Conversation:
    conv = Conversation()
    conv.handshake()
    conv.c2s("PA", data=100)                                     # 4
    conv.s2c("A", win=0)                                         # 5: receiver full
    conv.c2s("PA", data=1, delivered=False, dt=200 * MS)         # 6: probe
    conv.s2c("A", win=0)                                         # 7: still full
    conv.s2c("A", win=4000, dt=100 * MS)                         # 8: window update
    return conv


def window_full() -> Conversation:
    conv = Conversation()
    conv.c2s("S")
    conv.s2c("SA", win=1000)
    conv.c2s("A")
    conv.s2c("A", win=1000)
    conv.c2s("PA", data=1000)                                    # 5: exactly fills it
    return conv


def keep_alive() -> Conversation:
    conv = Conversation()
    conv.handshake()
    conv.c2s("PA", data=100)
    conv.s2c("A")
    conv.c2s("A", seq=1100, advance=False, dt=2000 * MS)         # 6: one byte back
    conv.s2c("A")                                                # 7
    return conv


def reordered() -> Conversation:
    conv = Conversation()
    conv.handshake()
    conv.c2s("PA", data=100, seq=1101, advance=False, dt=10 * MS)  # 4: second half first
    conv.c2s("PA", data=100, seq=1001, dt=100 * US)                # 5: first half, just after
    return conv


def unseen() -> Conversation:
    conv = Conversation()
    conv.handshake()
    conv.c2s("PA", data=100)
    conv.c2s("PA", data=100, captured=False)
    conv.c2s("PA", data=100)                                     # 5: hole before it
    conv.s2c("A")                                                # 6: acks the unseen bytes
    return conv


def spurious() -> Conversation:
    conv = Conversation()
    conv.handshake()
    conv.c2s("PA", data=100)
    conv.s2c("A")
    conv.c2s("PA", data=100, seq=1001, dt=200 * MS)              # 6: sent again anyway
    return conv


def refused() -> Conversation:
    conv = Conversation()
    conv.c2s("S")
    conv.s2c("RA", ack=1001)                                     # 2: nobody listens
    return conv


def reset() -> Conversation:
    conv = Conversation()
    conv.handshake()
    conv.c2s("PA", data=10)
    conv.s2c("RA")                                               # 5
    return conv


def syn_retry() -> Conversation:
    conv = Conversation()
    conv.c2s("S")
    conv.c2s("S", seq=1000, dt=1000 * MS)                        # 2
    conv.s2c("SA")
    conv.c2s("A")
    return conv


def reused() -> Conversation:
    first = Conversation(client_isn=1000)
    first.handshake()
    first.close()
    second = Conversation(client_isn=90000, server_isn=777, capture=first.capture)
    second.handshake()                                           # 8: the new SYN
    return second


def mid_stream() -> Conversation:
    conv = Conversation()
    conv.c2s("PA", data=50)                                      # 1: no SYN captured
    conv.s2c("A")
    return conv


CASES: list[tuple[Callable[[], Conversation], int, str, tuple[str, ...]]] = [
    (rto, 5, "Retransmission: the client resends 100 bytes",
     ("first in frame 4", "retransmission timer (RTO) expired")),
    (fast_retransmission, 8, "Duplicate ACK #1: the server still asks for 1",
     ("duplicate number 1", "beyond a gap", "resends after three")),
    (fast_retransmission, 10, "Duplicate ACK #3: the server still asks for 1",
     ("duplicate number 3",)),
    (fast_retransmission, 11, "Fast retransmission: the client resends 100 bytes after "
     "duplicate ACKs", ("duplicate ACKs asking for seq 1", "instead of waiting")),
    (zero_window, 5, "Zero window: the server's receive buffer is full",
     ("advertises window 0", "not reading", "must stop sending")),
    (zero_window, 6, "Zero-window probe: the client tests the closed window",
     ("sends one byte at seq 101", "window has opened")),
    (zero_window, 7, "Zero window: the server's receive buffer is full",
     ("answers a zero-window probe: the window is still closed",)),
    (zero_window, 8, "Window update: the server opens its window to 4000 bytes",
     ("only the window changes, to 4000 bytes", "made room")),
    (window_full, 5, "Window full: the client has filled the server's window",
     ("fills the server's advertised window", "wait for an ACK")),
    (keep_alive, 6, "Keep-alive: the client checks that the server is still there",
     ("seq = next expected - 1 (100)", "SO_KEEPALIVE")),
    (keep_alive, 7, "Keep-alive ACK: the server is still there",
     ("answers a keep-alive: ack = 101",)),
    (reordered, 4, "Previous segment not captured: a gap before the client's seq 101",
     ("expected to continue at 1", "lost before the capture point")),
    (reordered, 5, "Out of order: 100 bytes from the client arrive late",
     ("reordered on the way",)),
    (unseen, 6, "ACKed unseen segment: the server acknowledges data the capture missed",
     ("the capture never saw",)),
    (spurious, 6, "Spurious retransmission: the client resends 100 bytes already acknowledged",
     ("already acknowledged all of it",)),
    (refused, 2, "RST: port 80 is closed",
     ("Nobody listens on port 80", "connect() fails with ECONNREFUSED",
      "SYN-SENT to CLOSED")),
    (reset, 5, "RST: the server aborts the connection",
     ("without the FIN exchange", "ECONNRESET", "ESTABLISHED to CLOSED")),
    (syn_retry, 2, "Retransmission: the client resends its SYN",
     ("The first SYN (frame 1) got no answer", "same ISN")),
    (reused, 8, "SYN: the client opens a connection",
     ("ISN 90000", "carried an earlier connection")),
    (mid_stream, 1, "Data: 10.0.0.1:40000 sends 50 bytes",
     ("middle of this connection", "sequence numbers 1 to 50")),
    (mid_stream, 2, "ACK: 10.0.0.2:80 confirms receipt up to 51",
     ("10.0.0.2:80 has received every byte 10.0.0.1:40000 sent before sequence number 51",)),
]


@pytest.mark.parametrize(("build", "frame", "title", "phrases"), CASES,
                         ids=[f"{c[0].__name__}-{c[1]}" for c in CASES])
def test_tcp_trouble_is_explained(tmp_path: Path, build: Callable[[], Conversation],
                                  frame: int, title: str, phrases: tuple[str, ...]) -> None:
    a = analysis_of(write_pcap(tmp_path / "t.pcap", build().segments))
    e = explain(a, frame - 1)
    assert e.title == title
    for phrase in phrases:
        assert phrase in e.text


def test_every_scripted_packet_is_explained(tmp_path: Path) -> None:
    for build in {c[0] for c in CASES}:
        a = analysis_of(write_pcap(tmp_path / f"{build.__name__}.pcap", build().segments))
        for i in range(len(a.store)):
            e = explain(a, i)
            assert e.title and e.text.endswith(".") and e.numbers, (build.__name__, i)


# -- UDP's companions and everything else ------------------------------------------------

def store_of(tmp_path: Path, packets: list[Packet]) -> Analysis:
    for k, pkt in enumerate(packets):
        pkt.time = 1_700_000_000 + k / 1000
    wrpcap(str(tmp_path / "t.pcap"), packets)
    return analysis_of(tmp_path / "t.pcap")


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_port_unreachable_names_the_port_and_the_error(tmp_path: Path, family: str) -> None:
    net: Packet
    err: Packet
    if family == "ipv4":
        net, err = IP(src=LO, dst=LO), ICMP(type=3, code=3) / IPerror(src=LO, dst=LO)
    else:
        net, err = IPv6(src="::1", dst="::1"), ICMPv6DestUnreach(code=4) / IPerror6(
            src="::1", dst="::1")
    a = store_of(tmp_path, [
        Ether() / net / UDP(sport=4000, dport=9) / b"first",
        Ether() / net / UDP(sport=4000, dport=9) / b"second",
        Ether() / net.copy() / err / UDPerror(sport=4000, dport=9),
    ])
    e = explain(a, 2)
    assert e.title.endswith("port unreachable: nobody listens on UDP port 9")
    assert "(frame 2, UDP flow 0)" in e.text
    assert "no socket is bound to UDP port 9" in e.text
    assert "fails with ECONNREFUSED" in e.text
    assert explain(a, 1).title.endswith("sends another datagram (6 bytes)")


def test_the_rest_of_the_zoo(tmp_path: Path) -> None:
    a = store_of(tmp_path, [
        Ether() / IP(src=LO, dst="10.1.1.1") / ICMP(type=8),
        Ether() / IP(src="10.9.9.9", dst=LO) / ICMP(type=11) / IPerror(src=LO, dst="8.8.8.8")
        / UDPerror(sport=4000, dport=33434),
        Ether() / ARP(),
        Ether() / IP(src=LO, dst=LO, frag=5, proto=6) / b"fragment tail",
        Ether() / IP(src=LO, dst=LO, proto=50) / b"esp",
        Ether() / IP(src=LO, dst=LO) / UDP(sport=5000, dport=53) / b"",
    ])
    found = all_of(a)
    assert found[0].title == "ICMP echo request (ping)"
    assert "127.0.0.1 asks 10.1.1.1 whether it is reachable" in found[0].text
    assert found[1].title == "ICMP time exceeded"
    assert "to 8.8.8.8" in found[1].text and "traceroute" in found[1].text
    assert found[2].title == "Not an IP packet"
    assert "ethertype 0x0806 (ARP" in found[2].text
    assert found[3].title == "IP fragment (TCP)"
    assert "a fragment missing stays in pieces" in found[3].text
    assert found[4].title == "IP packet carrying ESP (IPsec encryption)"
    assert "an empty datagram" in found[5].text and "Port 53 is DNS" in found[5].text


def test_a_malformed_frame_says_what_is_wrong(tmp_path: Path) -> None:
    frame = bytes(Ether() / IP(src=LO, dst=LO) / TCP())[:40]  # TCP header cut short
    a = store_of(tmp_path, [Ether(frame)])
    note = a.store.notes[0]
    e = explain(a, 0)
    assert e.title == f"Malformed packet: {note}"
    assert note in e.text and "not analysed" in e.text
