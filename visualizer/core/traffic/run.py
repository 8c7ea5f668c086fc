"""Running a scenario: prepare binds the server, run drives the sides.

``PreparedRun`` owns everything a run creates. Each side runs in its own
thread; the first side to fail aborts the others (their blocking calls
notice within ``WAIT_SLICE``), and when ``run`` returns every thread has
ended and every socket is closed, whatever happened.

A run may be placed on a path (``visualizer.core.path``): the server is
bound inside the server's network namespace and each side thread enters
its end's namespace before its first socket (namespaces belong to
threads). The path belongs to the caller, who takes it down. Runs without
one never touch namespaces.
"""

from __future__ import annotations

import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, Protocol

from visualizer.core.errors import BadInput, VisualizerError
from visualizer.core.traffic.calls import CallLog, SocketCall
from visualizer.core.traffic.control import RunControl, RunSocket
from visualizer.core.traffic.failures import RunAborted, ScenarioFailed
from visualizer.core.traffic.logged_socket import Address, LoggedSocket, format_sockaddr
from visualizer.core.traffic.params import ParamValue
from visualizer.core.traffic.side import Side, SideFunction

if TYPE_CHECKING:
    from visualizer.core.path.netns import NetworkNamespace


class Placement(Protocol):
    """Where the sides of a run on a path live (a ``path.network.PathNetwork``)."""

    def namespace_of(self, side: str) -> NetworkNamespace: ...

    def host(self, side: str, family: str) -> str: ...


class RunnableScenario(Protocol):
    """What a run needs of its scenario (a ``scenario.Scenario``)."""

    name: ClassVar[str]
    values: dict[str, ParamValue]

    def sides(self) -> dict[str, SideFunction]: ...

    def bind(self, server: Side) -> LoggedSocket: ...

    def capture_filter(self, server_port: int) -> str: ...


# How long past its deadline a side may take to notice and stop.
_STOP_GRACE = 2.0


@dataclass(frozen=True)
class RunResult:
    """What a run did: the socket-call log, byte counts per side, any failure."""

    scenario: str
    params: dict[str, ParamValue]
    calls: list[SocketCall]                      # sorted by start_ns
    bytes_sent: dict[str, int]                   # side -> payload bytes sent
    bytes_received: dict[str, int]               # side -> payload bytes received
    error: VisualizerError | None = None         # the first side failure, if any
    started_ns: int = 0
    ended_ns: int = 0
    failed_sides: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error


class PreparedRun:
    """A scenario with its server bound, ready to run once.

    ``bpf_filter`` selects the run's packets; ``server_address`` is
    (host, port). Use as a context manager, or call ``close()``.

    With a ``path`` the sides run at its ends (see the module docstring).
    """

    def __init__(self, scenario: RunnableScenario, *, path: Placement | None = None) -> None:
        self.scenario = scenario
        self.path = path
        self.params: dict[str, ParamValue] = dict(scenario.values)
        self._log = CallLog()
        self._control = RunControl()
        self._functions: dict[str, SideFunction] = scenario.sides()
        self._sides = {name: self._side(name) for name in self._functions}
        server = self._sides.get("server") or self._side("server")
        home = path.namespace_of("server") if path is not None else None
        try:
            if home is None:
                server_socket = scenario.bind(server)
            else:
                with home.entered():
                    server_socket = scenario.bind(server)
            self.server_address: Address = server_socket.bound_address()
        except BaseException:
            self._release("prepare failed")
            raise
        for side in self._sides.values():
            side.attach(self.server_address, server_socket if side is server else None)
        self.bpf_filter = scenario.capture_filter(self.server_address[1])
        self._state = "prepared"

    def _side(self, name: str) -> Side:
        """Side ``name``: on a path, bound to its end's address instead of loopback."""
        host = None
        if self.path is not None:
            host = self.path.host(name, str(self.params.get("family", "ipv4")))
        return Side(name, self.params, self._log, self._control, host=host)

    @property
    def server_text(self) -> str:
        """The server address as "127.0.0.1:40123" or "[::1]:40123"."""
        return format_sockaddr(self.server_address)

    def open_sockets(self) -> list[RunSocket]:
        """The run's sockets still open, for a sampler in another thread."""
        return self._control.open_sockets()

    def abort(self) -> None:
        """Make a running ``run()`` stop soon (from another thread): both
        sides' blocked socket calls give up and ``run()`` returns."""
        self._control.abort()

    def run(self, timeout: float = 10.0) -> RunResult:
        """Run every side to completion, or until ``timeout`` seconds pass.

        Side failures (resets, refusals, timeouts) are in ``RunResult.error``;
        a bug in a scenario is re-raised after cleanup.
        """
        if self._state != "prepared":
            raise VisualizerError(f"this run of {self.scenario.name} is {self._state}: "
                                  "prepare the scenario again")
        if not timeout > 0:
            raise BadInput(f"the run timeout must be positive, not {timeout}")
        self._state = "running"
        failures: list[tuple[str, Exception]] = []
        lock = threading.Lock()

        def side_main(side: Side, function: SideFunction) -> None:
            try:
                if self.path is not None:
                    self._enter_namespace(side)  # before the side's first socket
                function(side)
            except RunAborted:
                pass
            except Exception as exc:
                with lock:
                    failures.append((side.name, exc))
                self._control.abort()

        threads = [threading.Thread(target=side_main, args=(self._sides[name], function),
                                    name=f"{self.scenario.name} {name}", daemon=True)
                   for name, function in self._functions.items()]
        started_ns = time.time_ns()
        self._control.start(timeout)
        try:
            for thread in threads:
                thread.start()
            self._join(threads, failures, lock)
        except BaseException:  # KeyboardInterrupt in the caller: stop the sides first
            self._control.abort()
            self._join(threads, failures, lock)
            raise
        finally:
            self._release("cleanup after a failure" if failures else "left open by the scenario")
            self._state = "finished"
        ended_ns = time.time_ns()
        for _side, exc in failures:
            if not isinstance(exc, VisualizerError):
                raise exc
        errors = [exc for _side, exc in failures if isinstance(exc, VisualizerError)]
        sent, received = self._control.sent, self._control.received
        return RunResult(
            scenario=self.scenario.name, params=dict(self.params), calls=self._log.calls(),
            bytes_sent={name: sent[name] for name in self._sides},
            bytes_received={name: received[name] for name in self._sides},
            error=errors[0] if errors else None,
            started_ns=started_ns, ended_ns=ended_ns,
            failed_sides=[name for name, _exc in failures])

    def _enter_namespace(self, side: Side) -> None:
        assert self.path is not None
        namespace = self.path.namespace_of(side.name)
        try:
            namespace.enter_thread()
        except OSError as err:
            raise ScenarioFailed(f"the {side.name} could not enter the network namespace "
                                 f"{namespace.name}: {err.strerror}") from err

    def _join(self, threads: list[threading.Thread], failures: list[tuple[str, Exception]],
              lock: threading.Lock) -> None:
        for thread in threads:
            remaining = self._control.remaining() or 0.0
            thread.join(max(remaining, 0.0) + _STOP_GRACE)
        stuck = [t for t in threads if t.is_alive()]
        if stuck:  # only a scenario that waits outside its sockets gets here
            self._control.abort()
            for thread in stuck:
                thread.join(_STOP_GRACE)
            with lock:
                failures.extend((t.name, ScenarioFailed(f"{t.name} did not stop"))
                                for t in stuck if t.is_alive())

    def _release(self, note: str) -> None:
        for sock in self._control.open_sockets():
            with suppress(ScenarioFailed):  # logged; nothing more to do with it
                sock.close(note)

    def close(self) -> None:
        """Release the server socket(s) if the run never happened; idempotent."""
        if self._state == "prepared":
            self._release("closed without running")
            self._state = "closed"

    def __enter__(self) -> PreparedRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
