"""tcp-lossy: a one-way transfer across a loopback that loses data segments.

Loopback never loses a packet, so this scenario builds its own link: a
private network namespace (``visualizer.core.path.netns``) whose ``lo`` has a
1500-byte MTU and ``gso_max_segs 1`` (each TCP segment is one packet, not a
64 KB super-packet), and an nftables rule in the INPUT hook that drops a
random ``loss`` percent of the data segments. The capture runs on that same
``lo``: a packet socket sees each packet before the INPUT hook, so a dropped
segment is in the capture once, and its retransmission later.

Only data segments are dropped (longer than 100 bytes on the wire, which no
segment without payload can be: 40 bytes of IPv6 header plus at most 60 of
TCP header), so the handshake, the ACKs and the FIN always arrive: a lost
SYN would cost a 1 s timeout and teach nothing new. nftables' ``numgen
random`` cannot be seeded, so each run loses different segments.

Both sides run on one CPU. On a multi-CPU machine a packet sent on ``lo``
is received on the sending CPU, so packets sent from two CPUs (the client's
new data from its thread, a retransmission from the softirq that handled
an ACK) can overtake each other; measured, one run in three then showed
reordering ("previous segment not captured", spurious retransmissions)
that has nothing to do with the loss. On one CPU, none in 16 runs.
"""

from __future__ import annotations

import os
import socket

from visualizer.core.errors import BadInput
from visualizer.core.path.netns import NetworkNamespace, require
from visualizer.core.traffic.logged_socket import LoggedSocket
from visualizer.core.traffic.params import FAMILY, PORT, Param
from visualizer.core.traffic.run import Placement, PreparedRun
from visualizer.core.traffic.scenario import Scenario, payload
from visualizer.core.traffic.side import Side

NAMESPACE_PREFIX = "pv-lossy"
MTU = 1500
CONTROL_MAX_BYTES = 100  # IPv6 header 40 + TCP header at most 60: longer means payload
_TABLE = "packet_visualizer"


def drop_rules(loss: int) -> str:
    """The nftables ruleset (``nft -f`` syntax) that drops ``loss`` percent of the
    data segments arriving on any interface of the namespace."""
    return (f"table inet {_TABLE} {{\n"
            "  chain input {\n"
            "    type filter hook input priority filter; policy accept;\n"
            f"    meta l4proto tcp meta length > {CONTROL_MAX_BYTES} "
            f"numgen random mod 100 < {loss} counter drop\n"
            "  }\n"
            "}\n")


class TcpLossy(Scenario):
    name = "tcp-lossy"
    summary = ("a transfer across a link that loses data segments: retransmissions, "
               "duplicate ACKs, fast retransmit (needs root: CAP_NET_ADMIN)")
    description = (
        "The client sends `kilobytes` KiB to the server inside a private network namespace "
        "whose loopback drops `loss` percent of the client's data segments at random (an "
        "nftables rule; the handshake, the ACKs and the FIN are never dropped). The capture "
        "taps the link before the drop, so a lost segment is in the capture once, looking "
        "normal, and its sequence numbers come again later. After the hole every segment "
        "that does arrive makes the server's kernel repeat the same ack, the next byte it is "
        "missing: duplicate ACKs, each with a SACK block naming the data it holds beyond the "
        "gap (while the server's window still grows early on, these repeats are flagged "
        "window update instead). The client resends the missing segment as soon as the SACKs "
        "show it lost, without waiting for its timer: flagged fast retransmission when two "
        "or more duplicate ACKs asked for it, retransmission otherwise, and out-of-order when "
        "it follows the client's newest segment by less than the handshake's round-trip time "
        "(tens of microseconds here), because by timing alone that cannot be told from "
        "reordering. Linux does not always wait for the classic three duplicates: with SACK "
        "it marks a segment lost once data sent after it has arrived. When the resend is "
        "lost too, or the last segment was lost, only the retransmission timer helps: a "
        "pause of at least 200 ms, then a retransmission, and sometimes a burst that "
        "resends segments whose ACK was already on its way (spurious retransmission). "
        "Now and then the link itself reorders: lo hands each packet to the backlog of the "
        "CPU the sender runs on, and when the sender moves to the other CPU a segment can "
        "overtake the one before it. The capture then shows a gap (\"previous segment not "
        "captured\") filled a moment later by the overtaken segment, flagged out-of-order, "
        "and the client may resend it needlessly. The server's recv() still returns "
        "every byte, in order. nftables' random numbers cannot be seeded, so every run loses "
        "different segments. Needs root (CAP_NET_ADMIN) for the namespace."
    )
    params = (
        # Above 20 % a resend can be lost again and again, and the doubling
        # retransmission timer then stalls a run for many seconds (measured: 28 s at 30 %).
        Param("loss", "int", 10, 0, 20,
              help="percent of the client's data segments dropped (chosen at random, "
                   "different in every run: nftables' random numbers cannot be seeded)"),
        Param("kilobytes", "int", 200, 1, 10_000, help="KiB the client sends"),
        PORT,
        FAMILY,
    )
    transport = "tcp"

    def prepare(self, path: Placement | None = None) -> PreparedRun:
        """A private network namespace with a lossy lo, and the server bound in it;
        the namespace goes when the prepared run is closed."""
        if path is not None:
            raise BadInput(f"{self.name} makes its own loss on one host; for loss on a path "
                           "use tcp-bulk with path parameters, e.g. --param loss=5")
        namespace = NetworkNamespace.create(NAMESPACE_PREFIX, purpose=self.name)
        try:
            namespace.run(["ip", "link", "set", "lo", "up", "mtu", str(MTU),
                           "gso_max_segs", "1"])
            require("nft")
            namespace.run(["nft", "-f", "-"], stdin=drop_rules(int(self.values["loss"])))
        except BaseException:
            namespace.remove()
            raise
        return PreparedRun(self, namespace=namespace)

    def total_bytes(self) -> int:
        return int(self.values["kilobytes"]) * 1024

    def _on_one_cpu(self) -> None:
        """Keep the calling side thread on the lowest CPU it may use (see the
        module docstring): lo then delivers in the order packets are sent. The
        side threads inherit one mask from the thread that started them, so
        both choose the same CPU; the setting ends with the thread."""
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    def bind(self, server: Side) -> LoggedSocket:
        return server.listen_loopback(backlog=1)

    def server(self, side: Side) -> None:
        self._on_one_cpu()
        total = self.total_bytes()
        conn = side.accept_one()
        data = conn.recv_exactly(total)
        if len(data) < total:
            side.fail(f"got {len(data)} of {total} bytes before the client closed")
        if data != payload("data", 1, total):
            side.fail("received bytes that differ from what the client sent")
        if conn.recv(1):
            side.fail(f"got more than the {total} bytes the client sends")
        conn.close()

    def client(self, side: Side) -> None:
        self._on_one_cpu()
        sock = side.socket(socket.SOCK_STREAM)
        sock.connect(side.server_address)
        sock.sendall(payload("data", 1, self.total_bytes()))
        sock.close()  # the kernel still delivers (and retransmits) what is queued
