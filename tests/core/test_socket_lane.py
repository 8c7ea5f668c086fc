"""Socket calls on the ladder: placing them on lanes and between arrows, text, scene, SVG."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from visualizer.commands.ladder import LANE_GAP, TIME_WIDTH, render
from visualizer.core.decode.store import PacketStore
from visualizer.core.flows.analysis import Analysis, analyze
from visualizer.core.ladder.build import (
    Ladder,
    LaneCall,
    attach_calls,
    combined_ladder,
    describe_call,
    tcp_ladder,
    udp_ladder,
)
from visualizer.core.ladder.scene import (
    BAND,
    CALL_ROW,
    LadderScene,
    Look,
    Text,
    svg_text,
)
from visualizer.core.pcap.recording import RecordingInfo
from visualizer.core.playback.timescale import positions
from visualizer.core.tcp.testing import START_NS, Conversation, options_bytes, write_pcap

SAMPLES = Path(__file__).parents[2] / "resources" / "samples"
HANDSHAKE = SAMPLES / "tcp-handshake.pcapng"
UDP = SAMPLES / "udp-datagrams.pcapng"
SVG = "{http://www.w3.org/2000/svg}"
MS = 1_000_000


@pytest.fixture(scope="module")
def sample() -> Iterator[tuple[Analysis, RecordingInfo]]:
    store = PacketStore.from_file(str(HANDSHAKE))
    info = RecordingInfo.from_capture(store.capture)
    assert info is not None
    yield analyze(store), info
    store.close()


@pytest.fixture(scope="module")
def ladder(sample: tuple[Analysis, RecordingInfo]) -> Ladder:
    analysis, info = sample
    return attach_calls(tcp_ladder(analysis, 0), info)


def arrow_number(ladder: Ladder, tag: str, *, lane: int | None = None, nth: int = 0) -> int:
    """The number of the ``nth`` arrow tagged ``tag`` (sent from ``lane`` if given)."""
    found = [n for n, a in enumerate(ladder.arrows)
             if a.tag == tag and (lane is None or a.src_lane == lane)]
    return found[nth]


def the_call(ladder: Ladder, side: str, name: str, *, result: str | None = None,
             nth: int = 0) -> LaneCall:
    found = [c for c in ladder.calls if c.side == side and c.call == name
             and (result is None or c.result == result)]
    return found[nth]


def record(side: str, call: str, args: str, result: str, start_ms: float, end_ms: float,
           local: str = "", remote: str = "", errno: int | None = None) -> dict[str, Any]:
    return {"side": side, "call": call, "args": args, "result": result,
            "start_ns": START_NS + round(start_ms * MS), "end_ns": START_NS + round(end_ms * MS),
            "local": local, "remote": remote, "errno": errno}


@pytest.fixture
def two_clients(tmp_path: Path) -> Iterator[Analysis]:
    """Two clients of one server (packets at 1..8 ms): streams 0 and 1."""
    first = Conversation(client=("10.0.0.1", 40000), server=("10.0.0.2", 80))
    second = Conversation(client=("10.0.0.3", 50000), server=("10.0.0.2", 80),
                          capture=first.capture)
    first.handshake()          # 1, 2, 3 ms
    second.handshake()         # 4, 5, 6 ms
    first.c2s("PA", data=10)   # 7 ms
    first.s2c("A")             # 8 ms
    store = PacketStore.from_file(str(write_pcap(tmp_path / "two.pcap", first.segments)))
    yield analyze(store)
    store.close()


TWO_CLIENT_CALLS = [
    record("server", "socket", "AF_INET, SOCK_STREAM", "fd 3", 0.1, 0.15),
    record("server", "bind", "0.0.0.0:80", "0.0.0.0:80", 0.2, 0.25, "0.0.0.0:80"),
    record("server", "listen", "backlog 5", "0", 0.3, 0.35, "0.0.0.0:80"),
    record("server", "accept", "", "10.0.0.1:40000", 0.4, 3.5, "10.0.0.2:80",
           "10.0.0.1:40000"),
    record("server", "accept", "", "10.0.0.3:50000", 3.6, 6.5, "10.0.0.2:80",
           "10.0.0.3:50000"),
    record("client 1", "socket", "AF_INET, SOCK_STREAM", "fd 4", 0.5, 0.55),
    record("client 1", "connect", "10.0.0.2:80", "0", 0.6, 2.5, "10.0.0.1:40000",
           "10.0.0.2:80"),
    record("client 2", "socket", "AF_INET, SOCK_STREAM", "fd 5", 3.1, 3.15),
    record("client 2", "connect", "10.0.0.2:80", "0", 3.2, 5.5, "10.0.0.3:50000",
           "10.0.0.2:80"),
    record("client 1", "send", "10 bytes", "10", 6.5, 7.5, "10.0.0.1:40000", "10.0.0.2:80"),
    record("server", "recv", "bufsize 64", "10", 6.6, 7.6, "10.0.0.2:80", "10.0.0.1:40000"),
    record("client 3", "connect", "10.0.0.2:80", "ECONNREFUSED", 7.7, 7.8, "10.0.0.9:1",
           "10.0.0.2:80", 111),
]


# -- the model ---------------------------------------------------------------------
def test_every_call_of_the_sample_lands_on_its_sides_lane(ladder: Ladder) -> None:
    assert len(ladder.calls) == 22
    client, server = (lane.role for lane in ladder.lanes)
    assert (client, server) == ("client", "server")
    assert {c.lane for c in ladder.calls if c.side == "client"} == {0}
    assert {c.lane for c in ladder.calls if c.side == "server"} == {1}
    starts = [c.start_ns for c in ladder.calls]
    assert starts == sorted(starts)


def test_connect_begins_before_the_syn_and_returns_after_the_synack(ladder: Ladder) -> None:
    connect = the_call(ladder, "client", "connect")
    syn, synack = arrow_number(ladder, "SYN"), arrow_number(ladder, "SYN,ACK")
    assert connect.start_gap <= syn            # gap g lies just before arrow g
    assert connect.end_gap > synack
    assert connect.spans and connect.opening == "connect(127.0.0.1:52147)"
    assert connect.returned == "connect() returned 0"


def test_accept_returns_after_the_handshake_completed(ladder: Ladder) -> None:
    accept = the_call(ladder, "server", "accept")
    handshake_ack = arrow_number(ladder, "ACK")
    assert accept.start_gap <= arrow_number(ladder, "SYN")
    assert accept.end_gap > handshake_ack
    assert accept.result == "127.0.0.1:37842" == ladder.lanes[0].endpoint


def test_close_precedes_the_fin_and_recv_returns_0_after_the_peers_fin(ladder: Ladder) -> None:
    client_fin = arrow_number(ladder, "FIN,ACK", lane=0)
    server_fin = arrow_number(ladder, "FIN,ACK", lane=1)
    client_close = the_call(ladder, "client", "close")
    assert client_close.start_gap <= client_fin
    server_close = the_call(ladder, "server", "close", nth=1)   # the first closes the listener
    assert server_close.start_gap <= server_fin
    eof = the_call(ladder, "server", "recv", result="0 (peer closed)")
    assert eof.end_gap > client_fin
    assert eof.returned == "recv() returned 0 (peer closed)"


def test_call_gaps_follow_the_timestamps(ladder: Ladder) -> None:
    ts = ladder.timestamps()
    for call in ladder.calls:
        for ns, gap in ((call.start_ns, call.start_gap), (call.end_ns, call.end_gap)):
            assert gap == 0 or ts[gap - 1] <= ns
            assert gap == len(ts) or ns < ts[gap]


def test_call_events_are_in_time_order_per_gap(ladder: Ladder) -> None:
    events = ladder.call_events
    assert len(events) == len(ladder.arrows) + 1
    parts = [(e.call, e.part) for gap in events for e in gap]
    assert sorted(parts) == sorted([(k, "whole") for k, c in enumerate(ladder.calls)
                                    if not c.spans]
                                   + [(k, p) for k, c in enumerate(ladder.calls) if c.spans
                                      for p in ("start", "end")])
    for gap in events:
        assert [e.ns for e in gap] == sorted(e.ns for e in gap)


def test_without_a_recording_the_ladder_is_unchanged(ladder: Ladder,
                                                     sample: tuple[Analysis, RecordingInfo]
                                                     ) -> None:
    plain = tcp_ladder(sample[0], 0)
    assert attach_calls(plain, None) is plain
    assert attach_calls(plain, RecordingInfo()) is plain
    assert plain.calls == [] and ladder.arrows == plain.arrows


def test_udp_calls_match_a_wildcard_bound_client_by_port() -> None:
    store = PacketStore.from_file(str(UDP))
    try:
        info = RecordingInfo.from_capture(store.capture)
        assert info is not None
        ladder = attach_calls(udp_ladder(analyze(store), 0), info)
    finally:
        store.close()
    assert len(ladder.calls) == len(info.calls) == 25
    client_lane = next(c.lane for c in ladder.calls if c.side == "client")
    # The client's socket says 0.0.0.0:port: its lane is the one with that port.
    assert ladder.lanes[client_lane].port == int(
        next(c["local"] for c in info.calls if c["side"] == "client" and c["local"])
        .rsplit(":", 1)[1])
    first_send = the_call(ladder, "client", "sendto")
    assert first_send.start_gap == 0 and first_send.end_gap == 1   # around the datagram


def test_calls_go_to_their_conversations_lanes(two_clients: Analysis) -> None:
    info = RecordingInfo(calls=TWO_CLIENT_CALLS)
    both = attach_calls(combined_ladder(two_clients, [0, 1]), info)
    lanes = {lane.endpoint: k for k, lane in enumerate(both.lanes)}
    where = [(c.side, c.call, both.lanes[c.lane].endpoint) for c in both.calls]
    assert ("server", "listen", "10.0.0.2:80") in where        # 0.0.0.0:80: by port
    assert ("server", "socket", "10.0.0.2:80") in where        # no address yet: next call's
    assert ("client 2", "socket", "10.0.0.3:50000") in where
    assert not [c for c in both.calls if c.side == "client 3"]  # no lane of its own here
    assert len(both.calls) == len(TWO_CLIENT_CALLS) - 1
    assert {c.lane for c in both.calls if c.side == "client 1"} == {lanes["10.0.0.1:40000"]}

    second = attach_calls(tcp_ladder(two_clients, 1), info)
    kept = [(c.side, c.call, c.result) for c in second.calls]
    # Stream 1 alone: the listener and the accept of its client stay; client 1 and
    # the server's accept of client 1 belong to stream 0.
    assert ("server", "listen", "0") in kept
    assert ("server", "accept", "10.0.0.3:50000") in kept
    assert ("server", "accept", "10.0.0.1:40000") not in kept
    assert not [c for c in second.calls if c.side == "client 1"]


def test_malformed_records_are_skipped(two_clients: Analysis) -> None:
    bad: list[Any] = [{"side": "server"}, "nonsense", {**TWO_CLIENT_CALLS[2], "start_ns": "x"}]
    ladder = attach_calls(tcp_ladder(two_clients, 0), RecordingInfo(calls=[
        *bad, TWO_CLIENT_CALLS[6]]))
    assert [c.call for c in ladder.calls] == ["connect"]


def test_describe_call_says_what_happened_meanwhile(ladder: Ladder) -> None:
    k = ladder.calls.index(the_call(ladder, "client", "connect"))
    text = describe_call(ladder, k)
    assert "Client (127.0.0.1:37842): connect(127.0.0.1:52147)" in text
    assert "connect() returned 0" in text
    assert "packets meanwhile: frames 1–3" in text


# -- the text ladder -------------------------------------------------------------------
def line_of(lines: list[str], pattern: str, nth: int = 0) -> int:
    found = [k for k, line in enumerate(lines) if re.search(pattern, line)]
    assert len(found) > nth, f"no line matching {pattern!r}"
    return found[nth]


def test_text_ladder_shows_the_calls_beside_the_packets(ladder: Ladder) -> None:
    lines = render(ladder)
    syn = line_of(lines, r"-- SYN seq")
    synack = line_of(lines, r"SYN,ACK seq")
    ack = line_of(lines, r"-- ACK seq=1 ack=1 ")
    client_fin = line_of(lines, r"FIN,ACK seq=\d+ ack=\d+ .*>\|")
    connect = line_of(lines, r"connect\(127\.0\.0\.1:52147\) …")
    assert connect < syn
    assert synack < line_of(lines, r"→ connect\(\) returned 0")
    assert ack < line_of(lines, r"→ accept\(\) returned 127\.0\.0\.1:37842")
    assert line_of(lines, r"close\(\) …") < client_fin
    assert client_fin < line_of(lines, r"→ recv\(\) returned 0 \(peer closed\)")
    # Each call in its side's column: the client's under lane 0, the server's under lane 1.
    assert lines[connect].index("connect(") == TIME_WIDTH
    accept = line_of(lines, r"accept\(\) …")
    assert lines[accept].index("accept(") == TIME_WIDTH + LANE_GAP
    assert lines[accept][TIME_WIDTH] == "|"


def test_text_ladder_without_the_call_lines_is_the_plain_ladder(
        ladder: Ladder, sample: tuple[Analysis, RecordingInfo]) -> None:
    plain = render(tcp_ladder(sample[0], 0))
    with_calls = render(ladder)
    assert len(with_calls) == len(plain) + sum(2 if c.spans else 1 for c in ladder.calls)
    texts = {text for c in ladder.calls
             for text in ((f"{c.opening} …", f"→ {c.returned}") if c.spans else (c.summary,))}

    def is_call(line: str) -> bool:
        words = [w for w in re.split(r"\s{2,}", line.strip()) if w != "|"]
        return len(words) == 1 and words[0] in texts

    assert [line for line in with_calls if not is_call(line)] == plain


def test_cli_ladder_of_the_sample_has_the_calls() -> None:
    result = subprocess.run([sys.executable, "-m", "visualizer", "ladder", str(HANDSHAKE)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "connect(127.0.0.1:52147) …" in result.stdout
    assert "→ recv() returned 0 (peer closed)" in result.stdout


# -- the scene ---------------------------------------------------------------------------
@pytest.mark.parametrize("scale", ["order", "real", "log"])
def test_scene_makes_room_between_the_arrows_for_the_calls(ladder: Ladder, scale: str) -> None:
    given = positions(ladder.timestamps(), scale)
    scene = LadderScene(ladder, given)
    layout = scene.call_layout
    assert layout is not None
    pos = scene.positions
    assert np.all(np.diff(pos) >= np.diff(given) - 1e-9)   # room is only ever added
    assert not np.array_equal(pos, given)
    n = len(pos)
    for k, call in enumerate(ladder.calls):
        gaps = (call.start_gap, call.end_gap) if call.spans else (call.start_gap,)
        for mark, gap in zip(layout.marks[k], gaps, strict=True):
            assert gap == 0 or mark > pos[gap - 1]      # below the arrow before it
            assert gap == n or mark < pos[gap]          # above the arrow after it
    # One row per call event, in time order across both lanes, never overlapping.
    order = sorted((ns, mark) for k, c in enumerate(ladder.calls)
                   for ns, mark in zip((c.start_ns, c.end_ns), layout.marks[k], strict=False))
    marks = [mark for _, mark in order]
    assert marks == sorted(marks)
    assert np.all(np.diff(marks) >= CALL_ROW - 1e-9)
    assert layout.sides == (1, -1)   # each lane's boxes face the other lane


def test_scene_without_calls_keeps_the_positions_and_width(ladder: Ladder,
                                                           sample: tuple[Analysis, Any]
                                                           ) -> None:
    given = positions(ladder.timestamps(), "log")
    off = LadderScene(ladder, given, show_calls=False)
    plain = LadderScene(tcp_ladder(sample[0], 0), given)
    assert off.call_layout is None and plain.call_layout is None
    # no call rows: the same positions with calls off as with none, only the labels' room
    assert np.array_equal(off.positions, plain.positions)
    assert np.all(np.diff(off.positions) >= np.diff(given) - 1e-9)
    on = LadderScene(ladder, given)
    assert on.geometry().width == off.geometry().width   # calls take rows, not width
    assert on.geometry().height > off.geometry().height


def label_band(item: Text) -> tuple[float, float]:
    """The vertical extent (top, bottom) of an arrow's label, turned along its line."""
    reach = len(item.text) * item.size * 0.29 * abs(np.sin(np.radians(item.angle)))
    return item.y - reach - item.size, item.y + reach + 3


def assert_boxes_clear(ladder: Ladder, scale: str) -> LadderScene:
    """Every call box lies against its band, outside it, and clear of every arrow's texts."""
    scene = LadderScene(ladder, positions(ladder.timestamps(), scale))
    layout = scene.call_layout
    assert layout is not None
    g = scene.geometry()
    items = scene.build(g, (0.0, 0.0, g.width, g.height), Look())
    boxes = [i for i in items if isinstance(i, Text) and i.cls == "call-box"]
    assert len(boxes) == sum(2 if c.spans else 1 for c in ladder.calls)
    labels = [i for i in items if isinstance(i, Text) and i.cls in ("label", "options")]
    assert labels
    for box in boxes:
        lane = ladder.calls[box.call].lane
        side = layout.sides[lane]
        edge = g.lane_x(lane) + side * BAND / 2
        assert box.box and 0 < (box.x - edge) * side < 20
        top, bottom = box.y - 0.82 * box.size - 3, box.y + 0.26 * box.size + 3
        for label in labels:
            low, high = label_band(label)
            assert bottom < low or top > high, (box.text, label.text)
    return scene


@pytest.mark.parametrize("scale", ["order", "real", "log"])
def test_call_boxes_are_clear_of_the_labels(ladder: Ladder, scale: str) -> None:
    assert_boxes_clear(ladder, scale)


@pytest.mark.parametrize("scale", ["order", "log"])
def test_call_boxes_are_clear_of_a_syns_options(tmp_path: Path, scale: str) -> None:
    conv = Conversation(client=("10.0.0.1", 40000), server=("10.0.0.2", 80))
    conv.handshake(client_opts=options_bytes(mss=1460, wscale=7, sack_perm=True),
                   server_opts=options_bytes(mss=1460, wscale=7, sack_perm=True))
    store = PacketStore.from_file(str(write_pcap(tmp_path / "opts.pcap", conv.segments)))
    try:
        ladder = attach_calls(tcp_ladder(analyze(store), 0), RecordingInfo(calls=[
            record("server", "accept", "", "10.0.0.1:40000", 1.2, 3.5, "10.0.0.2:80",
                   "10.0.0.1:40000"),
            record("client", "getsockname", "", "10.0.0.1:40000", 1.5, 1.6, "10.0.0.1:40000",
                   "10.0.0.2:80")]))
    finally:
        store.close()
    scene = assert_boxes_clear(ladder, scale)
    g = scene.geometry()
    options = [i for i in scene.build(g, (0.0, 0.0, g.width, g.height), Look())
               if isinstance(i, Text) and i.cls == "options"]
    assert options and ladder.calls[0].start_gap == 1   # right below the SYN and its options


@pytest.mark.parametrize("scale", ["order", "log"])
def test_call_boxes_of_three_lanes(two_clients: Analysis, scale: str) -> None:
    ladder = attach_calls(combined_ladder(two_clients, [0, 1]),
                          RecordingInfo(calls=TWO_CLIENT_CALLS))
    scene = assert_boxes_clear(ladder, scale)
    assert scene.call_layout is not None
    assert scene.call_layout.sides == (1, 1, -1)   # the middle lane faces right


def test_call_at_finds_a_calls_box(ladder: Ladder) -> None:
    scene = LadderScene(ladder, positions(ladder.timestamps(), "order"))
    g = scene.geometry()
    layout = scene.call_layout
    assert layout is not None
    for k in range(len(ladder.calls)):
        x, y, w, h = layout.hit_boxes(g, k)[0]
        assert scene.call_at(g, x + w / 2, y + h / 2, Look()) == k
        if ladder.calls[k].spans:   # the bracket answers too
            bx, by, bw, bh = layout.hit_boxes(g, k)[-1]
            assert scene.call_at(g, bx + bw / 2, by + bh / 2, Look()) == k
    assert scene.call_at(g, g.lane_x(0), g.y(0.5), Look()) == -1   # the band's middle
    assert scene.call_at(g, (g.lane_x(0) + g.lane_x(1)) / 2, g.y(scene.positions[0]),
                         Look()) == -1                             # on an arrow


# -- SVG ---------------------------------------------------------------------------------
def test_svg_has_one_element_per_call(ladder: Ladder) -> None:
    root = ET.fromstring(svg_text(LadderScene(ladder)))
    calls = [g for g in root.iter(f"{SVG}g") if g.get("class", "").split()[:1] == ["call"]]
    assert len(calls) == len(ladder.calls) == 22
    titles = [g.findtext(f"{SVG}title") or "" for g in calls]
    assert any("connect(127.0.0.1:52147)" in t and "returned 0" in t for t in titles)
    connect = next(g for g in calls if g.get("data-call") == "connect")
    assert connect.get("data-side") == "client"
    assert [t.text for t in connect.iter(f"{SVG}text")] == ["connect(127.0.0.1:52147)", "→ 0"]
    assert [line.get("class") for line in connect.iter(f"{SVG}line")].count("call-bracket") == 1
    assert len([g for g in root.iter(f"{SVG}g") if "arrow" in g.get("class", "").split()]) == 14


def test_svg_marks_a_failed_call(two_clients: Analysis) -> None:
    refused = {**TWO_CLIENT_CALLS[6], "result": "ECONNREFUSED", "errno": 111}
    ladder = attach_calls(tcp_ladder(two_clients, 0), RecordingInfo(calls=[refused]))
    assert ladder.calls[0].failed and ladder.calls[0].returned == "connect() failed: ECONNREFUSED"
    root = ET.fromstring(svg_text(LadderScene(ladder)))
    assert [g.get("class") for g in root.iter(f"{SVG}g") if g.get("id") == "call-1"] == [
        "call failed"]


def test_cli_svg_export_draws_the_calls(tmp_path: Path) -> None:
    out = tmp_path / "ladder.svg"
    result = subprocess.run([sys.executable, "-m", "visualizer", "export", str(HANDSHAKE),
                             "-o", str(out)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    root = ET.parse(out).getroot()
    assert len([g for g in root.iter(f"{SVG}g")
                if g.get("class", "").split()[:1] == ["call"]]) == 22
