"""tcp-many-clients: several clients connect to one listening port at the same time."""

from __future__ import annotations

import socket
from functools import partial

from visualizer.core.traffic.logged_socket import LoggedSocket
from visualizer.core.traffic.params import FAMILY, PORT, Param
from visualizer.core.traffic.scenario import Scenario, SideFunction, payload
from visualizer.core.traffic.side import Side


def client_name(number: int) -> str:
    """The side name of client ``number`` (1-based), as the socket-call log shows it."""
    return f"client {number}"


class TcpManyClients(Scenario):
    name = "tcp-many-clients"
    summary = "several clients on one listening port: connections differ by the client's port"
    description = (
        "Several clients (`clients` of them) connect to the same server port at once. "
        "The server's kernel completes every handshake on the listening socket, "
        "and each accept() returns a new "
        "socket whose own address is still the server's address and port: no new server "
        "port is opened per client. What tells the connections apart is the 4-tuple (client "
        "address, client port, server address, server port): here only the client port, "
        "which each client's kernel picked freely at connect(), differs. The capture shows "
        "one TCP stream per client, each with its own handshake, its own pair of initial "
        "sequence numbers and its own close, all to the same server port and interleaved "
        "in time, because the server accepts all of them before it serves any: it then "
        "reads each client's request of `size` bytes and sends a reply back on that "
        "client's socket, and every client closes first and ends in TIME-WAIT."
    )
    params = (
        Param("clients", "int", 3, 1, 50, help="clients connecting at the same time"),
        Param("size", "int", 64, 1, 1_000_000, help="bytes in each request and each reply"),
        PORT,
        FAMILY,
    )
    transport = "tcp"

    def bind(self, server: Side) -> LoggedSocket:
        return server.listen_loopback(backlog=int(self.values["clients"]))

    def sides(self) -> dict[str, SideFunction]:
        clients = {client_name(n): partial(self.client_number, number=n)
                   for n in range(1, int(self.values["clients"]) + 1)}
        return {"server": self.server, **clients}

    def server(self, side: Side) -> None:
        size = int(self.values["size"])
        listener = side.server_socket
        # Accept everyone first: all the connections are open at the same time.
        accepted = [listener.accept() for _ in range(int(self.values["clients"]))]
        listener.close()
        for conn, peer in accepted:
            request = conn.recv_exactly(size)
            if len(request) < size:
                side.fail(f"got {len(request)} of {size} bytes of the request from {peer}")
            conn.sendall(payload(f"reply to {peer}", 1, size))
        for conn, peer in accepted:
            if extra := conn.recv(65_536):  # returns 0: that client closed
                side.fail(f"got {len(extra)} unexpected bytes from {peer}")
            conn.close()

    def client_number(self, side: Side, number: int) -> None:
        size = int(self.values["size"])
        sock = side.socket(socket.SOCK_STREAM)
        sock.connect(side.server_address)
        sock.sendall(payload(f"request from client {number}", 1, size))
        reply = sock.recv_exactly(size)
        if len(reply) < size:
            side.fail(f"got {len(reply)} of {size} bytes of its reply")
        sock.close()  # the active close: this client ends in TIME-WAIT
