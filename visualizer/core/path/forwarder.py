"""The forwarder: the process that is the link between the two namespaces.

``python -m visualizer.core.path.forwarder CLIENT_NS SERVER_NS LOG`` with the
path's parameters as JSON on standard input (one line; standard input stays
open, and its end means the parent is gone). It opens a TUN device named
``pvtun`` inside each namespace (a TUN belongs to the namespace where
``/dev/net/tun`` was opened, so it enters each one first), says
``{"event": "ready"}`` on standard output, and from then on reads every
packet either kernel sends into its TUN, asks :class:`link.Link` for its
fate, and writes it into the other namespace's TUN when its time comes. It
stops on SIGTERM or SIGINT, or when standard input ends.

Each packet's fate goes to LOG as JSON lines, on CLOCK_REALTIME like the
packets' capture timestamps (integer nanoseconds):

- ``{"n": 7, "d": 0, "t": <read>, "len": 60, "h": <digest>, "fate": "lost",
  "why": "queue full", "q": 20}`` when a packet reaches the link;
- ``{"n": 7, "out": <written>, "h": <digest of the bytes written>}`` for each
  copy that leaves it (a corrupted copy has another digest than it came with).

``h`` is the first 8 bytes of BLAKE2b of the IP packet, which is what the
capture at each end records, so the packets are matched across the ends by
their bytes (see ``fates.py``).

The loop keeps Python's garbage collector out and its timer slack at 1 ns:
``select`` then wakes within tens of microseconds of a packet's time.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import gc
import hashlib
import heapq
import json
import os
import select
import signal
import struct
import sys
import time
from typing import TextIO

from visualizer.core.path.link import C2S, S2C, Link, PathParams
from visualizer.core.path.netns import NETNS_DIR, set_thread_netns

TUN_NAME = "pvtun"
TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
PR_SET_TIMERSLACK = 29
READS_PER_WAKE = 8        # packets read from one TUN before sending what is due
FORWARDER_NICE = -10      # the link's timing first, when the machine is busy
IDLE_WAIT_S = 0.2         # nothing queued: look at the stop conditions this often


def open_tun(namespace: str) -> int:
    """A non-blocking TUN device ``pvtun`` inside ``namespace`` (by name)."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    target = os.open(os.path.join(NETNS_DIR, namespace), os.O_RDONLY | os.O_CLOEXEC)
    try:
        set_thread_netns(target)
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", TUN_NAME.encode(),
                                                   IFF_TUN | IFF_NO_PI))
        finally:
            set_thread_netns(home)
    finally:
        os.close(target)
        os.close(home)
    return fd


def digest(packet: bytes) -> str:
    return hashlib.blake2b(packet, digest_size=8).hexdigest()


def corrupted(packet: bytes) -> bytes:
    """``packet`` with one bit flipped where only the transport checksum sees it.

    The IP header stays intact, so the packet reaches the receiver's TCP or
    UDP, whose checksum fails: the kernel discards it (TcpInCsumErrors) as
    it would a packet damaged on a real wire. The bit is the last payload
    byte's lowest one; with no payload, one of the TCP urgent pointer (which
    nothing reads without URG) or of the UDP checksum.
    """
    data = bytearray(packet)
    version = data[0] >> 4 if data else 0
    if version == 4 and len(data) >= 20:
        start, proto = (data[0] & 0x0F) * 4, data[9]
    elif version == 6 and len(data) >= 40:
        start, proto = 40, data[6]
    else:
        start, proto = 0, 0
    if proto == 6 and len(data) >= start + 20:
        payload = start + (data[start + 12] >> 4) * 4
        spot = len(data) - 1 if len(data) > payload else start + 19
    elif proto == 17 and len(data) >= start + 8:
        spot = len(data) - 1 if len(data) > start + 8 else start + 7
    else:
        spot = len(data) - 1
    if spot >= 0:
        data[spot] ^= 0x01
    return bytes(data)


class Forwarder:
    """The loop between two TUN descriptors; see the module docstring."""

    def __init__(self, fds: tuple[int, int], params: PathParams, log: TextIO) -> None:
        self.fds = fds                       # (client side, server side)
        self.links = (Link(params, C2S), Link(params, S2C))
        self.log = log
        self.count = 0
        self._due: list[tuple[int, int, int, bytes, int]] = []   # (time, order, fd, data, n)
        self._order = 0
        self.stopping = False

    def run(self, control: int | None) -> None:
        watched = [*self.fds] + ([control] if control is not None else [])
        while not self.stopping:
            now = time.time_ns()
            timeout = max(0.0, (self._due[0][0] - now) / 1e9) if self._due else IDLE_WAIT_S
            try:
                ready, _, _ = select.select(watched, [], [], timeout)
            except InterruptedError:
                continue
            for fd in ready:
                if fd == control:
                    if not os.read(control, 4096):   # the parent is gone
                        self.stopping = True
                    continue
                self._take(fd)
            self._send_due()

    def _take(self, fd: int) -> None:
        direction = C2S if fd == self.fds[0] else S2C
        out = self.fds[1 - direction]
        link = self.links[direction]
        for _ in range(READS_PER_WAKE):
            try:
                packet = os.read(fd, 65536)
            except BlockingIOError:
                return
            now = time.time_ns()
            self.count += 1
            n = self.count
            fate = link.admit(now, len(packet))
            # JSON written by hand: json.dumps per packet costs more than the rest
            extra = f',"why":"{fate.reason}"' if fate.reason else ""
            if fate.queued:
                extra += f',"q":{fate.queued}'
            self.log.write(f'{{"n":{n},"d":{direction},"t":{now},"len":{len(packet)},'
                           f'"h":"{digest(packet)}","fate":"{fate.name}"{extra}}}\n')
            data = corrupted(packet) if fate.corrupt else packet
            for when in fate.deliveries:
                self._order += 1
                heapq.heappush(self._due, (when, self._order, out, data, n))

    def _send_due(self) -> None:
        due = self._due
        while due and due[0][0] <= time.time_ns():
            _when, _order, out, data, n = heapq.heappop(due)
            try:
                os.write(out, data)
            except OSError as err:   # the device's queue is full: a drop we did not plan
                self.log.write(json.dumps({"n": n, "error": err.strerror}) + "\n")
                continue
            self.log.write(f'{{"n":{n},"out":{time.time_ns()},"h":"{digest(data)}"}}\n')

    def finish(self) -> None:
        """Log the packets still on the link when the recording ends."""
        for _when, _order, _out, _data, n in sorted(self._due):
            self.log.write(json.dumps({"n": n, "error": "still on the link at the end"})
                           + "\n")
        self._due.clear()
        self.log.flush()


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m visualizer.core.path.forwarder CLIENT_NS SERVER_NS LOG "
              "(path parameters as JSON on stdin)", file=sys.stderr)
        return 2
    client_ns, server_ns, log_path = argv
    params = PathParams.from_dict(json.loads(sys.stdin.readline()))
    try:
        fds = (open_tun(client_ns), open_tun(server_ns))
    except OSError as err:
        print(json.dumps({"event": "error", "message": f"cannot open a TUN device: "
                          f"{err.strerror or err}"}), flush=True)
        return 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)
    with contextlib.suppress(OSError):   # ahead of the scenario's own work (root only)
        os.setpriority(os.PRIO_PROCESS, 0, FORWARDER_NICE)
    with open(log_path, "w", encoding="ascii", buffering=1 << 16) as log:
        forwarder = Forwarder(fds, params, log)

        def stop(signum: int, frame: object) -> None:
            forwarder.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        print(json.dumps({"event": "ready"}), flush=True)
        gc.disable()
        try:
            forwarder.run(sys.stdin.fileno())
        finally:
            forwarder.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
