"""Sans-I/O TCP tracking: segments in, per-packet analysis and events out.

Feed every :class:`TcpSegment` of a capture, in frame order, to a
:class:`TcpStreamTable`; each call returns a :class:`PacketResult` whose
fields agree with tshark 4.0's ``tcp.*`` fields. See docs/tcp-states.md for
the endpoint state machines and docs/tshark-differences.md for the fine print.
"""

from visualizer.core.tcp.analysis_flags import ANALYSIS_FLAGS, analysis_names
from visualizer.core.tcp.connection import PacketResult, TcpConnection
from visualizer.core.tcp.events import (
    ConnectionClosed,
    ConnectionReset,
    Event,
    HandshakeCompleted,
    PortsReused,
    StateChanged,
)
from visualizer.core.tcp.options import TcpOptions, parse_options
from visualizer.core.tcp.segment import TcpSegment
from visualizer.core.tcp.states import Observation, TcpState
from visualizer.core.tcp.streams import ConnectionSummary, TcpStreamTable

__all__ = [
    "ANALYSIS_FLAGS",
    "ConnectionClosed",
    "ConnectionReset",
    "ConnectionSummary",
    "Event",
    "HandshakeCompleted",
    "Observation",
    "PacketResult",
    "PortsReused",
    "StateChanged",
    "TcpConnection",
    "TcpOptions",
    "TcpSegment",
    "TcpState",
    "TcpStreamTable",
    "analysis_names",
    "parse_options",
]
