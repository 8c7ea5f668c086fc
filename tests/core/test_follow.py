"""Follow Stream: TCP reassembly as tshark 4.0's ``-z follow`` does it.

Unit cases feed :class:`TcpFollower` directly; crafted captures (distinct
payload bytes, so that an overlap taken from the wrong copy shows) and every
file of the real-world corpus are compared with tshark's raw output.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from captures import follow_pcap
from conftest import REAL_CORPUS, corpus_files

from visualizer.cli import main
from visualizer.core.follow.reassembly import TcpFollower
from visualizer.core.follow.streams import follow_tcp, follow_udp
from visualizer.core.follow.text import RULE, render
from visualizer.core.session import Session

SYN, ACK, PSH = 0x02, 0x10, 0x08
PER_FILE = 20   # streams compared per corpus file at most (spread over the file)


def joined(follower: TcpFollower, direction: int) -> bytes:
    return b"".join(c.data for c in follower.chunks if c.direction == direction)


# -- the reassembly on its own ---------------------------------------------
def test_in_order_segments_are_appended_with_their_frames() -> None:
    f = TcpFollower()
    f.feed(0, 1, 0, 0, SYN, 0, b"")
    f.feed(0, 2, 1, 1, ACK, 5, b"hello")
    f.feed(1, 3, 1, 6, ACK, 3, b"hi!")
    f.feed(0, 4, 6, 4, ACK, 6, b" world")
    assert [(c.direction, c.frame, c.data) for c in f.chunks] == [
        (0, 2, b"hello"), (1, 3, b"hi!"), (0, 4, b" world")]


def test_retransmission_gives_only_its_new_bytes() -> None:
    f = TcpFollower()
    f.feed(0, 1, 1, 1, ACK, 4, b"abcd")
    f.feed(0, 2, 1, 1, ACK, 4, b"XXXX")          # a plain retransmission: nothing new
    f.feed(0, 3, 3, 1, ACK, 5, b"YYefg")         # overlaps two bytes, brings three
    assert joined(f, 0) == b"abcdefg"
    assert [c.frame for c in f.chunks] == [1, 3]


def test_out_of_order_segment_waits_for_the_gap_to_fill() -> None:
    f = TcpFollower()
    f.feed(0, 1, 1, 1, ACK, 3, b"abc")
    f.feed(0, 2, 7, 1, ACK, 3, b"ghi")           # ahead: waits
    assert joined(f, 0) == b"abc"
    f.feed(0, 3, 4, 1, ACK, 3, b"def")           # fills the gap, frame 2 follows
    assert joined(f, 0) == b"abcdefghi"
    assert [c.frame for c in f.chunks] == [1, 3, 2]


def test_waiting_segment_that_overlaps_is_cut() -> None:
    f = TcpFollower()
    f.feed(0, 1, 1, 1, ACK, 2, b"ab")
    f.feed(0, 2, 4, 1, ACK, 4, b"DEFG")          # waits (3 is missing)
    f.feed(0, 3, 3, 1, ACK, 3, b"cde")           # reaches into frame 2's bytes
    assert joined(f, 0) == b"abcdeFG"


def test_bytes_the_capture_missed_become_a_marker_once_acknowledged() -> None:
    f = TcpFollower()
    f.feed(0, 1, 1, 1, ACK, 3, b"abc")
    f.feed(0, 2, 10, 1, ACK, 2, b"jk")           # bytes 4..9 never captured
    f.feed(1, 3, 1, 12, ACK, 0, b"")             # the receiver acknowledges them
    assert [(c.frame, c.data, c.gap) for c in f.chunks] == [
        (1, b"abc", False), (3, b"[6 bytes missing in capture file]\0", True),
        (2, b"jk", False)]


def test_sequence_numbers_wrap() -> None:
    f = TcpFollower()
    top = 2**32 - 2
    f.feed(0, 1, top, 1, ACK, 4, b"wrap")
    f.feed(0, 2, 2, 1, ACK, 2, b"ok")
    f.feed(0, 3, top + 1, 1, ACK, 3, b"rap")     # before the wrap: old bytes
    assert joined(f, 0) == b"wrapok"


# -- crafted captures against tshark ---------------------------------------
def tshark_follow(path: Path, streams: list[int], proto: str = "tcp"
                  ) -> tuple[dict[int, str], dict[int, set[int]]]:
    """One tshark run: stream -> its ``-q -z follow,PROTO,raw,N`` block, and
    stream -> the frames tshark gives that ``PROTO.stream``."""
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=f",
           "-e", "frame.number", "-e", f"{proto}.stream"]
    for n in streams:
        cmd += ["-z", f"follow,{proto},raw,{n}"]
    # (exit status 2 for a file cut off mid-record: what was read is printed)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600).stdout
    head = f"\n{RULE}\nFollow: "
    fields, *parts = out.split(head)
    frames: dict[int, set[int]] = {}
    for line in fields.splitlines():
        frame, _, stream = line.partition("\t")
        if stream.strip():
            frames.setdefault(int(stream), set()).add(int(frame))
    blocks = {}
    for part in parts:
        block = head + part.rstrip("\n") + "\n"
        number = int(block.split(f"Filter: {proto}.stream eq ", 1)[1].split("\n", 1)[0])
        blocks[number] = block
    return blocks, frames


@pytest.mark.tshark
def test_crafted_connection_matches_tshark(tmp_path: Path) -> None:
    path, request, response = follow_pcap(tmp_path / "crafted.pcap")
    with Session.load(str(path)) as session:
        assert session.store is not None and session.analysis is not None
        followed = follow_tcp(session.store, session.analysis, 0)
        mine = render(followed, "raw")
    assert b"".join(c.data for c in followed.chunks if c.direction == 0) == request
    server = [c for c in followed.chunks if c.direction == 1]
    assert b"".join(c.data for c in server if not c.gap) == response[:80] + response[110:]
    assert [c.gap for c in server] == [False, False, True, False]
    assert mine == tshark_follow(path, [0])[0][0]


# -- the real-world corpus against tshark ----------------------------------
#: Files where tshark numbers some TCP streams differently (tunnels we do not
#: decode, its VNC/SOCKS heuristics, fuzzed headers: docs/tshark-differences.md,
#: "Follow Stream"), and how many of our streams at most. Such streams are not
#: compared: they are not the same conversation.
NUMBERED_DIFFERENTLY = {
    "ndpi_fuzz-2006-09-29-28586.pcap": 29,
    "ndpi_instagram.pcap": 20,
    "ndpi_shadowsocks.pcap": 1,
    "ndpi_vnc.pcap": 2,
}


def sample(n: int) -> list[int]:
    if n <= PER_FILE:
        return list(range(n))
    return sorted({round(k * (n - 1) / (PER_FILE - 1)) for k in range(PER_FILE)})


REAL = (corpus_files(REAL_CORPUS) if REAL_CORPUS.is_dir() else
        [pytest.param(None, marks=pytest.mark.skip(reason=f"absent: {REAL_CORPUS}"))])


@pytest.mark.corpus
@pytest.mark.tshark
@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name if p else "absent")
def test_real_corpus_follow_equals_tshark(path: Path) -> None:
    if path.suffix == ".json":
        pytest.skip("not a capture")
    with Session.load(str(path)) as session:
        assert session.store is not None and session.analysis is not None
        analysis = session.analysis
        count = len(analysis.tcp.connections)
        streams = sample(count)
        theirs, their_frames = tshark_follow(path, streams)
        tracked = {int(i) + 1 for i in (analysis.column("stream") >= 0).nonzero()[0]}
        # numbers tshark gives to headers it does not follow (ICMP quotes): not streams
        streams = [n for n in streams if n not in analysis.tcp.reserved]
        alike = [n for n in streams if set((analysis.stream_indices(n) + 1).tolist())
                 == their_frames.get(n, set()) & tracked]
        differ = [n for n in alike
                  if render(follow_tcp(session.store, analysis, n), "raw") != theirs[n]]
    print(f"\n{path.name}: {len(alike)} of {count} streams compared, "
          f"{len(streams) - len(alike)} numbered differently by tshark")
    assert not differ, f"follow differs from tshark on streams {differ}"
    assert len(streams) - len(alike) <= NUMBERED_DIFFERENTLY.get(path.name, 0)


SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


@pytest.mark.tshark
def test_udp_flows_match_tshark() -> None:
    path = SAMPLES / "udp-datagrams.pcapng"
    with Session.load(str(path)) as session:
        assert session.store is not None and session.analysis is not None
        flows = range(len(session.analysis.udp_flows))
        assert flows
        mine = {n: render(follow_udp(session.store, session.analysis, n), "raw") for n in flows}
        assert any(c for c in follow_udp(session.store, session.analysis, 0).chunks)
    assert mine == tshark_follow(path, list(flows), "udp")[0]


# -- the command ------------------------------------------------------------
def test_follow_command_writes_the_stream_and_refuses_a_missing_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = SAMPLES / "tcp-handshake.pcapng"
    out = tmp_path / "follow.txt"
    assert main(["follow", str(path), "--stream", "0", "--format", "hex", "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith(f"\n{RULE}\nFollow: tcp,hex\nFilter: tcp.stream eq 0\nNode 0: ")
    assert main(["follow", str(path), "--stream", "7"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no TCP stream 7" in err
    assert main(["follow", str(path), "--stream", "3", "--udp"]) == 2
