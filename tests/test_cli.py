"""The command-line contract: exit codes, one-line errors, export round trips.

These need no capture privilege: the captures are built here with scapy.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import PcapWriter as ScapyPcapWriter

from visualizer.core.pcap.reader import CaptureFile


def visualizer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "visualizer", *args], capture_output=True,
                          text=True, timeout=60)


def handshake_frames() -> list[bytes]:
    c, s = ("10.0.0.1", 40000), ("10.0.0.2", 80)

    def seg(src: tuple[str, int], dst: tuple[str, int], flags: str, seq: int, ack: int,
            data: bytes = b"") -> bytes:
        return bytes(Ether() / IP(src=src[0], dst=dst[0])
                     / TCP(sport=src[1], dport=dst[1], flags=flags, seq=seq, ack=ack) / data)

    return [seg(c, s, "S", 1000, 0), seg(s, c, "SA", 5000, 1001), seg(c, s, "A", 1001, 5001),
            seg(c, s, "PA", 1001, 5001, b"hello"), seg(s, c, "A", 5001, 1006),
            seg(c, s, "FA", 1006, 5001), seg(s, c, "FA", 5001, 1007), seg(c, s, "A", 1007, 5002)]


@pytest.fixture
def handshake_pcap(tmp_path: Path) -> Path:
    path = tmp_path / "hs.pcap"
    writer = ScapyPcapWriter(str(path), linktype=1, nano=False, sync=True)
    for frame in handshake_frames():
        writer.write(Ether(frame))
    writer.close()
    return path


@pytest.fixture
def two_stream_pcap(tmp_path: Path) -> Path:
    path = tmp_path / "two.pcap"
    frames = handshake_frames()
    other = [bytes(Ether() / IP(src="10.0.0.3", dst="10.0.0.2") / TCP(sport=5, dport=80,
                                                                         flags="S")),
             bytes(Ether() / IP(src="10.0.0.3", dst="10.0.0.9") / UDP(sport=53, dport=53))]
    writer = ScapyPcapWriter(str(path), linktype=1, nano=True, sync=True)
    for k, frame in enumerate([frames[0], other[0], *frames[1:], other[1]]):
        pkt = Ether(frame)
        pkt.time = 1_700_000_000 + k / 1000
        writer.write(pkt)
    writer.close()
    return path


@pytest.mark.parametrize(("args", "message"), [
    (["analyze", "/nonexistent/x.pcap"], "no such file"),
    (["ladder", "/nonexistent/x.pcap"], "no such file"),
    (["record", "no-such-scenario", "-o", "/tmp/never.pcapng"], "unknown scenario"),
    (["record", "tcp-handshake", "-o", "/tmp/never.pcapng", "--param", "count=lots"],
     "whole number"),
    (["record", "tcp-handshake", "-o", "/tmp/never.pcapng", "--param", "colour=red"],
     "colour"),
    (["record", "tcp-handshake", "-o", "/nonexistent-dir/x.pcapng"], "does not exist"),
    (["capture", "-o", "-", "--count", "0"], "positive"),
    (["frobnicate"], "invalid choice"),
    (["analyze"], "required"),
])
def test_bad_usage_and_input_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = visualizer(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr.lower()
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert not Path("/tmp/never.pcapng").exists()


def test_a_text_file_is_refused_cleanly(tmp_path: Path) -> None:
    text = tmp_path / "notes.pcap"
    text.write_text("these are my notes, not packets\n")
    result = visualizer("analyze", str(text))
    assert result.returncode == 2
    assert "not a pcap or pcapng" in result.stderr


def test_scenarios_lists_parameters() -> None:
    result = visualizer("scenarios")
    assert result.returncode == 0
    for expected in ("tcp-handshake", "udp-datagrams", "count", "size", "port", "family"):
        assert expected in result.stdout


def test_analyze_json_keys_and_relative_numbers(handshake_pcap: Path) -> None:
    result = visualizer("analyze", str(handshake_pcap), "--json")
    assert result.returncode == 0, result.stderr
    recs = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(recs) == 8
    for key in ("frame", "stream", "seq", "ack", "len", "flags", "analysis", "src", "dst",
                "time", "window", "src_state", "dst_state"):
        assert key in recs[0]
    assert [(r["seq"], r["ack"], r["len"]) for r in recs] == [
        (0, 0, 0), (0, 1, 0), (1, 1, 0), (1, 1, 5), (1, 6, 0), (6, 1, 0), (1, 7, 0), (7, 2, 0)]
    assert recs[3]["flags"] == "PSH,ACK"


def test_analyze_table_and_stats(two_stream_pcap: Path) -> None:
    table = visualizer("analyze", str(two_stream_pcap))
    assert table.returncode == 0
    assert len(table.stdout.splitlines()) == 10
    stats = visualizer("analyze", str(two_stream_pcap), "--stats")
    assert "2 TCP streams, 1 UDP flows" in stats.stdout


def test_ladder_has_two_columns_and_the_close(handshake_pcap: Path) -> None:
    result = visualizer("ladder", str(handshake_pcap))
    assert result.returncode == 0, result.stderr
    header = result.stdout.splitlines()[1]
    assert "10.0.0.1:40000 (client)" in header and "10.0.0.2:80 (server)" in header
    for state in ("SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT"):
        assert state in result.stdout
    assert visualizer("ladder", str(handshake_pcap), "--stream", "9").returncode == 2


def test_export_everything_to_pcap_is_byte_identical(handshake_pcap: Path,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "out.pcap"
    result = visualizer("export", str(handshake_pcap), "-o", str(out))
    assert result.returncode == 0, result.stderr
    original, exported = handshake_pcap.read_bytes(), out.read_bytes()
    assert exported[24:] == original[24:]  # every record header and frame
    assert exported[:20] == original[:20]  # magic, version, snaplen (link type follows)


def test_export_to_pcapng_keeps_frames_and_timestamps(two_stream_pcap: Path,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "out.pcapng"
    assert visualizer("export", str(two_stream_pcap), "-o", str(out)).returncode == 0
    with CaptureFile.open(str(two_stream_pcap)) as a, CaptureFile.open(str(out)) as b:
        fa, fb = list(a.frames()), list(b.frames())
        assert [(r.ts_ns, a.frame_bytes(r)) for r in fa] == [(r.ts_ns, b.frame_bytes(r))
                                                             for r in fb]


def test_export_one_stream(two_stream_pcap: Path, tmp_path: Path) -> None:
    out = tmp_path / "s1.pcap"
    result = visualizer("export", str(two_stream_pcap), "-o", str(out), "--stream", "1")
    assert result.returncode == 0, result.stderr
    with CaptureFile.open(str(out)) as cap:
        assert len(list(cap.frames())) == 1
    missing = visualizer("export", str(two_stream_pcap), "-o", str(out), "--stream", "7")
    assert missing.returncode == 2
    assert "no TCP stream 7" in missing.stderr


def test_capture_errors_at_a_terminal_are_one_plain_line() -> None:
    """A person gets one sentence; the JSON status lines are for a parent process."""
    leader, follower = pty.openpty()
    try:
        result = subprocess.run([sys.executable, "-m", "visualizer", "capture", "-i",
                                 "no-such-if0", "-o", "/tmp/never.pcap"],
                                stderr=follower, stdout=subprocess.DEVNULL, timeout=60)
        os.close(follower)
        text = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            text += chunk
    finally:
        os.close(leader)
    lines = text.decode().strip().splitlines()
    assert result.returncode == 2
    assert len(lines) == 1 and "no such interface" in lines[0]
    assert "{" not in lines[0]


def test_analyze_stats_columns_hold_ipv6_endpoints(tmp_path: Path) -> None:
    """Issue 15: the endpoint columns were 28 characters, too narrow for IPv6."""
    from visualizer.core.tcp.testing import Conversation, write_pcap

    conv = Conversation(("2001:db8:aaaa:bbbb:cccc:dddd:eeee:1", 40000),
                        ("2001:db8:aaaa:bbbb:cccc:dddd:eeee:2", 443))
    conv.handshake()
    conv.close()
    result = visualizer("analyze", str(write_pcap(tmp_path / "v6.pcap", conv.segments)),
                        "--stats")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "endpoint A" in line)
    row = next(line for line in lines if "]:40000" in line)
    # every column starts where its heading does: the numbers line up under theirs
    assert row.index("↔") == header.index("endpoint B") - 2
    assert row.index("]:40000") + len("]:40000") == header.index("endpoint A") + len("endpoint A")


def test_ladder_arrows_keep_their_heads_when_labels_are_cut(tmp_path: Path) -> None:
    """Issue 15: a label cut to fit took the arrowhead with it (ndpi_vnc frame 10)."""
    from visualizer.core.tcp.testing import Conversation, write_pcap

    conv = Conversation(client_isn=4_000_000_000, server_isn=3_900_000_000)
    conv.handshake()
    lost = conv.c2s("PA", data=1000, delivered=False)
    assert lost is not None
    for _ in range(3):
        conv.c2s("PA", data=1000)
        conv.s2c("A")
    conv.c2s("PA", data=1000, seq=lost.seq)   # a long label: absolute numbers, two flags
    conv.s2c("A")
    result = visualizer("ladder", str(write_pcap(tmp_path / "cut.pcap", conv.segments)),
                        "--absolute")
    assert result.returncode == 0, result.stderr
    arrows = [line for line in result.stdout.splitlines() if line[:12].strip()
              and line[:12].strip()[0].isdigit()]
    assert len(arrows) == 12
    for line in arrows:
        assert ">" in line or "<" in line, line
    assert any("…" in line for line in arrows)            # some label was cut, and says so


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: OpenBLAS starts no thread")
def test_numpy_starts_no_blas_threads_in_the_app() -> None:
    """numpy's OpenBLAS starts a thread per core that spins for about 0.1 s of CPU
    at start; the app multiplies no matrices and keeps it to the one thread."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    count = "import os; print(len(os.listdir('/proc/self/task')))"
    threads = [subprocess.run([sys.executable, "-c", f"import {first}, {then}; {count}"],
                              env=env, capture_output=True, text=True, check=True,
                              timeout=60).stdout.strip()
               for first, then in (("numpy", "visualizer"), ("visualizer", "numpy"))]
    if threads[0] == "1":   # (an affinity or OMP_NUM_THREADS may keep it to one)
        pytest.skip("OpenBLAS starts no thread of its own here: nothing to keep it from")
    assert threads[1] == "1"


def test_the_summary_of_thousands_of_streams_runs_no_cyclic_collection(tmp_path: Path) -> None:
    """``analyze --stats`` makes tens of thousands of objects, none in a cycle:
    the collector walking them cost 0.13 s at 50,000 streams, for nothing."""
    import gc
    import io

    from visualizer.commands.analyze import analyze_command

    path = tmp_path / "short.pcap"
    subprocess.run([sys.executable, str(Path(__file__).parent / "benchmarks" / "make_pcap.py"),
                    str(path), "--packets", "40000", "--mix", "short"], check=True, timeout=120,
                   capture_output=True)
    collections: list[str] = []   # those run while the summary is made or printed

    def note(phase: str, info: dict[str, int]) -> None:
        frame = sys._getframe(1)
        while phase == "start" and frame is not None:
            if frame.f_code.co_name in ("stats_of", "print_stats"):
                collections.append(f"generation {info['generation']} in {frame.f_code.co_name}")
                break
            frame = frame.f_back

    out = io.StringIO()
    gc.collect()
    gc.callbacks.append(note)
    try:
        assert analyze_command(str(path), json_lines=False, stats=True, out=out) == 0
    finally:
        gc.callbacks.remove(note)
    assert "2000 TCP streams" in out.getvalue().splitlines()[0]
    assert collections == []
