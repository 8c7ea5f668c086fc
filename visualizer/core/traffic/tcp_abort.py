"""tcp-abort: close() with SO_LINGER set to 0 sends a RST instead of a FIN."""

from __future__ import annotations

import errno
import socket
import struct

from visualizer.core.traffic.failures import SocketCallFailed
from visualizer.core.traffic.logged_socket import LoggedSocket
from visualizer.core.traffic.params import FAMILY, PORT, Param
from visualizer.core.traffic.scenario import Scenario, answer, ask
from visualizer.core.traffic.side import Side

# struct linger {int l_onoff; int l_linger;}: linger on, for 0 seconds.
LINGER_ABORT = struct.pack("ii", 1, 0)


class TcpAbort(Scenario):
    name = "tcp-abort"
    summary = "an abortive close: SO_LINGER 0, then close() sends a RST instead of a FIN"
    description = (
        "The client exchanges `count` requests and replies of `size` bytes as in "
        "tcp-handshake, then sets SO_LINGER to on with a time of 0 and calls close(). "
        "Instead of the orderly FIN exchange its kernel sends one RST-ACK, with seq = the "
        "client's next sequence number, and forgets the connection at once: there is no FIN "
        "from either side, no ACK of the RST (a reset is never acknowledged) and no "
        "TIME-WAIT, so both endpoints go straight from ESTABLISHED to CLOSED. The server "
        "learns of it from its next call: its recv() fails with ECONNRESET (\"Connection "
        "reset by peer\") instead of returning 0, shown as the result of the call, and its "
        "close() afterwards sends nothing. An abort throws away whatever the closer had not "
        "sent yet; programs use it to drop a misbehaving peer at once, or to leave no "
        "TIME-WAIT behind. A close() with unread data in the receive buffer sends a RST the "
        "same way, without SO_LINGER."
    )
    params = (
        Param("count", "int", 1, 0, 10_000, help="request/response exchanges before the abort"),
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
        try:
            while answer(side, conn, served + 1, size):
                served += 1
        except SocketCallFailed as exc:
            if exc.errno != errno.ECONNRESET:
                raise
        else:
            side.fail("saw the client's FIN (recv() returned 0) instead of a reset")
        conn.close()
        if served != self.values["count"]:
            side.fail(f"served {served} requests, expected {self.values['count']}")

    def client(self, side: Side) -> None:
        size = int(self.values["size"])
        sock = side.socket(socket.SOCK_STREAM)
        sock.connect(side.server_address)
        for number in range(1, int(self.values["count"]) + 1):
            ask(side, sock, number, size)
        sock.setsockopt("SO_LINGER", LINGER_ABORT, shown="{l_onoff=1, l_linger=0}")
        sock.close()  # with linger 0: RST, no FIN, no TIME-WAIT
