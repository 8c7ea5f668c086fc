"""Built-in client/server pairs on loopback whose socket calls are logged.

The recorder's sequence::

    cls = get_scenario("tcp-handshake")
    params = parse_params(cls, ["count=3"])      # BadInput if bad
    with cls(params).prepare() as prepared:      # binds the server, sends nothing
        start_capture(prepared.bpf_filter)       # and wait until it is ready
        result = prepared.run(timeout=10.0)      # both sides, to completion
    store(result.calls, result.params)
    result.raise_if_failed()
"""

from visualizer.core.traffic.calls import CallLog, SocketCall
from visualizer.core.traffic.failures import CallTimedOut, ScenarioFailed, SocketCallFailed
from visualizer.core.traffic.logged_socket import LoggedSocket, format_sockaddr
from visualizer.core.traffic.params import Param, ParamValue
from visualizer.core.traffic.registry import get_scenario, list_scenarios
from visualizer.core.traffic.run import PreparedRun, RunResult
from visualizer.core.traffic.scenario import Scenario, parse_params
from visualizer.core.traffic.side import Side

__all__ = [
    "CallLog",
    "CallTimedOut",
    "LoggedSocket",
    "Param",
    "ParamValue",
    "PreparedRun",
    "RunResult",
    "Scenario",
    "ScenarioFailed",
    "Side",
    "SocketCall",
    "SocketCallFailed",
    "format_sockaddr",
    "get_scenario",
    "list_scenarios",
    "parse_params",
]
