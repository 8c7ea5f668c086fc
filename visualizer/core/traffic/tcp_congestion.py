"""tcp-congestion and tcp-slow-start: a bulk transfer through a bottleneck."""

from __future__ import annotations

import socket
from typing import ClassVar

from visualizer.core.traffic.params import FAMILY, PORT, Param
from visualizer.core.traffic.side import Side
from visualizer.core.traffic.tcp_bulk import TcpBulk

KIBIBYTE = 1 << 10
CHUNK = 64 * KIBIBYTE
ALGORITHMS = ("cubic", "reno", "bbr")


def bulk_params(kilobytes: int) -> tuple[Param, ...]:
    """The parameters of a bulk transfer on a path: its size and the sender's
    congestion control."""
    return (
        Param("kilobytes", "int", kilobytes, 1, 1_000_000, help="KiB the client sends"),
        Param("cc", "choice", "cubic", choices=ALGORITHMS,
              help="congestion control of the sender (TCP_CONGESTION)"),
        PORT,
        FAMILY,
    )


class TcpCongestion(TcpBulk):
    """The server side (bind, read everything, check) is tcp-bulk's."""

    name = "tcp-congestion"
    summary = "a bulk transfer through a slow link with a small queue: losses, fast recovery"
    description = (
        "The client sends `kilobytes` KiB to the server over a path of 40 ms round trip "
        "whose bottleneck carries 10 Mbit/s and queues at most 20 packets. TCP cannot know "
        "the link's capacity: the sender's congestion window (cwnd) starts at 10 segments "
        "and grows by about one segment per segment acknowledged (slow start), doubling "
        "every round trip, until the queue in front of the bottleneck overflows and a "
        "packet is dropped (tail drop, crossed out at the link). Three duplicate ACKs tell "
        "the sender a segment is missing: it retransmits it at once (fast retransmit), halves "
        "its window (ssthresh) and goes on (fast recovery); then the window grows by one "
        "segment per round trip (congestion avoidance) until the queue overflows again: "
        "the sawtooth. `cc` picks the algorithm: reno and cubic react to loss; bbr paces "
        "at the rate it measures and keeps its window whatever the losses."
    )
    params = bulk_params(4096)
    transport = "tcp"
    path_defaults: ClassVar[dict[str, str]] = {"rtt": "40", "rate": "10", "queue": "20"}

    def total_bytes(self) -> int:
        return int(self.values["kilobytes"]) * KIBIBYTE

    def client(self, side: Side) -> None:
        sock = side.socket(socket.SOCK_STREAM)
        sock.setsockopt("TCP_CONGESTION", str(self.values["cc"]).encode())
        sock.connect(side.server_address)
        left = self.total_bytes()
        block = bytes(range(256)) * (CHUNK // 256)
        while left:
            sock.sendall(block[:min(left, CHUNK)])
            left -= min(left, CHUNK)
        sock.close()


class TcpSlowStart(TcpCongestion):
    name = "tcp-slow-start"
    summary = "a transfer over 40 ms and 10 Mbit/s: the window doubling each round trip"
    description = (
        "The client sends `kilobytes` KiB to the server over a path of 40 ms round trip and "
        "a 10 Mbit/s bottleneck whose queue is long enough for the whole start. The sender "
        "may not send more than its congestion window before an ACK comes back: 10 segments "
        "in the first round trip, then each ACK lets one more out, so the bursts double "
        "every 40 ms (slow start is an exponential start). Soon the bursts leave faster "
        "than the bottleneck drains them: packets wait in its queue, and the one-way delay "
        "grows from 20 ms by the time the queue ahead of each packet takes to drain "
        "(queueing delay), which the arrows' growing slope shows."
    )
    params = bulk_params(512)
    path_defaults: ClassVar[dict[str, str]] = {"rtt": "40", "rate": "10", "queue": "1000"}


class TcpCorruption(TcpCongestion):
    name = "tcp-corruption"
    summary = "bits flipped on the way: the receiver's checksum throws segments away"
    description = (
        "The client sends `kilobytes` KiB over a path of 20 ms round trip that flips one bit "
        "in 3 % of the packets. A flipped bit reaches the receiving host (the IP header is "
        "intact), but the TCP checksum over the segment no longer adds up: the receiver's "
        "kernel discards it silently, as if it had been lost, and sends no ACK for it. The "
        "sender notices the missing ACK (duplicate ACKs, or its timer) and sends the segment "
        "again: TCP is checked and reliable. The capture at the receiving end shows the "
        "damaged segment arriving with a wrong checksum, then its retransmission."
    )
    params = bulk_params(256)
    path_defaults: ClassVar[dict[str, str]] = {"rtt": "20", "corrupt": "3"}
