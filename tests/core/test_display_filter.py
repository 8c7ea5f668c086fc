"""The display filter: Wireshark's syntax and tshark's matches.

The table of expressions is run over a sample of the corpora; for each, the
frames that match must be exactly those ``tshark -Y`` prints. Bad filters
must fail with one line naming the column, never match nothing silently.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS, REAL_CORPUS, REPO

from visualizer.core.errors import BadInput
from visualizer.core.filter.evaluate import DisplayFilter
from visualizer.core.session import Session

SAMPLE = REPO / "resources" / "samples" / "tcp-handshake.pcapng"
UDP_SAMPLE = REPO / "resources" / "samples" / "udp-datagrams.pcapng"

#: what a Wireshark user types, covering every kind of field and operator
EXPRESSIONS = [
    "tcp", "udp", "ip", "ipv6", "icmp", "eth", "!tcp && !udp", "not (tcp or udp) and ip",
    "tcp.port == 80", "tcp.port != 80", "tcp.srcport < 1024 || tcp.dstport lt 1024",
    "tcp.port in {80, 443, 1000..2000}", "ip.addr == 10.0.0.0/8", "ip.src != 192.168.0.0/16",
    "tcp.stream == 3", "tcp.stream in {0..2}", "tcp.flags.syn == 1 && tcp.flags.ack == 0",
    "tcp.flags.reset eq 1", "tcp.flags == 0x012", "tcp.flags.push == 1 and tcp.len > 100",
    "tcp.seq == 1", "tcp.ack == 1 && tcp.len == 0", "tcp.window_size < 1000",
    "tcp.window_size_value > 60000", "tcp.hdr_len > 20",
    "tcp.analysis.retransmission", "tcp.analysis.retransmission && tcp.stream == 3",
    "tcp.analysis.fast_retransmission", "tcp.analysis.duplicate_ack",
    "tcp.analysis.lost_segment", "tcp.analysis.ack_lost_segment", "tcp.analysis.out_of_order",
    "tcp.analysis.zero_window", "tcp.analysis.window_update", "tcp.analysis.window_full",
    "tcp.analysis.keep_alive", "tcp.analysis.keep_alive_ack", "tcp.analysis.flags",
    "tcp.analysis.bytes_in_flight > 10000", "tcp.analysis.duplicate_ack_num >= 2",
    "udp.port == 53", "udp.length > 100", "udp.stream == 1", "frame.len > 1000",
    "frame.number in {1, 10..20}", "frame.time_relative >= 1.5", "ip.ttl <= 64",
    "ip.len < 100", "ip.flags.df == 1", "eth.type == 0x86dd", "eth.dst == ff:ff:ff:ff:ff:ff",
    "ipv6.hlim == 255", "icmp.type == 8", 'frame contains "HTTP"', 'tcp contains "GET"',
    "tcp.payload contains 16:03", "udp contains 00:01",
]

#: a sample of the corpora: TCP with retransmissions and windows, DNS and ICMP,
#: IPv6, a loopback link, VLAN tags
FILES = [
    REAL_CORPUS / "chrissanders_http_espn_fail.pcapng",
    REAL_CORPUS / "sv_bug-4376_syn_retransmit_with_ts.pcap",
    REAL_CORPUS / "ndpi_http_ipv6.pcap",
    REAL_CORPUS / "chrissanders_dns_isp_hijack.pcapng",
    REAL_CORPUS / "zeek_tcp_ssh-dups.pcap",
    REAL_CORPUS / "gopacket_test_loopback.pcap",
    CORPUS / "dns_tcp.pcap",
    CORPUS / "802.1ad_QinQ.pcap",
]


def tshark_all(path: Path, expressions: list[str], tmp: Path) -> list[list[int]]:
    """The frames each expression matches, by tshark, in one pass (a tap per
    filter: ``tests/filter_taps.lua``)."""
    listed = tmp / "filters.txt"
    listed.write_text("".join(f"{e}\n" for e in expressions))
    result = subprocess.run(
        ["tshark", "-n", "-q", "-r", str(path), "-X",
         f"lua_script:{REPO / 'tests' / 'filter_taps.lua'}"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PV_FILTERS": str(listed)})
    assert result.returncode == 0, result.stderr
    found: list[list[int]] = [[] for _ in expressions]
    for line in result.stdout.split("\n"):
        if line:
            k, frame = line.split()
            found[int(k) - 1].append(int(frame))
    return [sorted(frames) for frames in found]


def tshark_frames(path: Path, expression: str) -> list[int]:
    result = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", expression, "-T", "fields",
                             "-e", "frame.number"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [int(n) for n in result.stdout.split()]


def our_frames(session: Session, expression: str) -> list[int]:
    assert session.store is not None
    found = DisplayFilter(expression).indices(session.store, session.analysis)
    return (found + 1).tolist()


@pytest.mark.corpus
@pytest.mark.tshark
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_matches_equal_tshark_over_the_corpora(path: Path, tmp_path: Path) -> None:
    if not path.exists():
        pytest.skip(f"corpus file absent: {path}")
    differences = []
    every = tshark_all(path, EXPRESSIONS, tmp_path)
    with Session.load(str(path)) as session:
        for expression, theirs in zip(EXPRESSIONS, every, strict=True):
            ours = our_frames(session, expression)
            if ours != theirs:
                extra, missing = sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours))
                differences.append(f"{expression!r}: we alone {extra[:10]}, tshark alone "
                                   f"{missing[:10]}")
    assert not differences, "\n".join(differences)


@pytest.mark.tshark
def test_samples_equal_tshark() -> None:
    """-Y itself, as the issue words it (the corpus test uses taps, one pass a file)."""
    for path in (SAMPLE, UDP_SAMPLE):
        with Session.load(str(path)) as session:
            for expression in ("tcp.flags.syn == 1", "tcp.len > 0 && tcp.seq > 1", "udp",
                               "udp.port == 9", 'frame contains "ping"', "tcp.stream == 0"):
                assert our_frames(session, expression) == tshark_frames(path, expression)


def test_sample_handshake_by_hand() -> None:
    """What the sample recording holds, counted from its own columns."""
    with Session.load(str(SAMPLE)) as session:
        store, analysis = session.store, session.analysis
        assert store is not None and analysis is not None
        flags = store.column("tcp_flags")
        assert our_frames(session, "tcp.flags.syn == 1") == (
            np.flatnonzero(flags & 0x02) + 1).tolist() == [1, 2]
        assert our_frames(session, "frame.number in {1, 3..4} && !tcp.flags.ack == 0") == [3, 4]
        assert our_frames(session, "tcp") == list(range(1, 15))
        assert our_frames(session, "udp || icmp") == []
        ports = {int(p) for p in store.column("sport")}
        port = min(ports)
        assert set(our_frames(session, f"tcp.port == {port}")) == set(range(1, 15))
        assert our_frames(session, f"tcp.srcport == {port}") == (
            np.flatnonzero(store.column("sport") == port) + 1).tolist()


def test_frame_numbers_follow_the_first_number() -> None:
    """A ring buffer's store starts at a later frame: frame.number says so."""
    with Session.load(str(SAMPLE)) as session:
        assert session.store is not None
        found = DisplayFilter("frame.number == 101").indices(session.store, session.analysis,
                                                             first_number=100)
        assert found.tolist() == [1]


@pytest.mark.parametrize(("expression", "says"), [
    ("tcp.prot == 80", '"tcp.prot" is not a field or protocol this app knows (column 1)'),
    ("tcp.port == 80 && foo", '"foo" is not a field or protocol this app knows (column 19)'),
    ('tcp.port == "x"', '"x" is not an integer, which tcp.port is (column 13)'),
    ("ip.src == 1.2.3", '"1.2.3" is not an IPv4 address, which ip.src is (column 11)'),
    ("ipv6.src == 10.0.0.1", "is not an IPv6 address, which ipv6.src is (column 13)"),
    ("eth.src == 00:11", '"00:11" is not an Ethernet address, which eth.src is (column 12)'),
    ("frame.time_relative > soon", "is not a time, which frame.time_relative is"),
    ("tcp == 1", 'tcp is a protocol: test it alone or with "contains", not with "=="'),
    ("tcp.analysis.retransmission == 1", "tcp.analysis.retransmission is a protocol"),
    ("ip.addr < 10.0.0.1", 'only "==", "!=" and "in" compare it (column 1)'),
    ("tcp.port contains 80", '"contains" needs bytes, and tcp.port is an integer'),
    ('frame contains ""', '"contains" needs at least one byte'),
    ("tcp.port = 80", '"=" was unexpected at column 10'),
    ("tcp.port == ", "the expression ends too early (column 12)"),
    ("(tcp", "the expression ends too early"),
    ("tcp.port in {80 443}", '"443" was unexpected at column 17'),
    ("tcp &&& udp", "was unexpected at column 7"),
    ("", "empty expression"),
])
def test_bad_filters_say_why_and_where(expression: str, says: str) -> None:
    with pytest.raises(BadInput) as caught:
        DisplayFilter(expression)
    message = str(caught.value)
    assert says in message
    assert message.startswith("display filter: ") and "\n" not in message


@pytest.mark.parametrize("path", [SAMPLE, UDP_SAMPLE, FILES[0]], ids=["tcp", "udp", "real"])
def test_new_packets_alone_give_the_same_answers(path: Path) -> None:
    """A live view evaluates only the packets that are new: in pieces, every
    expression gives what it gives over the whole capture at once."""
    if not path.exists():
        pytest.skip(f"corpus file absent: {path}")
    with Session.load(str(path)) as session:
        store, analysis = session.store, session.analysis
        assert store is not None
        n = len(store)
        cuts = [0, 1, n // 3, n // 2 + 1, n]
        for expression in EXPRESSIONS:
            f = DisplayFilter(expression)
            pieces = [f.mask(store, analysis, stop, start=start)
                      for start, stop in itertools.pairwise(cuts)]
            assert np.concatenate(pieces).tolist() == f.mask(store, analysis).tolist(), \
                expression
