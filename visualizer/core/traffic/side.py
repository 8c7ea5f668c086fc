"""The handle each side of a scenario works through.

A scenario's ``bind`` gets the server's ``Side`` during prepare; its side
functions get theirs during the run. Through it a side opens logged sockets
on the loopback address of the chosen family, finds the server, and fails
with a clear message.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Mapping
from typing import NoReturn

from visualizer.core.errors import BadInput
from visualizer.core.traffic.calls import CallLog
from visualizer.core.traffic.control import RunControl
from visualizer.core.traffic.failures import ScenarioFailed, SocketCallFailed
from visualizer.core.traffic.logged_socket import Address, LoggedSocket
from visualizer.core.traffic.params import ParamValue

# family parameter -> (address family, loopback address)
LOOPBACK = {"ipv4": (socket.AF_INET, "127.0.0.1"), "ipv6": (socket.AF_INET6, "::1")}

_NO_IPV6 = (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL, errno.EPROTONOSUPPORT)


class Side:
    """One side ("server", "client"...) of a prepared run."""

    def __init__(self, name: str, values: Mapping[str, ParamValue], log: CallLog,
                 control: RunControl, *, host: str | None = None) -> None:
        """``host``: the address this side binds to (default: the family's loopback;
        on a path, its end's address)."""
        self.name = name
        self.values = values
        self._log = log
        self._control = control
        family_name = str(values.get("family", "ipv4"))
        self.family_name = family_name
        self.family, loopback = LOOPBACK[family_name]
        self.host = host or loopback
        self._server_socket: LoggedSocket | None = None
        self._server_address: Address | None = None

    # -- set up by the driver ---------------------------------------------------

    @property
    def server_address(self) -> Address:
        """(host, port) the server is bound to."""
        if self._server_address is None:
            raise RuntimeError("the server is not bound yet")
        return self._server_address

    @property
    def server_socket(self) -> LoggedSocket:
        """The socket the scenario's ``bind`` returned (given to the server side)."""
        if self._server_socket is None:
            raise RuntimeError(f"the {self.name} side has no server socket")
        return self._server_socket

    def accept_one(self) -> LoggedSocket:
        """Accept the one client on the server socket, then stop listening."""
        listener = self.server_socket
        conn, _peer = listener.accept()
        listener.close()
        return conn

    def attach(self, address: Address, server_socket: LoggedSocket | None) -> None:
        self._server_address = address
        self._server_socket = server_socket

    # -- for scenarios ------------------------------------------------------------

    def socket(self, kind: int) -> LoggedSocket:
        """A new logged socket of the run's family (SOCK_STREAM or SOCK_DGRAM)."""
        try:
            return LoggedSocket.open(self.family, kind, self.name, self._log, self._control)
        except SocketCallFailed as exc:
            if self.family == socket.AF_INET6 and exc.errno in _NO_IPV6:
                raise self._no_ipv6() from exc
            raise

    def bind_loopback(self, kind: int) -> LoggedSocket:
        """A socket bound to the loopback address and the ``port`` parameter.

        Runs during prepare. A busy or privileged port, or a missing ::1, is
        ``BadInput`` telling the user what to change.
        """
        sock = self.socket(kind)
        port = int(self.values.get("port", 0))
        try:
            sock.bind((self.host, port))
        except SocketCallFailed as exc:
            sock.close("bind failed")
            if exc.errno == errno.EADDRINUSE:
                raise BadInput(f"port {port} on {self.host} is in use: choose another "
                               f"--param port=… or port=0") from exc
            if exc.errno == errno.EACCES:
                raise BadInput(f"port {port} on {self.host} needs privileges: choose a port "
                               f"of 1024 or above, or port=0") from exc
            if self.family == socket.AF_INET6 and exc.errno in _NO_IPV6:
                raise self._no_ipv6() from exc
            raise
        return sock

    def listen_loopback(self, backlog: int = 1) -> LoggedSocket:
        """A TCP socket bound as ``bind_loopback`` does and listening."""
        sock = self.bind_loopback(socket.SOCK_STREAM)
        sock.listen(backlog)
        return sock

    def fail(self, message: str) -> NoReturn:
        """Stop this side (and so the run) with ``message``."""
        raise ScenarioFailed(f"the {self.name} {message}")

    def _no_ipv6(self) -> BadInput:
        return BadInput("IPv6 loopback ::1 is not available on this machine: "
                        "use --param family=ipv4")


SideFunction = Callable[[Side], None]   # what a scenario runs on one side
