"""Annotated pcapng export: each packet's explanation as a comment Wireshark shows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from visualizer.core.decode.store import PacketStore
from visualizer.core.describe.explain import explain
from visualizer.core.export import annotation, export_packets, packet_comments
from visualizer.core.flows.analysis import analyze
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.pcap.recording import RecordingInfo
from visualizer.core.pcap.writer import PcapngWriter
from visualizer.core.tcp.analysis_flags import analysis_names
from visualizer.core.tcp.testing import Conversation, frame_bytes, write_pcap

SAMPLES = Path(__file__).parents[2] / "resources" / "samples"
HANDSHAKE = SAMPLES / "tcp-handshake.pcapng"
MS = 1_000_000


def visualizer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "visualizer", *args], capture_output=True,
                          text=True, timeout=60)


def tshark_comments(path: Path) -> list[str]:
    """frame.comment of every packet, one line each (tshark writes a newline as \\n)."""
    result = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.comment"],
                            capture_output=True, text=True, timeout=60, check=True,
                            env={"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"})
    return result.stdout.splitlines()


def expected_comments(path: Path) -> list[str]:
    store = PacketStore.from_file(str(path))
    try:
        analysis = analyze(store)
        return [annotation(analysis, i) for i in range(len(store))]
    finally:
        store.close()


@pytest.fixture
def troubled(tmp_path: Path) -> Path:
    """A lost segment: duplicate ACKs, a retransmission, then a zero window."""
    conv = Conversation(client=("10.0.0.1", 40000), server=("10.0.0.2", 80))
    conv.handshake()
    conv.c2s("PA", data=100)
    conv.c2s("PA", data=100, delivered=False)
    conv.c2s("PA", data=100)
    conv.s2c("A")
    conv.s2c("A")
    conv.s2c("A")
    conv.c2s("PA", data=100, seq=101, dt=200 * MS)
    conv.s2c("A", win=0)
    conv.close()
    return write_pcap(tmp_path / "troubled.pcap", conv.segments)


def test_annotation_is_the_explanation_and_the_analysis_flags(troubled: Path) -> None:
    store = PacketStore.from_file(str(troubled))
    try:
        analysis = analyze(store)
        flagged = 0
        for i in range(len(store)):
            names = analysis_names(int(analysis.column("analysis")[i]))
            text = annotation(analysis, i)
            assert text.startswith(explain(analysis, i).plain())
            if names:
                flagged += 1
                assert text.endswith(" Analysis flags: "
                                     + ", ".join(n.replace("_", " ") for n in names) + ".")
            else:
                assert text == explain(analysis, i).plain()
        assert flagged >= 3   # duplicate ACKs, the retransmission, the zero window
        assert packet_comments(analysis, [4, 2]) == {4: annotation(analysis, 4),
                                                     2: annotation(analysis, 2)}
    finally:
        store.close()


@pytest.mark.tshark
def test_cli_annotate_gives_tshark_one_comment_per_packet(tmp_path: Path) -> None:
    out = tmp_path / "annotated.pcapng"
    result = visualizer("export", str(HANDSHAKE), "-o", str(out), "--annotate")
    assert result.returncode == 0, result.stderr
    assert "each with its explanation as a comment" in result.stderr
    comments = tshark_comments(out)
    assert len(comments) == 14
    assert comments == expected_comments(HANDSHAKE)
    assert comments[0].startswith("SYN: the client opens a connection.")
    # The recording's notes travel along: the socket calls are still there.
    with CaptureFile.open(str(out)) as cap:
        info = RecordingInfo.from_capture(cap)
    assert info is not None and len(info.calls) == 22


@pytest.mark.tshark
def test_tshark_shows_the_analysis_flags_in_the_comments(troubled: Path, tmp_path: Path) -> None:
    out = tmp_path / "troubled.pcapng"
    assert visualizer("export", str(troubled), "-o", str(out), "--annotate").returncode == 0
    comments = tshark_comments(out)
    assert comments == expected_comments(troubled)
    assert any("Analysis flags: " in c and "retransmission" in c for c in comments)
    assert any("zero window" in c for c in comments)


@pytest.mark.tshark
def test_annotating_one_stream_comments_only_its_packets(tmp_path: Path) -> None:
    first = Conversation(client=("10.0.0.1", 40000), server=("10.0.0.2", 80))
    second = Conversation(client=("10.0.0.3", 50000), server=("10.0.0.2", 80),
                          capture=first.capture)
    first.handshake()
    second.handshake()
    path = write_pcap(tmp_path / "two.pcap", first.segments)
    out = tmp_path / "one.pcapng"
    result = visualizer("export", str(path), "-o", str(out), "--annotate", "--stream", "1")
    assert result.returncode == 0, result.stderr
    comments = tshark_comments(out)
    assert comments == expected_comments(path)[3:]
    assert "10.0.0.3:50000" in comments[0]


def test_annotate_refuses_classic_pcap_in_one_line(tmp_path: Path) -> None:
    for args in (["-o", str(tmp_path / "x.pcap")],
                 ["-o", str(tmp_path / "x.out"), "--format", "pcap"]):
        result = visualizer("export", str(HANDSHAKE), *args, "--annotate")
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "pcapng" in lines[0] and "no packet comments" in lines[0]
    assert not list(tmp_path.iterdir())


def test_existing_comments_come_first_and_are_not_repeated(tmp_path: Path) -> None:
    conv = Conversation()
    conv.handshake()
    source = tmp_path / "noted.pcapng"
    with open(source, "wb") as out:
        writer = PcapngWriter(out, [(1, "")])
        for k, seg in enumerate(conv.segments):
            writer.write(seg.ts_ns, frame_bytes(seg), comment="look here" if k == 1 else None)
    once, twice = tmp_path / "once.pcapng", tmp_path / "twice.pcapng"
    for src, dst in ((source, once), (once, twice)):
        store = PacketStore.from_file(str(src))
        try:
            export_packets(store, range(len(store)), str(dst), "pcapng",
                           comments=packet_comments(analyze(store), range(len(store))))
        finally:
            store.close()
    ours = expected_comments(source)
    for path in (once, twice):
        with CaptureFile.open(str(path)) as cap:
            assert [r.comment for r in cap.frames()] == [ours[0], f"look here\n{ours[1]}",
                                                         ours[2]]
