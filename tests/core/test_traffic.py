"""Built-in scenarios on real loopback sockets: their logs, parameters, failures
and cleanup. No capture is involved (that is the capture module's part)."""

from __future__ import annotations

import errno
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from leaks import open_fds
from loopback import needs_ipv6

from visualizer.core.errors import BadInput, VisualizerError
from visualizer.core.traffic import (
    CallTimedOut,
    LoggedSocket,
    Param,
    RunResult,
    Scenario,
    ScenarioFailed,
    Side,
    SocketCall,
    SocketCallFailed,
    get_scenario,
    list_scenarios,
    parse_params,
)
from visualizer.core.traffic.params import PORT
from visualizer.core.traffic.scenario import SideFunction


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fail the test if it leaves a thread or a file descriptor behind."""
    threads, fds = threading.active_count(), open_fds()
    yield
    assert threading.active_count() == threads, threading.enumerate()
    assert open_fds() == fds


def run(name: str, *pairs: str, timeout: float = 10.0) -> RunResult:
    cls = get_scenario(name)
    with cls(parse_params(cls, list(pairs))).prepare() as prepared:
        result = prepared.run(timeout)
    assert result.error is None, result.error
    return result


def of(result: RunResult, side: str, call: str | None = None) -> list[SocketCall]:
    return [c for c in result.calls if c.side == side and (call is None or c.call == call)]


def results(calls: list[SocketCall]) -> int:
    return sum(int(c.result.split()[0]) for c in calls)


# -- the registry -----------------------------------------------------------------


def test_built_in_scenarios_are_listed_with_their_text() -> None:
    scenarios = {cls.name: cls for cls in list_scenarios()}
    assert {"tcp-handshake", "udp-datagrams"} <= scenarios.keys()
    for cls in scenarios.values():
        assert cls.summary and "\n" not in cls.summary
        assert len(cls.description) > 200
        assert [p.name for p in cls.params][-2:] == ["port", "family"]
        assert get_scenario(cls.name) is cls
    assert "TIME-WAIT" in scenarios["tcp-handshake"].description
    assert "SYN-ACK" in scenarios["tcp-handshake"].description


def test_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(BadInput, match=r"unknown scenario 'tcp-handshak'.*tcp-handshake"):
        get_scenario("tcp-handshak")


# -- parameters -----------------------------------------------------------------------


def test_parse_params_fills_in_defaults() -> None:
    tcp = get_scenario("tcp-handshake")
    assert parse_params(tcp, []) == {"count": 3, "size": 64, "port": 0, "family": "ipv4"}
    assert parse_params(tcp, ["size=100", "count=0", "family=ipv6"]) == {
        "count": 0, "size": 100, "port": 0, "family": "ipv6"}


@pytest.mark.parametrize(("pairs", "message"), [
    (["colour=red"], "no parameter 'colour'.*count, size, port, family"),
    (["count=three"], "count must be a whole number, not 'three'.*0..10000"),
    (["count=10001"], r"count=10001 is out of range: allowed 0\.\.10000"),
    (["size=0"], r"size=0 is out of range: allowed 1\.\.1000000"),
    (["port=70000"], r"port=70000 is out of range: allowed 0\.\.65535"),
    (["family=ipv5"], "family must be one of ipv4, ipv6, not 'ipv5'"),
    (["count"], "'count' must be key=value"),
    (["count=1", "count=2"], "count is given twice"),
])
def test_bad_params_say_what_is_allowed(pairs: list[str], message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse_params(get_scenario("tcp-handshake"), pairs)


def test_udp_size_limit_depends_on_family() -> None:
    udp = get_scenario("udp-datagrams")
    with pytest.raises(BadInput, match=r"size=65508 is too big for ipv4.*65507"):
        parse_params(udp, ["size=65508"])
    assert parse_params(udp, ["size=65527", "family=ipv6"])["size"] == 65527
    with pytest.raises(BadInput, match="out of range"):
        parse_params(udp, ["size=65528", "family=ipv6"])
    with pytest.raises(BadInput, match="too big for ipv4"):
        udp({"size": 65508})


def test_scenario_checks_values_given_in_code() -> None:
    tcp = get_scenario("tcp-handshake")
    assert tcp({"count": 1}).values == {"count": 1, "size": 64, "port": 0, "family": "ipv4"}
    with pytest.raises(BadInput, match="count must be a whole number"):
        tcp({"count": "1"})
    with pytest.raises(BadInput, match="count must be a whole number"):
        tcp({"count": True})
    with pytest.raises(BadInput, match="no parameter 'counts'"):
        tcp({"counts": 1})


# -- tcp-handshake ------------------------------------------------------------------


def test_tcp_handshake_logs_each_call_on_its_side(no_leaks: None) -> None:
    result = run("tcp-handshake", "count=3", "size=100")

    assert [c.call for c in of(result, "client")] == (
        ["socket", "connect"] + ["send", "recv"] * 3 + ["close"])
    server_calls = [c.call for c in of(result, "server")]
    assert server_calls[:4] == ["socket", "bind", "listen", "accept"]
    assert server_calls[-2:] == ["recv", "close"]
    assert server_calls.count("send") == 3
    assert result.calls == sorted(result.calls, key=lambda c: c.start_ns)
    assert all(c.start_ns <= c.end_ns for c in result.calls)
    assert all(c.errno is None for c in result.calls)


def test_tcp_accept_returns_the_client_address(no_leaks: None) -> None:
    result = run("tcp-handshake", "count=1")
    (connect,) = of(result, "client", "connect")
    (accept,) = of(result, "server", "accept")
    (bind,) = of(result, "server", "bind")
    assert connect.local.startswith("127.0.0.1:")
    assert accept.result == accept.remote == connect.local
    assert connect.args == connect.remote == accept.local == bind.result
    assert bind.args == "127.0.0.1:0" and not bind.result.endswith(":0")


def test_tcp_server_sees_recv_zero_after_the_client_closes(no_leaks: None) -> None:
    result = run("tcp-handshake", "count=2", "size=10")
    client_close = of(result, "client", "close")[-1]
    last_recv = of(result, "server", "recv")[-1]
    server_close = of(result, "server", "close")[-1]
    assert last_recv.result == "0 (peer closed)"
    assert last_recv.end_ns >= client_close.start_ns
    assert server_close.start_ns >= last_recv.end_ns  # the client closed first
    assert all(c.result != "0 (peer closed)" for c in of(result, "client", "recv"))


@pytest.mark.parametrize(("count", "size"), [(3, 100), (2, 300_000), (0, 64)])
def test_tcp_byte_counts_match_both_ways(no_leaks: None, count: int, size: int) -> None:
    result = run("tcp-handshake", f"count={count}", f"size={size}")
    total = count * size
    assert result.bytes_sent == {"server": total, "client": total}
    assert result.bytes_received == {"server": total, "client": total}
    sends = of(result, "client", "send")
    assert [c.args for c in sends] == [f"{size} bytes"] * count
    assert [c.result for c in sends] == [str(size)] * count
    assert results(of(result, "server", "recv")) == total
    assert results(of(result, "client", "recv")) == total


@needs_ipv6
def test_tcp_handshake_over_ipv6(no_leaks: None) -> None:
    cls = get_scenario("tcp-handshake")
    with cls({"family": "ipv6", "count": 2, "size": 50}).prepare() as prepared:
        assert prepared.server_address[0] == "::1"
        assert prepared.bpf_filter == f"tcp port {prepared.server_address[1]}"
        result = prepared.run()
    assert result.error is None
    (connect,) = of(result, "client", "connect")
    (accept,) = of(result, "server", "accept")
    assert connect.args == f"[::1]:{prepared.server_address[1]}"
    assert connect.local.startswith("[::1]:") and accept.result == connect.local
    assert of(result, "client", "socket")[0].args == "AF_INET6, SOCK_STREAM"
    assert result.bytes_received == {"server": 100, "client": 100}


# -- udp-datagrams -------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "size"), [(5, 100), (2, 0), (1, 65507)])
def test_udp_datagrams_are_echoed(no_leaks: None, count: int, size: int) -> None:
    cls = get_scenario("udp-datagrams")
    with cls({"count": count, "size": size}).prepare() as prepared:
        port = prepared.server_address[1]
        assert prepared.bpf_filter == f"udp port {port}"
        result = prepared.run()
    assert result.error is None
    assert [c.call for c in of(result, "client")] == (
        ["socket"] + ["sendto", "recvfrom"] * count + ["close"])
    assert [c.call for c in of(result, "server")] == (
        ["socket", "bind"] + ["recvfrom", "sendto"] * count + ["close"])
    assert all(c.result == f"{size} from 127.0.0.1:{port}"
               for c in of(result, "client", "recvfrom"))
    assert all(c.remote == f"127.0.0.1:{port}" for c in of(result, "client", "sendto"))
    assert result.bytes_sent == result.bytes_received == {"server": count * size,
                                                          "client": count * size}


@needs_ipv6
def test_udp_datagrams_over_ipv6(no_leaks: None) -> None:
    result = run("udp-datagrams", "family=ipv6", "count=3", "size=65527")
    assert result.bytes_received == {"server": 3 * 65527, "client": 3 * 65527}
    assert all(c.remote.startswith("[::1]:") for c in of(result, "server", "recvfrom"))


# -- prepare: ports, nothing on the wire, cleanup ---------------------------------------------


@pytest.mark.parametrize(("name", "kind"), [("tcp-handshake", socket.SOCK_STREAM),
                                            ("udp-datagrams", socket.SOCK_DGRAM)])
def test_busy_port_is_bad_input(no_leaks: None, name: str, kind: int) -> None:
    with socket.socket(socket.AF_INET, kind) as busy:
        busy.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(BadInput, match=f"port {port} on 127.0.0.1 is in use: "
                                           "choose another --param port=.* or port=0"):
            get_scenario(name)({"port": port}).prepare()


def test_port_zero_picks_a_free_port_and_a_given_port_is_used(no_leaks: None) -> None:
    cls = get_scenario("tcp-handshake")
    with cls({"port": 0}).prepare() as prepared:
        port = prepared.server_address[1]
        assert port > 0 and prepared.server_text == f"127.0.0.1:{port}"
    with cls({"port": port, "count": 1}).prepare() as again:  # free again after close
        assert again.server_address == ("127.0.0.1", port)
        assert again.run().error is None


def test_prepare_only_binds(no_leaks: None) -> None:
    cls = get_scenario("tcp-handshake")
    with cls({"count": 1}).prepare() as prepared:
        time.sleep(0.01)
        before_run = time.time_ns()
        result = prepared.run()
    early = [c.call for c in result.calls if c.start_ns < before_run]
    assert early == ["socket", "bind", "listen"]
    assert result.started_ns >= before_run


def test_prepared_run_closes_without_running(no_leaks: None) -> None:
    prepared = get_scenario("udp-datagrams")().prepare()
    prepared.close()
    prepared.close()
    with pytest.raises(VisualizerError, match="prepare the scenario again"):
        prepared.run()
    # the port is free again
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(prepared.server_address)


def test_a_run_happens_once(no_leaks: None) -> None:
    with get_scenario("tcp-handshake")({"count": 0}).prepare() as prepared:
        assert prepared.run().error is None
        with pytest.raises(VisualizerError, match="finished"):
            prepared.run()


# -- failures end the run cleanly ------------------------------------------------------------


class _Refused(Scenario):
    """The server binds but never listens: the client's SYN gets a RST."""

    name = "test-refused"
    summary = description = "test"
    params = (PORT,)
    transport = "tcp"

    def bind(self, server: Side) -> LoggedSocket:
        return server.bind_loopback(socket.SOCK_STREAM)

    def sides(self) -> dict[str, SideFunction]:
        return {"client": self.client}

    def client(self, side: Side) -> None:
        side.socket(socket.SOCK_STREAM).connect(side.server_address)


class _Silent(Scenario):
    """Both sides wait for the other to speak: only the timeout ends it."""

    name = "test-silent"
    summary = description = "test"
    params = (PORT,)
    transport = "tcp"

    def bind(self, server: Side) -> LoggedSocket:
        return server.listen_loopback()

    def server(self, side: Side) -> None:
        conn, _ = side.server_socket.accept()
        conn.recv(100)

    def client(self, side: Side) -> None:
        sock = side.socket(socket.SOCK_STREAM)
        sock.connect(side.server_address)
        sock.recv(100)


class _ServerGivesUp(_Silent):
    """The server fails right after accept; the waiting client must stop at once."""

    name = "test-server-gives-up"

    def server(self, side: Side) -> None:
        side.server_socket.accept()
        side.fail("gave up on purpose")


class _NoEcho(Scenario):
    """A UDP server that never answers; the client waits 0.2 s for an echo."""

    name = "test-no-echo"
    summary = description = "test"
    params = (PORT,)
    transport = "udp"

    def bind(self, server: Side) -> LoggedSocket:
        return server.bind_loopback(socket.SOCK_DGRAM)

    def server(self, side: Side) -> None:
        side.server_socket.recvfrom(100)

    def client(self, side: Side) -> None:
        sock = side.socket(socket.SOCK_DGRAM)
        sock.sendto(b"hello", side.server_address)
        sock.recvfrom(100, limit=0.2)


class _Buggy(_Silent):
    """A programming error in a side is not a scenario failure: it is re-raised."""

    name = "test-buggy"

    def client(self, side: Side) -> None:
        raise ZeroDivisionError("bug")


def test_refused_connect_is_logged_and_reported(no_leaks: None) -> None:
    with _Refused().prepare() as prepared:
        result = prepared.run(timeout=5)
    assert isinstance(result.error, SocketCallFailed)
    assert result.error.errno == errno.ECONNREFUSED
    assert "the client's connect(127.0.0.1:" in str(result.error)
    assert "ECONNREFUSED" in str(result.error)
    connect = of(result, "client", "connect")[0]
    assert (connect.result, connect.errno) == ("ECONNREFUSED", errno.ECONNREFUSED)
    assert of(result, "server", "close")[0].args == "cleanup after a failure"
    assert result.failed_sides == ["client"]
    with pytest.raises(SocketCallFailed):
        result.raise_if_failed()


def test_run_timeout_stops_both_sides(no_leaks: None) -> None:
    start = time.monotonic()
    with _Silent().prepare() as prepared:
        result = prepared.run(timeout=0.3)
    assert 0.3 <= time.monotonic() - start < 2.0
    assert isinstance(result.error, CallTimedOut)
    assert "when the run's 0.3 s timeout expired" in str(result.error)
    waits = of(result, "client", "recv") + of(result, "server", "recv")
    assert {c.result for c in waits} <= {"timed out", "interrupted: another side failed"}
    assert "timed out" in {c.result for c in waits}
    assert {c.call for c in result.calls if c.args == "cleanup after a failure"} == {"close"}


def test_a_failing_side_stops_the_other_at_once(no_leaks: None) -> None:
    start = time.monotonic()
    with _ServerGivesUp().prepare() as prepared:
        result = prepared.run(timeout=30)
    assert time.monotonic() - start < 2.0
    assert isinstance(result.error, ScenarioFailed)
    assert str(result.error) == "the server gave up on purpose"
    assert result.failed_sides == ["server"]
    assert of(result, "client", "recv")[0].result == "interrupted: another side failed"


def test_a_call_limit_ends_a_wait(no_leaks: None) -> None:
    start = time.monotonic()
    with _NoEcho().prepare() as prepared:
        result = prepared.run(timeout=30)
    assert time.monotonic() - start < 2.0
    assert isinstance(result.error, CallTimedOut)
    assert "the client waited 0.2 s in recvfrom(bufsize 100)" in str(result.error)


def test_a_bug_in_a_side_is_raised_after_cleanup(no_leaks: None) -> None:
    with _Buggy().prepare() as prepared, pytest.raises(ZeroDivisionError):
        prepared.run(timeout=30)


# -- the log ---------------------------------------------------------------------------------


def test_socket_call_round_trips_through_json() -> None:
    calls = [
        SocketCall("server", "accept", "", "127.0.0.1:51234", 10, 20,
                   "127.0.0.1:40123", "127.0.0.1:51234"),
        SocketCall("client", "connect", "[::1]:40123", "ECONNREFUSED", 30, 31,
                   "[::1]:5555", "[::1]:40123", errno.ECONNREFUSED),
    ]
    for call in calls:
        assert SocketCall.from_dict(json.loads(json.dumps(call.to_dict()))) == call
    assert calls[1].failed and not calls[0].failed


def test_socket_calls_from_a_real_run_round_trip(no_leaks: None) -> None:
    result = run("tcp-handshake", "count=1")
    stored = json.dumps([c.to_dict() for c in result.calls])
    assert [SocketCall.from_dict(d) for d in json.loads(stored)] == result.calls


@pytest.mark.parametrize(("record", "message"), [
    ({"side": "client"}, "missing 'call'"),
    ({"side": "client", "call": "send", "args": "", "result": "", "start_ns": "1",
      "end_ns": 2}, "start_ns='1' is not int"),
    ({"side": "client", "call": "send", "args": "", "result": "", "start_ns": 1,
      "end_ns": 2, "errno": "EPIPE"}, "errno='EPIPE' is not an int or null"),
    ([1, 2], "expected an object"),
])
def test_bad_socket_call_records_are_bad_input(record: object, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        SocketCall.from_dict(record)  # type: ignore[arg-type]


def test_param_describes_what_it_allows() -> None:
    assert Param("n", "int", 1, 0, 9).allowed() == "0..9"
    assert Param("f", "choice", "a", choices=("a", "b")).allowed() == "a|b"
    assert Param("s", "str", "x").parse("hello") == "hello"
