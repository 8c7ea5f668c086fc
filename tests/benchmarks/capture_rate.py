"""Capture rate on lo: ``visualizer capture`` against tcpdump (issue 8, target 1).

    sudo .venv/bin/python tests/benchmarks/capture_rate.py [--seconds S]
        [--udp-rates R,R,...] [--tcp-rates R,R,...] [--bulk-mb M] [--no-bulk] [--helper]

Needs root (or CAP_NET_RAW), tcpdump and a C compiler (the sender, blast.c,
is compiled into a temporary directory).

Steps: for each offered rate, the sender (blast.c) sends 64-byte UDP
datagrams, or 64-byte writes on one TCP connection with TCP_NODELAY, for S
seconds while one capturer records its port; then the other capturer gets
the same step (the order alternates from step to step). A capturer gets the
machine to itself, as it would in use. Expected packets: for UDP the
datagrams sendmmsg() accepted; for TCP the segments both sockets sent
(TCP_INFO segs_out, handshake, ACKs and FIN included). Counted: the records
in each capturer's pcap file (read with CaptureFile). Loss = 1 - counted /
expected. The figure of a capturer is the highest packet rate it recorded
with < 0.1 % loss. The sender is one process on one CPU: where it cannot
reach the offered rate the result is sender-bound and says so.

On lo the kernel shows each packet twice (going out, coming in). Ours drops
the outgoing copy in the kernel (a BPF "inbound" prefix); tcpdump with
libpcap 1.10 takes both into its ring and drops the outgoing copy in user
space ("received by filter" is twice "captured"; ``-Q in`` changes
nothing). Both count each packet once.

Then the bulk case: a Python socket pair sends M MB (default 100) through
lo while both capturers record it at the same time; packets, kernel drops
and the payload bytes each file holds are compared.

With ``--helper`` the rate steps also measure the capture through the
capture helper (capture_helper.c, compiled into a temporary directory), as
an unprivileged user's capture process runs it: the helper reads the ring
and the capture process reads its pipe.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

from benchlib import (
    blast,
    blast_program,
    free_port,
    machine,
    print_table,
    ratio,
    require,
    verdict,
)

from visualizer.core.capture.child import CaptureProcess
from visualizer.core.pcap.reader import CaptureFile

MAX_LOSS = 0.001
SENDER_BOUND = 0.95   # achieved / offered below this: the sender could not keep up
SETTLE_S = 1.5        # after the sender, before stopping: libpcap hands tcpdump a ring
                      # block only when it is full or 1 s old (tcpdump's time-out), and
                      # tcpdump's SIGINT handler does not wait for the last one


@dataclass(frozen=True)
class Step:
    capturer: str
    protocol: str
    offered: float        # rate asked of the sender (datagrams or writes per second)
    achieved: float       # the rate it reached
    expected: int         # packets on the wire for the port
    pps: float            # expected / sender's seconds
    counted: int          # records in the capturer's file
    kernel_drops: int
    mean_payload: float   # bytes per data packet (TCP writes coalesce under load)

    @property
    def loss(self) -> float:
        return max(0, self.expected - self.counted) / self.expected if self.expected else 0.0

    @property
    def ok(self) -> bool:
        return self.loss < MAX_LOSS

    @property
    def sender_bound(self) -> bool:
        return self.achieved < SENDER_BOUND * self.offered


# --------------------------------------------------------------------------
# The two capturers


class Capturer:
    """Records ``bpf`` on lo into a pcap file, between start() and stop()."""

    name = ""

    def __init__(self, bpf: str, path: str) -> None:
        raise NotImplementedError

    def start(self) -> None:
        """Returns once it is recording."""
        raise NotImplementedError

    def stop(self) -> int:
        """Stops it, file complete; the packets the kernel dropped."""
        raise NotImplementedError

    def kill(self) -> None:
        """Ends it at once if it still runs (cleaning up after an error)."""
        raise NotImplementedError


class Ours(Capturer):
    name = "visualizer capture"

    def __init__(self, bpf: str, path: str) -> None:
        self.process = CaptureProcess(interface="lo", bpf=bpf, output=path)

    def start(self) -> None:
        self.process.start()

    def stop(self) -> int:
        return self.process.stop().dropped

    def kill(self) -> None:
        self.process.kill()


HELPER_CAPTURE = """
import json, sys
from visualizer.core.capture.loop import run_capture
stats = run_capture(interface="lo", bpf=sys.argv[1], output=sys.argv[2], count=None,
                    duration=None, status=sys.stderr, method="helper")
print(json.dumps(stats.__dict__))
"""


class Helper(Capturer):
    """The capture process reading through the capture helper (``helper_exe``)."""

    name = "via capture helper"
    helper_exe = ""

    def __init__(self, bpf: str, path: str) -> None:
        self.command = [sys.executable, "-c", HELPER_CAPTURE, bpf, path]
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        env = {**os.environ, "VISUALIZER_CAPTURE_HELPER": self.helper_exe}
        self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        if '"ready"' not in line:
            self.kill()
            raise RuntimeError(f"the capture did not start: {line.strip()}")

    def pids(self) -> list[int]:
        """The capture process and its helper."""
        assert self.proc is not None
        pids = [self.proc.pid]
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                        if int(f.read().rpartition(")")[2].split()[1]) == self.proc.pid:
                            pids.append(int(entry))
                except (OSError, ValueError, IndexError):
                    continue
        return pids

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        stdout, _ = self.proc.communicate(timeout=30)
        return int(json.loads(stdout)["dropped"])

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@contextlib.contextmanager
def helper_program() -> Iterator[str]:
    """capture_helper.c compiled as setup-capture compiles it (root needs no setcap)."""
    from visualizer.commands.setup_capture import _CFLAGS
    from visualizer.core.capture.privileges import helper_source

    cc = require("cc")
    with tempfile.TemporaryDirectory(prefix="bench-helper-") as tmp:
        exe = os.path.join(tmp, "capture-helper")
        subprocess.run([cc, *_CFLAGS, "-o", exe, helper_source()], check=True)
        Helper.helper_exe = exe
        yield exe


class Tcpdump(Capturer):
    name = "tcpdump"

    def __init__(self, bpf: str, path: str) -> None:
        self.command = ["tcpdump", "-i", "lo", "-w", path, "-B", "65536", "-n", bpf]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline().decode()  # "listening on lo, ..." once it is ready
        if "listening on" not in line:
            self.kill()
            raise RuntimeError(f"tcpdump did not start: {line.strip()}")

    def stop(self) -> int:
        assert self.proc is not None and self.proc.stderr is not None
        self.proc.send_signal(signal.SIGINT)
        text = self.proc.stderr.read().decode()
        self.proc.wait(10)
        match = re.search(r"(\d+) packets? dropped by kernel", text)
        if match is None:
            raise RuntimeError(f"tcpdump printed no statistics: {text.strip()}")
        return int(match.group(1))

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


CAPTURERS: dict[str, type[Capturer]] = {"ours": Ours, "tcpdump": Tcpdump, "helper": Helper}


def count_records(path: str) -> int:
    with CaptureFile.open(path) as cap:
        return sum(1 for _ in cap.frames())


# --------------------------------------------------------------------------
# Small packets at rising rates


def run_step(exe: str, tmp: str, which: str, protocol: str, rate: float,
             seconds: float) -> Step:
    port = free_port()
    path = os.path.join(tmp, f"{which}.pcap")
    capturer = CAPTURERS[which](f"{protocol} port {port}", path)
    capturer.start()
    try:
        sent = blast(exe, protocol, port, rate, seconds)
        time.sleep(SETTLE_S)
        drops = capturer.stop()
    finally:
        capturer.kill()
    counted = count_records(path)
    os.unlink(path)
    if protocol == "udp":
        expected, payload = int(sent["sent"]), 64.0
    else:
        expected = int(sent["segments"])
        payload = sent["sent"] * 64 / max(1, sent["data_segments"])
    return Step(capturer.name, protocol, rate, sent["sent"] / sent["seconds"], expected,
                expected / sent["seconds"], counted, drops, payload)


def rate_sweep(exe: str, tmp: str, protocol: str, rates: list[float],
               seconds: float, names: list[str]) -> list[Step]:
    steps: list[Step] = []
    failing = dict.fromkeys(names, 0)
    for n, rate in enumerate(rates):
        order = names if n % 2 == 0 else names[::-1]
        done = []
        for which in order:
            if failing[which] >= 2:  # lost packets at two rates in a row: its limit is found
                continue
            step = run_step(exe, tmp, which, protocol, rate, seconds)
            steps.append(step)
            done.append(step)
            failing[which] = 0 if step.ok else failing[which] + 1
            print(f"  {protocol} {rate:>9,.0f}/s  {step.capturer:<18} {step.pps:>9,.0f} pps "
                  f"expected {step.expected:>9,}  counted {step.counted:>9,}  "
                  f"loss {100 * step.loss:6.3f} %  kernel drops {step.kernel_drops:,}",
                  file=sys.stderr, flush=True)
        if not done:
            break
        if all(s.sender_bound for s in done):
            break  # the sender is at its limit: higher offers give nothing new
    return steps


def figure(steps: list[Step], name: str) -> tuple[float, str]:
    """A capturer's highest loss-free rate, and what bounds it: nothing said
    if it lost packets at a higher rate (its own limit), " (sender-bound)"
    if it never did and the sender could not go faster, " (no loss at any
    step)" otherwise (for TCP the connection, not the capturer, sets the
    packet rate: writes coalesce into bigger segments as the offer grows)."""
    mine = [s for s in steps if s.capturer == name]
    good = [s for s in mine if s.ok]
    if not good:
        return 0.0, ""
    top = max(good, key=lambda s: s.pps)
    if any(not s.ok and s.pps > top.pps for s in mine):
        return top.pps, ""
    return top.pps, " (sender-bound)" if top.sender_bound else " (no loss at any step)"


# --------------------------------------------------------------------------
# The bulk transfer

_BULK_CHILD = r"""
import socket, struct, sys, threading, time
size, port = int(sys.argv[1]), int(sys.argv[2])
TCP_INFO_SEGS_OUT = 136   # offset of tcpi_segs_out in struct tcp_info (linux/tcp.h)
def segs_out(s):
    return struct.unpack_from("I", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256),
                              TCP_INFO_SEGS_OUT)[0]
def closed(s):
    for _ in range(2000):
        if s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)[0] == 7:  # TCP_CLOSE
            return
        time.sleep(0.001)
server = socket.create_server(("127.0.0.1", port))
result = {}
def serve():
    conn, _ = server.accept()
    buf, got = bytearray(1 << 20), 0
    while n := conn.recv_into(buf):
        got += n
    conn.shutdown(socket.SHUT_WR)
    closed(conn)
    result.update(received=got, server_segs=segs_out(conn))
    conn.close()
thread = threading.Thread(target=serve)
thread.start()
client = socket.create_connection(("127.0.0.1", port))
chunk = bytes(65536)
start = time.perf_counter()
left = size
while left > 0:
    client.sendall(chunk[:min(left, len(chunk))])
    left -= len(chunk)
client.shutdown(socket.SHUT_WR)
client.recv(1)
seconds = time.perf_counter() - start
closed(client)
thread.join()
SYNACK = 1  # sent by the listener's request socket: in neither socket's segs_out
print(result["received"], result["server_segs"] + segs_out(client) + SYNACK, seconds)
client.close()
server.close()
"""


def payload_bytes(path: str, server_port: int) -> tuple[int, int]:
    """Records in a bulk capture, and the distinct client payload bytes they hold."""
    spans = []
    records = 0
    with CaptureFile.open(path) as cap:
        for rec in cap.frames():
            records += 1
            data = cap.frame_bytes(rec)
            ip = 14  # Ethernet (lo's fake header), then IPv4
            ihl = (data[ip] & 0x0F) * 4
            (total,) = struct.unpack_from("!H", data, ip + 2)
            tcp = ip + ihl
            _, dport, seq = struct.unpack_from("!HHI", data, tcp)
            length = total - ihl - (data[tcp + 12] >> 4) * 4
            if dport == server_port and length > 0:
                spans.append((seq, length))
    if not spans:
        return records, 0
    base = spans[0][0]
    covered, end = 0, 0
    for start, length in sorted(((s - base) % 2**32, n) for s, n in spans):
        if start + length > end:
            covered += start + length - max(start, end)
            end = start + length
    return records, covered


def bulk(tmp: str, megabytes: int) -> None:
    size = megabytes * 1_000_000
    port = free_port()
    bpf = f"tcp port {port}"
    capturers: list[Capturer] = [Ours(bpf, os.path.join(tmp, "bulk-ours.pcap")),
                 Tcpdump(bpf, os.path.join(tmp, "bulk-tcpdump.pcap"))]
    paths = [os.path.join(tmp, "bulk-ours.pcap"), os.path.join(tmp, "bulk-tcpdump.pcap")]
    try:
        for c in capturers:
            c.start()
        child = subprocess.run([sys.executable, "-c", _BULK_CHILD, str(size), str(port)],
                               capture_output=True, text=True, check=True, timeout=600)
        received, segments, seconds = child.stdout.split()
        time.sleep(SETTLE_S)
        drops = [c.stop() for c in capturers]
    finally:
        for c in capturers:
            c.kill()
    rows = []
    for c, path, dropped in zip(capturers, paths, drops, strict=True):
        records, covered = payload_bytes(path, port)
        os.unlink(path)
        lost = int(segments) - records
        rows.append([c.name, int(segments), records, dropped, f"{covered:,} / {size:,}",
                     verdict(lost == 0 and dropped == 0 and covered == size)])
    print_table(f"{megabytes} MB through lo on one TCP connection, both capturers at once "
                f"({int(received) / float(seconds) / 1e6:,.0f} MB/s; expected = segs_out of "
                "both sockets)",
                ["capturer", "packets expected", "recorded", "kernel drops",
                 "client payload bytes in the file", "no loss"], rows)


# --------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per step (default 2)")
    parser.add_argument("--udp-rates", default="50000,100000,200000,300000,400000,500000,"
                        "700000", help="datagrams/s to offer, in order")
    parser.add_argument("--tcp-rates", default="25000,50000,100000,200000,400000,800000",
                        help="64-byte writes/s to offer, in order")
    parser.add_argument("--bulk-mb", type=int, default=100)
    parser.add_argument("--no-bulk", action="store_true")
    parser.add_argument("--helper", action="store_true",
                        help="also measure the capture through the capture helper")
    args = parser.parse_args()
    names = ["ours", "tcpdump", *(["helper"] if args.helper else [])]
    if os.geteuid() != 0:
        print("note: not root; capture needs CAP_NET_RAW", file=sys.stderr)
    require("tcpdump")
    print(machine())
    started = time.monotonic()
    with blast_program() as exe, tempfile.TemporaryDirectory(prefix="bench-capture-") as tmp, \
            helper_program() if args.helper else contextlib.nullcontext():
        results = {}
        for protocol, rates in (("udp", args.udp_rates), ("tcp", args.tcp_rates)):
            print(f"{protocol.upper()} steps:", file=sys.stderr)
            steps = rate_sweep(exe, tmp, protocol, [float(r) for r in rates.split(",")],
                               args.seconds, names)
            results[protocol] = steps
            print_table(
                f"{protocol.upper()}, 64-byte {'datagrams' if protocol == 'udp' else 'writes'}"
                f", {args.seconds:g} s a step",
                ["offered /s", "sent /s", "capturer", "packets/s on the wire", "expected",
                 "recorded", "loss", "kernel drops"]
                + (["bytes per data segment"] if protocol == "tcp" else []),
                [[f"{s.offered:,.0f}", f"{s.achieved:,.0f}", s.capturer, s.pps, s.expected,
                  s.counted,
                  f"{100 * s.loss:.3f} %", s.kernel_drops]
                 + ([f"{s.mean_payload:.0f}"] if protocol == "tcp" else []) for s in steps])
        rows = []
        for protocol, steps in results.items():
            ours_pps, ours_note = figure(steps, Ours.name)
            theirs_pps, theirs_note = figure(steps, Tcpdump.name)
            rows.append([protocol.upper(), f"{ours_pps:,.0f}{ours_note}",
                         f"{theirs_pps:,.0f}{theirs_note}",
                         ratio(ours_pps, theirs_pps), "≥ 0.9×",
                         verdict(theirs_pps > 0 and ours_pps >= 0.9 * theirs_pps)])
            if args.helper:
                helper_pps, helper_note = figure(steps, Helper.name)
                rows.append([f"{protocol.upper()}, {Helper.name}",
                             f"{helper_pps:,.0f}{helper_note}",
                             f"{theirs_pps:,.0f}{theirs_note}", ratio(helper_pps, theirs_pps),
                             "≥ 0.9×",
                             verdict(theirs_pps > 0 and helper_pps >= 0.9 * theirs_pps)])
        print_table("Highest packet rate recorded with < 0.1 % loss",
                    ["64-byte packets", "visualizer capture", "tcpdump", "ratio", "target",
                     "result"], rows)
        if not args.no_bulk:
            bulk(tmp, args.bulk_mb)
    print(f"{time.monotonic() - started:.0f} s; {machine()}")
    return 0


if __name__ == "__main__":
    # Readable errors rather than a traceback for the common case.
    try:
        sys.exit(main())
    except (OSError, RuntimeError, subprocess.CalledProcessError) as err:
        sys.exit(f"capture_rate: {err}")
