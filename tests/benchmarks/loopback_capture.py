"""A capture of real kernel TCP for the analysis benchmarks: an input we did not design.

    sudo .venv/bin/python tests/benchmarks/loopback_capture.py OUT.pcap
        [--packets N] [--mix bulk|short]

make_pcap.py's mixes are written by us and carry no TCP options. This one
is the kernel's own traffic, recorded by tcpdump: every segment with
timestamps, SYNs with MSS, SACK-permitted and window scale, delayed ACKs,
window updates, the kernel's sizes and timing. In a network namespace of its
own (``core/path/netns.py``, removed at the end), loopback gets Ethernet's
MTU of 1500 and no segmentation offload, so each segment is one packet of at
most 1500 bytes as on a wire. tcpdump keeps the first 96 bytes of each
(headers only) and stops after N packets (default 10^6).

- ``bulk``: eight connections, each sending 64 KiB blocks to a sink;
- ``short``: HTTP-like exchanges, a connection each: a 200-byte request,
  a 4 KiB response, then the client closes.

Then, for instance::

    .venv/bin/python tests/benchmarks/analysis_vs_tshark.py --pcap OUT.pcap

Needs root (a namespace, a capture) and tcpdump.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from visualizer.core.errors import VisualizerError
from visualizer.core.path.netns import NamespaceNotPermitted, NetworkNamespace

PORT = 5001
SENDERS = 8
BLOCK = 64 * 1024
REQUEST = 200
RESPONSE = 4096


def _sink(conn: socket.socket) -> None:
    with conn:
        while conn.recv(1 << 20):
            pass


def _answer(conn: socket.socket) -> None:
    with conn:
        got = 0
        while got < REQUEST:
            part = conn.recv(REQUEST - got)
            if not part:
                return
            got += len(part)
        conn.sendall(b"r" * RESPONSE)
        while conn.recv(4096):   # until the client closes
            pass


def _serve(server: socket.socket, handle: Callable[[socket.socket], None]) -> None:
    """Accept until the socket is closed (after the clients have stopped)."""
    server.settimeout(0.2)
    while True:
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def _send_blocks(ns: NetworkNamespace, stop: threading.Event) -> None:
    ns.enter_thread()
    block = b"b" * BLOCK
    with socket.create_connection(("127.0.0.1", PORT)) as conn:
        while not stop.is_set():
            conn.sendall(block)


def _exchange(ns: NetworkNamespace, stop: threading.Event) -> None:
    ns.enter_thread()
    request = b"q" * REQUEST
    while not stop.is_set():
        with socket.create_connection(("127.0.0.1", PORT)) as conn:
            conn.sendall(request)
            got = 0
            while got < RESPONSE:
                part = conn.recv(RESPONSE)
                if not part:
                    break
                got += len(part)


def record(out: str, packets: int, mix: str) -> None:
    ns = NetworkNamespace.create("pv-bench", purpose="the loopback capture")
    stop = threading.Event()
    threads: list[threading.Thread] = []   # the clients
    serving: threading.Thread | None = None
    dump: subprocess.Popen[str] | None = None
    server: socket.socket | None = None
    try:
        ns.run(["ip", "link", "set", "lo", "mtu", "1500", "gso_max_size", "1500",
                "gso_max_segs", "1", "up"])
        ns.run(["sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=1"])   # short: many connections
        dump = subprocess.Popen(ns.command(["tcpdump", "-i", "lo", "-s", "96", "-w", out,
                                            "-c", str(packets), "tcp"]),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert dump.stderr is not None
        started = time.monotonic()
        line = dump.stderr.readline()   # "listening on lo, ..." once it captures
        if "listening" not in line:
            raise SystemExit(f"tcpdump did not start: {line.strip() or dump.wait()}")
        with ns.entered():
            server = socket.create_server(("127.0.0.1", PORT), backlog=512)
        handle = _sink if mix == "bulk" else _answer
        serving = threading.Thread(target=_serve, args=(server, handle), daemon=True)
        serving.start()
        client = _send_blocks if mix == "bulk" else _exchange
        threads += [threading.Thread(target=client, args=(ns, stop), daemon=True)
                    for _ in range(SENDERS)]
        for thread in threads:
            thread.start()
        status = dump.wait()
        if status != 0:
            raise SystemExit(f"tcpdump stopped with status {status}: {dump.stderr.read().strip()}")
        print(f"wrote {out}: {packets:,} packets of {mix} traffic in "
              f"{time.monotonic() - started:.0f} s", file=sys.stderr)
    finally:
        stop.set()
        if dump is not None and dump.poll() is None:
            dump.terminate()
            try:
                dump.wait(10)
            except subprocess.TimeoutExpired:
                dump.kill()
                dump.wait()
        for thread in threads:   # the clients end their exchange, then the server goes
            thread.join(5)
        if server is not None:
            server.close()
        if serving is not None:
            serving.join(5)
        ns.remove()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the pcap file to write")
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--mix", choices=("bulk", "short"), default="bulk")
    args = parser.parse_args()
    try:
        record(args.out, args.packets, args.mix)
    except VisualizerError as e:   # no privilege, no ip or tcpdump: one line
        print(f"loopback_capture: {e}", file=sys.stderr)
        return 3 if isinstance(e, NamespaceNotPermitted) else 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
