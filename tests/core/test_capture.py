"""The capture process: real captures on lo through the CLI and CaptureProcess.

Every capture is filtered on ports of our own or matched by a unique payload,
so other traffic on lo (other test runs) cannot disturb the counts.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import queue
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import can_capture
from loopback import needs_ipv6

from visualizer.commands import setup_capture
from visualizer.core.capture import loop
from visualizer.core.capture.child import CaptureProcess
from visualizer.core.capture.loop import (
    CaptureStats,
    _program_hex,
    compile_bpf,
    interface_linktype,
    kernel_program,
    run_capture,
)
from visualizer.core.capture.privileges import CAPTURE_HELPER_ENV, helper_source
from visualizer.core.errors import BadInput, CaptureFailed, CaptureNotPermitted
from visualizer.core.pcap.format import (
    LINKTYPE_ETHERNET,
    PCAP_MAGIC_NSEC,
    PCAP_RECORD_HEADER,
    PCAP_SNAPLEN,
    pcap_record_header,
)

PY = sys.executable
TSHARK = shutil.which("tshark")
SETPRIV = shutil.which("setpriv")
CAP_NET_RAW_BIT = 1 << 13
DROP_NET_RAW = ["--inh-caps=-net_raw", "--bounding-set=-net_raw"]


CC = shutil.which("cc") or shutil.which("gcc")
needs_cc = pytest.mark.skipif(CC is None, reason="needs a C compiler")


@pytest.fixture(scope="module")
def built_helper(tmp_path_factory: pytest.TempPathFactory) -> str:
    """capture_helper.c compiled as setup-capture compiles it, warnings as errors."""
    assert CC is not None
    exe = tmp_path_factory.mktemp("helper") / "capture-helper"
    subprocess.run([CC, *setup_capture._CFLAGS, "-Werror", "-Wconversion", "-o", str(exe),
                    helper_source()], check=True, capture_output=True, text=True)
    return str(exe)


@pytest.fixture
def helper(built_helper: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(CAPTURE_HELPER_ENV, built_helper)
    return built_helper


# --------------------------------------------------------------------------
# Reading what was captured


@dataclass
class Frame:
    ts_ns: int
    origlen: int
    data: bytes


@dataclass
class Pcap:
    linktype: int
    frames: list[Frame]
    trailing: int  # bytes after the last whole record

    def count(self, token: bytes) -> int:
        return sum(token in f.data for f in self.frames)


def read_pcap(path: Path) -> Pcap:
    return parse_pcap(path.read_bytes())


def parse_pcap(blob: bytes) -> Pcap:
    magic, major, minor, _, _, snaplen, linktype = struct.unpack_from("<IHHiIII", blob)
    assert (magic, major, minor, snaplen) == (PCAP_MAGIC_NSEC, 2, 4, PCAP_SNAPLEN)
    frames, pos = [], 24
    while pos + 16 <= len(blob):
        sec, nsec, caplen, origlen = struct.unpack_from("<IIII", blob, pos)
        if pos + 16 + caplen > len(blob):
            break
        assert nsec < 1_000_000_000 and caplen <= origlen
        frames.append(Frame(sec * 1_000_000_000 + nsec, origlen,
                            blob[pos + 16:pos + 16 + caplen]))
        pos += 16 + caplen
    return Pcap(linktype, frames, len(blob) - pos)


@dataclass
class Segment:
    src_port: int
    dst_port: int
    seq: int
    ack: int
    flags: int
    payload_len: int


def tcp_segment(frame: bytes) -> Segment | None:
    """The TCP header of an Ethernet/IPv4 frame, or None."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ihl = (frame[14] & 0x0F) * 4
    total = struct.unpack_from("!H", frame, 16)[0]
    tcp = 14 + ihl
    sport, dport, seq, ack, off_flags = struct.unpack_from("!HHIIH", frame, tcp)
    header = (off_flags >> 12) * 4
    return Segment(sport, dport, seq, ack, off_flags & 0x3F, total - ihl - header)


def tshark_frame_count(path: Path) -> int:
    assert TSHARK is not None
    done = subprocess.run([TSHARK, "-r", str(path), "-T", "fields", "-e", "frame.number"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "cut short" not in done.stderr
    return len(done.stdout.split())


# --------------------------------------------------------------------------
# Running the CLI


class CaptureChild:
    """``python -m visualizer capture`` with its stderr collected line by line."""

    def __init__(self, args: list[str], *, prefix: list[str] | None = None,
                 stdout: int = subprocess.DEVNULL) -> None:
        self.proc = subprocess.Popen([*(prefix or []), PY, "-m", "visualizer", "capture", *args],
                                     stdin=subprocess.DEVNULL, stdout=stdout,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_event(self, event: str, timeout: float = 10.0, **match: object
                   ) -> dict[str, object]:
        """The next status line of kind ``event`` whose fields include ``match``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {event!r} event within {timeout} s: {self.lines}"
                                     ) from None
            if line is None:
                raise AssertionError(f"stderr ended before {event!r}: {self.lines}")
            self.lines.append(line)
            with contextlib.suppress(ValueError):
                message = json.loads(line)
                if (message.get("event") == event
                        and all(message.get(k) == v for k, v in match.items())):
                    return message

    def finish(self, timeout: float = 10.0) -> int:
        """Waits for the exit; collects the rest of stderr; returns the exit code."""
        code = self.proc.wait(timeout)
        self._thread.join(timeout)
        while (line := self._queue.get_nowait()) is not None:
            self.lines.append(line)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        return code

    def events(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.lines]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def run_cli() -> Iterator[list[CaptureChild]]:
    """Starts capture children and kills any a test leaves running."""
    children: list[CaptureChild] = []
    yield children
    for child in children:
        child.kill()


def start(children: list[CaptureChild], args: list[str], **kwargs: object) -> CaptureChild:
    child = CaptureChild(args, **kwargs)  # type: ignore[arg-type]
    children.append(child)
    return child


def run_once(args: list[str], prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*(prefix or []), PY, "-m", "visualizer", "capture", *args],
                          capture_output=True, text=True, timeout=30)


def human_lines(stderr: str) -> list[str]:
    """stderr without the JSON status lines."""
    return [line for line in stderr.splitlines() if not line.startswith("{")]


# --------------------------------------------------------------------------
# Traffic


@contextlib.contextmanager
def udp_receiver(host: str = "127.0.0.1") -> Iterator[socket.socket]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        sock.settimeout(5.0)
        yield sock


def send_udp(receiver: socket.socket, payloads: list[bytes]) -> None:
    """Sends each payload to ``receiver`` and waits until it has arrived
    (so the capture socket has it queued too)."""
    host, port = receiver.getsockname()[:2]
    with socket.socket(receiver.family, socket.SOCK_DGRAM) as sender:
        for payload in payloads:
            sender.sendto(payload, (host, port))
            assert receiver.recv(65535) == payload


def tokens(n: int) -> list[bytes]:
    return [f"pv-{uuid.uuid4().hex}".encode() for _ in range(n)]


def wait_for_header(path: Path, timeout: float = 10.0) -> None:
    """Waits for the pcap header: the capture is ready."""
    deadline = time.monotonic() + timeout
    while not path.exists() or path.stat().st_size < 24:
        assert time.monotonic() < deadline, f"no pcap header in {path} after {timeout} s"
        time.sleep(0.005)


def wait_for_frames(path: Path, n: int, timeout: float = 5.0) -> Pcap:
    deadline = time.monotonic() + timeout
    while True:
        pcap = read_pcap(path)
        if len(pcap.frames) >= n or time.monotonic() > deadline:
            return pcap
        time.sleep(0.005)


# --------------------------------------------------------------------------
# Without privileges: argument and environment errors


def test_loopback_is_ethernet_framed_and_filtered_to_inbound() -> None:
    assert interface_linktype("lo") == (LINKTYPE_ETHERNET, True)
    program, description = kernel_program(None, LINKTYPE_ETHERNET, loopback=True)
    assert description == "inbound"
    assert program is not None and program[-1] == (0x06, 0, 0, PCAP_SNAPLEN)
    program, description = kernel_program("udp", LINKTYPE_ETHERNET, loopback=True)
    assert description == "(udp) and inbound"
    assert program is not None and program[:3] == kernel_program(
        None, LINKTYPE_ETHERNET, loopback=True)[0][:3]  # type: ignore[index]
    # Accepting returns take whole frames (scapy compiles for 65535 bytes).
    returns = {k for code, _, _, k in program if code == 0x06}
    assert returns == {0, PCAP_SNAPLEN}


def test_bad_filter_exits_2_with_one_line_and_no_file(tmp_path: Path) -> None:
    out = tmp_path / "x.pcap"
    done = run_once(["-f", "udp prot 5", "-o", str(out)])
    assert done.returncode == 2
    lines = human_lines(done.stderr)
    assert len(lines) == 1, done.stderr
    assert "'udp prot 5'" in lines[0] and "syntax error" in lines[0]
    assert "Traceback" not in done.stderr
    assert json.loads(done.stderr.splitlines()[0]) == {
        "event": "error", "message": lines[0].removeprefix("visualizer: "), "exit_code": 2}
    assert not out.exists()


def test_unknown_interface_exits_2_and_lists_the_real_ones(tmp_path: Path) -> None:
    out = tmp_path / "x.pcap"
    done = run_once(["-i", "nosuch0", "-o", str(out)])
    assert done.returncode == 2
    (line,) = human_lines(done.stderr)
    assert "'nosuch0'" in line and "lo" in line.split("available:")[1]
    assert not out.exists()


def test_missing_libpcap_is_reported_with_the_fix(tmp_path: Path) -> None:
    out = tmp_path / "x.pcap"
    # ctypes cannot find libpcap.so: what scapy sees on a system without it.
    code = ("import ctypes.util as u, sys\n"
            "find = u.find_library\n"
            "u.find_library = lambda name: None if name == 'pcap' else find(name)\n"
            "from visualizer.cli import main\n"
            f"sys.exit(main(['capture', '-f', 'udp', '-o', {str(out)!r}]))\n")
    done = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    (line,) = human_lines(done.stderr)
    assert "capture filters need libpcap: apt install libpcap0.8" in line
    assert not out.exists()


def test_without_cap_net_raw_exits_3_and_names_it(tmp_path: Path) -> None:
    prefix: list[str] = []
    if can_capture():
        if SETPRIV is None or os.geteuid() != 0:
            pytest.skip("needs setpriv and root to drop CAP_NET_RAW")
        prefix = [SETPRIV, *DROP_NET_RAW, "--"]
        status = subprocess.run([*prefix, "cat", "/proc/self/status"],
                                capture_output=True, text=True, check=True).stdout
        cap_eff = next(line for line in status.splitlines() if line.startswith("CapEff:"))
        assert not int(cap_eff.split()[1], 16) & CAP_NET_RAW_BIT, "setpriv kept cap_net_raw"
    out = tmp_path / "x.pcap"
    done = run_once(["-o", str(out)], prefix=prefix)
    assert done.returncode == 3
    (line,) = human_lines(done.stderr)
    assert "CAP_NET_RAW" in line and "setup-capture" in line
    assert not out.exists()


# --------------------------------------------------------------------------
# Real captures on lo


@pytest.mark.capture
def test_udp_datagrams_on_127_0_0_1_are_captured_exactly_once(
        tmp_path: Path, run_cli: list[CaptureChild]) -> None:
    out = tmp_path / "udp.pcap"
    child = start(run_cli, ["-o", str(out)])  # no user filter: "inbound" alone
    ready = child.wait_event("ready")
    assert ready["interface"] == "lo" and ready["linktype"] == LINKTYPE_ETHERNET
    payloads = tokens(20)
    with udp_receiver() as receiver:
        send_udp(receiver, payloads)
    child.proc.send_signal(signal.SIGTERM)
    assert child.finish() == 0
    pcap = read_pcap(out)
    assert pcap.linktype == LINKTYPE_ETHERNET and pcap.trailing == 0
    assert [pcap.count(p) for p in payloads] == [1] * len(payloads)
    stamps = [f.ts_ns for f in pcap.frames if any(p in f.data for p in payloads)]
    assert stamps == sorted(stamps)
    assert abs(stamps[0] / 1e9 - time.time()) < 60  # kernel wall-clock stamps, in ns


@pytest.mark.capture
def test_tcp_handshake_is_captured_once_per_segment(
        tmp_path: Path, run_cli: list[CaptureChild]) -> None:
    out = tmp_path / "tcp.pcap"
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        child = start(run_cli, ["-f", f"tcp port {port}", "-o", str(out)])
        child.wait_event("ready")
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            conn, _ = server.accept()
            conn.close()
        child.proc.send_signal(signal.SIGTERM)
        assert child.finish() == 0
    segments = [s for f in read_pcap(out).frames if (s := tcp_segment(f.data))]
    assert all(port in (s.src_port, s.dst_port) for s in segments)
    syn = [s for s in segments if s.flags == 0x02]
    syn_ack = [s for s in segments if s.flags == 0x12]
    assert len(syn) == 1 and len(syn_ack) == 1
    assert syn_ack[0].ack == (syn[0].seq + 1) % 2**32
    ack = [s for s in segments if s.flags == 0x10 and s.dst_port == port
           and s.seq == syn_ack[0].ack and s.ack == (syn_ack[0].seq + 1) % 2**32
           and s.payload_len == 0]
    assert len(ack) == 1


@pytest.mark.capture
@needs_ipv6
def test_ipv6_loopback_datagrams_are_captured_once(
        tmp_path: Path, run_cli: list[CaptureChild]) -> None:
    out = tmp_path / "udp6.pcap"
    with udp_receiver("::1") as receiver:
        port = receiver.getsockname()[1]
        child = start(run_cli, ["-f", f"ip6 and udp port {port}", "-o", str(out)])
        child.wait_event("ready")
        payloads = tokens(5)
        send_udp(receiver, payloads)
    child.proc.send_signal(signal.SIGTERM)
    assert child.finish() == 0
    pcap = read_pcap(out)
    assert [pcap.count(p) for p in payloads] == [1] * 5
    assert all(f.data[12:14] == b"\x86\xdd" for f in pcap.frames)


@pytest.mark.capture
def test_filter_is_applied_in_the_kernel(tmp_path: Path, run_cli: list[CaptureChild]) -> None:
    out = tmp_path / "filtered.pcap"
    with udp_receiver() as wanted, udp_receiver() as other:
        port = wanted.getsockname()[1]
        child = start(run_cli, ["-f", f"udp port {port}", "-o", str(out)])
        assert child.wait_event("ready")["kernel_filter"] == f"(udp port {port}) and inbound"
        keep, drop = tokens(3), tokens(3)
        send_udp(other, drop)
        send_udp(wanted, keep)
    child.proc.send_signal(signal.SIGTERM)
    assert child.finish() == 0
    pcap = read_pcap(out)
    assert [pcap.count(p) for p in keep] == [1, 1, 1]
    assert [pcap.count(p) for p in drop] == [0, 0, 0]
    assert len(pcap.frames) == 3


@pytest.mark.capture
def test_count_stops_after_n_packets(tmp_path: Path, run_cli: list[CaptureChild]) -> None:
    out = tmp_path / "count.pcap"
    with udp_receiver() as receiver:
        port = receiver.getsockname()[1]
        child = start(run_cli, ["-f", f"udp port {port}", "-c", "3", "-o", str(out)])
        child.wait_event("ready")
        payloads = tokens(5)
        send_udp(receiver, payloads)
        assert child.finish() == 0
    assert child.events()[-1] == {"event": "stopped", "received": 3, "dropped": 0,
                                  "reason": "count"}
    pcap = read_pcap(out)
    assert [pcap.count(p) for p in payloads] == [1, 1, 1, 0, 0]
    assert pcap.trailing == 0


@pytest.mark.capture
def test_duration_stops_in_time(tmp_path: Path, run_cli: list[CaptureChild]) -> None:
    out = tmp_path / "duration.pcap"
    child = start(run_cli, ["-f", "udp port 9", "--duration", "0.5", "-o", str(out)])
    child.wait_event("ready")
    began = time.monotonic()
    assert child.finish() == 0
    assert 0.4 <= time.monotonic() - began < 3.0
    assert child.events()[-1]["reason"] == "duration"
    assert read_pcap(out).frames == []


@pytest.mark.capture
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_leaves_a_complete_file(tmp_path: Path, run_cli: list[CaptureChild],
                                       signum: signal.Signals) -> None:
    out = tmp_path / "signal.pcap"
    with udp_receiver() as receiver:
        port = receiver.getsockname()[1]
        child = start(run_cli, ["-f", f"udp port {port}", "-o", str(out)])
        child.wait_event("ready")
        payloads = tokens(10)
        send_udp(receiver, payloads)
        child.proc.send_signal(signum)  # at once: the queued frames must still be kept
        assert child.finish() == 0
    assert child.events()[-1] == {"event": "stopped", "received": 10, "dropped": 0,
                                  "reason": "signal"}
    pcap = read_pcap(out)
    assert [pcap.count(p) for p in payloads] == [1] * 10 and pcap.trailing == 0
    if TSHARK:
        assert tshark_frame_count(out) == 10


@pytest.mark.capture
def test_sigkill_leaves_every_flushed_packet_readable(
        tmp_path: Path, run_cli: list[CaptureChild]) -> None:
    out = tmp_path / "killed.pcap"
    with udp_receiver() as receiver:
        port = receiver.getsockname()[1]
        child = start(run_cli, ["-f", f"udp port {port}", "-o", str(out)])
        child.wait_event("ready")
        payloads = tokens(10)
        send_udp(receiver, payloads)
        assert len(wait_for_frames(out, 10).frames) == 10
        child.proc.kill()
        assert child.finish() == -signal.SIGKILL
    pcap = read_pcap(out)
    assert [pcap.count(p) for p in payloads] == [1] * 10 and pcap.trailing == 0
    if TSHARK:
        assert tshark_frame_count(out) == 10


@pytest.mark.capture
def test_live_reader_sees_a_packet_within_50_ms(
        tmp_path: Path, run_cli: list[CaptureChild]) -> None:
    out = tmp_path / "live.pcap"
    with udp_receiver() as receiver, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        port = receiver.getsockname()[1]
        child = start(run_cli, ["-f", f"udp port {port}", "-o", str(out)])
        child.wait_event("ready")
        delays = []
        for payload in tokens(5):
            size = out.stat().st_size
            sent = time.monotonic()
            sender.sendto(payload, ("127.0.0.1", port))
            while out.stat().st_size == size and time.monotonic() - sent < 1.0:
                time.sleep(0.0005)
            delays.append(time.monotonic() - sent)
            time.sleep(0.06)  # let the loop settle into its poll wait again
    assert statistics.median(delays) < 0.050, delays
    assert max(delays) < 0.5, delays
    assert len(read_pcap(out).frames) == 5


@pytest.mark.capture
def test_status_lines_are_json_ready_stats_stopped(
        tmp_path: Path, run_cli: list[CaptureChild]) -> None:
    out = tmp_path / "status.pcap"
    with udp_receiver() as receiver:
        port = receiver.getsockname()[1]
        child = start(run_cli, ["-f", f"udp port {port}", "-o", str(out)])
        ready = child.wait_event("ready")
        assert ready.pop("method") in ("ring", "recvmsg")
        assert ready == {"event": "ready", "interface": "lo", "linktype": 1,
                         "filter": f"udp port {port}",
                         "kernel_filter": f"(udp port {port}) and inbound",
                         "snaplen": PCAP_SNAPLEN}
        # The header is on disk before the ready line: a reader may start now.
        assert out.stat().st_size == 24
        send_udp(receiver, tokens(3))
        child.wait_event("stats", timeout=3.0, received=3, dropped=0)
    child.proc.send_signal(signal.SIGTERM)
    assert child.finish() == 0
    events = child.events()  # every line is JSON: json.loads would raise otherwise
    assert events[-1] == {"event": "stopped", "received": 3, "dropped": 0, "reason": "signal"}


@pytest.mark.capture
def test_stdout_output_is_a_pcap_stream(run_cli: list[CaptureChild]) -> None:
    with udp_receiver() as receiver:
        port = receiver.getsockname()[1]
        child = start(run_cli, ["-f", f"udp port {port}", "-c", "2", "-o", "-"],
                      stdout=subprocess.PIPE)
        child.wait_event("ready")
        payloads = tokens(2)
        send_udp(receiver, payloads)
        assert child.proc.stdout is not None
        stream = child.proc.stdout.buffer.read()  # type: ignore[attr-defined]
        assert child.finish() == 0
    pcap = parse_pcap(stream)
    assert [pcap.count(p) for p in payloads] == [1, 1] and pcap.trailing == 0


@pytest.mark.capture
@pytest.mark.parametrize("method", ["ring", "recvmsg", "helper"])
@pytest.mark.parametrize("bpf", [None, "udp"])
def test_run_capture_in_process_with_each_reader(tmp_path: Path, method: str,
                                                 bpf: str | None,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 request: pytest.FixtureRequest) -> None:
    if method == "helper":
        if CC is None:
            pytest.skip("needs a C compiler")
        request.getfixturevalue("helper")
    # Off the main thread (so no signal handlers), with each way of reading
    # frames, with and without a user filter: every datagram exactly once.
    out = tmp_path / "inproc.pcap"
    status = io.StringIO()
    result: list[CaptureStats] = []
    with udp_receiver() as receiver:
        worker = threading.Thread(target=lambda: result.append(run_capture(
            interface="lo", bpf=bpf, output=str(out), count=None, duration=0.5,
            status=status, method=method)))
        worker.start()
        wait_for_header(out)
        payloads = tokens(50)
        send_udp(receiver, payloads)
        worker.join(10)
    assert json.loads(status.getvalue().splitlines()[0])["method"] == method
    assert len(result) == 1 and result[0].reason == "duration" and result[0].dropped == 0
    pcap = read_pcap(out)
    assert [pcap.count(p) for p in payloads] == [1] * 50
    assert result[0].received == len(pcap.frames)  # other lo traffic may be in it too
    # Ours in order. Other programs' packets on lo, sent from other CPUs, were
    # seen to come a little out of time-stamp order through recvmsg() when
    # other test runs share the machine: the kernel does not promise one order.
    stamps = [f.ts_ns for f in pcap.frames if any(p in f.data for p in payloads)]
    assert stamps == sorted(stamps)


@pytest.mark.capture
def test_ring_reader_honours_count_within_a_block(tmp_path: Path) -> None:
    out = tmp_path / "ringcount.pcap"
    result: list[CaptureStats] = []
    with udp_receiver() as receiver:
        port = receiver.getsockname()[1]
        worker = threading.Thread(target=lambda: result.append(run_capture(
            interface="lo", bpf=f"udp port {port}", output=str(out), count=7, duration=10,
            status=io.StringIO(), method="ring")))
        worker.start()
        wait_for_header(out)
        payloads = tokens(20)  # all land in one ring block
        send_udp(receiver, payloads)
        worker.join(10)
    assert result == [CaptureStats(received=7, dropped=0, reason="count")]
    pcap = read_pcap(out)
    assert [pcap.count(p) for p in payloads] == [1] * 7 + [0] * 13


def test_ring_record_header_matches_pcapformat() -> None:
    assert PCAP_RECORD_HEADER.pack(1_700_000_000, 123_456_789, 60, 1500) == pcap_record_header(
        1_700_000_000_123_456_789, 60, 1500)


@pytest.mark.capture
def test_missing_libpcap_still_allows_capture_without_a_filter(tmp_path: Path) -> None:
    out = tmp_path / "nolibpcap.pcap"
    code = ("import ctypes.util as u, sys\n"
            "find = u.find_library\n"
            "u.find_library = lambda name: None if name == 'pcap' else find(name)\n"
            "from visualizer.cli import main\n"
            f"sys.exit(main(['capture', '--duration', '0.2', '-o', {str(out)!r}]))\n")
    done = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stderr.splitlines()[-1])["reason"] == "duration"


@pytest.mark.capture
def test_a_two_second_stall_at_10k_packets_per_second_loses_nothing(tmp_path: Path) -> None:
    # While the capture process is stopped (descheduled on a busy machine,
    # swapped out, SIGSTOP) only the kernel's ring keeps packets. With a
    # 10 ms block time-out each block holds about 10 ms of traffic, so the
    # ring's length in time is its number of blocks times 10 ms.
    out = tmp_path / "stall.pcap"
    with udp_receiver() as receiver:  # bound, never read: no ICMP for the datagrams
        port = receiver.getsockname()[1]
        cap = CaptureProcess(bpf=f"udp port {port}", output=str(out))
        cap.start()
        try:
            assert cap.pid is not None
            os.kill(cap.pid, signal.SIGSTOP)
            try:
                sent = send_paced(port, rate=10_000, seconds=2.0, payload=b"stalled")
            finally:
                os.kill(cap.pid, signal.SIGCONT)
            stats = cap.stop()
        finally:
            cap.kill()
    assert (stats.received, stats.dropped) == (sent, 0)
    assert read_pcap(out).count(b"stalled") == sent == 20_000


HELPER_CAPTURE = """
import json, sys
from visualizer.core.capture.loop import run_capture
stats = run_capture(interface="lo", bpf=sys.argv[1], output=sys.argv[2], count=None,
                    duration=None, status=sys.stderr, method="helper")
print(json.dumps(stats.__dict__))
"""


@needs_cc
@pytest.mark.capture
def test_a_two_second_stall_through_the_helper_loses_nothing(tmp_path: Path,
                                                             helper: str) -> None:
    # The capture process and its helper both stopped: the helper's ring is
    # the same as the capture loop's.
    out = tmp_path / "stall.pcap"
    with udp_receiver() as receiver:
        port = receiver.getsockname()[1]
        proc = subprocess.Popen([PY, "-c", HELPER_CAPTURE, f"udp port {port}", str(out)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            wait_for_header(out)
            stalled = [proc.pid, *children(proc.pid)]
            assert len(stalled) == 2
            for pid in stalled:
                os.kill(pid, signal.SIGSTOP)
            try:
                sent = send_paced(port, rate=10_000, seconds=2.0, payload=b"stalled")
            finally:
                for pid in stalled:
                    os.kill(pid, signal.SIGCONT)
            proc.send_signal(signal.SIGTERM)
            stdout, _ = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert json.loads(stdout) == {"received": sent, "dropped": 0, "reason": "signal"}
    assert read_pcap(out).count(b"stalled") == sent == 20_000


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if proc_status(int(entry)).get("PPid") == str(pid):
                    found.append(int(entry))
    return found


def send_paced(port: int, *, rate: float, seconds: float, payload: bytes) -> int:
    """Sends ``rate * seconds`` datagrams to 127.0.0.1:``port`` at ``rate`` a
    second (catching up in bursts when late); returns after ``seconds`` at
    the earliest."""
    total = int(rate * seconds)
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        start = time.monotonic()
        while sent < total:
            due = min(total, int((time.monotonic() - start) * rate) + 1)
            while sent < due:
                sender.sendto(payload, ("127.0.0.1", port))
                sent += 1
            time.sleep(0.001)
        time.sleep(max(0.0, start + seconds - time.monotonic()))
    return sent


# --------------------------------------------------------------------------
# The capture helper (capture_helper.c), run here as root: the privileged
# path, with a throwaway user, is tests/test_least_privilege.py's.

@needs_cc
@pytest.mark.capture
def test_the_helper_gives_up_every_capability_before_it_says_ready(helper: str) -> None:
    proc = subprocess.Popen([helper, "lo", _program_hex(kernel_program("udp port 9", 1, True)[0]
                                                        or [])],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None and proc.stderr.readline() == b"ready\n"
        status = proc_status(proc.pid)
        held = {key: int(status[key], 16) for key in
                ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd")}
        assert held == dict.fromkeys(held, 0)  # run by root: the bounding set too
        assert status["NoNewPrivs"] == "1"
        assert proc.stdin is not None
        proc.stdin.close()  # stop
        assert proc.wait(5) == 0
        assert proc.stderr.read() == b"stats 0\n"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@needs_cc
@pytest.mark.parametrize(("args", "code", "message"), [
    ([], 2, "usage: capture-helper --check | capture-helper IFACE [PROGRAM]"),
    (["-c", "import socket"], 2, "'-c' is not an interface name"),
    (["pv-no-such-if"], 2, "no such interface 'pv-no-such-if'"),
    (["lo", "0006"], 2, "the filter program must be 1 to 4096 instructions"),
    (["lo", "zz" * 8], 2, "the filter program is not hexadecimal"),
    (["lo", "0015000000000000"], 2, "the kernel rejected the filter program"),
])
def test_the_helper_refuses_what_it_does_not_do(built_helper: str, args: list[str], code: int,
                                                message: str) -> None:
    done = subprocess.run([built_helper, *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=10)
    assert (done.returncode, done.stdout) == (code, "")
    assert done.stderr.startswith(f"error {code} {message}"), done.stderr
    assert done.stderr.count("\n") == 1


@needs_cc
def test_the_helper_links_no_function_that_sends(built_helper: str) -> None:
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("needs nm (binutils)")
    imported = set(subprocess.run([nm, "-D", "--undefined-only", built_helper],
                                  capture_output=True, text=True, check=True
                                  ).stdout.split()[1::2])
    imported = {name.partition("@")[0] for name in imported}
    assert "socket" in imported and "bind" in imported  # what it does use
    assert not imported & {"send", "sendto", "sendmsg", "sendmmsg", "connect", "sendfile",
                           "splice", "execve", "execv", "execvp", "fork", "vfork", "system",
                           "posix_spawn", "dup", "dup2", "dup3", "getenv", "secure_getenv"}


def test_the_helper_ring_defaults_are_the_capture_loops() -> None:
    # Built by hand (README: cc -O2 -o ... capture_helper.c) it has no -D options.
    source = Path(helper_source()).read_text()
    defaults = dict(re.findall(r"#define (RING_\w+) (\d+)", source))
    assert int(defaults["RING_BLOCK_BYTES"]) == loop.RING_BLOCK_BYTES
    assert int(defaults["RING_BLOCKS"]) == loop.RING_BLOCKS
    assert int(defaults["RING_FRAME_BYTES"]) == loop.RING_FRAME_BYTES
    assert int(defaults["RING_BLOCK_TIMEOUT_MS"]) == loop.RING_BLOCK_TIMEOUT_MS


@needs_cc
@pytest.mark.capture
def test_helper_reader_honours_count_and_reports_its_errors(tmp_path: Path, helper: str
                                                             ) -> None:
    out = tmp_path / "helpercount.pcap"
    result: list[CaptureStats] = []
    with udp_receiver() as receiver:
        port = receiver.getsockname()[1]
        worker = threading.Thread(target=lambda: result.append(run_capture(
            interface="lo", bpf=f"udp port {port}", output=str(out), count=7, duration=10,
            status=io.StringIO(), method="helper")))
        worker.start()
        wait_for_header(out)
        payloads = tokens(20)
        send_udp(receiver, payloads)
        worker.join(10)
    assert result == [CaptureStats(received=7, dropped=0, reason="count")]
    pcap = read_pcap(out)
    assert [pcap.count(p) for p in payloads] == [1] * 7 + [0] * 13
    # The helper's own refusals come back as the errors the capture raises.
    with pytest.raises(BadInput, match=r"^'-x' is not an interface name$"):
        loop.open_capture("-x", None, None, "helper")


# --------------------------------------------------------------------------
# CaptureProcess


@pytest.mark.capture
def test_capture_process_start_stop_counts(tmp_path: Path) -> None:
    out = tmp_path / "proc.pcap"
    with udp_receiver() as receiver:
        port = receiver.getsockname()[1]
        cap = CaptureProcess(bpf=f"udp port {port}", output=str(out))
        cap.start()
        try:
            assert cap.running and cap.pid is not None
            assert out.stat().st_size == 24
            send_udp(receiver, tokens(3))
            deadline = time.monotonic() + 3
            while cap.received < 3 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert (cap.received, cap.dropped) == (3, 0)
        finally:
            stats = cap.stop()
    assert stats == CaptureStats(received=3, dropped=0, reason="signal")
    assert not cap.running
    assert cap.stop() == stats  # idempotent
    assert len(read_pcap(out).frames) == 3


def proc_status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        return {key: value.strip() for key, _, value in
                (line.partition(":") for line in status)}


@pytest.mark.capture
def test_the_capture_process_holds_no_capability_once_ready(tmp_path: Path) -> None:
    # CAP_NET_RAW is needed to open the packet socket, not to read it: the
    # capture process gives up every capability (run as root: all of them)
    # before it says ready, for good, and still captures.
    out = tmp_path / "caps.pcap"
    with udp_receiver() as receiver:
        cap = CaptureProcess(bpf=f"udp port {receiver.getsockname()[1]}", output=str(out))
        with cap:
            assert cap.pid is not None
            status = proc_status(cap.pid)
            held = {key: int(status[key], 16) for key in
                    ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd")}
            assert held == dict.fromkeys(held, 0)
            assert status["NoNewPrivs"] == "1"
            payloads = tokens(3)
            send_udp(receiver, payloads)
            wait_for_frames(out, 3)
    assert [read_pcap(out).count(p) for p in payloads] == [1, 1, 1]


@pytest.mark.capture
def test_capture_process_context_manager_stops_the_child_on_error(tmp_path: Path) -> None:
    out = tmp_path / "ctx.pcap"
    with pytest.raises(ZeroDivisionError), CaptureProcess(bpf="udp port 9",
                                                          output=str(out)) as cap:
        pid = cap.pid
        assert pid is not None
        _ = 1 / 0
    assert not cap.running and pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped, not a zombie
    assert read_pcap(out).trailing == 0


def test_capture_process_reports_a_bad_filter(tmp_path: Path) -> None:
    out = tmp_path / "bad.pcap"
    cap = CaptureProcess(bpf="udp prot 5", output=str(out))
    with pytest.raises(BadInput, match=r"invalid capture filter 'udp prot 5'.*syntax error"):
        cap.start()
    assert not cap.running and not out.exists()


def test_capture_process_reports_missing_privilege(tmp_path: Path) -> None:
    python = PY
    if can_capture():
        if SETPRIV is None or os.geteuid() != 0:
            pytest.skip("needs setpriv and root to drop CAP_NET_RAW")
        wrapper = tmp_path / "python-without-net-raw"
        wrapper.write_text(f'#!/bin/sh\nexec {SETPRIV} {" ".join(DROP_NET_RAW)} -- {PY} "$@"\n')
        wrapper.chmod(0o755)
        python = str(wrapper)
    cap = CaptureProcess(output=str(tmp_path / "x.pcap"), python=python)
    with pytest.raises(CaptureNotPermitted, match="CAP_NET_RAW"):
        cap.start()
    assert not cap.running


@pytest.mark.capture
def test_capture_process_reports_a_killed_child(tmp_path: Path) -> None:
    out = tmp_path / "killed.pcap"
    cap = CaptureProcess(bpf="udp port 9", output=str(out))
    cap.start()
    try:
        assert cap.pid is not None
        os.kill(cap.pid, signal.SIGKILL)
        with pytest.raises(CaptureFailed, match="SIGKILL"):
            cap.stop()
    finally:
        cap.kill()
    assert read_pcap(out).trailing == 0


def test_capture_process_times_out_and_kills_the_child(tmp_path: Path) -> None:
    # A "python" that never says ready.
    sleeper = tmp_path / "sleeper"
    sleeper.write_text("#!/bin/sh\nexec sleep 30\n")
    sleeper.chmod(0o755)
    cap = CaptureProcess(output=str(tmp_path / "x.pcap"), python=str(sleeper))
    with pytest.raises(CaptureFailed, match="did not become ready"):
        cap.start(timeout=0.3)
    assert not cap.running


@pytest.mark.capture
def test_capture_process_streams_to_a_pipe() -> None:
    with udp_receiver() as receiver, CaptureProcess(
            bpf=f"udp port {receiver.getsockname()[1]}", output="-") as cap:
        assert cap.stdout is not None
        assert struct.unpack("<I", cap.stdout.read(24)[:4])[0] == PCAP_MAGIC_NSEC
        (payload,) = tokens(1)
        send_udp(receiver, [payload])
        record = cap.stdout.read(16)
        caplen = struct.unpack_from("<I", record, 8)[0]
        assert payload in cap.stdout.read(caplen)
    assert cap.stats == CaptureStats(received=1, dropped=0, reason="signal")
    assert cap.stdout.closed


@pytest.mark.capture
def test_capture_process_does_not_outlive_its_object(tmp_path: Path) -> None:
    out = tmp_path / "gc.pcap"
    cap: CaptureProcess | None = CaptureProcess(bpf="udp port 9", output=str(out))
    assert cap is not None
    cap.start()
    pid = cap.pid
    assert pid is not None
    cap = None  # forgotten without stop(): collecting it ends the child
    gc.collect()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert read_pcap(out).trailing == 0


def test_filter_error_with_parentheses_quotes_libpcap_once() -> None:
    with pytest.raises(BadInput) as info:
        compile_bpf("udp and (port 5", LINKTYPE_ETHERNET)
    assert str(info.value) == ("invalid capture filter 'udp and (port 5': "
                               "can't parse filter expression: syntax error")
