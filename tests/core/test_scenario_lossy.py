"""tcp-lossy on a path, and the private network namespaces a path is made of.

Everything here is real: namespaces made with ``ip netns``, a path whose
link loses packets, transfers captured at both ends and checked with our
analysis and with tshark. Creating a namespace needs root; the tests that
need it are skipped without it, and the tests of the "not permitted"
message drop the privilege on purpose.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from leaks import open_fds

from visualizer.commands.path_records import path_packet_records
from visualizer.core.errors import BadInput
from visualizer.core.path.netns import (
    NETNS_DIR,
    NamespaceNotPermitted,
    NetworkNamespace,
    missing_capabilities,
    remove_stale,
)
from visualizer.core.path.network import NAMESPACE_PREFIX
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.pcap.recording import RecordingInfo
from visualizer.core.record import STAGE_RUN, RecordingCancelled, record
from visualizer.core.session import Session
from visualizer.core.traffic import get_scenario, parse_params
from visualizer.core.traffic.tcp_lossy import TcpLossy

needs_admin = pytest.mark.skipif(bool(missing_capabilities()) or shutil.which("ip") is None,
                                 reason="network namespaces need root (CAP_SYS_ADMIN, "
                                        "CAP_NET_ADMIN) and iproute2")
REPO = Path(__file__).resolve().parents[2]


TEST_PREFIX = "pv-test"   # namespaces these tests make by hand


def our_namespaces(pid: int | None = None) -> list[str]:
    """The path namespaces of process ``pid`` (default: this one) that exist."""
    prefix = f"{NAMESPACE_PREFIX}-{os.getpid() if pid is None else pid}-"
    try:
        return [name for name in os.listdir(NETNS_DIR) if name.startswith(prefix)]
    except FileNotFoundError:
        return []


def netns_list() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                          check=True, timeout=10).stdout


def thread_netns() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


@pytest.fixture
def clean() -> Iterator[None]:
    """Fail the test if it leaves a namespace, a thread or a file descriptor behind."""
    threads, fds = threading.active_count(), open_fds()
    yield
    assert our_namespaces() == []
    assert threading.active_count() == threads, threading.enumerate()
    assert open_fds() == fds


# -- parameters and text (no privilege needed) -----------------------------------------


def test_lossy_is_registered_with_its_parameters() -> None:
    cls = get_scenario("tcp-lossy")
    assert cls is TcpLossy
    values = parse_params(cls, [])
    assert values["kilobytes"] == 200 and values["cc"] == "cubic"
    assert cls.path_defaults == {"rtt": "10", "loss": "5"}
    assert "needs root" in cls.summary
    with pytest.raises(BadInput, match=r"kilobytes=0 is out of range"):
        parse_params(cls, ["kilobytes=0"])


# -- the namespace ------------------------------------------------------------------------


@needs_admin
def test_namespace_is_named_per_run_and_removed(clean: None) -> None:
    with NetworkNamespace.create(TEST_PREFIX) as first, \
            NetworkNamespace.create(TEST_PREFIX) as second:
        assert first.name != second.name
        assert re.fullmatch(rf"{TEST_PREFIX}-{os.getpid()}-\d+", first.name)
        listed = netns_list()
        assert first.name in listed and second.name in listed
        second.remove()
        second.remove()  # idempotent
        assert second.name not in netns_list()
        assert first.exists
    assert first.name not in netns_list()


@needs_admin
def test_namespace_is_removed_when_the_block_fails(clean: None) -> None:
    with pytest.raises(RuntimeError, match="boom"), \
            NetworkNamespace.create(TEST_PREFIX) as namespace:
        assert namespace.exists
        raise RuntimeError("boom")
    assert not namespace.exists


@needs_admin
def test_entered_moves_only_this_thread_and_comes_back(clean: None) -> None:
    home = thread_netns()
    seen: dict[str, int] = {}
    go = threading.Event()

    def report(name: str, wait: bool) -> None:
        if wait:
            go.wait(10)
        seen[name] = thread_netns()

    earlier = threading.Thread(target=report, args=("earlier", True))
    earlier.start()
    # A server on the host's loopback: out of reach from inside the namespace.
    with socket.socket() as host_server, NetworkNamespace.create(TEST_PREFIX) as ns:
        host_server.bind(("127.0.0.1", 0))
        host_server.listen(1)
        with ns.entered():
            inside = thread_netns()
            go.set()
            earlier.join()
            # A thread started in here inherits its starter's namespace.
            later = threading.Thread(target=report, args=("later", False))
            later.start()
            later.join()
            with socket.socket() as probe, pytest.raises(OSError):
                # lo is still down in a new namespace: no route to 127.0.0.1 at all.
                probe.connect(host_server.getsockname())
        assert thread_netns() == home
        assert inside == os.stat(ns.path).st_ino != home
        assert seen == {"earlier": home, "later": inside}


@needs_admin
def test_enter_thread_puts_a_thread_inside_for_good(clean: None) -> None:
    with NetworkNamespace.create(TEST_PREFIX) as namespace:
        seen: list[int] = []

        def side() -> None:
            before = thread_netns()
            namespace.enter_thread()
            seen.extend([before, thread_netns()])

        thread = threading.Thread(target=side)
        thread.start()
        thread.join()
        expected = os.stat(namespace.path).st_ino
        assert seen == [thread_netns(), expected]


@needs_admin
def test_namespaces_of_dead_processes_are_removed() -> None:
    # A pid that cannot be alive (above pid_max) stands for a run killed with SIGKILL.
    with open("/proc/sys/kernel/pid_max", encoding="ascii") as f:
        dead_pid = int(f.read()) + 1
    stale = f"{TEST_PREFIX}-{dead_pid}-0"
    unrelated = f"{TEST_PREFIX}x-{dead_pid}-0"
    for name in (stale, unrelated):
        subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    try:
        with NetworkNamespace.create(TEST_PREFIX) as mine:
            listed = netns_list()
            assert stale not in listed
            assert unrelated in listed and mine.name in listed
        assert remove_stale(TEST_PREFIX) == []
    finally:
        for name in (stale, unrelated):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=10)


# -- recorded: the lesson in the capture --------------------------------------------------


def _rows(path: Path) -> list[dict[str, object]]:
    with Session.load(str(path)) as session:
        view = session.path_view
        assert view is not None and session.store is not None and session.analysis is not None
        return list(path_packet_records(session.store, session.analysis, view))


@needs_admin
@pytest.mark.capture
@pytest.mark.tshark
def test_recorded_lossy_transfer_shows_retransmissions_as_tshark_does(tmp_path: Path,
                                                                       clean: None) -> None:
    from oracle import tshark_tcp

    path = tmp_path / "lossy.pcapng"
    result = record("tcp-lossy", ["kilobytes=300", "seed=4"], str(path))
    assert result.run.error is None, result.run.error
    assert result.run.bytes_received["server"] == 300 * 1024
    assert result.stats.dropped == 0
    rows = _rows(path)
    lost = [r for r in rows if r["fate"] == "lost"]
    assert lost and {r["lost_because"] for r in lost} == {"random loss"}
    flags = collections.Counter(name for r in rows for name in r["analysis"])  # type: ignore[attr-defined]
    assert flags["retransmission"] + flags["fast_retransmission"] + flags["out_of_order"] > 0
    assert flags["duplicate_ack"] > 0, flags
    # a tap at the server: what tshark says of the server's end, packet by packet
    server = tmp_path / "server.pcapng"
    subprocess.run(_cli("export", str(path), "--end", "server", "-o", str(server)),
                   check=True, capture_output=True, timeout=60)
    theirs = tshark_tcp(server)
    ours = [r for r in rows if r["frame"] in _frames_at(path, "server")]
    assert len(ours) == len(theirs)
    for k, mine in enumerate(ours, 1):
        assert (mine["stream"], mine["seq"], mine["ack"], mine["len"],
                frozenset(mine["analysis"])) == theirs[k], k  # type: ignore[arg-type]
    with CaptureFile.open(str(path)) as capture_file:
        info = RecordingInfo.from_capture(capture_file)
    assert info is not None and info.scenario == "tcp-lossy"
    assert info.path["params"]["loss"] == 5


def _frames_at(path: Path, end: str) -> set[int]:
    """1-based frame numbers of the recording captured at ``end``."""
    with CaptureFile.open(str(path)) as capture_file:
        return {n for n, rec in enumerate(capture_file.frames(), 1)
                if rec.interface == ("client", "server").index(end)}


@needs_admin
@pytest.mark.capture
def test_lossy_over_ipv6(tmp_path: Path, clean: None) -> None:
    path = tmp_path / "lossy6.pcapng"
    result = record("tcp-lossy", ["kilobytes=100", "family=ipv6", "loss=10"], str(path))
    assert result.run.error is None, result.run.error
    rows = _rows(path)
    assert rows[0]["src"] == "2001:db8::1"
    assert any(r["fate"] == "lost" for r in rows)
    flagged = {name for r in rows for name in r["analysis"]}  # type: ignore[attr-defined]
    assert {"retransmission", "fast_retransmission", "out_of_order"} & flagged


@needs_admin
@pytest.mark.capture
def test_a_cancelled_recording_removes_the_namespaces(tmp_path: Path, clean: None) -> None:
    cancel = threading.Event()

    def on_stage(stage: str) -> None:
        if stage == STAGE_RUN:
            assert len(our_namespaces()) == 2   # the client's and the server's
            cancel.set()

    with pytest.raises(RecordingCancelled):
        record("tcp-lossy", ["kilobytes=5000"], str(tmp_path / "x.pcapng"),
               on_stage=on_stage, cancel=cancel)
    assert list(tmp_path.iterdir()) == []


# -- the command line: Ctrl-C, and no privilege -------------------------------------------


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "visualizer", *args]


def _unprivileged(*setpriv_args: str, python: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(["setpriv", *setpriv_args, python, "-m", "visualizer", "record",
                           "tcp-lossy", "-o", "/tmp/pv-never-written.pcapng"],
                          capture_output=True, text=True, timeout=60, env=env, cwd="/")


@needs_admin
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) missing")
def test_without_cap_net_admin_the_cli_says_so() -> None:
    # Root minus CAP_NET_ADMIN: the kernel grants root only what the bounding set holds.
    result = _unprivileged("--bounding-set=-net_admin", "--inh-caps=-net_admin",
                           python=sys.executable)
    assert result.returncode == NamespaceNotPermitted.exit_code == 3
    assert result.stderr.count("\n") == 1, result.stderr
    assert "CAP_NET_ADMIN" in result.stderr and "CAP_SYS_ADMIN" not in result.stderr
    assert "CAP_NET_RAW" not in result.stderr  # root is the fix, not the capture grant
    assert "Traceback" not in result.stderr
    assert not os.path.exists("/tmp/pv-never-written.pcapng")


def _python_for_nobody() -> str | None:
    """An interpreter user nobody can run that imports this checkout (the venv may sit
    under /root, which nobody cannot enter)."""
    for python in (sys.executable, "/usr/bin/python3.11", "/usr/bin/python3"):
        try:
            probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534",
                                    "--clear-groups", python, "-c", "import visualizer.cli"],
                                   capture_output=True, timeout=30, cwd="/",
                                   env={**os.environ, "PYTHONPATH": str(REPO)})
        except OSError:
            continue
        if probe.returncode == 0:
            return python
    return None


@needs_admin
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) missing")
def test_as_an_ordinary_user_the_cli_names_cap_net_admin() -> None:
    python = _python_for_nobody()
    if python is None:
        pytest.skip("no interpreter that user nobody can run imports this checkout")
    result = _unprivileged("--reuid=65534", "--regid=65534", "--clear-groups",
                           "--inh-caps=-all", python=python)
    assert result.returncode == 3, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "CAP_NET_ADMIN" in lines[0], result.stderr
    assert lines[0].startswith("visualizer: the path between client and server needs")
    assert not os.path.exists("/tmp/pv-never-written.pcapng")
