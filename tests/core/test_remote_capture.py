"""Remote capture over ssh, against a real sshd on 127.0.0.1 (tests/sshd.py).

The "remote" host is this machine: ``visualizer capture --remote`` logs in
with a key the test generated and runs tcpdump there on lo, while the test
makes TCP connections on lo. No process may be left behind: neither the ssh
client nor the tcpdump it started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sshd import TestSshd, sshd_missing

from visualizer.core.capture.remote import remote_script, ssh_command
from visualizer.core.session import Session

pytestmark = pytest.mark.skipif(sshd_missing() is not None, reason=str(sshd_missing()))
SYNS = "tcp[tcpflags] & tcp-syn != 0"   # two packets per connection: SYN and SYN-ACK


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestSshd]:
    with TestSshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server
    assert server.proc is not None and server.proc.poll() is not None


@pytest.fixture
def server() -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock


def _connect(server: socket.socket, times: int) -> None:
    for _ in range(times):
        with socket.create_connection(server.getsockname()):
            server.accept()[0].close()


def _processes_with(text: str) -> list[int]:
    """PIDs whose command line contains ``text``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if text.encode() in cmdline:
            found.append(int(entry))
    return found


def _none_left(text: str) -> bool:
    """No process mentions ``text`` (the remote end may take a moment to close)."""
    deadline = time.monotonic() + 15
    while _processes_with(text):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _capture(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "visualizer", "capture", *args],
                            stderr=subprocess.PIPE, text=True)


def _wait_ready(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert '"event": "ready"' in line, line + proc.stderr.read()
    return line


def _syn_flags(path: Path) -> list[int]:
    with Session.load(str(path)) as session:
        store = session.store
        assert store is not None
        return [int(f) for f in store.column("tcp_flags")[:session.count]]


def test_packets_of_a_remote_lo_arrive(sshd: TestSshd, server: socket.socket,
                                       tmp_path: Path) -> None:
    out = tmp_path / "remote.pcap"
    port = server.getsockname()[1]
    proc = _capture("--remote", "root@testhost", "--ssh-config", sshd.config(), "-i", "lo",
                    "-f", f"tcp port {port} and {SYNS}", "-c", "6", "-o", str(out))
    try:
        ready = _wait_ready(proc)
        assert '"remote": "root@testhost"' in ready and '"linktype": 1' in ready
        _connect(server, 3)
        assert proc.wait(60) == 0   # -c 6: it stops by itself after the sixth packet
    finally:
        proc.kill()
        proc.communicate()
    flags = _syn_flags(out)
    assert flags == [0x02, 0x12] * 3   # SYN, SYN-ACK of each connection, in order
    assert _none_left(sshd.config())
    assert _none_left(f"tcp port {port}")   # tcpdump there ended too


def test_ctrl_c_keeps_the_packets_and_leaves_no_process(sshd: TestSshd, server: socket.socket,
                                                        tmp_path: Path) -> None:
    out = tmp_path / "interrupted.pcap"
    port = server.getsockname()[1]
    proc = _capture("--remote", "root@testhost", "--ssh-config", sshd.config(), "-i", "lo",
                    "-f", f"tcp port {port} and {SYNS}", "-o", str(out))
    try:
        _wait_ready(proc)
        _connect(server, 2)
        # The packets are in the file once it holds four records (header 24 bytes).
        deadline = time.monotonic() + 30
        while len(_syn_flags(out)) < 4:
            assert time.monotonic() < deadline, "the remote packets never arrived"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        assert proc.stderr is not None
        assert '"reason": "signal"' in proc.stderr.read()
    finally:
        proc.kill()
        proc.communicate()
    assert _syn_flags(out) == [0x02, 0x12] * 2
    assert _none_left(sshd.config())
    assert _none_left(f"tcp port {port}")


@pytest.mark.parametrize(("config", "destination", "code", "reason"), [
    ("wrong", "root@testhost", 3, "authentication failed for root@testhost"),
    ("bare", "root@testhost", 2, "no tcpdump there"),
    ("unprivileged", "root@testhost", 3, "not permitted there: tcpdump: "),
    ("", "ssh://root@127.0.0.1:1", 2, "host unreachable: connect to host 127.0.0.1 port 1"),
    ("", "root@nosuchhost.invalid", 2, "host unreachable: Could not resolve hostname"),
])
def test_failures_name_their_cause(sshd: TestSshd, tmp_path: Path, config: str,
                                   destination: str, code: int, reason: str) -> None:
    out = tmp_path / "never.pcap"
    result = subprocess.run([sys.executable, "-m", "visualizer", "capture", "--remote",
                             destination, "--ssh-config", sshd.config(config), "-o", str(out)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == code, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"visualizer: {reason}"), last
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert _none_left(sshd.config(config))


def test_a_bad_interface_there_is_bad_input(sshd: TestSshd, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "visualizer", "capture", "--remote",
                             "root@testhost", "--ssh-config", sshd.config(), "-i", "nosuch0",
                             "-o", str(tmp_path / "x.pcap")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "on testhost: tcpdump: nosuch0: No such device exists" in result.stderr


def test_the_remote_command_quotes_what_the_user_typed() -> None:
    script = remote_script("eth0; reboot", "tcp port 80' ; reboot '")
    assert "-i 'eth0; reboot'" in script
    assert """'(tcp port 80'"'"' ; reboot '"'"') and '""" in script
    command = ssh_command("root@lab", script)
    assert command[command.index("--") + 1:] == ["root@lab", script]
    assert "BatchMode=yes" in command


def test_a_destination_that_looks_like_an_option_is_refused(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "visualizer", "capture",
                             "--remote=-oProxyCommand=touch /tmp/x", "-o",
                             str(tmp_path / "x.pcap")], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "give USER@HOST" in result.stderr
