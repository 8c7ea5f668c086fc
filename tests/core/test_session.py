"""The Session: files and growing spools read through one path, the ring
buffer, the conversation filter, the conversations list and the ladder window.

No Qt: the GUI's Document only runs these calls in a thread and turns their
results into signals (tests/gui/test_document.py).
"""

from __future__ import annotations

import gc
import struct
from pathlib import Path

import numpy as np
import pytest
from captures import exchanges_pcap, hosts_pcap
from conftest import REAL_CORPUS
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, TCPerror, UDPerror
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap, wrpcap

from visualizer.core import session as session_module
from visualizer.core.errors import BadInput
from visualizer.core.pcap.format import PCAP_FILE_HEADER_LEN, PCAP_RECORD_HEADER
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.pcap.writer import PcapWriter
from visualizer.core.session import LIVE_WINDOW, WINDOW, Batch, Session
from visualizer.core.tcp.testing import Capture, Conversation, write_pcap

SAMPLES = Path(__file__).parents[2] / "resources" / "samples"
HANDSHAKE = SAMPLES / "tcp-handshake.pcapng"
START_NS = 1_700_000_000_000_000_000


def datagram(k: int) -> bytes:
    """An Ethernet frame: UDP 10.0.0.1:5000 → 10.0.0.2:6000 saying ``datagram 0000k``."""
    payload = f"datagram {k:05d}".encode()
    udp = struct.pack("!HHHH", 5000, 6000, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), k & 0xFFFF, 0, 64, 17, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return bytes(6) + bytes(6) + b"\x08\x00" + ip + udp


def datagrams_pcap(path: Path, count: int) -> bytes:
    """``count`` datagrams as a pcap written to ``path``; its bytes."""
    with open(path, "wb") as out:
        writer = PcapWriter(out, 1)
        for k in range(count):
            writer.write(START_NS + k * 1000, datagram(k))
    return path.read_bytes()


def conversations_pcap(path: Path, count: int) -> Path:
    """``count`` short TCP conversations one after another, the last with a
    retransmission."""
    cap = Capture()
    for k in range(count):
        conv = Conversation(("10.0.0.1", 40000 + k), ("10.0.0.2", 8000 + k), capture=cap)
        conv.handshake()
        conv.c2s("PA", data=10)
        conv.s2c("A")
        if k == count - 1:
            seg = conv.c2s("PA", data=10)
            assert seg is not None
            conv.c2s("PA", data=10, seq=seg.seq)
        conv.close()
    return write_pcap(path, cap.segments)


def read_all(session: Session, limit: int = 1024) -> list[Batch]:
    """What a front end does each turn: read until nothing more comes, showing
    every batch."""
    batches = []
    while True:
        batch = session.read(limit)
        session.show(batch)
        batches.append(batch)
        if not batch.added:
            return batches


# -- opening a file -------------------------------------------------------------------
def test_load_a_recording() -> None:
    with Session.load(str(HANDSHAKE)) as session:
        assert session.count == 14 and session.store is not None and len(session.store) == 14
        assert session.path == str(HANDSHAKE) and not session.live
        assert session.recording is not None and session.recording.scenario == "tcp-handshake"
        assert session.warnings() == []
        assert len(session.kinds()) == 14
        store = session.store
    assert session.store is None and session.count == 0 and session.recording is None
    with pytest.raises(ValueError):
        store.frame(0)  # closed with the session


def test_no_capture_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.pcap"
    bad.write_bytes(b"hello world, not a capture")
    with pytest.raises(BadInput, match="not a pcap"):
        Session.load(str(bad))


def test_a_file_is_read_in_chunks_and_shown_when_told(tmp_path: Path) -> None:
    path = exchanges_pcap(tmp_path / "big.pcap", 3000)
    session = Session()
    session.open_capture(CaptureFile.open(str(path)))
    assert session.store is not None and session.count == 0  # shown at once, still empty
    first = session.read(2000)
    assert (first.count, first.added, first.first_number) == (2000, 2000, 1)
    assert session.count == 0, "reading does not show: the front end does"
    assert not session.show(first) and session.count == 2000
    batches = read_all(session)
    assert [b.added for b in batches] == [1024, 1024, 1024, 931, 0]
    assert session.count == 6003 == len(session.analysis.column("stream"))  # analysed too
    assert batches[-2].bytes_read < batches[-1].bytes_read == path.stat().st_size  # the end
    assert all(b.store is first.store for b in batches)
    session.close()


def test_what_is_not_analysed(tmp_path: Path) -> None:
    with Session.load(str(exchanges_pcap(tmp_path / "x.pcap", 5)), analyse=False) as session:
        assert session.count == 13 and session.analysis is None
        assert session.conversations() == [] and session.ladder() is None


def test_the_readers_warnings_are_passed_on(tmp_path: Path) -> None:
    whole = datagrams_pcap(tmp_path / "whole.pcap", 10)
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[:-5])
    with Session.load(str(cut)) as session:
        assert session.count == 9
        (warning,) = session.warnings()
        assert warning.startswith("file ends inside the frame"), warning


def test_a_big_capture_is_frozen_out_of_the_garbage_collector(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_module, "FREEZE_FROM", 1_000)
    frozen = gc.get_freeze_count()
    with Session.load(str(exchanges_pcap(tmp_path / "big.pcap", 2_000))):
        assert gc.get_freeze_count() > frozen


def test_a_big_read_is_walked_by_the_collector_at_most_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the collection before the freeze walks what the read made: the
    collector turned back on after the analysis walked it all once more
    first (a SYN scan's 2.8 million objects, more than a second each time).
    A command's load does not sweep at all (Session.load says why); a window's
    reads, a few thousand packets each, sweep the young generation each time."""
    monkeypatch.setattr(session_module, "FREEZE_FROM", 1_000)
    cap = Capture()
    for k in range(2_000):   # a scan: a connection, so a few objects, per packet
        Conversation(("10.0.0.9", 50000), ("10.1.0.1", 1 + k), capture=cap).c2s("S")
    path = str(write_pcap(tmp_path / "scan.pcap", cap.segments))
    walks: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            walks.append(info["generation"])

    gc.collect()
    gc.callbacks.append(seen)
    try:
        frozen = gc.get_freeze_count()
        with Session.load(path):
            assert walks == []
            assert gc.get_freeze_count() > frozen
        gc.disable()   # no automatic collection between the reads
        with Session() as session:
            session.open_capture(CaptureFile.open(path))
            while session.read(600).added:
                pass
            # gc.collect(1) in each read from 1,000 packets on: at 1,200, 1,800 and
            # 2,000 packets, and in the read that found no more
            assert walks == [1, 1, 1, 1]
    finally:
        gc.enable()
        gc.callbacks.remove(seen)


# -- following a growing spool --------------------------------------------------------
def test_a_growing_spool_is_read_as_it_grows(tmp_path: Path) -> None:
    """Written in bursts, as the capture process flushes them, a record cut in
    two by a burst's end: the complete records are read, the rest waits."""
    whole = datagrams_pcap(tmp_path / "whole.pcap", 300)
    spool = tmp_path / "spool.pcap"
    spool.write_bytes(whole[:PCAP_FILE_HEADER_LEN])
    session = Session()
    session.follow(str(spool))
    assert session.live and session.following and session.store is None
    assert not session.refresh()
    batch = session.read()
    assert (batch.count, batch.added) == (0, 0)
    session.show(batch)
    assert session.store is not None and session.count == 0  # the first batch shows it
    record = PCAP_RECORD_HEADER.size + len(datagram(0))
    counts = []
    for end in (PCAP_FILE_HEADER_LEN + 100 * record + 7, PCAP_FILE_HEADER_LEN + 250 * record,
                len(whole)):
        with open(spool, "ab") as out:
            out.write(whole[spool.stat().st_size:end])
        assert session.refresh()
        batches = read_all(session, limit=64)
        assert not any(session.show(b) for b in batches)  # no ring buffer: one store
        counts.append(session.count)
    assert counts == [100, 250, 300]
    assert session.store.frame(299).endswith(b"datagram 00299")
    assert session.conversations()[0].packets == 300
    session.finish()
    assert not session.following and session.live
    session.close()


def test_following_and_opening_take_one_path(tmp_path: Path) -> None:
    """A spool written in pieces ends up as the same store and analysis as the
    finished file opened."""
    conv = Conversation()
    conv.handshake()
    for _ in range(40):
        conv.c2s("PA", data=100)
        conv.s2c("A")
    conv.close()
    whole = write_pcap(tmp_path / "whole.pcap", conv.segments).read_bytes()
    spool = tmp_path / "spool.pcap"
    spool.write_bytes(whole[:PCAP_FILE_HEADER_LEN])
    live = Session()
    live.follow(str(spool))
    for end in range(PCAP_FILE_HEADER_LEN, len(whole) + 999, 999):
        with open(spool, "ab") as out:
            out.write(whole[spool.stat().st_size:end])
        live.refresh()
        read_all(live, limit=10)
    with Session.load(str(tmp_path / "whole.pcap")) as opened:
        assert live.count == opened.count == 87
        assert live.store is not None and opened.store is not None
        for name in ("ts_ns", "src", "seq", "payload_len"):
            assert np.array_equal(live.store.column(name), opened.store.column(name))
        assert live.analysis is not None and opened.analysis is not None
        for name in ("stream", "rel_seq", "rel_ack", "analysis", "state0", "state1"):
            assert np.array_equal(live.analysis.column(name), opened.analysis.column(name))
        assert live.conversations() == opened.conversations()
    live.close()


def test_following_needs_the_spool(tmp_path: Path) -> None:
    session = Session()
    with pytest.raises(ValueError, match="nothing to read"):
        session.read()
    session.follow(str(tmp_path / "not-yet.pcap"))
    with pytest.raises(BadInput, match="no such file"):
        session.read()


def test_the_ring_buffer_keeps_the_most_recent_packets(tmp_path: Path) -> None:
    whole = datagrams_pcap(tmp_path / "whole.pcap", 6000)
    record = PCAP_RECORD_HEADER.size + len(datagram(0))
    spool = tmp_path / "ring.pcap"
    spool.write_bytes(whole[:PCAP_FILE_HEADER_LEN])
    session = Session()
    session.follow(str(spool), keep_last=1000)
    replaced: list[Batch] = []
    stores = []
    for n in range(500, 6001, 500):  # bursts of 500 datagrams
        with open(spool, "ab") as out:
            out.write(whole[spool.stat().st_size:PCAP_FILE_HEADER_LEN + n * record])
        session.refresh()
        while True:
            batch = session.read()
            if session.show(batch):
                replaced.append(batch)
                stores.append(batch.store)
            assert session.count <= 2000, "memory holds about keep_last packets"
            if not batch.added:
                break
    assert session.first_number + session.count - 1 == 6000  # every packet was read
    assert 1000 <= session.count <= 2000
    assert len(replaced) >= 3
    assert [b.first_number for b in replaced] == sorted({b.first_number for b in replaced})
    assert session.store is not None
    assert session.store.frame(session.count - 1).endswith(b"datagram 05999")
    assert session.store.frame(0).endswith(f"datagram {session.first_number - 1:05d}".encode())
    with pytest.raises(ValueError):
        stores[0].frame(0)  # a store the ring buffer let go of is closed
    # a batch of a store already replaced is ignored
    count, first_number = session.count, session.first_number
    assert not session.show(replaced[0])
    assert (session.count, session.first_number) == (count, first_number)
    session.close()


def test_the_ring_buffer_starts_the_analysis_over(tmp_path: Path) -> None:
    """A current packet and a filter of the old store mean nothing in the new one."""
    whole = datagrams_pcap(tmp_path / "whole.pcap", 2500)
    spool = tmp_path / "ring.pcap"
    spool.write_bytes(whole)
    session = Session()
    session.follow(str(spool), keep_last=1000)
    first = session.read(1500)
    session.show(first)
    session.set_current(1400)
    session.set_conversation(("udp", 0))
    second = session.read(None)
    assert second.store is not first.store and second.first_number == 1501
    assert session.show(second)
    assert (session.current, session.conversation) == (-1, None)
    assert session.count == 1000 and session.conversations()[0].packets == 1000
    session.close()


# -- selection, filter, conversations -------------------------------------------------
def test_current_packet_stays_within_the_packets_shown() -> None:
    with Session.load(str(HANDSHAKE)) as session:
        assert session.set_current(3) and session.current == 3
        assert not session.set_current(3)
        assert session.set_current(14) and session.current == -1
        assert not session.set_current(-5)


def test_the_conversation_filter(tmp_path: Path) -> None:
    with Session.load(str(conversations_pcap(tmp_path / "c.pcap", 3))) as session:
        assert session.visible_indices() is None
        assert session.set_conversation(("tcp", 1))
        assert not session.set_conversation(("tcp", 1))
        visible = session.visible_indices()
        assert visible is not None
        assert visible.tolist() == np.flatnonzero(
            session.analysis.column("stream") == 1).tolist() == list(range(9, 18))
        session.set_conversation(None)
        assert session.visible_indices() is None


def test_a_udp_flow_shows_the_icmp_errors_answering_it(tmp_path: Path) -> None:
    packets = [Ether() / IP(src="127.0.0.1", dst="127.0.0.1") / UDP(sport=4000, dport=9) / b"a",
               Ether() / IP(src="127.0.0.1", dst="127.0.0.1") / UDP(sport=4001, dport=53) / b"b",
               Ether() / IP(src="127.0.0.1", dst="127.0.0.1") / ICMP(type=3, code=3)
               / IPerror(src="127.0.0.1", dst="127.0.0.1") / UDPerror(sport=4000, dport=9)]
    for k, pkt in enumerate(packets):
        pkt.time = 1_700_000_000 + k / 1000
    wrpcap(str(tmp_path / "icmp.pcap"), packets)
    with Session.load(str(tmp_path / "icmp.pcap")) as session:
        session.set_conversation(("udp", 0))
        visible = session.visible_indices()
        assert visible is not None and visible.tolist() == [0, 2]
        rows = session.conversations()
        assert [(r.kind, r.number, r.packets, r.states) for r in rows] == [
            ("udp", 0, 1, "1 ICMP error(s)"), ("udp", 1, 1, "")]


def test_the_conversations_list(tmp_path: Path) -> None:
    with Session.load(str(conversations_pcap(tmp_path / "c.pcap", 3))) as session:
        rows = session.conversations()
        assert [r.key for r in rows] == [("tcp", 0), ("tcp", 1), ("tcp", 2)]
        assert [r.packets for r in rows] == [9, 9, 11]
        assert [r.problems for r in rows] == [0, 0, 1]
        assert {r.states for r in rows} == {"TIME-WAIT / CLOSED"}
        assert rows[0].endpoints == ("10.0.0.1:40000", "10.0.0.2:8000")
        assert rows[0].bytes == 10 and rows[0].duration_s > 0
    with Session.load(str(SAMPLES / "udp-datagrams.pcapng")) as session:
        (row,) = session.conversations()
        assert (row.key, row.packets, row.states) == (("udp", 0), 10, "")


def test_the_conversations_of_the_packets_shown_only(tmp_path: Path) -> None:
    """The problems column counts the packets shown, not what was read ahead."""
    session = Session()
    session.open_capture(CaptureFile.open(str(conversations_pcap(tmp_path / "c.pcap", 3))))
    session.show(session.read(20))
    rest = session.read(None)  # read and analysed, not shown yet
    assert session.count == 20 and len(session.conversations()) == 3
    assert session.conversations()[2].problems == 0
    session.show(rest)
    assert session.conversations()[2].problems == 1
    session.close()


@pytest.mark.corpus
@pytest.mark.parametrize("name", ["zeek_http_1000-requests-one-dropped-response.pcap",
                                  "sv_smb2-frames-gap-02.pcap"])
def test_problems_counted_a_batch_at_a_time_are_those_of_the_whole(name: str) -> None:
    """The conversations list counts each stream's flagged packets as batches
    are shown (Session._stream_problems); the totals are those of one read."""
    path = str(REAL_CORPUS / name)
    with Session.load(path) as whole:
        expected = [(r.key, r.problems) for r in whole.conversations()]
    assert any(problems for _, problems in expected), "a capture with problems"
    session = Session()
    session.open_capture(CaptureFile.open(path))
    while True:
        batch = session.read(331)
        session.show(batch)
        session.conversations()     # counts what has been shown so far
        if not batch.added:
            break
    assert [(r.key, r.problems) for r in session.conversations()] == expected
    session.close()


def _rows_from_scratch(session: Session) -> list[tuple[object, ...]]:
    """The conversations list as made from the tracker and the flow table alone,
    every row anew (what Session.conversations did at each call until it kept them)."""
    a = session.analysis
    assert a is not None
    stream = a.column("stream")[:session.count]
    flagged = a.column("analysis")[:session.count] != 0
    problems = np.bincount(stream[(stream >= 0) & flagged],
                           minlength=len(a.tcp.connections)).tolist()
    tcp = [("tcp", c.stream, sum(c.packets), sum(c.bytes), c.first_ts_ns, c.last_ts_ns,
            " / ".join(st.value for st in c.states), problems[c.stream])
           for c in a.tcp.connections]
    udp = [("udp", f.flow, sum(f.packets), sum(f.bytes), f.first_ts_ns, f.last_ts_ns,
            f"{f.icmp_errors} ICMP error(s)" if f.icmp_errors else "", 0)
           for f in a.udp_flows]
    return tcp + udp


def _rows(session: Session) -> list[tuple[object, ...]]:
    return [(r.kind, r.number, r.packets, r.bytes, r.first_ns, r.last_ns, r.states, r.problems)
            for r in session.conversations()]


def _icmp_and_tcp_pcap(path: Path) -> Path:
    """TCP conversations, datagrams of two flows among them, and an ICMP error
    answering one of the flows late."""
    tcp = rdpcap(str(conversations_pcap(path.with_suffix(".tcp.pcap"), 4)))
    first, last = float(tcp[0].time), float(tcp[-1].time)
    udp = [Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=4000 + k % 2, dport=53)
           / b"q" for k in range(40)]
    udp.append(Ether() / IP(src="10.0.0.2", dst="10.0.0.1") / ICMP(type=3, code=3)
               / IPerror(src="10.0.0.1", dst="10.0.0.2") / UDPerror(sport=4001, dport=53))
    for k, pkt in enumerate(udp):
        pkt.time = first + (last - first) * (k + 0.5) / len(udp)
    wrpcap(str(path), sorted([*tcp, *udp], key=lambda p: float(p.time)))
    return path


def test_conversations_kept_between_calls_are_those_made_from_scratch(tmp_path: Path) -> None:
    """Read a few packets at a time: at each step the list equals one made anew,
    and a conversation without new packets is the very same row as before."""
    session = Session()
    session.open_capture(CaptureFile.open(str(_icmp_and_tcp_pcap(tmp_path / "m.pcap"))))
    before = None
    kept = changed = 0
    while True:
        batch = session.read(7)
        session.show(batch)
        rows = session.conversations()
        assert _rows(session) == _rows_from_scratch(session)
        if before is not None:
            old = {(r.kind, r.number): r for r in before}
            for r in rows:
                if (r.kind, r.number) in old:
                    same = old[(r.kind, r.number)] is r
                    kept, changed = kept + same, changed + (not same)
        before = rows
        if not batch.added:
            break
    assert kept and changed
    assert any("ICMP" in r.states for r in rows)
    again = session.conversations()
    assert all(a is b for a, b in zip(again, rows, strict=True))
    session.close()


@pytest.mark.corpus
def test_conversations_kept_between_calls_over_a_real_capture() -> None:
    session = Session()
    session.open_capture(CaptureFile.open(
        str(REAL_CORPUS / "zeek_http_1000-requests-one-dropped-response.pcap")))
    while True:
        batch = session.read(997)
        session.show(batch)
        assert _rows(session) == _rows_from_scratch(session)
        if not batch.added:
            break
    session.close()


def test_a_closed_session_lets_its_analysis_go(tmp_path: Path) -> None:
    """What the conversations list counted is forgotten with the capture: it
    held the closed analysis (at 10^7 packets, a gigabyte) until the next."""
    import weakref

    session = Session.load(str(conversations_pcap(tmp_path / "c.pcap", 3)))
    assert session.analysis is not None
    gone = weakref.ref(session.analysis)
    assert sum(r.problems for r in session.conversations()) == 1
    session.close()
    gc.collect()
    assert gone() is None


# -- the ladder -------------------------------------------------------------------------
def test_a_small_capture_draws_everything_with_its_socket_calls() -> None:
    with Session.load(str(HANDSHAKE)) as session:
        window = session.ladder_window()
        assert (window.streams, window.flows, window.others) == ((0,), (), True)
        assert (window.start, window.stop, window.partial) == (0, 14, False)
        ladder = session.ladder(window)
        assert ladder is not None and len(ladder.lanes) == 2 and len(ladder.arrows) == 14
        assert ladder.calls, "a recording's socket calls go on the lanes"


def test_a_capture_with_no_conversation_draws_its_hosts(tmp_path: Path) -> None:
    with Session.load(str(hosts_pcap(tmp_path / "pings.pcap"))) as session:
        window = session.ladder_window()
        assert (window.streams, window.flows, window.others) == ((), (), True)
        ladder = session.ladder()
        assert ladder is not None
        assert [lane.endpoint for lane in ladder.lanes] == [
            "192.0.2.1", "192.0.2.2", "02:00:00:00:00:01", "ff:ff:ff:ff:ff:ff"]
        assert [a.index for a in ladder.arrows] == [0, 1, 2, 3, 4]


def test_many_conversations_draw_the_current_packets(tmp_path: Path) -> None:
    with Session.load(str(conversations_pcap(tmp_path / "c.pcap", 8))) as session:
        window = session.ladder_window()
        assert (window.streams, window.flows, window.others) == ((0,), (), False)
        session.set_current(9 * 5 + 2)  # a packet of stream 5
        assert session.ladder_window().streams == (5,)
        session.set_conversation(("tcp", 7))
        assert session.ladder_window().streams == (7,)
        ladder = session.ladder()
        assert ladder is not None and {a.index for a in ladder.arrows} == set(range(63, 74))
        window = session.ladder_window(everything=True)
        assert (window.streams, window.others, window.stop) == (tuple(range(8)), True, 74)


def test_a_huge_conversation_draws_a_window_around_the_current_packet(
        tmp_path: Path) -> None:
    with Session.load(str(exchanges_pcap(tmp_path / "big.pcap", 3000))) as session:
        window = session.ladder_window()
        assert (window.start, window.stop, window.partial) == (0, WINDOW, True)
        session.set_current(6000)
        window = session.ladder_window()
        assert (window.start, window.stop) == (6003 - WINDOW, 6003)
        session.set_current(1000)
        window = session.ladder_window()
        assert (window.start, window.stop) == (1000 - WINDOW // 10, 1000 - WINDOW // 10 + WINDOW)
        ladder = session.ladder(window)
        assert ladder is not None and len(ladder.arrows) == WINDOW
        assert ladder.arrows[0].index == window.start


def test_a_live_capture_draws_its_newest_packets(tmp_path: Path) -> None:
    spool = tmp_path / "spool.pcap"
    datagrams_pcap(spool, 3000)
    session = Session()
    session.follow(str(spool))
    read_all(session)
    window = session.ladder_window()
    assert (window.start, window.stop, window.partial) == (3000 - LIVE_WINDOW, 3000, True)
    session.finish()  # the capture ended: a file like any other
    window = session.ladder_window()
    assert (window.start, window.stop, window.partial) == (0, 3000, False)
    session.close()


def test_a_conversations_budget_makes_the_lowest_rows_first_then_the_rest(tmp_path: Path) -> None:
    """``conversations(most)`` makes at most ``most`` rows a call, the lowest
    numbers first; the rows it leaves stay as they were until a later call
    makes them, and then the list is the one made in a single call."""
    session = Session()
    session.open_capture(CaptureFile.open(str(_icmp_and_tcp_pcap(tmp_path / "m.pcap"))))
    session.show(session.read(None))
    assert len(_rows_from_scratch(session)) == 6   # four streams, two UDP flows
    assert session.conversations_behind            # none made yet
    made = [session.conversations(4)]
    assert session.conversations_behind
    assert [r.key for r in made[0]] == [("tcp", k) for k in range(4)]
    made.append(session.conversations(1))
    assert [r.key for r in made[1]] == [*(("tcp", k) for k in range(4)), ("udp", 0)]
    assert all(new is old for new, old in zip(made[1], made[0], strict=False))
    assert session.conversations_behind
    made.append(session.conversations(1))
    assert not session.conversations_behind
    assert _rows(session) == _rows_from_scratch(session)
    assert all(new is old for new, old in zip(made[2], made[1], strict=False))
    session.close()


def test_a_stream_first_numbered_for_an_icmp_quote_names_its_ends_from_its_segments(
        tmp_path: Path) -> None:
    """The quoted header numbers the stream with its sides one way; the first
    segment, sent by the other host, starts the connection the other way round.
    The names follow the connection, not the quote."""
    packets = [
        Ether() / IP(src="10.0.0.254", dst="10.0.0.1") / ICMP(type=3, code=1)
        / IPerror(src="10.0.0.1", dst="10.0.0.2") / TCPerror(sport=1000, dport=80, flags="A"),
        Ether() / IP(src="10.0.0.2", dst="10.0.0.1") / TCP(sport=80, dport=1000, flags="A",
                                                          seq=5, ack=7) / b"hello",
        Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1000, dport=80, flags="A",
                                                          seq=7, ack=10)]
    for k, pkt in enumerate(packets):
        pkt.time = 1_700_000_000 + k
    wrpcap(str(tmp_path / "quoted.pcap"), packets)
    session = Session()
    session.open_capture(CaptureFile.open(str(tmp_path / "quoted.pcap")))
    session.show(session.read(1))
    assert session.conversations()[0].endpoints == ("10.0.0.1:1000", "10.0.0.2:80")
    session.show(session.read(None))
    assert session.analysis is not None
    assert session.analysis.endpoint_texts("tcp", 0) == ("10.0.0.2:80", "10.0.0.1:1000")
    assert session.conversations()[0].endpoints == ("10.0.0.2:80", "10.0.0.1:1000")
    session.close()


def test_conversations_named_ahead_follow_their_connection(
        tmp_path: Path, endpoint_texts_made: list[tuple[str, bytes, int]]) -> None:
    """A loader names each batch's new conversations (``name_conversations``)
    before a view asks, each once; a stream named from an ICMP quote is named
    the other way round when read after its first segment started it."""
    made = endpoint_texts_made
    packets = [
        Ether() / IP(src="10.0.0.254", dst="10.0.0.1") / ICMP(type=3, code=1)
        / IPerror(src="10.0.0.1", dst="10.0.0.2") / TCPerror(sport=1000, dport=80, flags="A"),
        Ether() / IP(src="10.0.0.3", dst="10.0.0.1") / UDP(sport=53, dport=5353) / b"x",
        Ether() / IP(src="10.0.0.2", dst="10.0.0.1") / TCP(sport=80, dport=1000, flags="A",
                                                          seq=5, ack=7) / b"hello",
        Ether() / IP(src="10.0.0.4", dst="10.0.0.1") / TCP(sport=22, dport=2000, flags="A")]
    for k, pkt in enumerate(packets):
        pkt.time = 1_700_000_000 + k
    wrpcap(str(tmp_path / "quoted.pcap"), packets)
    session = Session()
    session.open_capture(CaptureFile.open(str(tmp_path / "quoted.pcap")))
    analysis = session.read(2).analysis
    assert analysis is not None
    analysis.name_conversations()
    assert len(made) == 4                    # TCP stream 0 (the quote's) and UDP flow 0
    assert analysis.endpoint_texts_of("tcp", 0, 1) == [("10.0.0.1:1000", "10.0.0.2:80")]
    assert analysis.endpoint_texts_of("udp", 0, 1) == [("10.0.0.3:53", "10.0.0.1:5353")]
    assert len(made) == 4                    # read, not made again
    session.read(None)
    analysis.name_conversations()
    assert len(made) == 6                    # only the new stream 1
    assert analysis.endpoint_texts_of("tcp", 0, 2) == [
        ("10.0.0.2:80", "10.0.0.1:1000"), ("10.0.0.4:22", "10.0.0.1:2000")]
    assert len(made) == 8                    # stream 0 again, for its connection
    assert analysis.endpoint_texts_of("tcp", 0, 2) == [
        analysis.endpoint_texts("tcp", 0), analysis.endpoint_texts("tcp", 1)]
    assert analysis.endpoint_texts_of("tcp", 1, 1) == []
    assert len(made) == 8
    session.close()
