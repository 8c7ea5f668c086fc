"""tcp-half-close: the client shuts down its sending side; the server keeps sending."""

from __future__ import annotations

import socket

from visualizer.core.traffic.logged_socket import LoggedSocket
from visualizer.core.traffic.params import FAMILY, PORT, Param
from visualizer.core.traffic.scenario import Scenario, payload
from visualizer.core.traffic.side import Side


class TcpHalfClose(Scenario):
    name = "tcp-half-close"
    summary = "shutdown(SHUT_WR): the client's FIN ends one direction, the server keeps sending"
    description = (
        "A TCP connection is two byte streams, one each way, and each can be closed on its "
        "own. The client sends its request and calls shutdown(SHUT_WR): its FIN says \"I "
        "will send no more\", not \"goodbye\". The server's recv() returns 0 (end of the "
        "client's stream) once it has read the request, yet the connection stays open the "
        "other way: the client sits in FIN-WAIT-2 and the server in CLOSE-WAIT while the "
        "server sends `count` replies of `size` bytes after the FIN, and the client, which "
        "can no longer send, still receives and acknowledges every one of them (its ACKs "
        "keep seq at its FIN + 1). Only when the server calls close() does its own FIN go "
        "out; the client's recv() then returns 0 too, its last ACK leaves it in TIME-WAIT, "
        "and the server goes from LAST-ACK to CLOSED. This is how a client says \"that was "
        "the whole request\" without giving up the answer, as `nc -N` does at the end of "
        "its input."
    )
    params = (
        Param("count", "int", 3, 0, 10_000, help="replies the server sends after the client's FIN"),
        Param("size", "int", 64, 1, 1_000_000, help="bytes in the request and in each reply"),
        PORT,
        FAMILY,
    )
    transport = "tcp"

    def bind(self, server: Side) -> LoggedSocket:
        return server.listen_loopback(backlog=1)

    def server(self, side: Side) -> None:
        size, count = int(self.values["size"]), int(self.values["count"])
        conn = side.accept_one()
        received = 0
        while chunk := conn.recv(65_536):  # until recv() returns 0: the client's FIN
            received += len(chunk)
        if received != size:
            side.fail(f"got {received} bytes of the {size}-byte request before the FIN")
        for number in range(1, count + 1):  # the client's FIN does not stop this direction
            conn.sendall(payload("reply", number, size))
        conn.close()

    def client(self, side: Side) -> None:
        size, count = int(self.values["size"]), int(self.values["count"])
        sock = side.socket(socket.SOCK_STREAM)
        sock.connect(side.server_address)
        sock.sendall(payload("request", 1, size))
        sock.shutdown(socket.SHUT_WR)  # FIN: no more from us, but keep receiving
        received = 0
        while chunk := sock.recv(65_536):  # until recv() returns 0: the server's FIN
            received += len(chunk)
        if received != count * size:
            side.fail(f"got {received} of the {count * size} reply bytes before the server "
                      "closed")
        sock.close()
