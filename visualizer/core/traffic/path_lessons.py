"""tcp-retransmission-timeout and udp-lossy-path: loss on a path, TCP and UDP."""

from __future__ import annotations

import socket
import time
from typing import ClassVar

from visualizer.core.traffic.failures import CallTimedOut
from visualizer.core.traffic.logged_socket import LoggedSocket
from visualizer.core.traffic.params import FAMILY, PORT, Param
from visualizer.core.traffic.scenario import Scenario
from visualizer.core.traffic.side import Side
from visualizer.core.traffic.tcp_handshake import TcpHandshake

UDP_FIRST_WAIT = 5.0    # the first datagram may take the path's delay
UDP_QUIET = 1.0         # then silence this long means the client is done
UDP_SEND_GAP = 0.002    # shorter than a held-back datagram's extra delay


class TcpRetransmissionTimeout(TcpHandshake):
    name = "tcp-retransmission-timeout"
    summary = "a lost request with nothing after it: only the retransmission timer helps"
    description = (
        "The client connects over a path of 40 ms round trip and sends one request of "
        "`size` bytes, and nothing after it. The path loses that segment and its next two "
        "transmissions too (loss plan: the client's 3rd, 4th and 5th packets). No later "
        "segment arrives to make the server send duplicate ACKs, so fast retransmit cannot "
        "happen: only timers can recover. Linux first sends a tail loss probe (TLP): with "
        "one segment outstanding it waits about 1.5 round trips plus 200 ms, then resends "
        "it. When that is lost as well, the retransmission timer (RTO: the smoothed RTT "
        "plus at least 200 ms) fires and the sender resends again, doubling the timer "
        "(exponential back-off), so the gap before the next transmission is twice the "
        "last one. On the real-time scale the doubling is plain to see; the fourth "
        "transmission arrives and the exchange ends."
    )
    params = (
        Param("count", "int", 1, 1, 10, help="request/response exchanges"),
        Param("size", "int", 100, 1, 1400, help="bytes in the request and in the reply"),
        PORT,
        FAMILY,
    )
    path_defaults: ClassVar[dict[str, str]] = {"rtt": "40", "drop": "3,4,5"}


class UdpLossyPath(Scenario):
    name = "udp-lossy-path"
    summary = "UDP over a path that loses, duplicates and reorders: nobody repairs it"
    description = (
        "The client sends `count` numbered datagrams over a path of 20 ms round trip that "
        "loses 10 % of them, delivers 5 % twice and holds 10 % back so that later ones "
        "overtake (the path's own settings: change them with loss=, duplicate=, reorder=). "
        "Both ends are captured: every datagram leaves the client, but at the server some "
        "never arrive (crossed out at the link), some arrive twice and some out of order. "
        "UDP noticed none of it and repaired none of it: there are no sequence numbers, no "
        "acknowledgements and no retransmissions in UDP, and every recvfrom() returns "
        "whatever datagram is next, whole. Only the numbers the application put into its "
        "payload reveal what happened. The server cannot even know when the last datagram "
        "has come: it stops after a second of silence."
    )
    params = (
        Param("count", "int", 30, 1, 10_000, help="numbered datagrams the client sends"),
        PORT,
        FAMILY,
    )
    transport = "udp"
    path_defaults: ClassVar[dict[str, str]] = {"rtt": "20", "loss": "10", "duplicate": "5",
                                               "reorder": "10"}

    def bind(self, server: Side) -> LoggedSocket:
        return server.bind_loopback(socket.SOCK_DGRAM)

    def server(self, side: Side) -> None:
        sock = side.server_socket
        limit = UDP_FIRST_WAIT
        while True:
            try:
                sock.recvfrom(65_536, limit=limit)
            except CallTimedOut:
                break  # silence: the server cannot tell lost from late
            limit = UDP_QUIET
        sock.close()

    def client(self, side: Side) -> None:
        sock = side.socket(socket.SOCK_DGRAM)
        for number in range(1, int(self.values["count"]) + 1):
            sock.sendto(f"datagram {number}".encode(), side.server_address)
            time.sleep(UDP_SEND_GAP)
        sock.close()
