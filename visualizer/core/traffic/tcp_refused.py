"""tcp-refused: connect() to a port where nobody listens; the SYN is answered by a RST."""

from __future__ import annotations

import errno
import socket
import threading
from functools import partial

from visualizer.core.traffic.failures import SocketCallFailed
from visualizer.core.traffic.logged_socket import LoggedSocket
from visualizer.core.traffic.params import FAMILY, PORT, Param
from visualizer.core.traffic.scenario import Scenario, SideFunction
from visualizer.core.traffic.side import Side

# The server holds its port at most this long waiting for the client to finish;
# the client's calls are bounded by the run's own timeout, so this is a safety net.
_HOLD_LIMIT = 30.0


class TcpRefused(Scenario):
    name = "tcp-refused"
    summary = "connect() to a closed port: the SYN is answered by a RST, ECONNREFUSED"
    description = (
        "The server calls socket() and bind() but never listen(), so the port is reserved "
        "and yet closed: no other program can take it during the run, and nothing accepts "
        "connections on it. The client's connect() sends a SYN as usual, and the server's "
        "kernel (the server program is not involved) answers at once with a RST-ACK. Its "
        "ack = the SYN's sequence number + 1, so that the client accepts the reset as an "
        "answer to its own SYN; its raw seq is 0, as the refused port has no sequence "
        "numbers of its own. There is no SYN-ACK, no retransmission of the SYN and "
        "no FIN: the client goes from SYN-SENT straight to CLOSED and its connect() fails "
        "with ECONNREFUSED (\"Connection refused\"), shown as the result of the call. With "
        "`attempts` above 1 the client tries again from a new socket, so each attempt is a "
        "new SYN from a new client port and is refused again the same way."
    )
    params = (
        Param("attempts", "int", 1, 1, 100, help="connect() attempts, each from a new socket"),
        PORT,
        FAMILY,
    )
    transport = "tcp"

    def bind(self, server: Side) -> LoggedSocket:
        return server.bind_loopback(socket.SOCK_STREAM)  # and no listen(): the port is closed

    def sides(self) -> dict[str, SideFunction]:
        client_done = threading.Event()
        return {"server": partial(self._hold_port, done=client_done),
                "client": partial(self._connect, done=client_done)}

    def _hold_port(self, side: Side, done: threading.Event) -> None:
        """Keep the port bound (and closed) until the client has finished."""
        done.wait(_HOLD_LIMIT)
        side.server_socket.close()

    def _connect(self, side: Side, done: threading.Event) -> None:
        try:
            for attempt in range(1, int(self.values["attempts"]) + 1):
                sock = side.socket(socket.SOCK_STREAM)
                try:
                    sock.connect(side.server_address)
                except SocketCallFailed as exc:
                    if exc.errno != errno.ECONNREFUSED:
                        raise
                else:
                    side.fail(f"connected on attempt {attempt} to a port where nobody listens")
                sock.close()
        finally:
            done.set()
