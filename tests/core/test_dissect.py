"""The detail tree: scapy's dissection with the byte range of every node."""

from __future__ import annotations

import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from visualizer.core.decode.dissect import Node, analysis_nodes, dissect, node_path_at
from visualizer.core.decode.store import PacketStore
from visualizer.core.flows.analysis import analyze
from visualizer.core.tcp.testing import Conversation, options_bytes, write_pcap

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"
ETHERNET = 1


@pytest.fixture(scope="module")
def handshake() -> PacketStore:
    return PacketStore.from_file(str(SAMPLES / "tcp-handshake.pcapng"))


def find(nodes: list[Node], *labels: str) -> Node:
    """The node reached by following labels (each a prefix of a node's label)."""
    node = None
    for label in labels:
        matches = [n for n in nodes if n.label.startswith(label)]
        assert matches, f"no {label!r} in {[n.label for n in nodes]}"
        node = matches[0]
        nodes = node.children
    assert node is not None
    return node


def span(node: Node) -> tuple[int, int]:
    assert node.start is not None and node.end is not None, node
    return node.start, node.end


def check_ranges(nodes: list[Node], size: int, parent: Node | None = None) -> None:
    """Every range inside the frame, and inside its parent's range when both have one."""
    for node in nodes:
        if node.start is not None:
            assert node.end is not None
            assert 0 <= node.start <= node.end <= size, (node.label, node.start, node.end)
            if parent is not None and parent.start is not None and parent.end is not None:
                assert parent.start <= node.start and node.end <= parent.end, node.label
        check_ranges(node.children, size, node if node.start is not None else parent)


# -- the sample SYN (recorded on lo: Ethernet with zero MACs) -------------------

def test_sample_is_ethernet(handshake: PacketStore) -> None:
    assert set(handshake.column("linktype").tolist()) == {ETHERNET}


def test_syn_layers_follow_each_other(handshake: PacketStore) -> None:
    frame = handshake.frame(0)
    nodes = dissect(frame, ETHERNET)
    assert [n.label for n in nodes] == ["Ethernet II", "IPv4", "TCP"]
    l4 = handshake.values("l4_offset")[0]
    thl = handshake.values("tcp_header_len")[0]
    assert [span(n) for n in nodes] == [(0, 14), (14, l4), (l4, l4 + thl)]
    assert l4 + thl == len(frame)


def test_syn_ipv4_bit_fields_share_their_byte(handshake: PacketStore) -> None:
    frame = handshake.frame(0)
    nodes = dissect(frame, ETHERNET)
    version, ihl = find(nodes, "IPv4", "Version"), find(nodes, "IPv4", "Header length")
    assert span(version) == span(ihl) == (14, 15)
    assert frame[14] >> 4 == 4 and version.value == "4"
    assert ihl.value == f"{frame[14] & 15} ({(frame[14] & 15) * 4} bytes)"
    # flags (3 bits) and fragment offset (13 bits) share bytes 20-21
    assert span(find(nodes, "IPv4", "Flags")) == (20, 21)
    assert span(find(nodes, "IPv4", "Fragment offset")) == (20, 22)
    src = find(nodes, "IPv4", "Source")
    assert frame[slice(*span(src))] == bytes([127, 0, 0, 1]) and src.value == "127.0.0.1"
    assert span(find(nodes, "IPv4", "Time to live")) == (22, 23)


def test_syn_tcp_fields(handshake: PacketStore) -> None:
    frame = handshake.frame(0)
    l4 = handshake.values("l4_offset")[0]
    nodes = dissect(frame, ETHERNET)
    sport = find(nodes, "TCP", "Source port")
    assert span(sport) == (l4, l4 + 2)
    assert int.from_bytes(frame[l4:l4 + 2], "big") == handshake.values("sport")[0]
    assert sport.value == str(handshake.values("sport")[0])
    seq = find(nodes, "TCP", "Sequence number")
    assert span(seq) == (l4 + 4, l4 + 8) and seq.value == str(handshake.values("seq")[0])
    flags = find(nodes, "TCP", "Flags")
    # 4 bits header length, 3 reserved, 9 flag bits: bytes 12 and 13 of the header
    assert span(flags) == (l4 + 12, l4 + 14)
    assert int.from_bytes(frame[slice(*span(flags))], "big") & 0x1FF == 0x002
    assert flags.value == "SYN (0x002)"
    syn = find(flags.children, "SYN")
    assert syn.value == "set" and span(syn) == (l4 + 13, l4 + 14)
    assert find(flags.children, "AE").value == "not set"
    assert span(find(flags.children, "AE")) == (l4 + 12, l4 + 13)
    assert span(find(nodes, "TCP", "Window")) == (l4 + 14, l4 + 16)


def test_syn_tcp_options_each_with_its_bytes(handshake: PacketStore) -> None:
    frame = handshake.frame(0)
    nodes = dissect(frame, ETHERNET)
    options = find(nodes, "TCP", "Options")
    raw = handshake.tcp_options(0)  # our own decoder's view of the same bytes
    assert frame[slice(*span(options))] == raw
    assert b"".join(frame[slice(*span(o))] for o in options.children) == raw
    by_short = {o.label.split("(")[-1].rstrip(")"): o for o in options.children}
    assert set(by_short) == {"MSS", "SAckOK", "Timestamp", "NOP", "WScale"}
    mss = by_short["MSS"]
    mss_bytes = frame[slice(*span(mss))]
    assert mss_bytes[:2] == b"\x02\x04" and len(mss_bytes) == 4
    assert mss.value == f"{int.from_bytes(mss_bytes[2:], 'big')} bytes"
    assert frame[slice(*span(find(mss.children, "Kind")))] == b"\x02"
    assert frame[slice(*span(find(mss.children, "Value")))] == mss_bytes[2:]
    assert frame[slice(*span(by_short["SAckOK"]))] == b"\x04\x02"
    assert frame[slice(*span(by_short["NOP"]))] == b"\x01"
    ws = frame[slice(*span(by_short["WScale"]))]
    assert ws[:2] == b"\x03\x03" and by_short["WScale"].value.startswith(f"{ws[2]} ")
    ts = frame[slice(*span(by_short["Timestamp"]))]
    assert ts[:2] == b"\x08\x0a" and len(ts) == 10
    tsval, tsecr = struct.unpack("!II", ts[2:])
    assert by_short["Timestamp"].value == f"TSval {tsval}, TSecr {tsecr}"


def test_payload_range(handshake: PacketStore) -> None:
    i = 3  # the first 64-byte request
    frame = handshake.frame(i)
    start = handshake.values("l4_offset")[i] + handshake.values("tcp_header_len")[i]
    nodes = dissect(frame, ETHERNET)
    payload = nodes[-1]
    assert payload.label == "Raw payload (64 bytes)"
    assert span(payload) == (start, start + 64) == (start, len(frame))
    assert find(nodes, "TCP", "Flags").value == "PSH, ACK (0x018)"


@pytest.mark.parametrize("sample", ["tcp-handshake.pcapng", "udp-datagrams.pcapng"])
def test_every_range_lies_within_its_frame(sample: str) -> None:
    store = PacketStore.from_file(str(SAMPLES / sample))
    for i in range(len(store)):
        frame = store.frame(i)
        nodes = dissect(frame, int(store.values("linktype")[i]))
        assert nodes[0].label == "Ethernet II"
        check_ranges(nodes, len(frame))
        assert not [n for n in nodes if n.label in ("Malformed", "Truncated")]


def test_udp_datagram() -> None:
    store = PacketStore.from_file(str(SAMPLES / "udp-datagrams.pcapng"))
    frame = store.frame(0)
    nodes = dissect(frame, ETHERNET)
    assert [n.label for n in nodes][:3] == ["Ethernet II", "IPv4", "UDP"]
    l4 = store.values("l4_offset")[0]
    assert span(find(nodes, "UDP", "Length")) == (l4 + 4, l4 + 6)
    assert find(nodes, "UDP", "Length").value == str(int.from_bytes(frame[l4 + 4:l4 + 6], "big"))


# -- DNS that scapy is not given ------------------------------------------------

def _udp_frame(payload: bytes, sport: int = 53, dport: int = 40000) -> bytes:
    """Ethernet, IPv4 and UDP headers with the right lengths (checksums zero)."""
    udp = struct.pack("!4H", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + udp


def _dns(questions: int, *names: bytes) -> bytes:
    """A DNS response header counting ``questions`` questions, then each name
    with its type A and class IN."""
    header = struct.pack("!6H", 0x1234, 0x8180, questions, 0, 0, 0)
    return header + b"".join(name + b"\x00\x01\x00\x01" for name in names)


def _labels(count: int, size: int = 1) -> bytes:
    return (bytes([size]) + b"a" * size) * count + b"\x00"


def _names_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count scapy's DNS name decodings (each walks the rest of the message)."""
    import scapy.layers.dns as scapy_dns

    calls: list[int] = []
    real = scapy_dns.dns_get_str

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(scapy_dns, "dns_get_str", counted)
    return calls


def test_a_dns_name_over_255_bytes_is_shown_as_bytes_without_scapy(monkeypatch) -> None:
    """tcpdump's dns-badlabel: a forged header and names of thousands of labels
    took scapy seconds; the tree says why and shows the bytes."""
    message = _dns(60_000, _labels(200), _labels(3000))   # 400 bytes: over 255
    frame = _udp_frame(message) + b"\x00" * 4                  # with an Ethernet trailer
    calls = _names_read(monkeypatch)
    nodes = dissect(frame, ETHERNET)
    assert not calls
    assert [n.label for n in nodes] == ["Ethernet II", "IPv4", "UDP", "Malformed",
                                        f"Raw payload ({len(message)} bytes)", "Padding (4 bytes)"]
    assert find(nodes, "Malformed").value == (
        "DNS not dissected: the name of question 1 is longer than 255 bytes (byte 54)")
    assert span(find(nodes, "Raw payload")) == (42, 42 + len(message))
    check_ranges(nodes, len(frame))


def test_a_dns_name_made_long_by_pointers_is_caught_too(monkeypatch) -> None:
    """tcpdump's dns_fwdptr: a short name that points to a long one."""
    long_name = _labels(100, 3)                    # 400 bytes, as the second question
    first = b"\xc0" + bytes([12 + 2 + 4])           # points to the second name
    frame = _udp_frame(_dns(2, first, long_name))
    calls = _names_read(monkeypatch)
    nodes = dissect(frame, ETHERNET)
    assert not calls
    assert find(nodes, "Malformed").value.startswith(
        "DNS not dissected: the name of question 1 is longer than 255 bytes")


def test_dns_within_the_limits_is_scapys(monkeypatch) -> None:
    longest = _labels(63, 3)                       # 253 bytes: the longest a name can be
    frame = _udp_frame(_dns(1, longest))
    calls = _names_read(monkeypatch)
    nodes = dissect(frame, ETHERNET)
    assert calls
    assert [n.label for n in nodes][:4] == ["Ethernet II", "IPv4", "UDP", "DNS"]
    assert not [n for n in nodes if n.label in ("Malformed", "Truncated")]
    short = _udp_frame(_dns(5, _labels(2)))        # counts more than there is: scapy's
    assert [n.label for n in dissect(short, ETHERNET)][3] == "DNS"
    not_dns = _udp_frame(_dns(60_000, _labels(3000)), sport=40001, dport=40000)
    assert "Malformed" not in [n.label for n in dissect(not_dns, ETHERNET)]


@pytest.mark.corpus
@pytest.mark.parametrize("name", ["dns-badlabel.pcap", "dns_fwdptr.pcap"])
def test_forged_dns_in_tcpdumps_corpus(corpus_dir: Path, name: str) -> None:
    store = PacketStore.from_file(str(corpus_dir / name))
    nodes = dissect(store.frame(0), int(store.values("linktype")[0]))
    assert find(nodes, "Malformed").value.startswith("DNS not dissected: the name of question 1")
    check_ranges(nodes, len(store.frame(0)))


# -- other link types and IPv6 ------------------------------------------------

def test_ipv6_frame(tmp_path: Path) -> None:
    conv = Conversation(client=("::1", 40000), server=("::1", 8080))
    conv.handshake(client_opts=options_bytes(mss=1440, sack_perm=True, wscale=7))
    conv.c2s("PA", data=10)
    store = PacketStore.from_file(str(write_pcap(tmp_path / "v6.pcap", conv.segments)))
    frame = store.frame(3)
    nodes = dissect(frame, ETHERNET)
    assert [n.label for n in nodes] == ["Ethernet II", "IPv6", "TCP", "Raw payload (10 bytes)"]
    assert span(nodes[1]) == (14, 54)
    assert find(nodes, "Ethernet II", "Type").value == "IPv6 (0x86dd)"
    src = find(nodes, "IPv6", "Source")
    assert frame[slice(*span(src))] == bytes(15) + b"\x01" and src.value == "::1"
    assert span(find(nodes, "IPv6", "Next header")) == (20, 21)
    assert span(find(nodes, "TCP", "Destination port")) == (56, 58)
    # the port number first, then scapy's service name from /etc/services if any
    assert find(nodes, "TCP", "Destination port").value.split()[0] == "8080"
    syn = dissect(store.frame(0), ETHERNET)
    mss = find(syn, "TCP", "Options", "Maximum segment size")
    assert mss.value == "1440 bytes" and store.frame(0)[span(mss)[0]] == 2
    check_ranges(nodes, len(frame))


def test_raw_ip_and_loopback_and_cooked_link_types(handshake: PacketStore) -> None:
    ip = handshake.frame(0)[14:]
    expected = [(n.label, n.start - 14 if n.start else 0) for n in
                dissect(handshake.frame(0), ETHERNET)[1:]]
    for linktype in (101, 228, 12, 14):
        assert [(n.label, n.start) for n in dissect(ip, linktype)] == expected
    for linktype, header in ((0, b"\x02\x00\x00\x00"), (108, b"\x00\x00\x00\x02")):
        nodes = dissect(header + ip, linktype)
        assert [n.label for n in nodes][1:] == ["IPv4", "TCP"]
        assert span(nodes[0]) == (0, 4) and nodes[0].value == "family 2 (IPv4)"
        assert span(nodes[1]) == (4, 24)
    sll = struct.pack("!HHH8sH", 4, 772, 6, bytes(8), 0x0800)
    nodes = dissect(sll + ip, 113)
    assert [n.label for n in nodes] == ["Linux cooked capture (SLL)", "IPv4", "TCP"]
    assert span(nodes[1]) == (16, 36)
    sll2 = struct.pack("!HHIHBB8s", 0x0800, 0, 1, 772, 4, 6, bytes(8))
    nodes = dissect(sll2 + ip, 276)
    assert [n.label for n in nodes] == ["Linux cooked capture v2 (SLL2)", "IPv4", "TCP"]
    assert span(find(nodes, "TCP", "Flags")) == (20 + 32, 20 + 34)


def test_unknown_link_type_is_one_frame_node() -> None:
    nodes = dissect(b"\x01\x02\x03\x04\x05", 147)
    assert len(nodes) == 1
    assert nodes[0].label == "Frame" and span(nodes[0]) == (0, 5)
    assert "147" in nodes[0].value


# -- broken input never raises --------------------------------------------------

def test_truncated_tcp_header_says_where_it_broke(handshake: PacketStore) -> None:
    frame = handshake.frame(0)[:40]  # 6 bytes of TCP header
    nodes = dissect(frame, ETHERNET)
    labels = [n.label for n in nodes]
    assert labels[:2] == ["Ethernet II", "IPv4"]
    broken = [n for n in nodes if n.label == "Malformed"]
    assert len(broken) == 1 and broken[0].value.startswith("TCP could not be dissected at "
                                                            "byte 34")
    assert span(broken[0]) == (34, 40)
    truncated = find(nodes, "Truncated")
    assert truncated.value == "IPv4 total length 60, only 26 bytes captured"
    check_ranges(nodes, len(frame))


def test_truncated_ip_header(handshake: PacketStore) -> None:
    frame = handshake.frame(0)[:20]
    nodes = dissect(frame, ETHERNET)
    assert nodes[0].label == "Ethernet II"
    assert any(n.label == "Malformed" and n.value.startswith("IPv4") for n in nodes)
    check_ranges(nodes, len(frame))
    nodes = dissect(frame[:5], ETHERNET)
    assert nodes[-1].label == "Malformed" and "Ethernet II" in nodes[-1].value


def test_bad_tcp_options_do_not_break_the_tree(handshake: PacketStore) -> None:
    frame = bytearray(handshake.frame(0))
    l4 = handshake.values("l4_offset")[0]
    frame[l4 + 20:l4 + 24] = b"\x02\x30\x00\x00"  # MSS claiming 48 bytes in a 20-byte area
    nodes = dissect(bytes(frame), ETHERNET)
    options = find(nodes, "TCP", "Options")
    assert span(options.children[0]) == (l4 + 20, l4 + 40)
    assert any(c.label == "Malformed" for c in options.children[0].children)
    check_ranges(nodes, len(frame))


@pytest.mark.parametrize("linktype", [0, 1, 12, 101, 108, 113, 228, 229, 276, 9999])
def test_garbage_never_raises(linktype: int) -> None:
    rng = random.Random(linktype)
    for size in [*range(0, 70), 200, 1500]:
        frame = bytes(rng.getrandbits(8) for _ in range(size))
        nodes = dissect(frame, linktype)
        assert nodes
        check_ranges(nodes, size)


def test_garbage_that_looks_like_ip() -> None:
    rng = random.Random(7)
    for _ in range(300):
        frame = bytes([0x45 if rng.random() < 0.5 else 0x60]) + rng.randbytes(rng.randrange(80))
        check_ranges(dissect(frame, 101), len(frame))


# -- clicking a byte ------------------------------------------------------------

def test_node_path_at(handshake: PacketStore) -> None:
    nodes = dissect(handshake.frame(0), ETHERNET)
    l4 = handshake.values("l4_offset")[0]
    assert [n.label for n in node_path_at(nodes, 14)] == ["IPv4", "Version"]
    # a click on the flags byte means the flags field, not one of its bits
    assert [n.label for n in node_path_at(nodes, l4 + 13)] == ["TCP", "Flags"]
    path = node_path_at(nodes, l4 + 20)
    assert [n.label for n in path] == ["TCP", "Options",
                                       "Maximum segment size (MSS)", "Kind"]
    assert node_path_at(nodes, 10_000) == []


def test_node_path_at_prefers_dissection_over_the_analysis_branch(
        handshake: PacketStore) -> None:
    analysis = analyze(handshake)
    nodes = dissect(handshake.frame(0), ETHERNET) + analysis_nodes(analysis, 0)
    l4 = handshake.values("l4_offset")[0]
    assert [n.label for n in node_path_at(nodes, l4 + 5)][:2] == ["TCP", "Sequence number (seq)"]
    only_analysis = analysis_nodes(analysis, 0)
    path = node_path_at(only_analysis, l4 + 5)
    assert [n.label for n in path] == ["TCP analysis", "Relative sequence number"]


# -- the analysis branch --------------------------------------------------------

def test_analysis_nodes_for_the_handshake(handshake: PacketStore) -> None:
    analysis = analyze(handshake)
    (branch,) = analysis_nodes(analysis, 0)
    assert branch.label == "TCP analysis" and branch.start is None
    client, server = (f"127.0.0.1:{p}" for p in (handshake.values("sport")[0],
                                                 handshake.values("dport")[0]))
    assert find([branch], "TCP analysis", "Stream").value == f"0: {client} ↔ {server}"
    assert find([branch], "TCP analysis", "Direction").value == f"{client} → {server}"
    rel_seq = find([branch], "TCP analysis", "Relative sequence number")
    assert rel_seq.value == "0"
    assert span(rel_seq) == span(find(dissect(handshake.frame(0), ETHERNET), "TCP",
                                      "Sequence number"))
    assert not [c for c in branch.children if c.label.startswith("Relative ack")]  # no ACK
    assert find([branch], "TCP analysis", "Analysis flags").value == "none"
    states = find([branch], "TCP analysis", "Endpoint states")
    assert [(c.label, c.value) for c in states.children] == [(client, "SYN-SENT"),
                                                             (server, "LISTEN")]
    changes = find([branch], "TCP analysis", "State changes")
    assert [c.value for c in changes.children] == ["CLOSED → SYN-SENT", "CLOSED → LISTEN"]
    (data,) = analysis_nodes(analysis, 3)
    assert find([data], "TCP analysis", "Bytes in flight").value == "64"
    assert find([data], "TCP analysis", "Next sequence number").value == "65"
    assert find([data], "TCP analysis", "Relative acknowledgment number").value == "1"
    assert not [c for c in data.children if c.label == "State changes"]


def test_analysis_nodes_name_the_flags(tmp_path: Path) -> None:
    conv = Conversation()
    conv.handshake()
    conv.c2s("PA", data=100, delivered=False)
    conv.c2s("PA", data=100, seq=1001, dt=300_000_000)
    store = PacketStore.from_file(str(write_pcap(tmp_path / "rexmit.pcap", conv.segments)))
    (branch,) = analysis_nodes(analyze(store), 4)
    flags = find([branch], "TCP analysis", "Analysis flags")
    assert flags.value == "retransmission"
    assert [c.label for c in flags.children] == ["retransmission"]
    assert branch.value == "stream 0: retransmission"


def test_analysis_nodes_for_udp() -> None:
    store = PacketStore.from_file(str(SAMPLES / "udp-datagrams.pcapng"))
    analysis = analyze(store)
    (branch,) = analysis_nodes(analysis, 2)
    assert branch.label == "UDP flow" and branch.value == "0"
    assert find([branch], "UDP flow", "Datagrams").value.startswith("5 from 127.0.0.1:")
    assert analysis_nodes(analysis, 999) == []


# -- cost and corpus ------------------------------------------------------------

def test_import_loads_neither_scapy_nor_qt() -> None:
    code = ("import sys, visualizer.core.decode.dissect; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('scapy', 'PyQt6')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.corpus
def test_corpus_first_frames(corpus_dir: Path) -> None:
    files = sorted(p for p in corpus_dir.iterdir() if p.suffix in (".pcap", ".pcapng"))
    dissected = 0
    for path in files[::4]:
        try:
            store = PacketStore.from_file(str(path), limit=5)
        except Exception:
            continue  # unreadable files are the reader's tests' business
        for i in range(len(store)):
            frame = store.frame(i)
            nodes = dissect(frame, int(store.values("linktype")[i]))
            assert nodes, path
            check_ranges(nodes, len(frame))
            dissected += 1
    assert dissected > 100
