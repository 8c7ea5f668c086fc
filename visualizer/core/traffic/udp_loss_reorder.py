"""udp-loss-reorder: numbered datagrams over a path that loses, duplicates
and above all reorders them."""

from __future__ import annotations

from typing import ClassVar

from visualizer.core.traffic.params import FAMILY, PORT, Param
from visualizer.core.traffic.path_lessons import UdpLossyPath


class UdpLossReorder(UdpLossyPath):
    name = "udp-loss-reorder"
    summary = "UDP datagrams lost, duplicated and reordered on the way (needs root)"
    description = (
        "The client sends `count` datagrams numbered in their payload over a path of 10 ms "
        "round trip that loses 15 % of them, delivers 10 % twice and holds 15 % back so that "
        "the next ones overtake them (seeded: the same seed, the same fates). Both ends are "
        "captured: the client's datagrams leave complete and in order, but at the server "
        "some never arrive, some arrive twice and some late. UDP noticed none of it and "
        "repaired none of it: there are no sequence numbers, no acknowledgements and no "
        "retransmissions in UDP, and every recvfrom() returns whatever datagram is next, "
        "whole. Only the numbers the application put into its own payload reveal what "
        "happened, which is exactly what protocols built on UDP, such as RTP and QUIC, do. "
        "The server cannot even know when the last datagram has come: it stops after a "
        "second of silence."
    )
    params = (
        Param("count", "int", 20, 1, 1000, help="numbered datagrams the client sends"),
        PORT,
        FAMILY,
    )
    path_defaults: ClassVar[dict[str, str]] = {"rtt": "10", "loss": "15", "duplicate": "10",
                                               "reorder": "15", "seed": "5"}
