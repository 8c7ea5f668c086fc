"""udp-datagrams: a client sends datagrams, the server echoes each one."""

from __future__ import annotations

import socket
from collections.abc import Mapping

from visualizer.core.errors import BadInput
from visualizer.core.traffic.logged_socket import LoggedSocket, format_sockaddr
from visualizer.core.traffic.params import FAMILY, PORT, Param, ParamValue
from visualizer.core.traffic.scenario import Scenario, payload
from visualizer.core.traffic.side import Side

# Largest UDP payload: 65535 minus the UDP header (8) and, for IPv4, the IP
# header (20); IPv6's payload length field excludes its own header.
MAX_PAYLOAD = {"ipv4": 65_507, "ipv6": 65_527}

# How long the client waits for each echo; on loopback nothing is lost.
ECHO_WAIT = 2.0


class UdpDatagrams(Scenario):
    name = "udp-datagrams"
    summary = "UDP datagrams sent by a client and echoed back by the server"
    description = (
        "There is no handshake and no close: the first packet is already data, and nothing "
        "on the wire says a conversation started or ended. Each sendto() is exactly one "
        "datagram and each recvfrom() returns exactly one, whole, with its sender's address; "
        "message boundaries are kept, unlike TCP's byte stream. There are no sequence or "
        "acknowledgement numbers and no retransmission: the only sign that a datagram "
        "arrived is the echo coming back, which the client waits for with a timeout. The "
        "client never calls bind(): the kernel gives it a free port on its first sendto(). "
        "A datagram bigger than the link's MTU travels as IP fragments; loopback's MTU is "
        "65536 bytes, so here only the largest IPv6 datagrams are fragmented."
    )
    params = (
        Param("count", "int", 5, 0, 100_000, help="datagrams to send (each is echoed)"),
        Param("size", "int", 64, 0, MAX_PAYLOAD["ipv6"],
              help="payload bytes per datagram (at most 65507 over ipv4)"),
        PORT,
        FAMILY,
    )
    transport = "udp"

    @classmethod
    def check(cls, values: Mapping[str, ParamValue]) -> None:
        family, size = str(values["family"]), int(values["size"])
        if size > MAX_PAYLOAD[family]:
            raise BadInput(f"size={size} is too big for {family}: a UDP datagram carries at "
                           f"most {MAX_PAYLOAD[family]} bytes (allowed 0..{MAX_PAYLOAD[family]})")

    def bind(self, server: Side) -> LoggedSocket:
        return server.bind_loopback(socket.SOCK_DGRAM)

    def server(self, side: Side) -> None:
        sock = side.server_socket
        for _ in range(int(self.values["count"])):
            data, source = sock.recvfrom(65_536)
            sock.sendto(data, source)
        sock.close()

    def client(self, side: Side) -> None:
        size = int(self.values["size"])
        sock = side.socket(socket.SOCK_DGRAM)
        for number in range(1, int(self.values["count"]) + 1):
            message = payload("datagram", number, size)
            sock.sendto(message, side.server_address)
            echo, source = sock.recvfrom(65_536, limit=ECHO_WAIT)
            if echo != message or source != side.server_address:
                side.fail(f"got a {len(echo)}-byte datagram from {format_sockaddr(source)} "
                          f"instead of the {size}-byte echo of datagram {number}")
        sock.close()
