"""The path for real: two namespaces, TUN devices, the forwarder, capture at both
ends, real kernel TCP and UDP, checked with tshark where tshark can say.

Needs root (namespaces, TUN, capture); skipped, saying why, without it.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from oracle import tshark_tcp
from signals import default_sigint, wait_for_spools

from visualizer.commands.path_records import path_packet_records
from visualizer.core.path.fates import ARRIVED, SENT
from visualizer.core.path.link import DELIVERED, DUPLICATED, LOST, QUEUE_FULL
from visualizer.core.path.netns import NETNS_DIR, missing_capabilities
from visualizer.core.path.network import NAMESPACE_PREFIX
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.pcap.recording import RecordingInfo
from visualizer.core.record import record
from visualizer.core.session import Session

pytestmark = [
    pytest.mark.capture,
    pytest.mark.tshark,
    pytest.mark.skipif(bool(missing_capabilities()) or shutil.which("ip") is None
                       or not os.path.exists("/dev/net/tun"),
                       reason="a path needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN), iproute2 "
                              "and /dev/net/tun"),
]


def path_namespaces(pid: int | None = None) -> list[str]:
    prefix = f"{NAMESPACE_PREFIX}-{os.getpid() if pid is None else pid}-"
    try:
        return [n for n in os.listdir(NETNS_DIR) if n.startswith(prefix)]
    except FileNotFoundError:
        return []


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return int(f.read().rsplit(b")", 1)[1].split()[1])


def forwarders() -> list[int]:
    """PIDs of the forwarder processes this test process started, directly or through
    a `visualizer record` child (others on the machine are none of its business)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if b"visualizer.core.path.forwarder" not in f.read():
                    continue
            parent = _parent(int(entry))
            if os.getpid() in (parent, _parent(parent)):
                found.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


@pytest.fixture(autouse=True)
def nothing_left() -> Iterator[None]:
    yield
    assert path_namespaces() == []
    assert forwarders() == []


def recorded(tmp_path: Path, scenario: str, *params: str) -> tuple[Path, list[dict[str, Any]]]:
    out = tmp_path / f"{scenario}.pcapng"
    result = record(scenario, list(params), str(out), timeout=60)
    assert result.run.error is None, result.run.error
    return out, path_rows(out)


def path_rows(path: Path) -> list[dict[str, Any]]:
    """``analyze --json`` of a path recording, through the Session as the CLI does."""
    with Session.load(str(path)) as session:
        view = session.path_view
        assert view is not None and session.store is not None and session.analysis is not None
        return list(path_packet_records(session.store, session.analysis, view))


def path_info(path: Path) -> dict[str, Any]:
    with CaptureFile.open(str(path)) as capture:
        info = RecordingInfo.from_capture(capture)
    assert info is not None
    return info.path


def export_end(path: Path, end: str) -> Path:
    out = path.with_name(f"{path.stem}-{end}.pcapng")
    result = subprocess.run([sys.executable, "-m", "visualizer", "export", str(path), "--end",
                             end, "-o", str(out)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return out


def tshark(path: Path, *args: str) -> list[list[str]]:
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields", *args],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    return [line.split("\t") for line in out.splitlines()]


def assert_every_packet_matched(path: Path) -> None:
    info = path_info(path)
    roles, numbers = info["role"], info["packet"]
    assert "?" not in roles
    arrivals = Counter(n for n, r in zip(numbers, roles, strict=True) if r == ARRIVED)
    sent = Counter(n for n, r in zip(numbers, roles, strict=True) if r == SENT)
    for n, (_direction, fate, _why, _queued) in enumerate(info["packets"], 1):
        assert sent[n] == 1, n
        assert arrivals[n] == {LOST: 0, DUPLICATED: 2}.get(fate, 1), (n, fate)


def test_rtt_seen_by_tshark_is_the_paths(tmp_path: Path) -> None:
    out, rows = recorded(tmp_path, "tcp-handshake", "count=20", "size=100", "rtt=40")
    client = export_end(out, "client")
    # at the client, the ACKs from the server of the client's data: a whole round trip
    rtts = [float(r[0]) for r in tshark(client, "-Y", "ip.src == 192.0.2.2", "-e",
                                        "tcp.analysis.ack_rtt") if r[0]]
    assert len(rtts) >= 20
    assert 0.040 * 0.85 <= statistics.median(rtts) <= 0.040 * 1.15, rtts
    assert {r["fate"] for r in rows} == {DELIVERED}
    one_way = [r["arrived"] - r["sent"] for r in rows]
    assert 0.017 <= statistics.median(one_way) <= 0.023
    assert_every_packet_matched(out)


def test_a_rated_link_carries_no_more_than_its_rate(tmp_path: Path) -> None:
    _out, rows = recorded(tmp_path, "tcp-slow-start", "kilobytes=1024", "rate=10")
    data = [r for r in rows if r["len"] and r["src"] == "192.0.2.1" and r["arrived"]]
    seconds = data[-1]["arrived"] - data[0]["arrived"]
    mbits = sum(r["len"] for r in data[1:]) * 8 / seconds / 1e6
    assert mbits <= 10 * 1.10, mbits


def test_the_loss_plan_loses_that_segment_and_tcp_sends_it_again(tmp_path: Path) -> None:
    out, rows = recorded(tmp_path, "tcp-handshake", "count=2", "rtt=20", "drop=3")
    lost = [r for r in rows if r["fate"] == LOST]
    assert len(lost) == 1
    (gone,) = lost
    assert gone["lost_because"] == "loss plan" and gone["arrived"] is None
    assert (gone["src"], gone["seq"], gone["len"]) == ("192.0.2.1", 1, 64)   # the first request
    again = [r for r in rows if r["src"] == "192.0.2.1" and r["seq"] == 1 and r["len"] == 64
             and r["frame"] > gone["frame"]]
    assert again and again[0]["fate"] == DELIVERED
    assert_every_packet_matched(out)


def test_the_retransmission_timer_doubles(tmp_path: Path) -> None:
    _out, rows = recorded(tmp_path, "tcp-retransmission-timeout")
    sends = [r for r in rows if r["src"] == "192.0.2.1" and r["len"]]
    assert [r["fate"] for r in sends] == [LOST, LOST, LOST, DELIVERED]
    # the tail loss probe, then the RTO, then the RTO doubled
    probe, rto, doubled = (b["sent"] - a["sent"] for a, b in itertools.pairwise(sends))
    assert probe >= 0.2 and rto >= 0.2   # at least Linux's 200 ms floor each
    assert 1.6 <= doubled / rto <= 2.4, (probe, rto, doubled)


def test_corrupted_segments_arrive_with_a_bad_checksum_and_are_sent_again(tmp_path: Path
                                                                           ) -> None:
    out, rows = recorded(tmp_path, "tcp-corruption", "kilobytes=128", "corrupt=5", "seed=2")
    damaged = [r for r in rows if r["fate"] == "corrupted" and r["src"] == "192.0.2.1"
               and r["len"]]
    assert damaged
    status = {int(frame): value for frame, value in tshark(
        out, "-o", "tcp.check_checksum:TRUE", "-e", "frame.number", "-e",
        "tcp.checksum.status")}
    for row in damaged:
        assert status[row["frame"]] == "0", row   # 0: bad, as tshark says it
        assert any(r["seq"] == row["seq"] and r["len"] == row["len"] and r["fate"] != LOST
                   and r["frame"] > row["frame"] and status[r["frame"]] == "1" for r in rows)
    assert_every_packet_matched(out)


def test_a_small_queue_overflows_and_tcp_recovers(tmp_path: Path) -> None:
    out, rows = recorded(tmp_path, "tcp-congestion", "kilobytes=768")
    lost = [r for r in rows if r["fate"] == LOST]
    assert lost and {r["lost_because"] for r in lost} == {QUEUE_FULL}
    flags = Counter(flag for r in rows for flag in r["analysis"])
    assert flags["fast_retransmission"] + flags["retransmission"] >= 1
    assert_every_packet_matched(out)
    info = path_info(out)
    fields = info["tcp_info_fields"]
    client = [dict(zip(fields, s, strict=True)) for s in info["tcp_info"]
              if s[fields.index("side")] == "client"]
    cwnd = [s["cwnd"] for s in client]
    assert max(cwnd) > 10 and any(b < a for a, b in itertools.pairwise(cwnd))
    assert any(s["ca_state"] == "recovery" for s in client)
    # our analysis is the analysed end's, which is tshark's of that end exported alone
    server = export_end(out, "server")
    theirs = tshark_tcp(server)
    with Session.load(str(out)) as session:
        assert session.path_view is not None
        at_end = set(session.path_view.analysed.tolist())
    ours = [r for r in path_rows(out) if r["frame"] - 1 in at_end]
    assert len(ours) == len(theirs)
    for k, mine in enumerate(ours, 1):
        assert (mine["stream"], mine["seq"], mine["ack"], mine["len"],
                frozenset(mine["analysis"])) == theirs[k], k


def test_udp_on_a_lossy_path_is_not_repaired(tmp_path: Path) -> None:
    out, rows = recorded(tmp_path, "udp-lossy-path", "count=80", "seed=5")
    fates = Counter(r["fate"] for r in rows)
    assert fates[LOST] and fates[DUPLICATED]
    sent = [r for r in rows if r["src"] == "192.0.2.1"]
    assert len({r["frame"] for r in sent}) == len(sent)
    # no datagram is sent twice by the client: UDP never resends
    assert len(sent) - fates[DUPLICATED] // 2 <= 80
    assert_every_packet_matched(out)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "visualizer", *args]


def _recording(tmp_path: Path, out: Path, **popen: object) -> subprocess.Popen[str]:
    """`record tcp-congestion` of a long transfer into ``out``, its spools under tmp_path."""
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    return subprocess.Popen(_cli("record", "tcp-congestion", "-o", str(out), "--param",
                                 "kilobytes=100000"), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)  # type: ignore[call-overload]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_or_kill_takes_the_path_down_and_keeps_the_packets(tmp_path: Path,
                                                                  signum: int) -> None:
    out = tmp_path / "x.pcapng"
    proc = _recording(tmp_path, out, preexec_fn=default_sigint)
    try:
        wait_for_spools(tmp_path / "data", count=2, size=200_000)
        proc.send_signal(signum)
        _stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert path_namespaces(proc.pid) == [] and forwarders() == []
    assert CaptureFile.open(str(out)).close() is None
    assert len(tshark(out, "-e", "frame.number")) > 100


def test_a_forwarder_that_dies_is_reported_and_the_packets_are_kept(tmp_path: Path) -> None:
    out = tmp_path / "x.pcapng"
    proc = _recording(tmp_path, out)
    try:
        wait_for_spools(tmp_path / "data", count=2, size=200_000)
        (forwarder,) = forwarders()
        os.kill(forwarder, signal.SIGKILL)
        _stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1, stderr
    (line,) = stderr.strip().splitlines()
    assert "forwarder died" in line and str(out) in line
    assert path_namespaces(proc.pid) == []
    assert len(tshark(out, "-e", "frame.number")) > 100


def test_bad_path_parameters_exit_2_before_anything_runs(tmp_path: Path) -> None:
    for param in ("rtt=-5", "loss=150", "queue=0"):
        result = subprocess.run(_cli("record", "tcp-handshake", "--param", param, "-o",
                                     str(tmp_path / "x.pcapng")),
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and "out of range" in result.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) missing")
def test_without_cap_net_admin_the_path_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    result = subprocess.run(["setpriv", "--bounding-set=-net_admin", "--inh-caps=-net_admin",
                             *_cli("record", "tcp-handshake", "--param", "rtt=10", "-o",
                                   str(tmp_path / "x.pcapng"))],
                            capture_output=True, text=True, timeout=60, env=env, cwd="/")
    assert result.returncode == 3, result.stderr
    assert result.stderr.count("\n") == 1 and "CAP_NET_ADMIN" in result.stderr
    assert not list(tmp_path.iterdir())


def test_json_keys(tmp_path: Path) -> None:
    out, _rows = recorded(tmp_path, "tcp-handshake", "count=1", "rtt=10")
    result = subprocess.run(_cli("analyze", "--json", str(out)), capture_output=True, text=True,
                            timeout=60)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines and all({"sent", "arrived", "fate", "frame", "stream", "seq", "ack", "len",
                          "flags", "analysis"} <= line.keys() for line in lines)


def test_udp_loss_reorder_shows_all_three_and_the_server_just_takes_what_comes(
        tmp_path: Path) -> None:
    out, rows = recorded(tmp_path, "udp-loss-reorder")
    payloads = _payload_numbers(out)
    sent = [payloads[r["frame"]] for r in rows if r["src"] == "192.0.2.1"]
    info = path_info(out)
    numbers, roles = info["packet"], info["role"]
    client_sent = sorted(n for n, r in zip(numbers, roles, strict=True) if r == SENT)
    assert len(client_sent) == 20
    arrived = [payloads[r["frame"]] for r in rows if r["arrived"] is not None]
    assert set(range(1, 21)) - set(arrived), "nothing lost"
    assert len(arrived) != len(set(arrived)), "nothing duplicated"
    assert any(b < a for a, b in itertools.pairwise(arrived)), "nothing reordered"
    assert sent   # the listed copies of the lost ones
    with CaptureFile.open(str(out)) as capture:
        calls = RecordingInfo.from_capture(capture).calls  # type: ignore[union-attr]
    recvs = [c for c in calls if c["side"] == "server" and c["call"] == "recvfrom"]
    assert len(recvs) == len(arrived) + 1 and recvs[-1]["result"] == "timed out"


def _payload_numbers(path: Path) -> dict[int, int]:
    """frame -> the datagram number in its payload ("datagram 7")."""
    return {int(frame): int(text.split()[-1]) for frame, text in (
        (r[0], bytes.fromhex(r[1]).decode()) for r in tshark(path, "-Y", "udp", "-e",
                                                              "frame.number", "-e", "data.data"))}


def test_explanations_say_what_happened_on_the_way_and_the_senders_window(
        tmp_path: Path) -> None:
    from visualizer.core.describe.transit import explain_on_path

    out, rows = recorded(tmp_path, "tcp-congestion", "kilobytes=512")
    with Session.load(str(out)) as session:
        view, analysis = session.path_view, session.analysis
        assert view is not None and analysis is not None
        texts = {int(frame): explain_on_path(analysis, view, int(frame))
                 for frame in view.rows.tolist()}
    lost = [r for r in rows if r["fate"] == LOST]
    assert lost
    assert all(texts[r["frame"] - 1].title == "Lost on the way: the queue in front of the "
               "bottleneck was full" for r in lost)
    data = [texts[r["frame"] - 1].text for r in rows
            if r["src"] == "192.0.2.1" and r["len"] and r["fate"] == DELIVERED]
    assert all("the path's one-way delay is 20.0 ms" in t for t in data)
    assert any("congestion window of 10 segments" in t and "slow start" in t for t in data)
    assert any("queueing delay" in t for t in data)
    assert any("ssthresh is" in t for t in data)   # recovery after the first loss
