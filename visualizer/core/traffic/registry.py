"""The built-in scenarios by name. A new scenario: its module, plus one line here."""

from __future__ import annotations

from visualizer.core.errors import BadInput
from visualizer.core.traffic.path_lessons import TcpRetransmissionTimeout, UdpLossyPath
from visualizer.core.traffic.scenario import Scenario
from visualizer.core.traffic.tcp_abort import TcpAbort
from visualizer.core.traffic.tcp_bulk import TcpBulk
from visualizer.core.traffic.tcp_congestion import TcpCongestion, TcpCorruption, TcpSlowStart
from visualizer.core.traffic.tcp_half_close import TcpHalfClose
from visualizer.core.traffic.tcp_handshake import TcpHandshake
from visualizer.core.traffic.tcp_lossy import TcpLossy
from visualizer.core.traffic.tcp_many_clients import TcpManyClients
from visualizer.core.traffic.tcp_nagle import TcpNagle
from visualizer.core.traffic.tcp_refused import TcpRefused
from visualizer.core.traffic.tcp_simultaneous_close import TcpSimultaneousClose
from visualizer.core.traffic.tcp_zero_window import TcpZeroWindow
from visualizer.core.traffic.udp_closed_port import UdpClosedPort
from visualizer.core.traffic.udp_datagrams import UdpDatagrams
from visualizer.core.traffic.udp_loss_reorder import UdpLossReorder

_SCENARIOS: tuple[type[Scenario], ...] = (
    TcpHandshake,
    TcpRefused,
    TcpHalfClose,
    TcpAbort,
    TcpSimultaneousClose,
    TcpBulk,
    TcpNagle,
    TcpZeroWindow,
    TcpManyClients,
    TcpLossy,
    TcpRetransmissionTimeout,
    TcpSlowStart,
    TcpCongestion,
    TcpCorruption,
    UdpDatagrams,
    UdpClosedPort,
    UdpLossReorder,
    UdpLossyPath,
)


def list_scenarios() -> list[type[Scenario]]:
    """The built-in scenarios, in the order the CLI and GUI list them."""
    return list(_SCENARIOS)


def get_scenario(name: str) -> type[Scenario]:
    """The scenario called ``name``; ``BadInput`` naming the known ones if none is."""
    for scenario in _SCENARIOS:
        if scenario.name == name:
            return scenario
    known = ", ".join(s.name for s in _SCENARIOS)
    raise BadInput(f"unknown scenario {name!r}: the scenarios are {known}")
