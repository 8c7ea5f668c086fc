"""The path's forwarder alone, delay on: the packets per second it carries with
no drop nobody asked for, and how far each packet's delay is from the one set.

    sudo .venv/bin/python tests/benchmarks/forwarder.py [--rates 10000,20000,50000]
                                                        [--seconds 3] [--rtt 20]

For each rate, a sender in the client's namespace sends 64-byte UDP
datagrams to a receiver in the server's namespace, paced in 1 ms bursts,
over a path with only a delay (rtt/2 each way). The forwarder's own log
gives each packet's time at the link and when it left it: the delay error
is (left - arrived at the link) - the one-way delay. Drops are datagrams
sent that the receiver did not get (forwarder too slow, a queue of the
TUN device or of a socket overflowing). The figure to keep is the highest
rate with 0 drops, and the error's p50 and p99 there.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import load, machine, print_table

from visualizer.core.path.link import PathParams
from visualizer.core.path.network import PathNetwork

RECEIVER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 25)
s.bind(("192.0.2.2", 9000))
print("ready", flush=True)
s.settimeout(float(sys.argv[1]))
n = 0
try:
    while True:
        s.recv(2048)
        n += 1
        s.settimeout(1.0)
except OSError:
    pass
print(n, flush=True)
"""

SENDER = """
import socket, sys, time
rate, seconds = float(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 25)
payload = bytes(64)
burst = max(1, round(rate / 1000))
start = time.perf_counter()
sent = 0
while True:
    now = time.perf_counter() - start
    if now >= seconds:
        break
    due = int(now * rate) + burst
    while sent < min(due, int(seconds * rate)):
        try:
            s.sendto(payload, ("192.0.2.2", 9000))
        except BlockingIOError:
            break
        sent += 1
    time.sleep(0.0005)
print(sent, flush=True)
"""


def one_rate(rate: int, seconds: float, rtt: float) -> list[object]:
    params = PathParams(rtt=rtt)
    with PathNetwork(params) as net:
        assert net.client is not None and net.server is not None
        receiver = subprocess.Popen(net.server.command([sys.executable, "-c", RECEIVER,
                                                       str(seconds + 5)]),
                                    stdout=subprocess.PIPE, text=True)
        assert receiver.stdout is not None
        receiver.stdout.readline()
        sender = subprocess.run(net.client.command([sys.executable, "-c", SENDER, str(rate),
                                                    str(seconds)]),
                                capture_output=True, text=True, check=True)
        received = int(receiver.communicate(timeout=seconds + 30)[0].split()[-1])
        time.sleep(0.2)
        log = net.stop()
    sent = int(sender.stdout.split()[-1])
    arrived_at_link = {int(str(e["n"])): int(str(e["t"])) for e in log if "d" in e}
    errors = sorted(int(str(e["out"])) - arrived_at_link[int(str(e["n"]))] - params.one_way_ns
                    for e in log if "out" in e and int(str(e["n"])) in arrived_at_link)
    p50 = statistics.median(errors) / 1e3 if errors else float("nan")
    p99 = errors[int(len(errors) * 0.99)] / 1e3 if errors else float("nan")
    worst = errors[-1] / 1e3 if errors else float("nan")
    return [f"{rate:,}", f"{sent:,}", f"{sent / seconds:,.0f}", f"{received:,}",
            f"{sent - received:,}", f"{p50:,.0f} µs", f"{p99:,.0f} µs", f"{worst:,.0f} µs"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="5000,10000,20000,40000")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rtt", type=float, default=20.0)
    args = parser.parse_args()
    print(machine())
    print(f"load before: {load()}")
    rows = [one_rate(int(r), args.seconds, args.rtt) for r in args.rates.split(",")]
    print_table(f"forwarder, one-way delay {args.rtt / 2:g} ms, 64-byte UDP datagrams, "
                f"{args.seconds:g} s per rate",
                ["offered/s", "sent", "sent/s", "received", "dropped", "delay error p50",
                 "p99", "max"], rows)
    print(f"load after: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
