"""A stalled capture process: how long may it stop before packets are lost?

    sudo .venv/bin/python tests/benchmarks/capture_stall.py [--rate 10000]
        [--stalls 0.5,1,2,3,4] [--tcpdump] [--helper]

Needs root (or CAP_NET_RAW) and a C compiler (the sender, blast.c). With
``--tcpdump`` also measures ``tcpdump -B 65536`` (the same 64 MiB) stopped
the same way. With ``--helper`` also the capture through the capture
helper (capture_helper.c, compiled into a temporary directory), with both
the capture process and the helper stopped.

Each step starts a capture of one UDP port on lo, stops the capture process
with SIGSTOP (as a descheduled process, a swapped-out page or a debugger
would), lets the sender send 64-byte datagrams at RATE a second for the
stall's length, resumes it with SIGCONT and stops it after a short settle.
While it is stopped only the kernel's buffer (our TPACKET_V3 ring) keeps
packets. Expected: the datagrams sendmmsg() accepted; counted: the records
in the file; lost = expected - counted (the kernel's drop count is shown
too). A step passes when nothing is lost.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import time

from benchlib import blast, blast_program, free_port, load, machine, print_table, verdict
from capture_rate import CAPTURERS, Capturer, Helper, Ours, count_records, helper_program

SETTLE_S = 1.5  # tcpdump gets a ring block only when it is full or 1 s old


def capture_pids(capturer: Capturer) -> list[int]:
    if isinstance(capturer, Helper):
        return capturer.pids()
    if isinstance(capturer, Ours):
        pid = capturer.process.pid
    else:
        proc = getattr(capturer, "proc", None)
        pid = proc.pid if proc is not None else None
    assert pid is not None
    return [pid]


def step(exe: str, tmp: str, which: str, rate: float, stall: float) -> list[object]:
    port = free_port()
    path = os.path.join(tmp, f"{which}.pcap")
    capturer = CAPTURERS[which](f"udp port {port}", path)
    capturer.start()
    try:
        pids = capture_pids(capturer)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            sent = blast(exe, "udp", port, rate, stall, size=64)
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        time.sleep(SETTLE_S)
        drops = capturer.stop()
    finally:
        capturer.kill()
    expected = int(sent["sent"])
    counted = count_records(path)
    os.unlink(path)
    lost = max(0, expected - counted)
    return [capturer.name, f"{stall:g} s", f"{expected / sent['seconds']:,.0f}/s",
            f"{expected:,}", f"{counted:,}", f"{lost:,}", f"{drops:,}", verdict(lost == 0)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument("--stalls", default="0.5,1,2,3,4")
    parser.add_argument("--tcpdump", action="store_true")
    parser.add_argument("--helper", action="store_true")
    args = parser.parse_args()
    stalls = [float(s) for s in args.stalls.split(",")]
    which = ["ours", *(["tcpdump"] if args.tcpdump else []),
             *(["helper"] if args.helper else [])]
    print(machine())
    rows = []
    with blast_program() as exe, tempfile.TemporaryDirectory(prefix="bench-stall-") as tmp, \
            helper_program() if args.helper else contextlib.nullcontext():
        for stall in stalls:
            for name in which:
                rows.append(step(exe, tmp, name, args.rate, stall))
                print(" | ".join(map(str, rows[-1])), file=sys.stderr)
    print_table(f"SIGSTOP stall at {args.rate:,.0f} datagrams/s",
                ["capturer", "stall", "rate", "sent", "recorded", "lost", "kernel drops",
                 "nothing lost"], rows)
    print(f"load after: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
