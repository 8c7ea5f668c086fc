"""The connection-ending scenarios and tcp-many-clients, recorded for real on lo.

Each recording is read back as a user would open it (``PacketStore`` +
``analyze`` + the socket-call log stored in the file), and the lesson the
scenario's description promises is asserted on the packets, the endpoint
states, the socket calls and the explanations; the issue's defining
properties are also checked with tshark.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from loopback import FAMILIES, needs_ipv6

from visualizer.core.decode.store import PacketStore
from visualizer.core.describe.explain import explain
from visualizer.core.flows.analysis import Analysis, analyze
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.pcap.recording import RecordingInfo
from visualizer.core.record import record
from visualizer.core.tcp.segment import ACK, FIN, RST, SYN
from visualizer.core.tcp.states import TcpState
from visualizer.core.tcp.testing import Conversation, write_pcap
from visualizer.core.traffic import RunResult, ScenarioFailed, Side, SocketCall, get_scenario
from visualizer.core.traffic.tcp_simultaneous_close import TcpSimultaneousClose, _Meeting

S = TcpState


@dataclass
class Recorded:
    """A recording as the app reopens it."""

    path: Path
    run: RunResult
    store: PacketStore
    analysis: Analysis
    calls: list[SocketCall]   # from the file, not from the run

    def flags(self, i: int) -> int:
        return int(self.store.values("tcp_flags")[i])

    def sport(self, i: int) -> int:
        return int(self.store.values("sport")[i])

    def dport(self, i: int) -> int:
        return int(self.store.values("dport")[i])

    def ts(self, i: int) -> int:
        return int(self.store.values("ts_ns")[i])

    def of(self, side: str, call: str) -> list[SocketCall]:
        return [c for c in self.calls if c.side == side and c.call == call]

    def server_port(self) -> int:
        return int(self.run.params["port"]) or _listening_port(self)


def _listening_port(rec: Recorded) -> int:
    bind = next(c for c in rec.calls if c.side == "server" and c.call == "bind")
    return int(bind.result.rsplit(":", 1)[1])


Recorder = Callable[..., Recorded]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorder]:
    """``recorded(name, "k=v", ...)``: that scenario recorded once per module."""
    cache: dict[tuple[str, ...], Recorded] = {}

    def make(name: str, *pairs: str) -> Recorded:
        key = (name, *pairs)
        if key not in cache:
            path = tmp_path_factory.mktemp(name) / f"{name}.pcapng"
            started = time.monotonic()
            result = record(name, list(pairs), str(path))
            assert time.monotonic() - started < 5.0
            assert result.run.ok, result.run.error
            assert result.stats.dropped == 0
            with CaptureFile.open(str(path)) as capture:
                info = RecordingInfo.from_capture(capture)
            assert info is not None and info.scenario == name
            store = PacketStore.from_file(str(path))
            cache[key] = Recorded(path, result.run, store, analyze(store),
                                  [SocketCall.from_dict(c) for c in info.calls])
        return cache[key]

    yield make
    for rec in cache.values():
        rec.store.close()


def tshark_rows(path: Path, *fields: str) -> list[list[str]]:
    cmd = ["tshark", "-r", str(path), "-T", "fields", "-E", "separator=/t"]
    for name in fields:
        cmd += ["-e", name]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout
    return [line.split("\t") for line in out.splitlines()]


def endpoint_path(analysis: Analysis, stream: int, endpoint: int) -> list[TcpState]:
    """The states one endpoint of ``stream`` went through, in order."""
    path: list[TcpState] = []
    for i in analysis.stream_indices(stream):
        for change in analysis.state_changes(int(i)):
            if change.endpoint == endpoint:
                if not path:
                    path.append(change.old)
                path.append(change.new)
    return path


def _check_explained(rec: Recorded) -> None:
    """Every packet gets an explanation of what it is, never a generic fallback."""
    for i in range(len(rec.store)):
        title = explain(rec.analysis, i).title
        assert title.split(":")[0] in {"SYN", "SYN-ACK", "ACK", "ACK of the client's FIN",
                                       "ACK of the server's FIN", "Data", "FIN", "RST"}, title


# -- tcp-refused ------------------------------------------------------------------------


@pytest.mark.capture
@pytest.mark.parametrize("family", FAMILIES)
def test_refused_syn_is_answered_by_rst_and_connect_fails(recorded: Recorder,
                                                          family: str) -> None:
    rec = recorded("tcp-refused", f"family={family}")
    port = rec.server_port()
    assert len(rec.store) == 2
    syn, rst = 0, 1
    assert rec.flags(syn) == SYN and rec.dport(syn) == port
    assert rec.flags(rst) == RST | ACK and rec.sport(rst) == port
    raw_seq, raw_ack = rec.store.values("seq"), rec.store.values("ack")
    assert raw_ack[rst] == (raw_seq[syn] + 1) & 0xFFFFFFFF  # it acknowledges the SYN
    assert raw_seq[rst] == 0                              # and has no sequence of its own
    assert endpoint_path(rec.analysis, 0, 0) == [S.CLOSED, S.SYN_SENT, S.CLOSED]
    # The socket calls: bind() but no listen(); connect() spans SYN and RST and fails.
    assert [c.call for c in rec.calls if c.side == "server"] == ["socket", "bind", "close"]
    (connect,) = rec.of("client", "connect")
    assert (connect.result, connect.errno) == ("ECONNREFUSED", errno.ECONNREFUSED)
    assert connect.start_ns <= rec.ts(syn) and rec.ts(rst) <= connect.end_ns
    # The server held its port until the client had finished.
    assert rec.of("server", "close")[0].start_ns >= rec.of("client", "close")[0].end_ns
    assert rec.of("server", "close")[0].args == ""
    refused = explain(rec.analysis, rst)
    assert refused.title == f"RST: port {port} is closed"
    assert "ECONNREFUSED" in refused.text
    _check_explained(rec)


@pytest.mark.capture
def test_refused_attempts_each_come_from_a_new_port(recorded: Recorder) -> None:
    rec = recorded("tcp-refused", "attempts=3")
    assert len(rec.analysis.tcp_summaries) == 3
    client_ports = {rec.sport(i) for i in range(len(rec.store)) if rec.flags(i) == SYN}
    assert len(client_ports) == 3
    assert [c.result for c in rec.of("client", "connect")] == ["ECONNREFUSED"] * 3
    assert [rec.flags(i) for i in range(len(rec.store))] == [SYN, RST | ACK] * 3


@pytest.mark.capture
@pytest.mark.tshark
def test_refused_seen_by_tshark(recorded: Recorder) -> None:
    rec = recorded("tcp-refused", "family=ipv4")
    rows = tshark_rows(rec.path, "tcp.flags.syn", "tcp.flags.reset", "tcp.flags.ack")
    assert rows == [["1", "0", "0"], ["0", "1", "1"]]


# -- tcp-half-close ---------------------------------------------------------------------


@pytest.mark.capture
@pytest.mark.parametrize("family", FAMILIES)
def test_half_close_server_keeps_sending_after_the_clients_fin(recorded: Recorder,
                                                               family: str) -> None:
    rec = recorded("tcp-half-close", f"family={family}", "count=3", "size=100")
    port = rec.server_port()
    n = len(rec.store)
    direction = rec.analysis.values("direction")
    lens = rec.store.values("payload_len")
    fins = [i for i in range(n) if rec.flags(i) & FIN]
    client_fin, server_fin = fins
    assert rec.dport(client_fin) == port and rec.sport(server_fin) == port
    # After the client's FIN every byte of the replies still comes from the server...
    after = range(client_fin + 1, server_fin + 1)
    assert sum(lens[i] for i in after if direction[i] == 1) == 300
    assert all(lens[i] == 0 for i in after if direction[i] == 0)
    # ...while the client waits in FIN-WAIT-2 and the server in CLOSE-WAIT,
    first_reply = next(i for i in after if direction[i] == 1 and lens[i])
    assert rec.analysis.states(first_reply) == (S.FIN_WAIT_2, S.CLOSE_WAIT)
    # and the client's ACKs of it sit one above its FIN.
    next_seq = rec.analysis.values("next_seq")
    acks = [i for i in after if direction[i] == 0]
    assert acks and all(rec.analysis.values("rel_seq")[i] == next_seq[client_fin]
                        for i in acks)
    assert rec.analysis.tcp_summaries[0].states == (S.TIME_WAIT, S.CLOSED)
    assert endpoint_path(rec.analysis, 0, 1)[-3:] == [S.CLOSE_WAIT, S.LAST_ACK, S.CLOSED]
    # The calls: shutdown(SHUT_WR) makes the FIN; the server's recv() returns 0 after
    # it and before the server sends anything; the client still receives.
    (shutdown,) = rec.of("client", "shutdown")
    assert shutdown.args == "SHUT_WR"
    assert shutdown.start_ns <= rec.ts(client_fin) <= shutdown.end_ns
    eof = [c for c in rec.of("server", "recv") if c.result == "0 (peer closed)"]
    assert len(eof) == 1 and eof[0].end_ns >= rec.ts(client_fin)
    assert all(send.start_ns >= eof[0].end_ns for send in rec.of("server", "send"))
    received = [c for c in rec.of("client", "recv") if c.start_ns > shutdown.end_ns]
    assert sum(int(c.result) for c in received if c.result.isdigit()) == 300
    assert received[-1].result == "0 (peer closed)"
    assert explain(rec.analysis, client_fin).title == "FIN: the client closes its side"
    assert "it can still receive" in explain(rec.analysis, client_fin).text
    _check_explained(rec)


# -- tcp-abort --------------------------------------------------------------------------


@pytest.mark.capture
@pytest.mark.parametrize("family", FAMILIES)
def test_abort_sends_rst_instead_of_fin(recorded: Recorder, family: str) -> None:
    rec = recorded("tcp-abort", f"family={family}", "count=2")
    port = rec.server_port()
    n = len(rec.store)
    assert not any(rec.flags(i) & FIN for i in range(n))
    last = n - 1
    assert rec.flags(last) == RST | ACK and rec.dport(last) == port  # the client's RST
    assert sum(1 for i in range(n) if rec.flags(i) & RST) == 1
    assert rec.analysis.values("rel_seq")[last] == 2 * 64 + 1  # the client's next seq
    assert rec.analysis.tcp_summaries[0].states == (S.CLOSED, S.CLOSED)
    assert endpoint_path(rec.analysis, 0, 0)[-2:] == [S.ESTABLISHED, S.CLOSED]  # no TIME-WAIT
    (linger,) = rec.of("client", "setsockopt")
    assert "SO_LINGER" in linger.args
    (close,) = rec.of("client", "close")
    assert linger.end_ns <= close.start_ns <= rec.ts(last) <= close.end_ns
    reset = [c for c in rec.of("server", "recv") if c.failed]
    assert [(c.result, c.errno) for c in reset] == [("ECONNRESET", errno.ECONNRESET)]
    assert reset[0].end_ns >= rec.ts(last)
    assert rec.of("server", "recv")[-1] == reset[0]
    title = explain(rec.analysis, last).title
    assert title == "RST: the client aborts the connection"
    _check_explained(rec)


@pytest.mark.capture
@pytest.mark.tshark
def test_abort_seen_by_tshark(recorded: Recorder) -> None:
    rec = recorded("tcp-abort", "family=ipv4", "count=2")
    rows = tshark_rows(rec.path, "tcp.srcport", "tcp.flags.fin", "tcp.flags.reset")
    client_port = rows[0][0]
    assert all(fin == "0" for _port, fin, _rst in rows)
    assert [port for port, _fin, rst in rows if rst == "1"] == [client_port]


# -- tcp-simultaneous-close -------------------------------------------------------------


def close_outcome(analysis: Analysis, stream: int) -> str:
    """"crossed" or "serialized", from the packets alone, after checking that the
    endpoint states the analysis gives agree with them."""
    indices = [int(i) for i in analysis.stream_indices(stream)]
    flags = analysis.store.values("tcp_flags")
    direction = analysis.values("direction")
    fins = [i for i in indices if flags[i] & FIN]
    assert len(fins) == 2 and direction[fins[0]] != direction[fins[1]], "one FIN each way"
    first, second = fins
    # The FINs crossed when the second does not acknowledge the first.
    crossed = analysis.values("rel_ack")[second] < analysis.values("next_seq")[first]
    closer = direction[first]
    paths = {e: endpoint_path(analysis, stream, e) for e in (0, 1)}
    final = analysis.tcp_summaries[stream].states
    if crossed:
        for e in (0, 1):
            assert paths[e][-2:] == [S.CLOSING, S.TIME_WAIT], paths[e]
        assert final == (S.TIME_WAIT, S.TIME_WAIT)
        return "crossed"
    assert paths[closer][-4:] == [S.ESTABLISHED, S.FIN_WAIT_1, S.FIN_WAIT_2, S.TIME_WAIT]
    assert paths[1 - closer][-4:] == [S.ESTABLISHED, S.CLOSE_WAIT, S.LAST_ACK, S.CLOSED]
    assert final[closer] is S.TIME_WAIT and final[1 - closer] is S.CLOSED
    return "serialized"


def _scripted_close(tmp_path: Path, *, crossed: bool) -> Analysis:
    conv = Conversation(("127.0.0.1", 40000), ("127.0.0.1", 5555))
    conv.handshake()
    if crossed:
        before = conv.server.rcv_nxt
        conv.c2s("FA")
        conv.s2c("FA", ack=before)  # sent before the client's FIN arrived
        conv.c2s("A")
        conv.s2c("A")
    else:
        conv.close()
    path = write_pcap(tmp_path / "close.pcap", conv.segments)
    return analyze(PacketStore.from_file(str(path)))


@pytest.mark.parametrize("crossed", [True, False])
def test_close_outcome_reads_both_kinds_of_close(tmp_path: Path, crossed: bool) -> None:
    analysis = _scripted_close(tmp_path, crossed=crossed)
    assert close_outcome(analysis, 0) == ("crossed" if crossed else "serialized")
    analysis.store.close()


@pytest.mark.capture
@pytest.mark.parametrize("family", FAMILIES)
def test_simultaneous_close_states_match_the_packets(recorded: Recorder,
                                                     family: str) -> None:
    rec = recorded("tcp-simultaneous-close", f"family={family}", "connections=5")
    port = rec.server_port()
    summaries = rec.analysis.tcp_summaries
    assert len(summaries) == 5
    outcomes = [close_outcome(rec.analysis, s.stream) for s in summaries]
    print(f"{family}: FINs crossed in {outcomes.count('crossed')} of 5 connections")
    for s in summaries:
        assert port in (s.endpoints[0][1], s.endpoints[1][1])
    # Both sides shut down, each recv() then returned 0, at nearly the same instant.
    server, client = rec.of("server", "shutdown"), rec.of("client", "shutdown")
    assert len(server) == len(client) == 5
    for ours, theirs in zip(server, client, strict=True):
        assert ours.args == theirs.args == "SHUT_WR"
        assert abs(ours.start_ns - theirs.start_ns) < 50_000_000
    eofs = [c for c in rec.calls if c.call == "recv" and c.result == "0 (peer closed)"]
    assert len(eofs) == 10
    for i in range(len(rec.store)):
        if rec.flags(i) & FIN:
            assert explain(rec.analysis, i).title.startswith("FIN: ")
    _check_explained(rec)


class _ClientGivesUpBeforeClosing(TcpSimultaneousClose):
    """The client fails after connecting: the server must not wait for it to close."""

    def _client(self, side: Side, meeting: _Meeting) -> None:
        try:
            side.socket(socket.SOCK_STREAM).connect(side.server_address)
            side.fail("gave up on purpose")
        finally:
            meeting.leave()


def test_simultaneous_close_stops_when_a_side_fails_before_the_meeting() -> None:
    threads, fds = threading.active_count(), len(os.listdir("/proc/self/fd"))
    started = time.monotonic()
    with _ClientGivesUpBeforeClosing({"count": 0}).prepare() as prepared:
        result = prepared.run(timeout=30)
    assert time.monotonic() - started < 2.0
    assert isinstance(result.error, ScenarioFailed)
    assert str(result.error) == "the client gave up on purpose"
    assert result.failed_sides == ["client"]
    assert not [c for c in result.calls if c.call == "shutdown"]
    assert threading.active_count() == threads
    assert len(os.listdir("/proc/self/fd")) == fds


def test_simultaneous_close_leaves_no_thread_or_pipe_behind() -> None:
    threads, fds = threading.active_count(), len(os.listdir("/proc/self/fd"))
    with get_scenario("tcp-simultaneous-close")({"connections": 3}).prepare() as prepared:
        result = prepared.run(timeout=10)
    assert result.ok, result.error
    assert len([c for c in result.calls if c.call == "shutdown"]) == 6
    assert threading.active_count() == threads
    assert len(os.listdir("/proc/self/fd")) == fds


# -- tcp-many-clients -------------------------------------------------------------------


@pytest.mark.capture
@pytest.mark.parametrize(("family", "clients"), [("ipv4", 3), pytest.param(
    "ipv6", 5, marks=needs_ipv6)])
def test_many_clients_share_the_server_port(recorded: Recorder, family: str,
                                            clients: int) -> None:
    rec = recorded("tcp-many-clients", f"family={family}", f"clients={clients}")
    port = rec.server_port()
    summaries = rec.analysis.tcp_summaries
    assert len(summaries) == clients
    server_ends = {s.endpoints[1] for s in summaries}
    assert {p for _addr, p in server_ends} == {port}          # one server port for all
    client_ports = [s.endpoints[0][1] for s in summaries]
    assert len(set(client_ports)) == clients and port not in client_ports
    # All connections are open at the same time: every handshake before any close.
    established = [next(int(i) for i in rec.analysis.stream_indices(s.stream)
                        if rec.analysis.states(int(i))[1] is S.ESTABLISHED) for s in summaries]
    first_fin = min(i for i in range(len(rec.store)) if rec.flags(i) & FIN)
    assert max(established) < first_fin
    for s in summaries:
        assert s.states == (S.TIME_WAIT, S.CLOSED)
        assert s.bytes == (64, 64)
    # Each accept() returned a socket on the server's own port; each client side
    # connected from the port of one of the streams.
    accepts = rec.of("server", "accept")
    assert len(accepts) == clients
    assert {a.local.rsplit(":", 1)[1] for a in accepts} == {str(port)}
    assert {int(a.result.rsplit(":", 1)[1]) for a in accepts} == set(client_ports)
    connects = [c for c in rec.calls if c.call == "connect"]
    assert sorted(c.side for c in connects) == sorted(f"client {n}"
                                                      for n in range(1, clients + 1))
    assert {int(c.local.rsplit(":", 1)[1]) for c in connects} == set(client_ports)
    _check_explained(rec)


@pytest.mark.capture
@pytest.mark.tshark
def test_many_clients_seen_by_tshark(recorded: Recorder) -> None:
    rec = recorded("tcp-many-clients", "family=ipv4", "clients=3")
    rows = tshark_rows(rec.path, "tcp.stream", "tcp.srcport", "tcp.dstport", "tcp.flags.syn",
                       "tcp.flags.ack")
    syns = [r for r in rows if r[3] == "1" and r[4] == "0"]
    assert len({r[0] for r in rows}) == 3
    assert len(syns) == 3
    assert len({r[2] for r in syns}) == 1       # one server port
    assert len({r[1] for r in syns}) == 3       # three client ports


def test_scenarios_are_registered_with_family_and_port() -> None:
    for name in ("tcp-refused", "tcp-half-close", "tcp-abort", "tcp-simultaneous-close",
                 "tcp-many-clients"):
        cls = get_scenario(name)
        assert {"family", "port"} <= {p.name for p in cls.params}
        assert cls.transport == "tcp" and len(cls.description) > 400
