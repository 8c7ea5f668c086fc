"""udp-closed-port: a datagram to a port nobody listens on, answered by ICMP."""

from __future__ import annotations

import errno
import socket
import threading

from visualizer.core.traffic.failures import CallTimedOut, SocketCallFailed
from visualizer.core.traffic.logged_socket import LoggedSocket
from visualizer.core.traffic.params import FAMILY, PORT, Param
from visualizer.core.traffic.scenario import Scenario, SideFunction, payload
from visualizer.core.traffic.side import Side

# How long the client waits for the port to be closed, and for the error to come.
CLOSE_WAIT = 2.0
ERROR_WAIT = 2.0


class UdpClosedPort(Scenario):
    name = "udp-closed-port"
    summary = "a UDP datagram to a closed port: ICMP port unreachable, recv() fails"
    description = (
        "The server binds a UDP port and closes it again before the client sends, so nobody "
        "listens there. UDP has no handshake that could be refused: the client's datagram "
        "simply goes out, and the receiving kernel, finding no socket for it, answers with "
        "an ICMP (ICMPv6 over IPv6) destination unreachable, code port unreachable. The "
        "ICMP message carries no ports of its own; it quotes the IP and UDP headers of the "
        "datagram it answers, which is how it is linked to that datagram (and why the "
        "capture filter looks inside the quote). The client called connect() on its UDP "
        "socket: that sends nothing, it only fixes the peer, and it lets the kernel report "
        "the ICMP error to the socket, so the client's next recv() fails with ECONNREFUSED "
        "(\"Connection refused\"), as the socket-call log shows. An unconnected socket "
        "using sendto() would never hear of it and could only wait in vain. Each of the "
        "`count` datagrams gets its own ICMP answer and its own ECONNREFUSED."
    )
    params = (
        Param("count", "int", 1, 1, 100, help="datagrams sent, each answered by an ICMP error"),
        Param("size", "int", 32, 0, 1400, help="payload bytes per datagram"),
        PORT,
        FAMILY,
    )
    transport = "udp"

    def capture_filter(self, server_port: int) -> str:
        # The ICMP error's own header has no ports: match the UDP header it quotes
        # (ICMP 8 + IPv4 20 bytes, or IPv6 40 + ICMPv6 8 + IPv6 40, then the source port).
        return (f"udp port {server_port}"
                f" or (icmp and icmp[0] == 3 and icmp[30:2] == {server_port})"
                f" or (icmp6 and ip6[40] == 1 and ip6[90:2] == {server_port})")

    def bind(self, server: Side) -> LoggedSocket:
        # Bound during prepare, so that the port is known and free; closed when the run starts.
        return server.bind_loopback(socket.SOCK_DGRAM)

    def sides(self) -> dict[str, SideFunction]:
        self._closed = threading.Event()
        return super().sides()

    def server(self, side: Side) -> None:
        side.server_socket.close()
        self._closed.set()

    def client(self, side: Side) -> None:
        if not self._closed.wait(CLOSE_WAIT):
            side.fail("waited in vain for the server to close its port")
        sock = side.socket(socket.SOCK_DGRAM)
        sock.connect(side.server_address)
        for number in range(1, int(self.values["count"]) + 1):
            sock.sendall(payload("datagram", number, int(self.values["size"])))
            port = side.server_address[1]
            try:
                data = sock.recv(65_536, limit=ERROR_WAIT)
            except SocketCallFailed as exc:
                if exc.errno != errno.ECONNREFUSED:
                    raise
            except CallTimedOut:
                side.fail(f"heard nothing back from port {port}: another program may have "
                          "bound it, or a firewall drops ICMP on loopback")
            else:
                side.fail(f"got a {len(data)}-byte answer from port {port}: another program "
                          "bound it during the run; try again or choose another --param port=…")
        sock.close()
