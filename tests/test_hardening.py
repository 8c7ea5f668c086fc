"""Inputs from the adversarial pass (issue "Hardening"): each gets one line and
the documented exit code, never "internal error"."""

from __future__ import annotations

import os
import resource
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from benchmarks.make_pcap import generate

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "samples" / "tcp-handshake.pcapng"
UDP_FRAME = (bytes(12) + b"\x08\x00" + bytes.fromhex("450000200001000040110000c0000201c0000202")
             + struct.pack("!HHHH", 1000, 2000, 12, 0) + b"abcd")


def visualizer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "visualizer", *args], capture_output=True,
                          text=True, timeout=60)


def one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "internal error" not in lines[0], lines
    return lines[0]


def _block(kind: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", kind, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def pcapng(path: Path, ts: int, idb_options: bytes = b"") -> Path:
    """One UDP packet at raw timestamp ``ts`` (µs unless the IDB says otherwise)."""
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb = _block(1, struct.pack("<HHI", 1, 0, 65535) + idb_options
                 + (_option(0, b"") if idb_options else b""))
    epb = _block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(UDP_FRAME),
                                len(UDP_FRAME)) + UDP_FRAME)
    path.write_bytes(shb + idb + epb)
    return path


def test_a_time_before_1970_is_refused_in_one_line(tmp_path: Path) -> None:
    source = pcapng(tmp_path / "early.pcapng", 1_000_000,
                    _option(14, struct.pack("<q", -4_000_000_000)))   # if_tsoffset
    for fmt in ("pcap", "pcapng"):
        line = one_line(visualizer("export", str(source), "-o", str(tmp_path / f"o.{fmt}")), 2)
        assert "before 1970" in line
    assert not list(tmp_path.glob("o.*"))


def test_a_time_past_2106_needs_pcapng(tmp_path: Path) -> None:
    source = pcapng(tmp_path / "late.pcapng", 5_000_000_000 * 10**9,
                    _option(9, b"\x09"))   # if_tsresol: nanoseconds
    line = one_line(visualizer("export", str(source), "-o", str(tmp_path / "o.pcap")), 2)
    assert "after 2106" in line and "pcapng" in line
    assert visualizer("export", str(source), "-o", str(tmp_path / "o.pcapng")).returncode == 0


def test_ladder_and_export_pass_the_readers_warning_on(tmp_path: Path) -> None:
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(SAMPLE.read_bytes()[:-30])
    for args in (["ladder", str(cut)], ["export", str(cut), "-o", str(tmp_path / "o.pcap")],
                 ["export", str(cut), "-o", str(tmp_path / "o.svg")]):
        result = visualizer(*args)
        assert result.returncode == 0, result.stderr
        assert "file ends inside the block" in result.stderr, args


@pytest.mark.parametrize("duration", ["nan", "inf", "1e20", "-1", "0"])
def test_capture_duration_must_end(duration: str) -> None:
    line = one_line(visualizer("capture", "-o", "-", "--duration", duration), 2)
    assert "--duration" in line


@pytest.mark.parametrize("count", ["٣", "1_000", "0x10", "3.0"])
def test_scenario_numbers_are_plain_decimals(count: str, tmp_path: Path) -> None:
    line = one_line(visualizer("record", "tcp-handshake", "--param", f"count={count}",
                               "-o", str(tmp_path / "x.pcapng")), 2)
    assert "whole number" in line


def test_select_needs_a_file() -> None:
    assert "--select needs a FILE" in one_line(visualizer("gui", "--select", "3"), 2)


# -- the reader: pipes, sparse files, files that shrink while read --------------------

def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    """Opening a FIFO for reading waits for a writer, and its size is 0: every
    command hung, or said "empty". Pipes are refused before anything waits."""
    fifo = tmp_path / "capture.pcap"
    os.mkfifo(fifo)
    for args in (["analyze", str(fifo)], ["ladder", str(fifo)],
                 ["export", str(fifo), "-o", str(tmp_path / "out.pcap")]):
        result = subprocess.run([sys.executable, "-m", "visualizer", *args],
                                capture_output=True, text=True, timeout=20)
        assert "is a pipe" in one_line(result, 2), args
    assert not (tmp_path / "out.pcap").exists()


def test_standard_input_from_a_pipe_is_refused_in_one_line() -> None:
    result = subprocess.run([sys.executable, "-m", "visualizer", "analyze", "/dev/stdin"],
                            input=SAMPLE.read_bytes(), capture_output=True, timeout=20)
    text = subprocess.CompletedProcess(result.args, result.returncode,
                                       result.stdout.decode(), result.stderr.decode())
    assert "is a pipe" in one_line(text, 2)


def limited(cpu_seconds: int, memory: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    return apply


def test_a_sparse_file_of_empty_records_is_counted_not_stored(tmp_path: Path) -> None:
    """A pcap header and 2 GiB of zeros (no disk used) are 134 million empty
    records: stored one by one they took gigabytes and ended in MemoryError."""
    path = tmp_path / "sparse.pcap"
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        out.truncate(24 + 2**31)
    assert path.stat().st_blocks * 512 < 1 << 20, "the file system made it real"
    result = subprocess.run([sys.executable, "-m", "visualizer", "analyze", str(path),
                             "--stats"], capture_output=True, text=True, timeout=120,
                            preexec_fn=limited(60, 1 << 30))
    line = one_line(result, 0)
    assert f"{2**31 // 16 - 1000:,} empty records" in line, line
    assert result.stdout.startswith("1000 packets")


def shrink_while_read(path: Path, args: list[str], cut: int) -> subprocess.CompletedProcess[str]:
    """Run ``visualizer *args`` and truncate ``path`` to ``cut`` bytes (from this
    process) once the child has begun to read it."""
    child = subprocess.Popen([sys.executable, "-m", "visualizer", *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        opened_at: int | None = None   # the child's bytes read when it had opened the file
        while time.monotonic() < deadline:
            state = reading(child.pid, path)
            if state is True:
                break
            if opened_at is None:
                opened_at = state
            elif state is not None and state - opened_at > 1 << 20:
                break
            time.sleep(0.001)
        os.truncate(path, cut)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
        child.wait()
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


def reading(pid: int, path: Path) -> bool | int | None:
    """True when the child has ``path`` open and mapped; else, while it has it
    open, how many bytes it has read in all (its imports' too: so the caller
    waits for 1 MiB more than at the open, when the file's size has long been
    taken); None while it does not have it open."""
    proc = Path(f"/proc/{pid}")
    try:
        if not any(os.readlink(fd) == str(path) for fd in (proc / "fd").iterdir()):
            return None
        if str(path) in (proc / "maps").read_text():
            return True
        io = dict(line.split(": ") for line in (proc / "io").read_text().splitlines())
        return int(io["rchar"])
    except (FileNotFoundError, ProcessLookupError):
        return None


def test_a_file_truncated_while_analysed_keeps_what_was_read(tmp_path: Path) -> None:
    """A mapped file that shrinks kills its reader with SIGBUS (exit 135)."""
    path = tmp_path / "shrinking.pcap"
    with path.open("wb") as out:
        packets = generate(200_000, out)
    result = shrink_while_read(path, ["analyze", str(path), "--stats"],
                               path.stat().st_size * 2 // 3)
    assert "the file was truncated while being read" in one_line(result, 1)
    read = int(result.stdout.split()[0].replace(",", ""))
    assert 0 < read < packets


def test_frames_of_a_file_truncated_after_loading_read_short(tmp_path: Path) -> None:
    """The window reads frames long after loading (detail, hex, export): those
    past the new end come back empty, and the capture says why."""
    script = f"""
import os
from visualizer.core.decode.store import PacketStore
store = PacketStore.from_file({str(tmp_path / "t.pcap")!r})
os.truncate(store.capture.path, 100)
print(len(store), len(store.frame(len(store) - 1)), store.decoded(len(store) - 1).status,
      len(store.tcp_options(len(store) - 1)), store.capture.warnings)
"""
    with (tmp_path / "t.pcap").open("wb") as out:
        count = generate(5000, out)  # more than the reader's read-ahead window
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{count} 0 ")
    assert "the file was truncated while being read" in result.stdout
