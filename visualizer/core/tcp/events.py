"""Events a :class:`~visualizer.core.tcp.connection.TcpConnection` emits.

Frozen dataclasses compared by equality in tests, as h11's events are.
``endpoint`` is a side of the connection: 0 the opener (or the first sender
when the opening was not captured), 1 the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from visualizer.core.tcp.states import TcpState

__all__ = ["ConnectionClosed", "ConnectionReset", "Event", "HandshakeCompleted",
           "PortsReused", "StateChanged"]


@dataclass(frozen=True, slots=True)
class StateChanged:
    """An endpoint's state changed on ``frame``."""

    frame: int
    endpoint: int
    old: TcpState
    new: TcpState


@dataclass(frozen=True, slots=True)
class HandshakeCompleted:
    """Both endpoints reached ESTABLISHED through a captured handshake."""

    frame: int


@dataclass(frozen=True, slots=True)
class ConnectionReset:
    """``endpoint`` sent a RST on ``frame``."""

    frame: int
    endpoint: int


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """Both endpoints reached TIME-WAIT or CLOSED through FINs (not a reset)."""

    frame: int


@dataclass(frozen=True, slots=True)
class PortsReused:
    """This connection reuses the address/port pair of stream ``previous_stream``."""

    frame: int
    previous_stream: int


Event = StateChanged | HandshakeCompleted | ConnectionReset | ConnectionClosed | PortsReused
