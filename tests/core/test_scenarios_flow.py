"""tcp-bulk, tcp-nagle, tcp-zero-window and udp-closed-port (udp-loss-reorder runs
on a path: tests/core/test_path.py).

Each scenario is recorded for real on lo (CAP_NET_RAW: we run as root), and
the one thing it teaches is checked on the capture with our analysis, with
the socket-call log kept in the recording, and with tshark where it has a
field for it. Runs without capture check that every socket and thread ends.
"""

from __future__ import annotations

import collections
import errno
import itertools
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from leaks import open_fds
from loopback import FAMILIES

from visualizer.core.decode.store import PacketStore
from visualizer.core.describe.explain import explain
from visualizer.core.errors import BadInput
from visualizer.core.flows.analysis import Analysis, analyze
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.pcap.recording import RecordingInfo
from visualizer.core.record import record
from visualizer.core.tcp.analysis_flags import analysis_names
from visualizer.core.tcp.options import parse_options
from visualizer.core.tcp.segment import ACK, SYN
from visualizer.core.traffic import get_scenario, list_scenarios, parse_params

NAMES = ("tcp-bulk", "tcp-nagle", "tcp-zero-window", "udp-closed-port")

# Titles of explain's fallbacks for packets it cannot say anything specific about.
GENERIC_TITLES = ("IP packet carrying", "Not an IP packet", "Malformed packet",
                  "Link type not decoded", "IP fragment", "TCP segment with")


@dataclass
class Recording:
    store: PacketStore
    analysis: Analysis
    info: RecordingInfo
    path: Path

    def calls(self, side: str, call: str) -> list[dict[str, Any]]:
        return [c for c in self.info.calls if c["side"] == side and c["call"] == call]

    def flags(self, index: int | np.integer[Any]) -> set[str]:
        return set(analysis_names(int(self.analysis.column("analysis")[index])))

    def payload(self, index: int) -> bytes:
        store = self.store
        frame = store.frame(index)
        start = int(store.column("l4_offset")[index]) + 8
        return frame[start:start + int(store.column("payload_len")[index])]


def make_recording(path: Path, name: str, *pairs: str) -> Recording:
    result = record(name, list(pairs), str(path))
    assert result.run.error is None, result.run.error
    with CaptureFile.open(str(path)) as capture:
        info = RecordingInfo.from_capture(capture)
    assert info is not None
    assert info.capture["dropped"] == 0, info.capture
    store = PacketStore.from_file(str(path))
    return Recording(store, analyze(store), info, path)


Recorder = Callable[..., Recording]


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorder]:
    """``recordings(name, *pairs)``: that run recorded once for all the tests here."""
    made: dict[tuple[str, ...], Recording] = {}
    directory = tmp_path_factory.mktemp("scenarios")

    def get(name: str, *pairs: str) -> Recording:
        key = (name, *pairs)
        if key not in made:
            made[key] = make_recording(directory / f"{name}-{len(made)}.pcapng", name, *pairs)
        return made[key]

    yield get
    for rec in made.values():
        rec.store.close()


def assert_explained_specifically(rec: Recording) -> None:
    for i in range(len(rec.store)):
        title = explain(rec.analysis, i).title
        assert not title.startswith(GENERIC_TITLES), (i + 1, title)


def tshark_fields(path: Path, display_filter: str, *fields: str) -> list[list[str]]:
    cmd = ["tshark", "-r", str(path), "-Y", display_filter, "-T", "fields",
           "-E", "separator=/t"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout
    return [line.split("\t") for line in out.splitlines()]


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The byte ranges [start, end) joined where they touch or overlap."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def port_of(address_text: str) -> int:
    return int(address_text.rsplit(":", 1)[1])


# -- the registry ----------------------------------------------------------------------


def test_the_scenarios_are_listed_with_their_text() -> None:
    listed = {cls.name: cls for cls in list_scenarios()}
    for name in NAMES:
        cls = listed[name]
        assert get_scenario(name) is cls
        assert cls.summary and "\n" not in cls.summary
        assert len(cls.description) > 400
        assert [p.name for p in cls.params][-2:] == ["port", "family"]
    assert listed["udp-closed-port"].transport == "udp"
    assert "ECONNREFUSED" in listed["udp-closed-port"].description
    assert "TCP_NODELAY" in listed["tcp-nagle"].description


@pytest.mark.parametrize(("name", "pair", "message"), [
    ("tcp-bulk", "megabytes=0", r"megabytes=0 is out of range: allowed 1\.\.1000"),
    ("tcp-zero-window", "rcvbuf=100", r"rcvbuf=100 is out of range"),
    ("udp-loss-reorder", "count=0", r"count=0 is out of range"),
    ("udp-closed-port", "count=0", r"count=0 is out of range"),
])
def test_bad_parameters_are_refused(name: str, pair: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse_params(get_scenario(name), [pair])


# -- runs without capture: everything ends ------------------------------------------------


@pytest.mark.parametrize(("name", "pairs"), [
    ("tcp-bulk", ["megabytes=1"]),
    ("tcp-nagle", ["count=20", "interval=1"]),
    ("tcp-zero-window", ["pause=50", "kilobytes=8"]),
    ("udp-closed-port", ["count=3"]),
    ("udp-loss-reorder", ["count=30"]),
])
def test_a_run_closes_every_socket_and_ends_every_thread(name: str, pairs: list[str]) -> None:
    threads, fds = threading.active_count(), open_fds()
    cls = get_scenario(name)
    with cls(parse_params(cls, pairs)).prepare() as prepared:
        result = prepared.run(10.0)
    assert result.error is None, result.error
    assert threading.active_count() == threads
    assert open_fds() == fds
    opened = sum(1 for c in result.calls if c.call in ("socket", "accept"))
    closed = [c for c in result.calls if c.call == "close"]
    assert len(closed) == opened
    assert all(c.args == "" for c in closed), "a socket was left for the cleanup to close"


# -- tcp-bulk ---------------------------------------------------------------------------------


@pytest.mark.capture
@pytest.mark.parametrize("family", FAMILIES)
def test_tcp_bulk_many_segments_growing_window_and_acks_for_several(
        recordings: Recorder, family: str) -> None:
    rec = recordings("tcp-bulk", f"family={family}")
    total = 2 << 20
    a, store = rec.analysis, rec.store
    direction, plen = a.column("direction"), store.column("payload_len")
    assert len(a.tcp_summaries) == 1
    data = np.flatnonzero((direction == 0) & (plen > 0))
    # Every byte arrived: the data segments cover [1, total] without a hole. (Not
    # "the segments not flagged as resends add up to total": lo can let a segment
    # overtake the one before it, and one that arrives later than the handshake's
    # round trip (microseconds on lo) is flagged as a retransmission, as tshark
    # flags it, though it is the first copy.)
    starts = a.column("rel_seq")[data]
    ends = starts + plen[data]
    assert ends.max() == total + 1
    assert _merged(zip(starts.tolist(), ends.tolist(), strict=True)) == [(1, total + 1)]
    # Many segments, each at most one loopback MSS (less the timestamp option).
    syn = parse_options(store.tcp_options(0))
    assert syn.mss in (65495, 65476) and syn.wscale is not None
    assert len(data) >= total // (syn.mss - 12)
    assert plen[data].max() == syn.mss - 12
    # The server only ACKs; its window is scaled and grows while the transfer runs.
    server = np.flatnonzero(direction == 1)
    assert plen[server].sum() == 0
    windows = a.column("window")[server]
    assert windows.max() > 65535
    assert windows.max() > windows[1:4].min()
    # Several segments in flight at once, and ACKs that cover more than one segment.
    assert a.column("bytes_in_flight")[data].max() > syn.mss
    acked = a.column("rel_ack")[server]
    covered = [int(((ends > low) & (ends <= high)).sum())
               for low, high in itertools.pairwise(acked)]
    assert max(covered) >= 2
    assert len(server) < len(data) + 4  # not one ACK per segment
    # The socket calls: 1 MiB per send(), and recv() returns what has arrived.
    sends = rec.calls("client", "send")
    assert [c["result"] for c in sends] == [str(1 << 20)] * 2
    recvs = rec.calls("server", "recv")
    assert sum(int(c["result"].split()[0]) for c in recvs) == total
    assert recvs[-1]["result"] == "0 (peer closed)"
    assert_explained_specifically(rec)


# -- tcp-nagle --------------------------------------------------------------------------------


@dataclass
class NagleStream:
    segments: int
    largest: int
    total: int
    alone: int  # segments that carry exactly one write


def nagle_streams(rec: Recording, size: int) -> dict[str, NagleStream]:
    """"nagle" and "nodelay" -> the client's data segments on that connection, found
    from the client port each connect() got after its setsockopt(TCP_NODELAY)."""
    a, store = rec.analysis, rec.store
    calls = [c for c in rec.info.calls if c["side"] == "client"]
    settings = [c for c in calls if c["call"] == "setsockopt"]
    assert [c["args"].split(", ")[:2] for c in settings] == [["IPPROTO_TCP", "TCP_NODELAY"]] * 2
    assert [c["args"].split(", ")[2][0] for c in settings] == ["0", "1"]
    connects = [c for c in calls if c["call"] == "connect"]
    ports = {"nagle": port_of(connects[0]["local"]), "nodelay": port_of(connects[1]["local"])}
    assert settings[0]["start_ns"] < connects[0]["start_ns"] < settings[1]["start_ns"]
    out = {}
    plen, sport = store.column("payload_len"), store.column("sport")
    for name, port in ports.items():
        mine = np.flatnonzero((sport == port) & (plen > 0))
        assert len(set(a.column("stream")[mine])) == 1
        sizes = plen[mine]
        out[name] = NagleStream(len(mine), int(sizes.max()), int(sizes.sum()),
                                int((sizes == size).sum()))
    return out


@pytest.mark.capture
@pytest.mark.parametrize("family", FAMILIES)
def test_tcp_nagle_coalesces_small_writes_and_nodelay_does_not(
        recordings: Recorder, family: str) -> None:
    rec = recordings("tcp-nagle", f"family={family}")
    count, size = 50, 10
    streams = nagle_streams(rec, size)
    nagle, nodelay = streams["nagle"], streams["nodelay"]
    assert len(rec.analysis.tcp_summaries) == 2
    # The same writes on both (a resent segment may count twice) ...
    assert nagle.total >= count * size and nodelay.total >= count * size
    assert len(rec.calls("client", "send")) == 2 * count
    # ... but fewer, larger segments with Nagle: several writes per segment.
    assert nagle.segments < nodelay.segments * 2 // 3
    assert nagle.largest >= 3 * size
    assert nodelay.segments >= count
    assert nodelay.alone >= count * 9 // 10  # (all of them, unless the machine is busy)
    assert_explained_specifically(rec)


@pytest.mark.capture
@pytest.mark.tshark
def test_tcp_nagle_segment_counts_agree_with_tshark(recordings: Recorder) -> None:
    rec = recordings("tcp-nagle", "family=ipv4")
    streams = nagle_streams(rec, 10)
    rows = tshark_fields(rec.path, "tcp.len > 0 && tcp.dstport == "
                         f"{rec.store.column('dport')[0]}", "tcp.stream", "tcp.len")
    per_stream = collections.Counter(r[0] for r in rows)
    assert sorted(per_stream.values()) == sorted(s.segments for s in streams.values())


# -- tcp-zero-window ----------------------------------------------------------------------


@pytest.mark.capture
@pytest.mark.parametrize("family", FAMILIES)
def test_tcp_zero_window_then_probe_then_window_update(recordings: Recorder, family: str) -> None:
    rec = recordings("tcp-zero-window", f"family={family}")
    a, store = rec.analysis, rec.store
    direction, window = a.column("direction"), a.column("window")
    flags = [rec.flags(i) for i in range(len(store))]
    # The small receive buffer shows in the SYN-ACK already.
    assert store.column("tcp_flags")[1] & (SYN | ACK) == SYN | ACK
    assert window[1] == 4096
    zero = [i for i, f in enumerate(flags) if "zero_window" in f]
    update = [i for i, f in enumerate(flags) if "window_update" in f]
    assert zero and update
    assert all(direction[i] == 1 and window[i] == 0 for i in zero)
    assert update[0] > zero[0] and window[update[0]] > 0
    # The persist timer probes while the window is closed (Linux's probe is
    # keep-alive shaped), and the server answers with window 0 again.
    probes = [i for i in range(zero[0], update[0]) if direction[i] == 0
              and flags[i] & {"keep_alive", "zero_window_probe"}]
    assert probes
    assert any(direction[i] == 1 and window[i] == 0 for i in range(probes[0] + 1, update[0]))
    gap_ms = (store.column("ts_ns")[probes[0]] - store.column("ts_ns")[zero[0]]) / 1e6
    assert 150 < gap_ms < 400  # the persist timer waits about one RTO (200 ms at least)
    # The server read nothing until the window had been closed for a while.
    recvs = rec.calls("server", "recv")
    assert recvs[0]["start_ns"] > store.column("ts_ns")[probes[0]]
    assert sum(int(c["result"].split()[0]) for c in recvs) == 32 * 1024
    titles = [explain(a, i).title for i in (zero[0], update[0])]
    assert titles[0].startswith("Zero window") and titles[1].startswith("Window update")
    assert_explained_specifically(rec)


@pytest.mark.capture
@pytest.mark.tshark
def test_tcp_zero_window_flags_agree_with_tshark(recordings: Recorder) -> None:
    rec = recordings("tcp-zero-window", "family=ipv4")
    for name in ("zero_window", "window_update", "keep_alive", "window_full"):
        ours = [i + 1 for i in range(len(rec.store)) if name in rec.flags(i)]
        theirs = [int(r[0]) for r in tshark_fields(rec.path, f"tcp.analysis.{name}",
                                                   "frame.number")]
        assert ours == theirs, name


# -- udp-closed-port --------------------------------------------------------------------------


@pytest.mark.capture
@pytest.mark.parametrize("family", FAMILIES)
def test_udp_closed_port_icmp_answers_each_datagram_and_recv_fails(
        recordings: Recorder, family: str) -> None:
    rec = recordings("udp-closed-port", f"family={family}", "count=2")
    a, store = rec.analysis, rec.store
    proto = store.column("proto")
    assert len(store) == 4
    datagrams = [i for i in range(4) if a.column("udp_flow")[i] >= 0]
    errors = sorted(a.icmp_links)
    assert len(datagrams) == 2 and len(errors) == 2
    server_port = port_of(rec.calls("server", "bind")[0]["result"])
    for datagram, error in zip(datagrams, errors, strict=True):
        assert store.column("dport")[datagram] == server_port
        assert a.icmp_links[error].datagram == datagram
        assert error == datagram + 1
        assert proto[error] in (1, 58)
        assert (store.column("icmp_type")[error], store.column("icmp_code")[error]) == (
            (3, 3) if family == "ipv4" else (1, 4))
        assert "port unreachable" in explain(a, error).title
    # The port was closed before the first datagram; each recv() then failed.
    close = rec.calls("server", "close")[0]
    assert close["end_ns"] <= store.column("ts_ns")[0]
    recvs = rec.calls("client", "recv")
    assert [(c["result"], c["errno"]) for c in recvs] == [("ECONNREFUSED",
                                                           errno.ECONNREFUSED)] * 2
    for recv, error in zip(recvs, errors, strict=True):
        assert recv["end_ns"] >= store.column("ts_ns")[error]
    assert rec.calls("client", "connect")[0]["remote"].endswith(f":{server_port}")
    assert_explained_specifically(rec)


@pytest.mark.capture
@pytest.mark.tshark
def test_udp_closed_port_icmp_quotes_the_datagram_in_tshark(recordings: Recorder) -> None:
    rec = recordings("udp-closed-port", "family=ipv4", "count=2")
    rows = tshark_fields(rec.path, "icmp.type == 3 && icmp.code == 3", "udp.dstport")
    assert [r[0] for r in rows] == [str(rec.store.column("dport")[0])] * 2
