"""tcp-lossy and the private network namespace it runs in.

Everything here is real: namespaces made with ``ip netns``, nftables rules
that drop packets, transfers captured on the namespace's lo and checked with
our analysis and with tshark. Creating a namespace needs root; the tests
that need it are skipped without it, and the tests of the "not permitted"
message drop the privilege on purpose.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from leaks import open_fds
from signals import default_sigint

from visualizer.core.capture.child import CaptureProcess
from visualizer.core.decode.store import PacketStore
from visualizer.core.describe.explain import explain
from visualizer.core.errors import BadInput
from visualizer.core.flows.analysis import analyze
from visualizer.core.path.netns import (
    NETNS_DIR,
    NamespaceNotPermitted,
    NetworkNamespace,
    missing_capabilities,
    remove_stale,
)
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.pcap.recording import RecordingInfo
from visualizer.core.record import STAGE_RUN, RecordingCancelled, record
from visualizer.core.tcp.analysis_flags import analysis_names
from visualizer.core.traffic import get_scenario, parse_params
from visualizer.core.traffic.logged_socket import LoggedSocket
from visualizer.core.traffic.side import Side
from visualizer.core.traffic.tcp_lossy import NAMESPACE_PREFIX, TcpLossy, drop_rules

needs_admin = pytest.mark.skipif(bool(missing_capabilities()) or shutil.which("ip") is None,
                                 reason="network namespaces need root (CAP_SYS_ADMIN, "
                                        "CAP_NET_ADMIN) and iproute2")
needs_nft = pytest.mark.skipif(shutil.which("nft") is None, reason="nft (nftables) missing")
REPO = Path(__file__).resolve().parents[2]


def our_namespaces(pid: int | None = None) -> list[str]:
    """The tcp-lossy namespaces of process ``pid`` (default: this one) that exist."""
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


def dropped_count(namespace: NetworkNamespace) -> int:
    """Packets the namespace's drop rule has dropped so far (its nft counter)."""
    out = subprocess.run(namespace.command(["nft", "list", "ruleset"]), capture_output=True,
                         text=True, check=True, timeout=10).stdout
    match = re.search(r"counter packets (\d+) bytes \d+ drop", out)
    assert match, out
    return int(match.group(1))


# -- parameters and text (no privilege needed) -----------------------------------------


def test_lossy_is_registered_with_its_parameters() -> None:
    cls = get_scenario("tcp-lossy")
    assert cls is TcpLossy
    values = parse_params(cls, [])
    assert values["loss"] == 10 and values["kilobytes"] == 200
    assert "CAP_NET_ADMIN" in cls.summary and "CAP_NET_ADMIN" in cls.description
    with pytest.raises(BadInput, match=r"loss=21 is out of range: allowed 0\.\.20"):
        parse_params(cls, ["loss=21"])


@needs_admin
@needs_nft
@pytest.mark.parametrize("loss", [0, 7, 20])
def test_drop_rules_are_valid_nftables(loss: int) -> None:
    # nft -c parses and checks the ruleset against the kernel without applying it.
    with NetworkNamespace.create(NAMESPACE_PREFIX) as namespace:
        namespace.run(["nft", "-c", "-f", "-"], stdin=drop_rules(loss))
    assert our_namespaces() == []


# -- the namespace ------------------------------------------------------------------------


@needs_admin
def test_namespace_is_named_per_run_and_removed(clean: None) -> None:
    with NetworkNamespace.create(NAMESPACE_PREFIX) as first, \
            NetworkNamespace.create(NAMESPACE_PREFIX) as second:
        assert first.name != second.name
        assert re.fullmatch(rf"{NAMESPACE_PREFIX}-{os.getpid()}-\d+", first.name)
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
            NetworkNamespace.create(NAMESPACE_PREFIX) as namespace:
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
    with socket.socket() as host_server, NetworkNamespace.create(NAMESPACE_PREFIX) as ns:
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
    with NetworkNamespace.create(NAMESPACE_PREFIX) as namespace:
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
    stale = f"{NAMESPACE_PREFIX}-{dead_pid}-0"
    unrelated = f"{NAMESPACE_PREFIX}x-{dead_pid}-0"
    for name in (stale, unrelated):
        subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    try:
        with NetworkNamespace.create(NAMESPACE_PREFIX) as mine:
            listed = netns_list()
            assert stale not in listed
            assert unrelated in listed and mine.name in listed
        assert remove_stale(NAMESPACE_PREFIX) == []
    finally:
        for name in (stale, unrelated):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=10)


# -- the scenario without capture -------------------------------------------------------


@needs_admin
@needs_nft
def test_lossy_transfer_completes_inside_its_namespace(clean: None) -> None:
    cls = get_scenario("tcp-lossy")
    with cls(parse_params(cls, ["loss=10", "kilobytes=100"])).prepare() as prepared:
        namespace = prepared.namespace
        assert namespace is not None and prepared.netns == namespace.name
        assert namespace.name in netns_list()
        result = prepared.run(timeout=20)
        drops = dropped_count(namespace)
    assert result.error is None, result.error
    assert result.bytes_received["server"] == result.bytes_sent["client"] == 100 * 1024
    assert drops > 0
    assert not namespace.exists


@needs_admin
@needs_nft
def test_a_failing_prepare_removes_the_namespace(clean: None) -> None:
    class BrokenBind(TcpLossy):
        def bind(self, server: Side) -> LoggedSocket:
            raise BadInput("no server today")

    with pytest.raises(BadInput, match="no server today"):
        BrokenBind().prepare()


@needs_admin
@needs_nft
def test_loopback_in_the_namespace_carries_one_segment_per_packet(clean: None) -> None:
    with TcpLossy().prepare() as prepared:
        assert prepared.namespace is not None
        out = subprocess.run(prepared.namespace.command(["ip", "-d", "link", "show", "lo"]),
                             capture_output=True, text=True, check=True, timeout=10).stdout
    assert "mtu 1500" in out and "gso_max_segs 1 " in out and "UP" in out


# -- recorded: the lesson in the capture --------------------------------------------------


# Flags whose explanation uses Wireshark's words rather than the flag's name
WIRESHARK_WORDS = {"lost_segment": "previous segment not captured"}


def _segments(path: Path) -> tuple[collections.Counter[int], list[list[str]]]:
    """Data segments of the client by relative seq (how often each was captured),
    and the analysis names of every packet."""
    store = PacketStore.from_file(str(path))
    try:
        analysis = analyze(store)
        seq, size = analysis.column("rel_seq"), store.column("payload_len")
        direction, bits = analysis.column("direction"), analysis.column("analysis")
        counts = collections.Counter(int(s) for s, n, d in zip(seq, size, direction, strict=True)
                                     if d == 0 and n > 0)
        names = [analysis_names(int(b)) for b in bits]
        for index, flags in enumerate(names):
            if flags:  # every flagged packet gets the explanation of its flag
                text = explain(analysis, index).title.lower()
                assert any(flag.replace("_", " ").split()[0] in text
                           or WIRESHARK_WORDS.get(flag, "\0") in text for flag in flags), \
                    (index, flags, text)
    finally:
        store.close()
    return counts, names


def _late_first_copies(path: Path) -> int:
    """Client data segments seen for the first time after a later one (overtaken)."""
    store = PacketStore.from_file(str(path))
    try:
        analysis = analyze(store)
        seq, size = analysis.column("rel_seq"), store.column("payload_len")
        direction = analysis.column("direction")
        seen: set[int] = set()
        highest, late = 0, 0
        for s, n, d in zip(seq, size, direction, strict=True):
            if d != 0 or n == 0:
                continue
            if int(s) not in seen and int(s) + int(n) <= highest:
                late += 1
            seen.add(int(s))
            highest = max(highest, int(s) + int(n))
    finally:
        store.close()
    return late


@needs_admin
@needs_nft
@pytest.mark.capture
def test_every_dropped_segment_is_captured_once_and_resent(tmp_path: Path,
                                                            clean: None) -> None:
    path = tmp_path / "lossy.pcap"
    cls = get_scenario("tcp-lossy")
    with cls(parse_params(cls, ["loss=10"])).prepare() as prepared:
        assert prepared.namespace is not None
        with CaptureProcess(interface="lo", bpf=prepared.bpf_filter, output=str(path),
                            netns=prepared.netns) as capture:
            result = prepared.run(timeout=20)
            time.sleep(0.3)  # the last ACKs
            drops = dropped_count(prepared.namespace)
        assert capture.stats is not None and capture.stats.dropped == 0
    assert result.error is None, result.error
    counts, _names = _segments(path)
    total = 200 * 1024
    extra_copies = sum(n - 1 for n in counts.values())
    # The capture taps lo before the INPUT hook: a dropped segment is in it, and so
    # is each resend; the receiver took every distinct segment exactly once.
    assert drops > 0
    assert extra_copies >= drops
    assert total - 1448 < max(counts) <= total  # the last segment: nothing lost for good
    with CaptureFile.open(str(path)) as capture_file:
        assert max(rec.origlen for rec in capture_file.frames()) <= 14 + 1500


@needs_admin
@needs_nft
@pytest.mark.capture
@pytest.mark.tshark
def test_recorded_lossy_transfer_shows_retransmissions_as_tshark_does(tmp_path: Path,
                                                                       clean: None) -> None:
    from oracle import compare_file

    path = tmp_path / "lossy.pcapng"
    started = time.monotonic()
    result = record("tcp-lossy", ["loss=10", "kilobytes=300"], str(path))
    elapsed = time.monotonic() - started
    assert result.run.error is None, result.run.error
    assert result.run.bytes_received["server"] == 300 * 1024
    counts, names = _segments(path)
    flags = collections.Counter(name for packet in names for name in packet)
    assert flags["retransmission"] + flags["fast_retransmission"] > 0, flags
    assert flags["duplicate_ack"] > 0, flags
    # The capture process missed nothing. A "previous segment not captured" can
    # still appear: lo hands packets to the receiving CPU's backlog, and when the
    # sender moves between CPUs a segment can overtake the one before it (about
    # one run in six). That gap is then filled by the late segment itself.
    assert result.stats.dropped == 0
    assert "ack_lost_segment" not in flags, flags
    late = _late_first_copies(path)
    assert ("lost_segment" in flags) <= (late > 0), flags
    # Every packet flagged as a resend is an extra copy of a segment or one of
    # those overtaken segments.
    resent = sum(1 for packet in names if {"retransmission", "out_of_order"} & set(packet))
    assert resent == sum(n - 1 for n in counts.values()) + late > 0
    agreement = compare_file(path)
    assert agreement.differences == []
    assert agreement.only_ours == agreement.only_tshark == 0
    assert agreement.compared == result.packets
    with CaptureFile.open(str(path)) as capture_file:
        info = RecordingInfo.from_capture(capture_file)
    assert info is not None and info.scenario == "tcp-lossy"
    assert info.params["loss"] == 10
    print(f"tcp-lossy loss=10 300 KiB: {result.packets} packets, {dict(flags)}, "
          f"{elapsed:.2f} s")


@needs_admin
@needs_nft
@pytest.mark.capture
def test_lossy_over_ipv6(tmp_path: Path, clean: None) -> None:
    path = tmp_path / "lossy6.pcapng"
    result = record("tcp-lossy", ["loss=15", "kilobytes=100", "family=ipv6"], str(path))
    assert result.run.error is None, result.run.error
    store = PacketStore.from_file(str(path))
    try:
        assert store.address_text(int(store.column("src")[0])) == "::1"
        analysis = analyze(store)
        flagged = {name for bits in analysis.column("analysis")
                   for name in analysis_names(int(bits))}
    finally:
        store.close()
    assert {"retransmission", "fast_retransmission", "out_of_order"} & flagged


@needs_admin
@needs_nft
@pytest.mark.capture
def test_a_cancelled_recording_removes_the_namespace(tmp_path: Path, clean: None) -> None:
    cancel = threading.Event()

    def on_stage(stage: str) -> None:
        if stage == STAGE_RUN:
            assert len(our_namespaces()) == 1
            cancel.set()

    with pytest.raises(RecordingCancelled):
        record("tcp-lossy", ["kilobytes=5000"], str(tmp_path / "x.pcapng"),
               on_stage=on_stage, cancel=cancel)
    assert list(tmp_path.iterdir()) == []


# -- the command line: Ctrl-C, and no privilege -------------------------------------------


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "visualizer", *args]


@needs_admin
@needs_nft
@pytest.mark.capture
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_or_kill_during_a_recording_removes_the_namespace(tmp_path: Path,
                                                                 signum: int) -> None:
    out = tmp_path / "x.pcapng"
    proc = subprocess.Popen(_cli("record", "tcp-lossy", "-o", str(out), "--param", "loss=20",
                                 "--param", "kilobytes=10000"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 10
        while not our_namespaces(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert our_namespaces(proc.pid), "the namespace never appeared"
        time.sleep(0.5)  # capture started, transfer under way
        proc.send_signal(signum)
        _stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    assert our_namespaces(proc.pid) == []


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
    assert lines[0].startswith("visualizer: tcp-lossy needs")
    assert not os.path.exists("/tmp/pv-never-written.pcapng")
