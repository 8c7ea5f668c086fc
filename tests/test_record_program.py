"""``visualizer record --server CMD --run CMD``: real programs under real strace,
real capture on lo, the recording checked with tshark and the ladder."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from signals import default_sigint

from visualizer.core.decode.store import PacketStore
from visualizer.core.flows.analysis import analyze
from visualizer.core.ladder.build import Arrow, Ladder, attach_calls, tcp_ladder, udp_ladder
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.pcap.recording import RecordingInfo

pytestmark = [pytest.mark.capture, pytest.mark.tshark,
              pytest.mark.skipif(shutil.which("strace") is None,
                                 reason="strace is not installed (.ci/setup installs it)")]

EXAMPLES = Path(__file__).parents[1] / "resources" / "examples"
PY = sys.executable


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def record(tmp_path: Path, *args: str, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    env = env or {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    return subprocess.run([PY, "-m", "visualizer", "record", *args], capture_output=True,
                          text=True, timeout=90, env=env)


def tshark_fields(path: Path, display: str, *fields: str) -> list[list[str]]:
    cmd = ["tshark", "-r", str(path), "-Y", display, "-T", "fields", "-E", "separator=/t"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout
    return [line.split("\t") for line in out.splitlines()]


def ladder_of(path: Path, udp: bool = False) -> tuple[Ladder, RecordingInfo]:
    store = PacketStore.from_file(str(path))
    try:
        info = RecordingInfo.from_capture(store.capture)
        assert info is not None
        analysis = analyze(store)
        plain = udp_ladder(analysis, 0) if udp else tcp_ladder(analysis, 0)
        return attach_calls(plain, info), info
    finally:
        store.close()


def payload(arrow: Arrow) -> int:
    found = re.search(r"len=(\d+)", arrow.label)
    return int(found.group(1)) if found else 0


def lane_of(ladder: Ladder, port: int) -> int:
    (lane,) = [k for k, lane in enumerate(ladder.lanes) if lane.port == port]
    return lane


def test_http_server_and_curl_calls_beside_the_handshake(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (.ci/setup installs it)")
    port = free_port()
    out = tmp_path / "http.pcapng"
    result = record(tmp_path, "--server", f"{PY} -m http.server {port} --bind 127.0.0.1",
                    "--run", f"curl -s -o /dev/null http://127.0.0.1:{port}/",
                    "-o", str(out), "--cwd", str(tmp_path))
    assert result.returncode == 0, result.stderr
    requests = tshark_fields(out, "http.request", "http.request.method", "tcp.dstport")
    assert requests == [["GET", str(port)]]
    assert tshark_fields(out, "http.response", "http.response.code") == [["200"]]
    ladder, info = ladder_of(out)
    assert [p["side"] for p in info.programs] == ["server", "client"]
    assert info.programs[1]["exit_code"] == 0
    assert info.programs[0]["command"].endswith(f"http.server {port} --bind 127.0.0.1")
    syn, syn_ack, ack = (ladder.arrows[k].ts_ns for k in range(3))
    server_lane = lane_of(ladder, port)
    client_lane = 1 - server_lane
    (connect,) = [c for c in ladder.calls if c.call == "connect"]
    accepts = [c for c in ladder.calls if c.call in ("accept", "accept4")]
    assert connect.lane == client_lane and connect.side == "client"
    assert [(a.lane, a.side) for a in accepts] == [(server_lane, "server")]
    # connect() starts before the SYN and returns after the SYN-ACK; accept()
    # returns once the handshake's ACK is in.
    assert connect.start_ns < syn < syn_ack < connect.end_ns
    assert accepts[0].end_ns > ack
    assert connect.remote == f"127.0.0.1:{port}"
    # http.server answers in a thread of its own: strace -f followed it
    handled = [c for c in ladder.calls if c.lane == server_lane and c.call == "recvfrom"]
    assert handled and handled[0].start_ns > accepts[0].end_ns
    listens = [c for c in ladder.calls if c.call == "listen"]
    assert [c.lane for c in listens] == [server_lane]
    assert listens[0].end_ns < syn   # the client started only once the server listened


def _example(tmp_path: Path, language: str, proto: str, port: int) -> tuple[str, str]:
    """The server and client commands of one example."""
    if language == "python":
        return (f"{PY} {EXAMPLES}/python/{proto}_server.py {port}",
                f"{PY} {EXAMPLES}/python/{proto}_client.py {port}")
    if language == "node":
        node = shutil.which("node") or shutil.which("nodejs")
        if node is None:
            pytest.skip("node is not installed (.ci/setup installs nodejs)")
        return (f"{node} {EXAMPLES}/node/{proto}_server.js {port}",
                f"{node} {EXAMPLES}/node/{proto}_client.js {port}")
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (cc) is installed (.ci/setup installs gcc)")
    built = []
    for side in ("server", "client"):
        binary = tmp_path / f"{proto}_{side}"
        subprocess.run([cc, "-Wall", "-o", str(binary), str(EXAMPLES / "c" / f"{proto}_{side}.c")],
                       check=True, timeout=60)
        built.append(f"{binary} {port}")
    return built[0], built[1]


@pytest.mark.parametrize("language", ["python", "node", "c"])
def test_tcp_echo_example(tmp_path: Path, language: str) -> None:
    port = free_port()
    server, client = _example(tmp_path, language, "tcp", port)
    out = tmp_path / "tcp.pcapng"
    result = record(tmp_path, "--server", server, "--run", client, "-o", str(out))
    assert result.returncode == 0, result.stderr
    ladder, info = ladder_of(out)
    assert [p["exit_code"] for p in info.programs][1:] == [0]
    payloads = tshark_fields(out, "tcp.len > 0", "tcp.srcport", "tcp.len")
    to_server = [int(n) for src, n in payloads if src != str(port)]
    assert sum(to_server) == len("hello") + len("echo") + len("bye")
    server_lane = lane_of(ladder, port)
    names = {(c.lane == server_lane, c.call) for c in ladder.calls}
    assert {(True, "listen"), (False, "connect")} <= names
    assert any(server and call.startswith("accept") for server, call in names)
    sends = [c for c in ladder.calls if c.lane != server_lane
             and c.call in ("write", "send", "sendto") and not c.failed]
    assert sum(int(c.result) for c in sends) == sum(to_server)
    # each send comes before its segment (the capture may stamp a packet on lo
    # after the call returned, so its end is not compared)
    segments = [a for a in ladder.arrows if a.src_lane == 1 - server_lane and payload(a)]
    assert len(sends) == len(segments)
    for call, arrow in zip(sends, segments, strict=True):
        assert call.start_ns < arrow.ts_ns
    receives = [c for c in ladder.calls if c.lane == server_lane
                and c.call in ("read", "recv", "recvfrom")]
    assert receives[-1].result == "0 (peer closed)"


@pytest.mark.parametrize("language", ["python", "node", "c"])
def test_udp_pair_sendto_recvfrom_beside_their_datagrams(tmp_path: Path, language: str
                                                         ) -> None:
    port = free_port(socket.SOCK_DGRAM)
    server, client = _example(tmp_path, language, "udp", port)
    out = tmp_path / "udp.pcapng"
    result = record(tmp_path, "--server", server, "--run", client, "-o", str(out))
    assert result.returncode == 0, result.stderr
    ladder, _info = ladder_of(out, udp=True)
    server_lane = lane_of(ladder, port)
    client_lane = 1 - server_lane
    sent = [a for a in ladder.arrows if a.src_lane == client_lane]
    assert [payload(a) for a in sent] == [5, 4, 3]    # "hello", "echo", "bye"
    sendtos = [c for c in ladder.calls if c.lane == client_lane and c.call.startswith("send")]
    assert len(sendtos) == 3
    for call, arrow in zip(sendtos, sent, strict=True):
        assert call.start_ns < arrow.ts_ns    # each datagram after the sendto that sent it
    received = [c for c in ladder.calls if c.lane == server_lane
                and c.call.startswith("recv") and not c.failed
                and c.result.split()[0].isdigit()]
    assert [int(c.result.split()[0]) for c in received] == [5, 4, 3]
    assert all(c.remote == f"127.0.0.1:{ladder.lanes[client_lane].port}" for c in received)


_STUBBORN_SERVER = """
import os, signal, socket, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
if os.fork() == 0:          # a child, ignoring SIGTERM too
    time.sleep(300)
    sys.exit(0)
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
conn, _ = s.accept()
time.sleep(300)
"""


def _processes_with(marker: str) -> list[str]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if marker.encode() in cmdline:
                found.append(f"{entry.name}: {cmdline.decode(errors='replace')}")
    return found


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_interrupt_stops_every_process_and_keeps_the_packets(tmp_path: Path, stop: str
                                                             ) -> None:
    port = free_port()
    script = tmp_path / "stubborn_server.py"
    script.write_text(_STUBBORN_SERVER)
    marker = str(tmp_path)
    out = tmp_path / "cut.pcapng"
    connected = tmp_path / "connected"
    client = (f"{PY} -c 'import socket,sys,time; c=socket.create_connection((\"127.0.0.1\","
              f"{port})); open(sys.argv[1], \"w\").close(); time.sleep(300)' {connected}")
    proc = subprocess.Popen([PY, "-m", "visualizer", "record", "--server",
                             f"{PY} {script} {port}", "--run", client, "-o", str(out)],
                            start_new_session=True, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint,
                            env={**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")})
    try:
        deadline = time.monotonic() + 60
        while not connected.exists():   # the client made its connection
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        if stop == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)   # the terminal signals the whole group
        else:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "captured so far" in err and "Traceback" not in err
    assert _processes_with(marker) == []    # the server, its child and the client are gone
    with CaptureFile.open(str(out)) as cap:
        info = RecordingInfo.from_capture(cap)
        assert len(list(cap.frames())) >= 3   # the handshake
    assert info is not None and info.capture["interrupted"] is True
    assert [c["call"] for c in info.calls if c["side"] == "server"].count("listen") == 1


def test_a_server_that_does_not_exist_exits_or_never_listens(tmp_path: Path) -> None:
    out = tmp_path / "x.pcapng"
    missing = record(tmp_path, "--server", "no-such-server-here --port 1", "--run", "true",
                     "-o", str(out))
    assert missing.returncode == 1
    (line,) = missing.stderr.strip().splitlines()
    assert "no-such-server-here" in line and "exit code" in line
    assert "No such file" in line
    boom = f"{PY} -c 'import sys; sys.stderr.write(\"port taken\\n\"); sys.exit(3)'"
    failed = record(tmp_path, "--server", boom, "--run", "true", "-o", str(out))
    (line,) = failed.stderr.strip().splitlines()
    assert failed.returncode == 1 and "exit code 3" in line and "port taken" in line
    quiet = record(tmp_path, "--server", f"{PY} -c 'import time; time.sleep(60)'",
                   "--run", "true", "--timeout", "1", "-o", str(out))
    (line,) = quiet.stderr.strip().splitlines()
    assert quiet.returncode == 1 and "did not listen within 1 s" in line
    assert not out.exists()


def test_a_client_that_does_not_exist_still_leaves_the_server_recorded(tmp_path: Path
                                                                      ) -> None:
    port = free_port()
    out = tmp_path / "x.pcapng"
    result = record(tmp_path, "--server", f"{PY} {EXAMPLES}/python/tcp_server.py {port}",
                    "--run", "no-such-client-here", "-o", str(out))
    assert result.returncode == 1
    wrote, line = result.stderr.strip().splitlines()
    assert wrote.startswith(f"wrote {out}")
    assert "no-such-client-here" in line and "exit code" in line and "No such file" in line
    with CaptureFile.open(str(out)) as cap:
        info = RecordingInfo.from_capture(cap)
    assert info is not None
    assert [p["exit_code"] for p in info.programs][1] != 0
    assert [c["call"] for c in info.calls if c["side"] == "server"].count("listen") == 1


def test_without_strace_one_line_names_the_package(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty), "XDG_DATA_HOME": str(tmp_path / "data")}
    result = record(tmp_path, "--run", "true", "-o", str(tmp_path / "x.pcapng"), env=env)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "strace" in line and "apt-get install strace" in line and "--no-trace" in line


def test_no_trace_records_packets_only(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "plain.pcapng"
    result = record(tmp_path, "--no-trace", "--server",
                    f"{PY} {EXAMPLES}/python/tcp_server.py {port}",
                    "--run", f"{PY} {EXAMPLES}/python/tcp_client.py {port}", "-o", str(out))
    assert result.returncode == 0, result.stderr
    ladder, info = ladder_of(out)
    assert info.calls == [] and info.capture["traced"] is False
    assert {lane.port for lane in ladder.lanes} >= {port}
    assert tshark_fields(out, f"tcp.port != {port}", "frame.number") == []


def test_commands_are_not_run_through_a_shell(tmp_path: Path) -> None:
    port = free_port()
    marker = tmp_path / "made-by-shell"
    server = f"{PY} {EXAMPLES}/python/tcp_server.py {port}"
    client = f"{PY} {EXAMPLES}/python/tcp_client.py {port} ; touch {marker}"
    out = tmp_path / "x.pcapng"
    record(tmp_path, "--server", server, "--run", client, "-o", str(out))
    assert not marker.exists()     # "; touch" reached python as arguments
    result = record(tmp_path, "--shell", "--server", server, "--run", client, "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert marker.exists()
