"""The ``Scenario`` base class: a named client/server pair with parameters.

A scenario is a small class: its text for students, its parameters, a
``bind`` that creates the server socket during prepare (sending nothing),
and one function per side. All threading, timeouts, logging and cleanup
live in ``run.PreparedRun``, so a new scenario is only its own protocol.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar, Literal

from visualizer.core.traffic.logged_socket import LoggedSocket
from visualizer.core.traffic.params import Param, ParamValue, check_values, parse_pairs
from visualizer.core.traffic.run import Placement, PreparedRun
from visualizer.core.traffic.side import Side, SideFunction

__all__ = ["Scenario", "SideFunction", "answer", "ask", "parse_params", "payload"]


class Scenario:
    """Base class of the built-in scenarios; see ``tcp_handshake`` for an example.

    Subclasses set the class attributes and implement ``bind``, ``server``
    and ``client`` (or override ``sides`` for other shapes, e.g. several
    clients). ``check`` adds checks that involve several parameters.
    """

    name: ClassVar[str]
    summary: ClassVar[str]        # one line
    description: ClassVar[str]    # a paragraph: what to look for in the capture
    params: ClassVar[tuple[Param, ...]]
    transport: ClassVar[Literal["tcp", "udp"]]
    # A scenario about transit runs on a path with these settings (path
    # parameter -> value as typed, e.g. {"rtt": "40"}) unless told otherwise;
    # an empty one runs on loopback unless a path parameter is given.
    path_defaults: ClassVar[dict[str, str]] = {}

    def __init__(self, values: Mapping[str, object] | None = None) -> None:
        """Checked parameter values, defaults filled in; ``BadInput`` if bad."""
        checked = check_values(self.name, self.params, values or {})
        self.check(checked)
        self.values: dict[str, ParamValue] = checked

    @classmethod
    def parse_params(cls, pairs: Iterable[str]) -> dict[str, ParamValue]:
        """Values from ``["count=3", "size=100"]``; ``BadInput`` if bad."""
        values = parse_pairs(cls.name, cls.params, pairs)
        cls.check(values)
        return values

    @classmethod
    def check(cls, values: Mapping[str, ParamValue]) -> None:
        """Raise ``BadInput`` for a combination of values that cannot work."""

    def capture_filter(self, server_port: int) -> str:
        """The BPF filter that selects this run's packets (override to add
        e.g. ICMP errors)."""
        return f"{self.transport} port {server_port}"

    def prepare(self, path: Placement | None = None) -> PreparedRun:
        """Bind the server (nothing goes on the wire yet); ``BadInput`` if the
        port is busy. The caller must ``close()`` the result or ``run()`` it.
        With a ``path`` (a built ``PathNetwork``), the server runs in its
        namespace and every other side in the client's."""
        return PreparedRun(self, path=path)

    # -- what subclasses write -------------------------------------------------

    def bind(self, server: Side) -> LoggedSocket:
        """Create and bind the server socket; runs in prepare, must send nothing."""
        raise NotImplementedError

    def sides(self) -> dict[str, SideFunction]:
        """Side name -> the function that side runs in its own thread."""
        return {"server": self.server, "client": self.client}

    def server(self, side: Side) -> None:
        raise NotImplementedError

    def client(self, side: Side) -> None:
        raise NotImplementedError


def parse_params(scenario_cls: type[Scenario], pairs: Iterable[str]) -> dict[str, ParamValue]:
    """``scenario_cls.parse_params(pairs)``, as a function."""
    return scenario_cls.parse_params(pairs)


def payload(label: str, index: int, size: int) -> bytes:
    """``size`` readable bytes for message ``index``: "request 1 request 1 req..."."""
    unit = f"{label} {index} ".encode()
    return (unit * (size // len(unit) + 1))[:size]


def ask(side: Side, sock: LoggedSocket, number: int, size: int) -> None:
    """Client: send request ``number`` of ``size`` bytes and wait for the whole reply."""
    sock.sendall(payload("request", number, size))
    reply = sock.recv_exactly(size)
    if len(reply) < size:
        side.fail(f"got {len(reply)} of {size} bytes of reply {number} "
                  "before the server closed")


def answer(side: Side, conn: LoggedSocket, number: int, size: int) -> bool:
    """Server: read request ``number`` and send its reply. False, sending
    nothing, when the client closed first (recv() returned 0)."""
    request = conn.recv_exactly(size)
    if not request:
        return False
    if len(request) < size:
        side.fail(f"got {len(request)} of {size} bytes of request {number} "
                  "before the client closed")
    conn.sendall(payload("reply", number, size))
    return True

