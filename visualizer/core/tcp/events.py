"""Events a :class:`~visualizer.core.tcp.connection.TcpConnection` emits.

Immutable values compared by equality in tests, as h11's events are.
``endpoint`` is a side of the connection: 0 the opener (or the first sender
when the opening was not captured), 1 the other.

Named tuples rather than frozen dataclasses, as ``PacketResult`` and
``TcpSegment`` are: a connection of a few packets makes a dozen events, and a
frozen dataclass's ``__init__`` (Python code calling ``object.__setattr__``
for each field) was a quarter of the tracker's time on captures of short
connections. The tracker makes them from a plain tuple, in C. Unlike plain
tuples, an event equals only an event of its own kind: ``HandshakeCompleted(3)``
is not ``ConnectionClosed(3)``, nor ``(3,)``.
"""

from __future__ import annotations

from typing import NamedTuple

from visualizer.core.tcp.states import TcpState

__all__ = ["ConnectionClosed", "ConnectionReset", "Event", "HandshakeCompleted",
           "PortsReused", "StateChanged"]


def _same_kind_equal(self: tuple[object, ...], other: object) -> bool:
    if not isinstance(other, tuple):
        return NotImplemented   # the other side may know (unittest.mock.ANY does)
    return type(self) is type(other) and tuple.__eq__(self, other)


def _same_kind_unequal(self: tuple[object, ...], other: object) -> bool:
    equal = _same_kind_equal(self, other)
    return equal if equal is NotImplemented else not equal


def _hash(self: tuple[object, ...]) -> int:
    return hash((type(self).__name__, *self))


class StateChanged(NamedTuple):
    """An endpoint's state changed on ``frame``."""

    frame: int
    endpoint: int
    old: TcpState
    new: TcpState


class HandshakeCompleted(NamedTuple):
    """Both endpoints reached ESTABLISHED through a captured handshake."""

    frame: int


class ConnectionReset(NamedTuple):
    """``endpoint`` sent a RST on ``frame``."""

    frame: int
    endpoint: int


class ConnectionClosed(NamedTuple):
    """Both endpoints reached TIME-WAIT or CLOSED through FINs (not a reset)."""

    frame: int


class PortsReused(NamedTuple):
    """This connection reuses the address/port pair of stream ``previous_stream``."""

    frame: int
    previous_stream: int


Event = StateChanged | HandshakeCompleted | ConnectionReset | ConnectionClosed | PortsReused

for _kind in (StateChanged, HandshakeCompleted, ConnectionReset, ConnectionClosed, PortsReused):
    # set after the class statements: NamedTuple's own keep tuple's equality
    _kind.__eq__ = _same_kind_equal        # type: ignore[method-assign]
    _kind.__ne__ = _same_kind_unequal      # type: ignore[assignment,method-assign]
    _kind.__hash__ = _hash                 # type: ignore[method-assign]
del _kind
