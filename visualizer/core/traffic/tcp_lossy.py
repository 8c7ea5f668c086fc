"""tcp-lossy: a one-way transfer across a path that loses packets at random.

It runs on the path (``visualizer.core.path``) like every transit lesson:
the loss is the emulated link's, seeded, and both ends are captured, so a
lost segment is seen leaving the client and never arriving, and its
retransmission later.
"""

from __future__ import annotations

from typing import ClassVar

from visualizer.core.traffic.tcp_congestion import TcpCongestion, bulk_params


class TcpLossy(TcpCongestion):
    name = "tcp-lossy"
    summary = ("a transfer across a path that loses packets: retransmissions, duplicate "
               "ACKs, fast retransmit (needs root)")
    description = (
        "The client sends `kilobytes` KiB to the server over a path of 10 ms round trip that "
        "loses 5 % of the packets at random, in both directions (path parameters loss= and "
        "seed= change it; the same seed loses the same packets). Both ends are captured: a "
        "lost segment leaves the client and is crossed out on the link; at the server there "
        "is a hole. After the hole every segment that does arrive makes the server's kernel "
        "repeat the same ack, the next byte it is missing: duplicate ACKs, each with a SACK "
        "block naming the data it holds beyond the gap. The client resends the missing "
        "segment as soon as the duplicate ACKs and SACKs show it lost, without waiting for "
        "its timer (fast retransmit); a tap at the server flags the first segment after the "
        "hole 'previous segment not captured', and the resend fills the hole out of order. "
        "When the resend is lost too, or the last segment was lost, only a timer helps: a "
        "tail loss probe or the retransmission timeout, at least 200 ms. A lost ACK usually "
        "costs nothing: the next ACK covers the same bytes. The server's recv() still "
        "returns every byte, in order: TCP is reliable."
    )
    params = bulk_params(200)
    path_defaults: ClassVar[dict[str, str]] = {"rtt": "10", "loss": "5"}
