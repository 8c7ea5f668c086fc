"""The fast conversation summary is the full analysis's, exactly.

``faststats.conversation_stats`` feeds the TCP tracker only the packets that
can change a summary; ``full_stats`` (every packet through the tracker) is
the reference. Both must give equal ConnectionSummary and UdpFlow lists (so
``analyze --stats`` prints the same) over the tcpdump corpus, the samples,
scripted conversations built to stress what the shortcut skips (port reuse,
resets, simultaneous close, retransmitted FINs and SYNs, keep-alives, lost
handshake ACKs, one-sided captures) and random segment soups.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, UDP, IPerror, UDPerror
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from visualizer.commands.analyze import FULL_ANALYSIS_ENV, analyze_command
from visualizer.core.decode.store import PacketStore
from visualizer.core.errors import BadInput
from visualizer.core.flows.analysis import analyze
from visualizer.core.flows.summaries import ConversationStats, conversation_stats, full_stats
from visualizer.core.pcap import format as fmt
from visualizer.core.tcp.segment import TcpSegment
from visualizer.core.tcp.states import TcpState
from visualizer.core.tcp.testing import Capture, Conversation, write_pcap

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


def both(path: Path) -> tuple[ConversationStats, ConversationStats]:
    """(fast, full) summaries of the capture at ``path``."""
    store = PacketStore.from_file(str(path))
    try:
        return conversation_stats(store), full_stats(analyze(store))
    finally:
        store.close()


def assert_same(path: Path) -> ConversationStats:
    fast, full = both(path)
    assert fast.packets == full.packets
    assert len(fast.tcp) == len(full.tcp), path.name
    for ours, theirs in zip(fast.tcp, full.tcp, strict=True):
        assert ours == theirs, path.name
    assert fast.udp == full.udp, path.name
    return fast


def summary_of(tmp_path: Path, segments: list[TcpSegment]) -> ConversationStats:
    return assert_same(write_pcap(tmp_path / "conv.pcap", segments))


# -- files ------------------------------------------------------------------------

@pytest.mark.corpus
def test_corpus_summaries_match_the_full_analysis(corpus_dir: Path) -> None:
    streams = flows = 0
    for path in sorted(corpus_dir.iterdir()):
        try:
            stats = assert_same(path)
        except BadInput:
            continue
        streams += len(stats.tcp)
        flows += len(stats.udp)
    assert streams > 150 and flows > 250


@pytest.mark.parametrize("name", ["tcp-handshake.pcapng", "udp-datagrams.pcapng"])
def test_sample_summaries_match_the_full_analysis(name: str) -> None:
    stats = assert_same(SAMPLES / name)
    assert len(stats.tcp) + len(stats.udp) >= 1


# -- scripted TCP ---------------------------------------------------------------------

def test_plain_connection(tmp_path: Path) -> None:
    conv = Conversation()
    conv.handshake()
    for _ in range(20):
        conv.c2s("PA", data=100)
        conv.s2c("A")
    conv.close()
    [summary] = summary_of(tmp_path, conv.segments).tcp
    assert summary.packets == (24, 23)
    assert summary.bytes == (2000, 0)
    assert summary.states == (TcpState.TIME_WAIT, TcpState.CLOSED)
    assert summary.initial_rtt_ns == 2_000_000


def test_port_reuse_with_a_new_isn_and_a_retransmitted_syn(tmp_path: Path) -> None:
    first = Conversation(client_isn=1000)
    first.handshake()
    first.c2s("PA", data=10)
    first.close()
    second = Conversation(client_isn=90000, server_isn=777, capture=first.capture)
    second.c2s("S")
    second.c2s("S", seq=90000)  # retransmitted: no new stream
    second.s2c("SA")
    second.c2s("A")
    second.s2c("PA", data=30)
    second.c2s("RA")
    third = Conversation(client_isn=90000, server_isn=1, capture=first.capture)
    third.handshake()  # the same ISN as the second: not a new stream either
    stats = summary_of(tmp_path, first.segments)
    assert len(stats.tcp) == 2


def test_resets(tmp_path: Path) -> None:
    cap = Capture()
    refused = Conversation(("10.0.0.1", 40000), ("10.0.0.2", 81), capture=cap)
    refused.c2s("S")
    refused.s2c("RA")
    midway = Conversation(("10.0.0.1", 40001), ("10.0.0.2", 80), capture=cap)
    midway.handshake()
    midway.c2s("PA", data=50)
    midway.s2c("R")
    midway.c2s("PA", data=50)  # after the reset
    midway.s2c("R")
    stats = summary_of(tmp_path, cap.segments)
    assert [s.states for s in stats.tcp] == [(TcpState.CLOSED, TcpState.CLOSED)] * 2


def test_simultaneous_close_and_retransmitted_fins(tmp_path: Path) -> None:
    cap = Capture()
    both_close = Conversation(("10.0.0.1", 40000), ("10.0.0.2", 80), capture=cap)
    both_close.handshake()
    both_close.c2s("FA")
    both_close.s2c("FA", ack=both_close.server.rcv_nxt - 1 if both_close.server.rcv_nxt
                   else None)
    both_close.c2s("A")
    both_close.s2c("A")
    again = Conversation(("10.0.0.1", 40001), ("10.0.0.2", 80), capture=cap)
    again.handshake()
    again.c2s("PA", data=100)
    fin = again.c2s("FA")
    assert fin is not None
    again.c2s("FA", seq=fin.seq, advance=False)  # the FIN again, not yet acknowledged
    again.s2c("A", ack=fin.seq)                  # acknowledges the data only
    again.s2c("A")                               # and now the FIN
    again.s2c("FA")
    again.c2s("FA", seq=fin.seq, advance=False)  # a late copy after the ACK
    again.c2s("A")
    summary_of(tmp_path, cap.segments)


def test_keep_alives_and_a_late_handshake_ack(tmp_path: Path) -> None:
    conv = Conversation()
    conv.c2s("S")
    conv.s2c("SA")
    conv.c2s("A", captured=False)           # the handshake's ACK missed by the tap
    for _ in range(5):
        conv.c2s("A", seq=conv.client.snd_nxt - 1, advance=False, data=1)  # keep-alive
        conv.s2c("A")                        # keep-alive ACK
    conv.c2s("PA", data=10)                  # acknowledges the SYN-ACK at last
    conv.s2c("A", dt=0)
    conv.close(by_client=False)
    [summary] = summary_of(tmp_path, conv.segments).tcp
    assert summary.states[0] is not TcpState.SYN_SENT


def test_equal_timestamps_postpone_the_initial_rtt(tmp_path: Path) -> None:
    conv = Conversation()
    conv.c2s("S")
    conv.s2c("SA", dt=0)
    conv.c2s("A", dt=0)   # RTT 0: the tracker waits for another ACK
    conv.c2s("PA", dt=0, data=5)
    conv.s2c("A", dt=7)
    [summary] = summary_of(tmp_path, conv.segments).tcp
    assert summary.initial_rtt_ns == 7


def test_mid_stream_and_one_sided_captures(tmp_path: Path) -> None:
    cap = Capture()
    joined = Conversation(("10.0.0.1", 40000), ("10.0.0.2", 80), capture=cap)
    joined.c2s("S", captured=False)
    joined.s2c("SA", captured=False)
    joined.c2s("A", captured=False)
    for _ in range(10):
        joined.s2c("PA", data=100)
        joined.c2s("A")
    joined.c2s("FA")
    one_way = Conversation(("10.0.0.3", 40000), ("10.0.0.2", 80), capture=cap)
    one_way.c2s("S")
    one_way.s2c("SA", captured=False)
    for _ in range(10):
        one_way.c2s("PA", data=10)
    one_way.c2s("FA")
    syn_ack_first = Conversation(("10.0.0.4", 40000), ("10.0.0.2", 80), capture=cap)
    syn_ack_first.c2s("S", captured=False)
    syn_ack_first.s2c("SA")
    syn_ack_first.c2s("A")
    syn_ack_first.s2c("SA", seq=123456)   # another ISN: rebases that side
    syn_ack_first.c2s("S", seq=999)        # a new SYN against the rebased stream
    summary_of(tmp_path, cap.segments)


def test_interleaved_connections_ipv6_and_a_self_connection(tmp_path: Path) -> None:
    cap = Capture()
    convs = [Conversation(("10.0.0.1", 40000 + k), ("10.0.0.2", 80), capture=cap,
                          client_isn=1000 * k) for k in range(4)]
    convs.append(Conversation(("::1", 40000), ("::1", 80), capture=cap))
    convs.append(Conversation(("10.0.0.9", 5000), ("10.0.0.9", 5000), capture=cap))
    for conv in convs:
        conv.c2s("S")
    for conv in convs:
        conv.s2c("SA")
        conv.c2s("A")
    for k, conv in enumerate(convs):
        conv.c2s("PA", data=10 * k + 1)
        conv.s2c("A")
    for conv in reversed(convs):
        conv.close(by_client=len(conv.segments) % 2 == 0)
    stats = summary_of(tmp_path, cap.segments)
    assert len(stats.tcp) == 6


# -- random segment soups ---------------------------------------------------------

ENDPOINTS = [(b"\x0a\x00\x00\x01", 40000), (b"\x0a\x00\x00\x02", 80),
             (b"\x0a\x00\x00\x03", 40000)]
FLAG_SETS = [0x02, 0x12, 0x10, 0x18, 0x11, 0x01, 0x04, 0x14, 0x03, 0x06, 0x13, 0x00, 0x19]

segment = st.tuples(
    st.sampled_from([(0, 1), (1, 0), (2, 1), (1, 2), (0, 0)]),   # who sends to whom
    st.sampled_from(FLAG_SETS),
    st.sampled_from([0, 1, 2, 100, 101, 0xFFFFFFFF, 0x80000000]),  # seq near a few bases
    st.sampled_from([0, 1, 2, 100, 101, 102, 0x80000001]),
    st.integers(0, 3),                                            # payload
    st.sampled_from([0, 1, 1000]),                                # time step
)


@settings(max_examples=120, deadline=None)
@given(st.lists(segment, min_size=1, max_size=40))
def test_random_segments(tmp_path_factory: pytest.TempPathFactory,
                         soup: list[tuple[tuple[int, int], int, int, int, int, int]]) -> None:
    ts = 1_700_000_000_000_000_000
    segments = []
    for n, ((a, b), flags, seq, ack, length, dt) in enumerate(soup):
        ts += dt
        (src, sport), (dst, dport) = ENDPOINTS[a], ENDPOINTS[b]
        segments.append(TcpSegment(n + 1, ts, src, sport, dst, dport, seq, ack, flags,
                                   65535, length))
    summary_of(tmp_path_factory.mktemp("soup"), segments)


# -- UDP and ICMP errors ----------------------------------------------------------------

def test_udp_flows_and_icmp_errors(tmp_path: Path) -> None:
    def unreachable(src: str, dst: str, sport: int, dport: int) -> Ether:
        return (Ether() / IP(src=dst, dst=src) / ICMP(type=3, code=3)
                / IPerror(src=src, dst=dst) / UDPerror(sport=sport, dport=dport))

    frames = [
        unreachable("10.0.0.1", "10.0.0.2", 5000, 53),  # before its flow: not counted
        Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5000, dport=53) / Raw(b"q"),
        Ether() / IP(src="10.0.0.2", dst="10.0.0.1") / UDP(sport=53, dport=5000) / Raw(b"aa"),
        unreachable("10.0.0.1", "10.0.0.2", 5000, 53),
        unreachable("10.0.0.2", "10.0.0.1", 53, 5000),  # the other way: the same flow
        unreachable("10.0.0.7", "10.0.0.2", 5000, 53),  # an address no packet carries
        Ether() / IP(src="10.0.0.3", dst="10.0.0.2") / UDP(sport=6000, dport=53) / Raw(b"x"),
        Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5000, dport=53) / Raw(b"qq"),
    ]
    path = tmp_path / "udp.pcap"
    with path.open("wb") as f:
        f.write(fmt.pcap_file_header(fmt.LINKTYPE_ETHERNET))
        for n, frame in enumerate(frames):
            raw = bytes(frame)
            f.write(fmt.pcap_record_header(1_700_000_000_000_000_000 + n, len(raw), len(raw)))
            f.write(raw)
    stats = assert_same(path)
    assert [(f.packets, f.bytes, f.icmp_errors) for f in stats.udp] == [
        ([2, 1], [3, 2], 2), ([1, 0], [1, 0], 0)]


# -- the command ---------------------------------------------------------------------

def test_analyze_stats_prints_the_same_either_way(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    conv = Conversation()
    conv.handshake()
    conv.c2s("PA", data=100)
    conv.s2c("R")
    path = write_pcap(tmp_path / "conv.pcap", conv.segments)
    for name in (str(path), str(SAMPLES / "udp-datagrams.pcapng")):
        fast = io.StringIO()
        monkeypatch.delenv(FULL_ANALYSIS_ENV, raising=False)
        assert analyze_command(name, json_lines=False, stats=True, out=fast) == 0
        full = io.StringIO()
        monkeypatch.setenv(FULL_ANALYSIS_ENV, "1")
        assert analyze_command(name, json_lines=False, stats=True, out=full) == 0
        assert fast.getvalue() == full.getvalue()
        assert "packets" in fast.getvalue()


# -- what each feeding rule is for ---------------------------------------------------

def test_a_first_ack_sets_the_silent_sides_base(tmp_path: Path) -> None:
    """The first ACK from one side sets the other side's base sequence number,
    which decides whether that side's later SYN starts a new stream."""
    conv = Conversation()
    conv.c2s("P", data=10)                 # no ACK: the server's base stays unknown
    conv.c2s("PA", data=10, ack=7000)      # now it is 6999
    conv.c2s("PA", data=10)
    conv.s2c("S", seq=123)                 # not 6999: a new stream
    conv.s2c("A")
    stats = summary_of(tmp_path, conv.segments)
    assert len(stats.tcp) == 2


def test_a_new_streams_first_packet_from_the_other_side(tmp_path: Path) -> None:
    """After a new stream starts, the other side's first packet sets its base."""
    conv = Conversation(client_isn=1000, server_isn=5000)
    conv.handshake()
    conv.c2s("PA", data=10)
    conv.s2c("A")
    conv.c2s("S", seq=50_000)              # another ISN: stream 1
    conv.s2c("P", seq=7000, data=1)        # the server's first packet in stream 1
    conv.s2c("PA", data=5)
    conv.s2c("S", seq=7000)                # not 6999: stream 2
    conv.c2s("A")
    stats = summary_of(tmp_path, conv.segments)
    assert len(stats.tcp) == 3


def test_half_close_acknowledged_by_a_plain_ack(tmp_path: Path) -> None:
    """The FIN's acknowledgement is a pure ACK from the other side, and nothing
    after it would move the state again."""
    conv = Conversation()
    conv.handshake()
    conv.c2s("FA")
    conv.s2c("A")
    for _ in range(3):
        conv.s2c("PA", data=100)
        conv.c2s("A")
    [summary] = summary_of(tmp_path, conv.segments).tcp
    assert summary.states == (TcpState.FIN_WAIT_2, TcpState.CLOSE_WAIT)


def test_a_syn_ack_acknowledged_late(tmp_path: Path) -> None:
    """The client's ACKs do not cover the SYN-ACK until its third packet."""
    conv = Conversation()
    conv.c2s("S")
    conv.s2c("SA")
    conv.c2s("A", ack=5000)                # does not acknowledge the SYN-ACK
    conv.c2s("PA", data=10, ack=5000)
    conv.c2s("PA", data=10)                # this one does
    conv.s2c("A")
    [summary] = summary_of(tmp_path, conv.segments).tcp
    assert summary.states == (TcpState.ESTABLISHED, TcpState.ESTABLISHED)


def test_many_addresses(tmp_path: Path) -> None:
    """Address ids past 2**15 on both sides: a pair no longer fits one int64 key."""
    segments = []
    ts = 1_700_000_000_000_000_000

    def add(src: bytes, sport: int, dst: bytes, dport: int, seq: int, ack: int,
            flags: int) -> None:
        segments.append(TcpSegment(len(segments) + 1, ts, src, sport, dst, dport, seq, ack,
                                   flags, 1024, 0))

    for n in range(17_000):
        client, server = (0x0A000000 + n).to_bytes(4, "big"), (0x0B000000 + n).to_bytes(4, "big")
        ts += 1000
        add(client, 1024, server, 80, n, 0, 0x02)
        if n % 100 == 0:  # an answer, and the port reused with another ISN
            add(server, 80, client, 1024, 5, n + 1, 0x12)
            add(client, 1024, server, 80, n + 1, 6, 0x10)
            add(client, 1024, server, 80, n + 9, 0, 0x02)
    stats = summary_of(tmp_path, segments)
    assert len(stats.tcp) == 17_170
