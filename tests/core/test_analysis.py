"""The analysis pass: TCP streams, UDP pseudo-connections, ICMP errors linked."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, TCPerror, UDPerror
from scapy.layers.inet6 import ICMPv6DestUnreach, IPerror6, IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet
from scapy.utils import wrpcap

from visualizer.core.decode.headers import MalformedReason
from visualizer.core.decode.store import PacketStore
from visualizer.core.describe.explain import explain
from visualizer.core.describe.summary import PacketSummary
from visualizer.core.flows import analysis as analysis_module
from visualizer.core.flows.analysis import COLUMNS as ANALYSIS_COLUMNS
from visualizer.core.flows.analysis import Analysis, analyze
from visualizer.core.flows.summaries import conversation_stats
from visualizer.core.ladder.build import tcp_ladder, udp_ladder
from visualizer.core.pcap import format as fmt
from visualizer.core.tcp.states import TcpState

LO = "127.0.0.1"


def store_of(tmp_path: Path, packets: list[Packet]) -> PacketStore:
    for k, pkt in enumerate(packets):
        pkt.time = 1_700_000_000 + k / 1000
    path = tmp_path / "t.pcap"
    wrpcap(str(path), packets)
    return PacketStore.from_file(str(path))


def test_udp_flows_are_pseudo_connections(tmp_path: Path) -> None:
    store = store_of(tmp_path, [
        Ether() / IP(src=LO, dst=LO) / UDP(sport=5000, dport=53) / b"q1",
        Ether() / IP(src=LO, dst=LO) / UDP(sport=53, dport=5000) / b"answer",
        Ether() / IP(src=LO, dst=LO) / UDP(sport=5001, dport=53) / b"q",
        Ether() / IP(src=LO, dst=LO) / UDP(sport=5000, dport=53) / b"q2",
    ])
    a = analyze(store)
    assert a.column("udp_flow").tolist() == [0, 0, 1, 0]
    flow = a.udp_flows[0]
    assert flow.endpoints[0][1] == 5000  # the side that sent first
    assert (flow.packets, flow.bytes) == ([2, 1], [4, 6])
    assert (flow.first_frame, flow.last_frame) == (1, 4)
    assert a.column("stream").tolist() == [-1, -1, -1, -1]


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_icmp_port_unreachable_is_linked_to_its_datagram(tmp_path: Path, family: str) -> None:
    if family == "ipv4":
        net, err = IP(src=LO, dst=LO), ICMP(type=3, code=3) / IPerror(src=LO, dst=LO)
    else:
        net, err = IPv6(src="::1", dst="::1"), ICMPv6DestUnreach(code=4) / IPerror6(
            src="::1", dst="::1")
    store = store_of(tmp_path, [
        Ether() / net / UDP(sport=4000, dport=9) / b"first",
        Ether() / net / UDP(sport=4000, dport=9) / b"second",
        Ether() / net.copy() / err / UDPerror(sport=4000, dport=9),
    ])
    a = analyze(store)
    link = a.icmp_links[2]
    assert (link.flow, link.datagram) == (0, 1)  # the latest datagram before the error
    assert a.udp_flows[0].icmp_errors == 1
    ladder = udp_ladder(a, 0)
    assert [arrow.src_lane for arrow in ladder.arrows] == [0, 0, 1]
    assert "unreachable" in ladder.arrows[-1].label


def test_udp_lanes_are_client_and_server(tmp_path: Path) -> None:
    """The side that sent first is the client, unless only the other one
    uses a well-known port (a DNS server whose reply the capture saw first)."""
    ip = IP(src=LO, dst=LO)
    store = store_of(tmp_path, [
        Ether() / ip / UDP(sport=50000, dport=51000) / b"request",
        Ether() / ip / UDP(sport=51000, dport=50000) / b"reply",
        Ether() / ip / UDP(sport=53, dport=40000) / b"answer",
        Ether() / ip / UDP(sport=40000, dport=53) / b"next query",
    ])
    a = analyze(store)
    exchange, dns = udp_ladder(a, 0), udp_ladder(a, 1)
    assert [(lane.port, lane.role) for lane in exchange.lanes] == [(50000, "client"),
                                                                   (51000, "server")]
    assert [(lane.port, lane.role) for lane in dns.lanes] == [(53, "server"), (40000, "client")]
    assert dns.lanes[0].label.endswith("(server)")


def test_tcp_ladder_lanes_are_ip_and_port_and_states_change(tmp_path: Path) -> None:
    c, s = dict(sport=40000, dport=80), dict(sport=80, dport=40000)
    ip = IP(src=LO, dst=LO)
    store = store_of(tmp_path, [
        Ether() / ip / TCP(**c, flags="S", seq=100),
        Ether() / ip / TCP(**s, flags="SA", seq=900, ack=101),
        Ether() / ip / TCP(**c, flags="A", seq=101, ack=901),
        Ether() / ip / TCP(**c, flags="FA", seq=101, ack=901),
        Ether() / ip / TCP(**s, flags="A", seq=901, ack=102),
        Ether() / ip / TCP(**s, flags="FA", seq=901, ack=102),
        Ether() / ip / TCP(**c, flags="A", seq=102, ack=902),
    ])
    ladder = tcp_ladder(analyze(store), 0)
    assert [lane.label for lane in ladder.lanes] == ["127.0.0.1:40000 (client)",
                                                      "127.0.0.1:80 (server)"]
    assert ladder.initial_states == {0: TcpState.CLOSED, 1: TcpState.LISTEN}
    client_path = [st for arrow in ladder.arrows for st in arrow.transitions.get(0, ())]
    assert client_path == [TcpState.SYN_SENT, TcpState.ESTABLISHED, TcpState.FIN_WAIT_1,
                           TcpState.FIN_WAIT_2, TcpState.TIME_WAIT]
    assert ladder.arrows[1].label == "SYN,ACK seq=0 ack=1 len=0 win=8192"
    absolute = tcp_ladder(analyze(store), 0, absolute=True)
    assert absolute.arrows[1].label.startswith("SYN,ACK seq=900 ack=101")


def test_roles_are_decided_once_per_stream(tmp_path: Path) -> None:
    """A ladder window that starts mid-stream, after the SYN, still names the client
    and the server, and the explanations of the same packets agree with it."""
    c, s = dict(sport=40000, dport=80), dict(sport=80, dport=40000)
    ip = IP(src=LO, dst=LO)
    store = store_of(tmp_path, [
        Ether() / ip / TCP(**c, flags="S", seq=100),
        Ether() / ip / TCP(**s, flags="SA", seq=900, ack=101),
        Ether() / ip / TCP(**c, flags="A", seq=101, ack=901),
        Ether() / ip / TCP(**s, flags="PA", seq=901, ack=101) / b"banner",
        Ether() / ip / TCP(**c, flags="A", seq=101, ack=907),
    ])
    a = analyze(store)
    assert a.tcp_roles(0) == ("client", "server")
    window = tcp_ladder(a, 0, start=3)       # the server's data first
    assert [arrow.index for arrow in window.arrows] == [3, 4]
    assert [lane.label for lane in window.lanes] == ["127.0.0.1:40000 (client)",
                                                     "127.0.0.1:80 (server)"]
    assert explain(a, 3).title == "Data: the server sends 6 bytes"
    assert "(server to client)" in explain(a, 3).numbers[0]


def test_analysis_never_raises_on_the_malformed_and_the_foreign(tmp_path: Path) -> None:
    store = store_of(tmp_path, [
        Ether() / IP(src=LO, dst=LO, frag=5, proto=6) / b"fragment tail",
        Ether(type=0x0806) / (b"\0" * 28),
        Ether() / IP(src=LO, dst=LO) / ICMP(type=8),
    ])
    a = analyze(store)
    assert a.column("stream").tolist() == [-1, -1, -1]
    assert a.icmp_links == {}


def test_an_analysis_holds_no_reference_cycles(tmp_path: Path) -> None:
    """Refcounting alone frees an analysis: the GUI relies on this when it
    hides a big capture's objects from the cyclic collector (gc.freeze)."""
    from benchmarks.make_pcap import generate

    mixed = tmp_path / "mixed.pcap"
    with mixed.open("wb") as out:
        generate(20_000, out)
    samples = Path(__file__).parents[2] / "resources" / "samples"
    paths = [mixed, *sorted(samples.glob("*.pcapng"))]

    def analyse_all() -> None:
        for path in paths:
            store = PacketStore.from_file(str(path))
            analysis = analyze(store)
            assert analysis.tcp.connections or analysis.udp_flows
            store.close()

    analyse_all()  # first use makes some classes and caches: not the point here
    gc.collect()
    gc.disable()
    try:
        analyse_all()
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_decisions_never_read_the_words_of_a_note(tmp_path: Path) -> None:
    """A note is text for people (why a frame is malformed or not IP): code decides
    on the typed columns. Rewording every note changes no tracking result, no
    conversation summary and no protocol name."""
    syn = bytes(Ether() / IP(src=LO, dst=LO) / TCP(
        sport=40000, dport=80, flags="S", seq=100,
        options=[("MSS", 1460), ("SAckOK", b""), ("WScale", 7)]))
    frames = [
        (syn[:14 + 20 + 22], len(syn)),   # the snaplen cuts the SYN's options short
        *((bytes(p), len(p)) for p in (
            Ether() / IP(src=LO, dst=LO) / TCP(sport=80, dport=40000, flags="SA", seq=500,
                                               ack=101, options=[("MSS", 1460)]),
            Ether() / IP(src=LO, dst=LO) / TCP(sport=40000, dport=80, flags="A", seq=101,
                                               ack=501),
            Ether() / ARP(),
            Ether() / IP(src=LO, dst=LO) / TCP(sport=40000, dport=80, flags="PA", seq=101,
                                               ack=501) / b"hello")),
    ]
    path = tmp_path / "cut.pcap"
    with path.open("wb") as f:
        f.write(fmt.pcap_file_header(fmt.LINKTYPE_ETHERNET))
        for k, (frame, wire) in enumerate(frames):
            f.write(fmt.pcap_record_header(1_700_000_000_000_000_000 + k * 1000, len(frame),
                                           wire))
            f.write(frame)

    def results(store: PacketStore) -> tuple[object, ...]:
        a = analyze(store)
        summary = PacketSummary(store, a)
        return ({name: a.column(name).tolist() for name in ANALYSIS_COLUMNS},
                a.tcp_summaries, conversation_stats(store),
                [summary.protocol(i) for i in range(len(store))])

    store = PacketStore.from_file(str(path))
    assert store.values("reason")[0] == MalformedReason.TCP_OPTIONS_TRUNCATED
    assert store.notes == {0: "TCP options truncated", 3: "ethertype 0x0806"}
    plain = results(store)
    store.notes = {i: f"reworded note {i}" for i in store.notes}
    assert results(store) == plain
    assert plain[0]["stream"] == [0, 0, 0, -1, 0]   # the cut SYN is tracked
    assert plain[3][3] == "ARP"
    assert "(ARP, which asks" in explain(analyze(store), 3).text


def test_batches_growth_and_a_stop_do_not_change_the_answers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The analysis feeds packets a batch at a time (flows/feeding.py), and the
    GUI runs it again each time the store grows, or stops it midway: batches
    of 3 packets, a store grown 5 packets at a time and a stop at the first
    progress report must give what one run over the whole file gives."""
    def tcp(sport: int, flags: str, seq: int, ack: int, load: bytes = b"") -> Packet:
        return Ether() / IP(src=LO, dst=LO) / TCP(sport=sport, dport=80, flags=flags, seq=seq,
                                                  ack=ack) / load
    packets: list[Packet] = []
    for port in (4001, 4002, 4003):
        packets += [tcp(port, "S", 100, 0), tcp(port, "SA", 500, 101)]
    packets += [
        Ether() / IP(src=LO, dst=LO) / UDP(sport=5000, dport=53) / b"q",
        Ether() / IP(src=LO, dst=LO) / ICMP(type=3, code=3) / IPerror(src=LO, dst=LO)
        / UDPerror(sport=5000, dport=53),
        Ether() / IP(src=LO, dst=LO) / ICMP(type=3, code=1) / IPerror(src=LO, dst=LO)
        / TCPerror(sport=4009, dport=80),   # numbers a stream of its own
        Ether() / IP(src=LO, dst=LO) / TCP(sport=4010, dport=80, dataofs=3),   # bogus
        Ether(type=0x0806) / (b"\0" * 28),
    ]
    for port in (4001, 4002, 4003):
        packets += [tcp(port, "A", 101, 501), tcp(port, "PA", 101, 501, b"x" * 10),
                    tcp(port, "A", 501, 111), tcp(port, "FA", 111, 501)]
        packets.insert(3, Ether() / IP(src=LO, dst=LO) / UDP(sport=53, dport=5000) / b"a")
    store = store_of(tmp_path, packets)
    whole = analyze(store)
    assert len(whole.tcp.connections) == 5 and len(whole.udp_flows) == 1

    monkeypatch.setattr(analysis_module, "BATCH", 3)
    monkeypatch.setattr(analysis_module, "PROGRESS_EVERY", 6)
    grown = PacketStore(store.capture)
    records = store.capture.records()
    step = Analysis(grown)
    reports: list[int] = []
    while len(grown) < len(store):
        grown.extend(records, limit=len(grown) + 5)
        if not reports:   # stop at the first report, then go on
            step.run(lambda done, total: bool(reports.append(done)))
            assert len(step.values("stream")) == reports[0] == 0
        step.run(lambda done, total: bool(reports.append(done)) or True)
    assert reports[1:] and all(done % 6 == 0 for done in reports)
    for name in ANALYSIS_COLUMNS:
        assert step.values(name) == whole.values(name), name
    assert step.events == whole.events
    assert step.tcp_summaries == whole.tcp_summaries
    assert step.icmp_links == whole.icmp_links
    assert [(f.endpoints, f.packets) for f in step.udp_flows] == [
        (f.endpoints, f.packets) for f in whole.udp_flows]


def test_endpoint_texts_are_made_once_for_every_view(tmp_path: Path) -> None:
    store = store_of(tmp_path, [
        Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=40000, dport=443,
                                                                    flags="S"),
        Ether() / IP(src="10.0.0.2", dst="10.0.0.1") / UDP(sport=53, dport=5353) / b"x"])
    a = analyze(store)
    assert a.endpoint_texts("tcp", 0) == ("[2001:db8::1]:40000", "[2001:db8::2]:443")
    assert a.endpoint_texts("udp", 0) == ("10.0.0.2:53", "10.0.0.1:5353")
    assert a.endpoint_texts("tcp", 0) is a.endpoint_texts("tcp", 0)


def test_endpoint_texts_asked_out_of_order(
        tmp_path: Path, endpoint_texts_made: list[tuple[str, bytes, int]]) -> None:
    """A view may ask for a later conversation's texts before the earlier ones
    are made (the time-sequence graph of a stream the loader has not named):
    each is still made once, and a range read after that gets them all."""
    store = store_of(tmp_path, [
        Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1000 + k, dport=80, flags="S")
        for k in range(4)])
    a = analyze(store)
    endpoint_texts_made.clear()

    def ports() -> list[int]:
        return [port for _, _, port in endpoint_texts_made]

    assert a.endpoint_texts("tcp", 2) == ("10.0.0.1:1002", "10.0.0.2:80")
    assert ports() == [1002, 80]
    assert a.endpoint_texts_of("tcp", 1, 4) == [
        ("10.0.0.1:1001", "10.0.0.2:80"), ("10.0.0.1:1002", "10.0.0.2:80"),
        ("10.0.0.1:1003", "10.0.0.2:80")]
    assert ports() == [1002, 80, 1001, 80, 1003, 80]   # stream 2's texts read, not made again
    assert a.endpoint_texts_of("tcp", 0, 4)[1:] == a.endpoint_texts_of("tcp", 1, 4)
    assert ports()[6:] == [1000, 80]                    # only stream 0 was new
