"""strace's lines as the socket-call log: a real program run under real strace."""

from __future__ import annotations

import errno
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from visualizer.core.program.strace import TraceReader, strace_argv
from visualizer.core.traffic.calls import SocketCall

pytestmark = pytest.mark.skipif(shutil.which("strace") is None,
                                reason="strace is not installed (.ci/setup installs it)")

PROGRAM = """
import os, select, socket, threading
# a file, a pipe and a Unix socket: none of these is on a lane
with open(os.devnull, "rb") as f:
    f.read(1)
r, w = os.pipe(); os.write(w, b"x"); os.read(r, 1)
a, b = socket.socketpair(); a.send(b"x"); b.recv(1)
listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen()
port = listener.getsockname()[1]
closed = socket.socket(); closed.bind(("127.0.0.1", 0)); dead = closed.getsockname()[1]
closed.close()
refused = socket.socket()
try:
    refused.connect(("127.0.0.1", dead))
except ConnectionRefusedError:
    pass
refused.close()
client = socket.socket(); client.setblocking(False)
client.connect_ex(("127.0.0.1", port))
select.poll().poll(0)
p = select.poll(); p.register(client, select.POLLOUT); p.poll(5000)
client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
conn, _ = listener.accept()
client.setblocking(True)
def serve():
    conn.sendall(conn.recv(100)); conn.close()
t = threading.Thread(target=serve); t.start()   # another thread: split strace lines
client.send(b"hello"); client.recv(100); client.recv(100)
t.join()
client.close(); listener.close()
print(port)
"""


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[SocketCall], int, list[str]]:
    folder = tmp_path_factory.mktemp("strace")
    trace = folder / "trace"
    script = folder / "program.py"
    script.write_text(PROGRAM)
    done = subprocess.run(strace_argv([sys.executable, str(script)], str(trace)),
                          capture_output=True, text=True, timeout=60, check=True)
    reader = TraceReader("me")
    for line in Path(trace).read_text().splitlines():
        reader.feed(line)
    return reader.calls(), int(done.stdout), reader.listening


def test_only_tcp_and_udp_sockets_are_logged(traced: tuple[list[SocketCall], int, list[str]]
                                             ) -> None:
    calls, port, listening = traced
    assert calls and all(call.side == "me" for call in calls)
    # only the socket whose connect() was refused never had an address
    assert [(c.call, c.result) for c in calls if not c.local][1:] == [
        ("connect", "ECONNREFUSED"), ("close", "0")]
    assert next(c.call for c in calls if not c.local) == "socket"
    assert all(c.local.startswith("127.0.0.1:") for c in calls if c.local)
    assert len([c for c in calls if c.call == "socket"]) == 4   # not the Unix socketpair
    assert listening == [f"127.0.0.1:{port}"]
    assert calls == sorted(calls, key=lambda c: c.start_ns)
    assert all(c.start_ns <= c.end_ns for c in calls)


def test_a_refused_connect_is_a_failed_call(traced: tuple[list[SocketCall], int, list[str]]
                                            ) -> None:
    calls, _port, _ = traced
    failed = [c for c in calls if c.failed]
    assert [(c.call, c.result, c.errno) for c in failed] == [
        ("connect", "ECONNREFUSED", errno.ECONNREFUSED)]


def test_a_non_blocking_connect_lasts_until_its_outcome_is_known(
        traced: tuple[list[SocketCall], int, list[str]]) -> None:
    calls, port, _ = traced
    connect = [c for c in calls if c.call == "connect" and not c.failed][-1]
    assert connect.result == "0 (EINPROGRESS, then connected)"
    assert connect.remote == f"127.0.0.1:{port}" and connect.local != ""
    check = next(c for c in calls if c.call == "getsockopt" and "SO_ERROR" in c.args)
    assert connect.end_ns == check.end_ns
    polls = [c for c in calls if c.call == "poll"]
    assert [(p.args, p.result, p.local) for p in polls] == [("POLLOUT", "POLLOUT",
                                                            connect.local)]


def test_data_calls_on_both_ends(traced: tuple[list[SocketCall], int, list[str]]) -> None:
    calls, port, _ = traced
    server = f"127.0.0.1:{port}"
    accepted = next(c for c in calls if c.call.startswith("accept"))
    assert accepted.local == server and accepted.result == accepted.remote
    sends = [(c.local == server, c.args, c.result) for c in calls if c.call == "sendto"]
    assert sends == [(False, "5 bytes", "5"), (True, "5 bytes", "5")]
    received = [(c.local == server, c.result) for c in calls if c.call == "recvfrom"]
    assert sorted(received) == [(False, "0 (peer closed)"), (False, "5"), (True, "5")]
    # socket() had no address yet: it takes the one its descriptor shows next
    sockets = [c for c in calls if c.call == "socket"]
    assert server in {c.local for c in sockets}
