"""tcp-handshake: connect, a few request/response exchanges, a graceful close."""

from __future__ import annotations

import socket

from visualizer.core.traffic.logged_socket import LoggedSocket
from visualizer.core.traffic.params import FAMILY, PORT, Param
from visualizer.core.traffic.scenario import Scenario, answer, ask
from visualizer.core.traffic.side import Side


class TcpHandshake(Scenario):
    name = "tcp-handshake"
    summary = "a TCP connection: three-way handshake, request/response exchanges, FIN close"
    description = (
        "The client's connect() sends a SYN carrying its initial sequence number (ISN); the "
        "server's kernel answers SYN-ACK with its own ISN and ack = client ISN + 1, and the "
        "client's ACK (ack = server ISN + 1) completes the handshake: a SYN consumes one "
        "sequence number although it carries no data. connect() returns after the SYN-ACK; "
        "accept() only picks up a connection the kernel has already established. Each request "
        "and each reply of `size` bytes advances its sender's seq by exactly its length, and "
        "the peer's ack names the next byte it expects; a message larger than the loopback "
        "MSS is split into several segments. At the end the client closes first: its FIN "
        "(which also consumes one sequence number) is acknowledged, the server's recv() "
        "returns 0, the server closes and sends its own FIN, and the client's last ACK leaves "
        "the client, the active closer, in TIME-WAIT while the server goes straight to CLOSED."
    )
    params = (
        Param("count", "int", 3, 0, 10_000, help="request/response exchanges"),
        Param("size", "int", 64, 1, 1_000_000, help="bytes in each request and each reply"),
        PORT,
        FAMILY,
    )
    transport = "tcp"

    def bind(self, server: Side) -> LoggedSocket:
        return server.listen_loopback(backlog=1)

    def server(self, side: Side) -> None:
        size = int(self.values["size"])
        conn = side.accept_one()
        served = 0
        while answer(side, conn, served + 1, size):  # until the client closes
            served += 1
        conn.close()
        if served != self.values["count"]:
            side.fail(f"served {served} requests, expected {self.values['count']}")

    def client(self, side: Side) -> None:
        size = int(self.values["size"])
        sock = side.socket(socket.SOCK_STREAM)
        sock.connect(side.server_address)
        for number in range(1, int(self.values["count"]) + 1):
            ask(side, sock, number, size)
        sock.close()  # the active close: this side ends in TIME-WAIT
