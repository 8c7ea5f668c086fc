"""``visualizer record``: real scenarios, real capture on lo, checked with tshark."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from signals import default_sigint, wait_for_spools

from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.pcap.recording import RecordingInfo

pytestmark = [pytest.mark.capture, pytest.mark.tshark]


def visualizer(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "visualizer", *args], capture_output=True,
                          text=True, timeout=60, **kwargs)  # type: ignore[call-overload]


def tshark_fields(path: Path, *fields: str) -> list[list[str]]:
    cmd = ["tshark", "-r", str(path), "-T", "fields", "-E", "separator=/t"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout
    return [line.split("\t") for line in out.splitlines()]


def test_tcp_handshake_recording_has_every_packet_once(tmp_path: Path) -> None:
    out = tmp_path / "hs.pcapng"
    alongside = tmp_path / "tcpdump.pcap"
    # tcpdump on the same interface at the same time is the reference.
    dump = subprocess.Popen(["tcpdump", "-i", "lo", "-w", str(alongside), "-U",
                             "--immediate-mode", "tcp"], stderr=subprocess.PIPE)
    try:
        assert dump.stderr is not None
        dump.stderr.readline()  # "listening on lo ..." : tcpdump's socket is ready
        result = visualizer("record", "tcp-handshake", "-o", str(out),
                            "--param", "count=3", "--param", "size=100")
        time.sleep(0.3)
    finally:
        dump.send_signal(signal.SIGINT)
        dump.wait(10)
        assert dump.stderr is not None
        dump.stderr.close()
    assert result.returncode == 0, result.stderr
    rows = tshark_fields(out, "frame.number", "tcp.stream", "tcp.flags.str", "tcp.seq_raw",
                         "tcp.ack_raw", "tcp.len", "tcp.srcport", "tcp.dstport")
    flags = [r[2] for r in rows]
    assert _flag_names(flags[0]) == {"SYN"}
    assert _flag_names(flags[1]) == {"SYN", "ACK"}
    assert _flag_names(flags[2]) == {"ACK"}
    assert {r[1] for r in rows} == {"0"}
    # No frame twice: (seq, ack, len, flags, direction) identify each segment here.
    keys = [(r[2], r[3], r[4], r[5], r[6]) for r in rows]
    assert len(keys) == len(set(keys))
    fins = [r for r in rows if "FIN" in _flag_names(r[2])]
    assert len({r[6] for r in fins}) == 2, "a FIN in each direction"
    assert sum(int(r[5]) for r in rows) == 2 * 3 * 100
    # Every packet tcpdump saw on this connection's port is in the recording.
    port = rows[0][7]
    reference = [r for r in tshark_fields(alongside, "tcp.srcport", "tcp.dstport",
                                          "tcp.seq_raw", "tcp.ack_raw", "tcp.flags.str")
                 if port in (r[0], r[1])]
    assert len(reference) == len(rows)
    # The last packet is the final ACK of the close.
    assert _flag_names(rows[-1][2]) == {"ACK"}


def _flag_names(flag_str: str) -> set[str]:
    names = {"S": "SYN", "A": "ACK", "F": "FIN", "R": "RST", "P": "PSH", "U": "URG",
             "E": "ECE", "C": "CWR"}
    return {names[c] for c in flag_str if c in names}


def test_recording_keeps_parameters_and_socket_calls(tmp_path: Path) -> None:
    out = tmp_path / "hs.pcapng"
    result = visualizer("record", "tcp-handshake", "-o", str(out), "--param", "count=2")
    assert result.returncode == 0, result.stderr
    with CaptureFile.open(str(out)) as cap:
        info = RecordingInfo.from_capture(cap)
        first_ts = next(cap.frames()).ts_ns
    assert info is not None
    assert info.scenario == "tcp-handshake"
    assert info.params["count"] == 2
    calls = [(c["side"], c["call"]) for c in info.calls]
    assert ("client", "connect") in calls and ("server", "accept") in calls
    connect = next(c for c in info.calls if c["call"] == "connect")
    # connect() starts before the SYN is on the wire: same clock for both.
    assert connect["start_ns"] <= first_ts <= connect["end_ns"]
    assert info.capture["dropped"] == 0


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_udp_datagrams_each_request_and_reply_once(tmp_path: Path, family: str) -> None:
    out = tmp_path / "u.pcap"
    result = visualizer("record", "udp-datagrams", "-o", str(out), "--format", "pcap",
                        "--param", "count=7", "--param", f"family={family}")
    assert result.returncode == 0, result.stderr
    rows = tshark_fields(out, "udp.srcport", "udp.dstport", "udp.length")
    assert len(rows) == 14
    server_port = rows[0][1]
    requests = [r for r in rows if r[1] == server_port]
    replies = [r for r in rows if r[0] == server_port]
    assert (len(requests), len(replies)) == (7, 7)


def test_busy_port_is_refused_with_exit_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = visualizer("record", "tcp-handshake", "-o", str(tmp_path / "x.pcapng"),
                            "--param", f"port={port}")
    assert result.returncode == 2
    assert "in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.pcapng").exists()


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv is not installed")
def test_without_cap_net_raw_exit_3_and_no_file(tmp_path: Path) -> None:
    out = tmp_path / "x.pcapng"
    cmd = ["setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw", "--",
           sys.executable, "-m", "visualizer", "record", "tcp-handshake", "-o", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 3, result.stderr
    assert "CAP_NET_RAW" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_analyze_json_of_a_recording(tmp_path: Path) -> None:
    out = tmp_path / "hs.pcapng"
    assert visualizer("record", "tcp-handshake", "-o", str(out)).returncode == 0
    lines = visualizer("analyze", str(out), "--json").stdout.splitlines()
    recs = [json.loads(line) for line in lines]
    assert [r["frame"] for r in recs] == list(range(1, len(recs) + 1))
    assert [r["flags"] for r in recs[:3]] == ["SYN", "SYN,ACK", "ACK"]
    assert [(r["seq"], r["ack"]) for r in recs[:3]] == [(0, 0), (0, 1), (1, 1)]
    client_port = recs[0]["sport"]
    client_states = [r["src_state"] if r["sport"] == client_port else r["dst_state"]
                     for r in recs]
    assert client_states[0] == "SYN-SENT"
    assert client_states[-1] == "TIME-WAIT"


@pytest.mark.parametrize("stop", ["ctrl-c", "kill"])
def test_ctrl_c_or_kill_keeps_the_packets_captured_so_far(tmp_path: Path, stop: str) -> None:
    out = tmp_path / "cut.pcapng"
    data = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-m", "visualizer", "record", "udp-datagrams",
                             "-o", str(out), "--param", "count=100000"],
                            start_new_session=True, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "XDG_DATA_HOME": str(data)},
                            preexec_fn=default_sigint)
    wait_for_spools(data)
    if stop == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # the terminal signals the whole process group
    else:
        proc.send_signal(signal.SIGTERM)  # kill PID: the recorder alone
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "captured so far" in err and "Traceback" not in err
    packets = tshark_fields(out, "frame.number")
    assert 0 < len(packets) < 200_000
    with CaptureFile.open(str(out)) as cap:
        info = RecordingInfo.from_capture(cap)
    assert info is not None and info.capture["interrupted"] is True
    assert list((data / "packet-visualizer" / "spool").iterdir()) == []  # no spool left


def test_a_second_ctrl_c_while_writing_keeps_the_spool(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C as the write stage begins used to delete the spool: the whole
    recording was lost. Now the spool stays, and the error says where."""
    from visualizer.core.record import STAGE_WRITE, RecordingInterrupted, record

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))

    def stop_at_write(stage: str) -> None:
        if stage == STAGE_WRITE:
            raise KeyboardInterrupt

    out = tmp_path / "hs.pcapng"
    with pytest.raises(RecordingInterrupted, match="kept in") as caught:
        record("tcp-handshake", [], str(out), on_stage=stop_at_write)
    assert not out.exists()
    spool = Path(str(caught.value).rsplit("kept in ", 1)[1])
    assert spool.parent == tmp_path / "data" / "packet-visualizer" / "spool"
    assert (spool.parent.stat().st_mode & 0o777) == 0o700   # nobody else can plant a link
    with CaptureFile.open(str(spool)) as cap:
        assert len(list(cap.frames())) >= 10   # the handshake, data and close


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_a_failed_write_keeps_the_spool_and_says_where(tmp_path: Path) -> None:
    full = tmp_path / "full"
    os.mknod(full, 0o666 | 0o020000, os.makedev(1, 7))   # like /dev/full: ENOSPC
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    result = visualizer("record", "tcp-handshake", "-o", str(full), env=env)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "No space left on device" in line and "kept in" in line
    spool = Path(line.rsplit("kept in ", 1)[1])
    with CaptureFile.open(str(spool)) as cap:
        assert len(list(cap.frames())) >= 10
