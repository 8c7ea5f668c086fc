"""The built-in scenarios by name. A new scenario: its module, plus one line here."""

from __future__ import annotations

from visualizer.core.errors import BadInput
from visualizer.core.traffic.scenario import Scenario
from visualizer.core.traffic.tcp_handshake import TcpHandshake
from visualizer.core.traffic.udp_datagrams import UdpDatagrams

_SCENARIOS: tuple[type[Scenario], ...] = (
    TcpHandshake,
    UdpDatagrams,
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
