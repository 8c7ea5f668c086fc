"""tcp-bulk: the client sends megabytes as fast as TCP lets it; the server reads."""

from __future__ import annotations

import socket
from typing import ClassVar

from visualizer.core.traffic.logged_socket import LoggedSocket
from visualizer.core.traffic.params import FAMILY, PORT, Param
from visualizer.core.traffic.scenario import Scenario
from visualizer.core.traffic.side import Side

MEBIBYTE = 1 << 20

# Each send() hands the kernel this much; each recv() asks for this much. Big
# enough that even 1000 MB makes only a few thousand logged calls.
CHUNK = MEBIBYTE


class TcpBulk(Scenario):
    name = "tcp-bulk"
    summary = "a bulk transfer: many full-sized segments, growing windows, fewer ACKs"
    description = (
        "The client sends `megabytes` MiB to the server as fast as TCP allows, then closes. "
        "Loopback's MTU is 65536 bytes, so the SYN and SYN-ACK announce an MSS of 65495 "
        "(65476 over IPv6), and a full data segment carries 12 bytes less (65483), the room "
        "the timestamp option takes in every header. The SYN and SYN-ACK also agree on window "
        "scaling: every later window is the 16-bit window field times 2^scale, and the "
        "server's window grows from 64 KiB to a megabyte or more as its kernel enlarges the "
        "receive buffer while the transfer runs (receive autotuning). The client may have up "
        "to a window of bytes in flight, unacknowledged, so segments leave back to back "
        "without waiting for ACKs, and window_full marks a segment that fills the window to "
        "the last byte. The server sends no data, only ACKs, and not one per segment: Linux "
        "ACKs every segment at the start of a connection (quick-ACK mode); after that its "
        "rule is one ACK per two full-sized segments, or sooner when the server's recv() "
        "frees enough buffer to open the window much wider, and when segments pile up while "
        "the server's recv() holds the socket, one ACK covers many of them at once. Each "
        "logged send() of 1 MiB becomes many segments, and each recv() returns whatever has "
        "arrived, not what one send() sent: TCP carries a byte stream, not messages. In "
        "large transfers even loopback now and then delivers a segment out of order (the "
        "packets were queued on two CPUs), which shows up as out_of_order, duplicate_ack and "
        "perhaps a retransmission."
    )
    params: ClassVar[tuple[Param, ...]] = (
        Param("megabytes", "int", 2, 1, 1000, help="MiB the client sends"),
        PORT,
        FAMILY,
    )
    transport = "tcp"

    def total_bytes(self) -> int:
        return int(self.values["megabytes"]) * MEBIBYTE

    def bind(self, server: Side) -> LoggedSocket:
        return server.listen_loopback(backlog=1)

    def server(self, side: Side) -> None:
        conn = side.accept_one()
        received = 0
        while chunk := conn.recv(CHUNK):
            received += len(chunk)
        conn.close()
        if received != self.total_bytes():
            side.fail(f"received {received} bytes, expected {self.total_bytes()}")

    def client(self, side: Side) -> None:
        block = bytes(range(256)) * (CHUNK // 256)
        sock = side.socket(socket.SOCK_STREAM)
        sock.connect(side.server_address)
        for _ in range(int(self.values["megabytes"])):
            sock.sendall(block)
        sock.close()
