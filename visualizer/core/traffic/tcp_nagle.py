"""tcp-nagle: the same small writes with Nagle's algorithm on, then off (TCP_NODELAY)."""

from __future__ import annotations

import socket
import threading
import time

from visualizer.core.traffic.logged_socket import LoggedSocket
from visualizer.core.traffic.params import FAMILY, PORT, Param
from visualizer.core.traffic.scenario import Scenario, SideFunction, payload
from visualizer.core.traffic.side import Side

# The two connections, in order: TCP_NODELAY value and how the log shows it.
SETTINGS = ((0, "0 (Nagle on)"), (1, "1 (Nagle off)"))

# How long the server waits for the client to finish one connection's writes,
# beyond the time the writes themselves take.
WRITE_SLACK = 5.0


class TcpNagle(Scenario):
    name = "tcp-nagle"
    summary = "many small writes: with Nagle's algorithm (stream 0), then with TCP_NODELAY"
    description = (
        "The client makes `count` writes of `size` bytes, one every `interval` ms, twice: "
        "first on a connection with Nagle's algorithm on (the default, TCP_NODELAY 0), then "
        "on a second connection, its own TCP stream, with setsockopt(TCP_NODELAY, 1). "
        "Nagle's rule: while a small segment is still unacknowledged, later small writes "
        "wait in the send buffer and leave together, as one segment, when the ACK comes. "
        "The server here reads only after the client has finished writing, so its kernel "
        "does not ACK each segment at once but on its delayed-ACK timer, about 40 ms later "
        "(except the first 16 or so segments of a connection, which Linux ACKs at once to "
        "get it going). So on the Nagle stream the first writes still leave one by one, "
        "then each segment carries all the writes of one ACK delay; with TCP_NODELAY every "
        "send() leaves at once as its own small segment. Same bytes, far fewer and larger "
        "segments with Nagle, at a price: a write can wait up to one ACK delay before it "
        "is sent, which is why interactive programs set TCP_NODELAY. (A server that reads "
        "continuously would hide the effect here: each recv() that empties the buffer "
        "makes Linux ACK at once, and on loopback that ACK is back before the next write.)"
    )
    params = (
        Param("count", "int", 50, 1, 10_000, help="small writes on each connection"),
        Param("size", "int", 10, 1, 1000, help="bytes in each write"),
        Param("interval", "int", 3, 0, 1000, help="milliseconds between writes"),
        PORT,
        FAMILY,
    )
    transport = "tcp"

    def total_bytes(self) -> int:
        return int(self.values["count"]) * int(self.values["size"])

    def bind(self, server: Side) -> LoggedSocket:
        return server.listen_loopback(backlog=len(SETTINGS))

    def sides(self) -> dict[str, SideFunction]:
        # Set by the client when it is done with a connection (or has failed).
        self._written = [threading.Event() for _ in SETTINGS]
        return super().sides()

    def server(self, side: Side) -> None:
        listener = side.server_socket
        writing = int(self.values["count"]) * int(self.values["interval"]) / 1000
        for number, written in enumerate(self._written, 1):
            conn, _peer = listener.accept()
            # Busy elsewhere: reading now would make the kernel ACK every segment.
            if not written.wait(writing + WRITE_SLACK):
                side.fail(f"waited in vain for the client's writes on connection {number}")
            received = 0
            while chunk := conn.recv(65_536):
                received += len(chunk)
            conn.close()
            if received != self.total_bytes():
                side.fail(f"received {received} bytes on connection {number}, "
                          f"expected {self.total_bytes()}")
        listener.close()

    def client(self, side: Side) -> None:
        size, interval = int(self.values["size"]), int(self.values["interval"]) / 1000
        for (nodelay, shown), written in zip(SETTINGS, self._written, strict=True):
            try:
                sock = side.socket(socket.SOCK_STREAM)
                sock.setsockopt("TCP_NODELAY", nodelay, shown)
                sock.connect(side.server_address)
                for number in range(1, int(self.values["count"]) + 1):
                    sock.sendall(payload("write", number, size))
                    time.sleep(interval)
                sock.close()
            finally:
                written.set()  # also on failure, so the server stops waiting
