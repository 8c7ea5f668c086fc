"""The ladder model's drawing extensions, the Qt-free scene and the SVG export."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from visualizer.core.decode.store import PacketStore
from visualizer.core.describe.kinds import KINDS, PROBLEM_K
from visualizer.core.errors import BadInput
from visualizer.core.flows.analysis import Analysis, analyze
from visualizer.core.ladder.build import Ladder, combined_ladder, describe, tcp_ladder, udp_ladder
from visualizer.core.ladder.scene import (
    FIRST,
    LIGHT,
    Cursor,
    LadderScene,
    Look,
    Text,
    svg_text,
    text_width,
    write_svg,
)
from visualizer.core.playback.timescale import positions
from visualizer.core.tcp.states import TcpState
from visualizer.core.tcp.testing import Conversation, options_bytes, write_pcap

SAMPLES = Path(__file__).parents[2] / "resources" / "samples"
HANDSHAKE = SAMPLES / "tcp-handshake.pcapng"
SVG = "{http://www.w3.org/2000/svg}"
MS = 1_000_000


def analysis_of(path: Path) -> Analysis:
    return analyze(PacketStore.from_file(str(path)))


def arrows_of(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if "arrow" in g.get("class", "").split()]


def texts_of(root: ET.Element, cls: str) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text") if t.get("class") == cls]


@pytest.fixture
def troubled(tmp_path: Path) -> Path:
    """A connection with a lost segment: duplicate ACKs, a retransmission, a zero window."""
    conv = Conversation(client=("10.0.0.1", 40000), server=("10.0.0.2", 80))
    conv.handshake(client_opts=options_bytes(mss=1460, wscale=7, sack_perm=True, ts=(1, 0)),
                   server_opts=options_bytes(mss=1460, wscale=7, sack_perm=True, ts=(9, 1)))
    conv.c2s("PA", data=100)
    conv.c2s("PA", data=100, delivered=False)
    conv.c2s("PA", data=100)
    conv.s2c("A")
    conv.s2c("A")
    conv.s2c("A")
    conv.c2s("PA", data=100, seq=1101, dt=200 * MS)               # 10: the retransmission
    conv.s2c("A", win=0)                                          # 11: zero window
    conv.close()
    return write_pcap(tmp_path / "troubled.pcap", conv.segments)


# -- the model ---------------------------------------------------------------------
def test_arrows_carry_kind_and_options_and_the_text_label_is_unchanged() -> None:
    ladder = tcp_ladder(analysis_of(HANDSHAKE), 0)
    syn, synack, ack = ladder.arrows[:3]
    assert [KINDS[a.kind].name for a in (syn, synack, ack)] == ["syn", "synack", "ack"]
    assert syn.label == "SYN seq=0 len=0 win=65495"
    assert syn.options.startswith("MSS=65495") and re.search(r"TS=\d+/0", syn.options)
    assert syn.short_options == "MSS=65495 WS=1024 SACK_PERM TS"  # TS shown, values not
    assert ack.options.startswith("TS=") and ack.short_options == ""
    assert syn.tag == "SYN" and synack.tag == "SYN,ACK"
    assert {a.conversation for a in ladder.arrows} == {"TCP stream 0"}


def test_states_at_changes_the_sender_on_departure_and_the_receiver_on_landing() -> None:
    ladder = tcp_ladder(analysis_of(HANDSHAKE), 0)
    assert ladder.states_at(-1) == {0: TcpState.CLOSED, 1: TcpState.LISTEN}
    assert ladder.states_at(0, 0.0) == {0: TcpState.SYN_SENT, 1: TcpState.LISTEN}
    # The SYN-ACK in flight: the server has sent it, the client has not received it.
    assert ladder.states_at(1, 0.5) == {0: TcpState.SYN_SENT, 1: TcpState.SYN_RECEIVED}
    assert ladder.states_at(1, 1.0) == {0: TcpState.ESTABLISHED, 1: TcpState.SYN_RECEIVED}
    assert ladder.states_at(len(ladder.arrows) - 1) == {0: TcpState.TIME_WAIT,
                                                        1: TcpState.CLOSED}


def test_combined_ladder_has_a_lane_per_endpoint(tmp_path: Path) -> None:
    """Two clients of one server: three lanes; the shared server lane shows no state."""
    first = Conversation(client=("10.0.0.1", 40000), server=("10.0.0.2", 80))
    second = Conversation(client=("10.0.0.3", 50000), server=("10.0.0.2", 80),
                          capture=first.capture)
    first.handshake()
    second.handshake()
    first.c2s("PA", data=10)
    path = write_pcap(tmp_path / "two.pcap", first.segments)
    analysis = analysis_of(path)
    ladder = combined_ladder(analysis, [0, 1])
    assert [lane.label for lane in ladder.lanes] == [
        "10.0.0.1:40000 (client)", "10.0.0.2:80 (server)", "10.0.0.3:50000 (client)"]
    assert [a.index for a in ladder.arrows] == list(range(7))
    assert [(a.src_lane, a.dst_lane) for a in ladder.arrows[3:5]] == [(2, 1), (1, 2)]
    assert ladder.initial_states == {0: TcpState.CLOSED, 2: TcpState.CLOSED}
    assert ladder.states_at(6) == {0: TcpState.ESTABLISHED, 2: TcpState.ESTABLISHED}
    assert ladder.title == "TCP streams 0, 1"
    assert "TCP stream 1" in describe(ladder, 3)
    assert combined_ladder(analysis, [1]).arrows == tcp_ladder(analysis, 1).arrows
    assert len(combined_ladder(analysis, [0, 1], limit=4).arrows) == 4
    with pytest.raises(BadInput):
        combined_ladder(analysis)


def test_combined_ladder_mixes_tcp_and_udp() -> None:
    tcp, udp = analysis_of(HANDSHAKE), analysis_of(SAMPLES / "udp-datagrams.pcapng")
    assert len(combined_ladder(tcp, [0]).lanes) == 2
    ladder = combined_ladder(udp, [], [0])
    assert ladder.arrows == udp_ladder(udp, 0).arrows
    assert all(KINDS[a.kind].name == "udp" for a in ladder.arrows)


# -- the scene ---------------------------------------------------------------------
def test_every_arrow_can_be_found_at_its_own_point() -> None:
    ladder = tcp_ladder(analysis_of(HANDSHAKE), 0)
    for scale in ("order", "real", "log"):
        scene = LadderScene(ladder, positions(ladder.timestamps(), scale))
        g = scene.geometry(zoom=3.0)
        found = [scene.arrow_at(g, *scene.point(g, n), Look()) for n in range(len(ladder.arrows))]
        assert found == list(range(len(ladder.arrows))), scale
    scene = LadderScene(ladder)
    g = scene.geometry()
    assert scene.arrow_at(g, 5.0, FIRST, Look()) == -1       # the time column
    # Arrows not played yet and hidden cannot be clicked.
    hidden = Look(cursor=Cursor(2), future="hidden")
    assert scene.arrow_at(g, *scene.point(g, 5), hidden) == -1
    assert scene.arrow_at(g, *scene.point(g, 2), hidden) == 2


def test_arrows_never_end_below_the_next_ones_start() -> None:
    """Loopback packets microseconds apart must not look as if they crossed in flight."""
    ladder = tcp_ladder(analysis_of(HANDSHAKE), 0)
    scene = LadderScene(ladder, positions(ladder.timestamps(), "real"))
    g = scene.geometry()
    ends = [scene.ends(g, n) for n in range(len(ladder.arrows))]
    assert all(ends[n][3] <= ends[n + 1][1] for n in range(len(ends) - 1))
    assert all(end[3] > end[1] for end in ends)       # and they still slope
    order = LadderScene(ladder)
    assert {round(e[3] - e[1], 6) for e in (order.ends(g, n) for n in range(14))} == {
        round(g.slope, 6)}


def test_positions_must_match_the_arrows() -> None:
    ladder = tcp_ladder(analysis_of(HANDSHAKE), 0)
    with pytest.raises(ValueError, match="positions"):
        LadderScene(ladder, np.arange(3.0))
    with pytest.raises(ValueError, match="decrease"):
        LadderScene(ladder, np.arange(14.0)[::-1])


def test_only_the_visible_part_is_built() -> None:
    ladder = Ladder("long", tcp_ladder(analysis_of(HANDSHAKE), 0).lanes, {},
                    tcp_ladder(analysis_of(HANDSHAKE), 0).arrows * 1000)
    scene = LadderScene(ladder, np.arange(len(ladder.arrows), dtype=float))
    g = scene.geometry()
    view = (0.0, g.y(scene.positions[7000]), g.width, 700.0)   # positions: with labels' room
    groups = {item.group for item in scene.build(g, view, Look()) if item.group >= 0}
    assert 5 <= len(groups) <= 20
    assert min(groups) >= 6990 and max(groups) <= 7020


# -- SVG -------------------------------------------------------------------------
def test_svg_has_one_arrow_per_packet_and_lane_labels() -> None:
    ladder = tcp_ladder(analysis_of(HANDSHAKE), 0)
    root = ET.fromstring(svg_text(LadderScene(ladder)))
    arrows = arrows_of(root)
    assert [g.get("data-packet") for g in arrows] == [str(i) for i in range(14)]
    assert [g.get("id") for g in arrows] == [f"packet-{i}" for i in range(1, 15)]
    assert arrows[0].get("class") == "arrow kind-syn"
    title = arrows[3].find(f"{SVG}title")
    assert title is not None and title.text is not None
    assert title.text.startswith("Frame 4 ") and "PSH,ACK seq=1 ack=1 len=64" in title.text
    labels = texts_of(root, "lane-label")
    assert labels == [lane.endpoint for lane in ladder.lanes]
    ports = {int(m.group(1)) for text in labels if (m := re.fullmatch(r"127\.0\.0\.1:(\d+)",
                                                                       text))}
    assert len(ports) == 2
    assert texts_of(root, "lane-role") == ["client", "server"]
    names = texts_of(root, "state-name")
    for state in ("CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED",
                  "FIN-WAIT-1", "CLOSE-WAIT", "LAST-ACK", "TIME-WAIT"):
        assert state in names
    assert texts_of(root, "state-via") == ["via FIN-WAIT-2"]


def test_svg_draws_analysis_flags_on_their_arrows(troubled: Path) -> None:
    ladder = tcp_ladder(analysis_of(troubled), 0)
    root = ET.fromstring(svg_text(LadderScene(ladder)))
    badges = {g.get("id"): [t.text for t in g.iter(f"{SVG}text")
                            if t.get("class") == "analysis"]
              for g in arrows_of(root)}
    assert badges["packet-10"] == ["retransmission"]
    assert badges["packet-11"] == ["zero window"]
    assert badges["packet-8"] == ["duplicate ack"]
    assert badges["packet-5"] == []
    lost = next(g for g in arrows_of(root) if g.get("id") == "packet-10")
    line = lost.find(f"{SVG}line")
    assert line is not None and line.get("stroke") == KINDS[PROBLEM_K].marker


def test_svg_escapes_text(tmp_path: Path) -> None:
    """A segment without flags is labelled "<none>": still well-formed XML."""
    conv = Conversation()
    conv.handshake()
    conv.c2s(0)
    ladder = tcp_ladder(analysis_of(write_pcap(tmp_path / "null.pcap", conv.segments)), 0)
    root = ET.fromstring(svg_text(LadderScene(ladder)))
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "label"]
    assert labels[-1] is not None and labels[-1].startswith("<none> seq=1")


def test_svg_follows_the_cursor_and_future_mode() -> None:
    ladder = tcp_ladder(analysis_of(HANDSHAKE), 0)
    scene = LadderScene(ladder)
    hidden = ET.fromstring(svg_text(scene, look=Look(cursor=Cursor(3, 0.5), future="hidden")))
    assert [g.get("data-packet") for g in arrows_of(hidden)] == ["0", "1", "2", "3"]
    packet = [t.text for t in hidden.iter(f"{SVG}text") if t.get("class") == "packet"]
    assert packet == ["PSH,ACK"]                        # the packet in flight
    assert texts_of(hidden, "lane-state") == ["ESTABLISHED", "ESTABLISHED"]
    faint = ET.fromstring(svg_text(scene, look=Look(cursor=Cursor(3, 0.5))))
    future = arrows_of(faint)[10].find(f"{SVG}line")
    assert len(arrows_of(faint)) == 14 and future is not None and future.get("opacity")
    start = ET.fromstring(svg_text(scene, look=Look(cursor=Cursor(-1), future="hidden")))
    assert arrows_of(start) == []
    assert texts_of(start, "lane-state") == ["CLOSED", "LISTEN"]


def test_svg_of_the_visible_part_and_dark_colours(tmp_path: Path) -> None:
    ladder = tcp_ladder(analysis_of(HANDSHAKE), 0)
    scene = LadderScene(ladder)
    g = scene.geometry()
    view = (0.0, g.y(6), g.width, 300.0)
    out = tmp_path / "part.svg"
    write_svg(scene, str(out), geometry=g, view=view)
    root = ET.parse(out).getroot()
    assert root.get("viewBox") == f"0 {g.y(6):g} {g.width:g} 300"
    assert 4 <= len(arrows_of(root)) <= 8
    assert len(texts_of(root, "lane-label")) == 2     # the header comes along
    dark = ET.fromstring(svg_text(scene, look=Look(colours=LIGHT.__class__(
        "#000000", "#eeeeee", "#999999", "#444444", "#111111", "#3388ff", dark=True))))
    background = next(dark.iter(f"{SVG}rect"))
    assert background.get("fill") == "#000000"


def test_text_items_have_positions_inside_the_picture() -> None:
    ladder = tcp_ladder(analysis_of(HANDSHAKE), 0)
    scene = LadderScene(ladder)
    g = scene.geometry()
    texts = [i for i in scene.build(g, (0.0, 0.0, g.width, g.height), Look())
             if isinstance(i, Text)]
    assert all(0 <= t.x <= g.width and 0 <= t.y <= g.height for t in texts)


def _baseline(t: Text, x: float) -> float:
    return t.y + math.tan(math.radians(t.angle)) * (x - t.x)


def _span(t: Text) -> tuple[float, float]:
    half = text_width(t.text, t.size) / 2 * math.cos(math.radians(t.angle))
    return t.x - half, t.x + half


@pytest.mark.parametrize("scale", ["order", "log"])
def test_an_options_line_never_runs_into_the_next_label(scale: str) -> None:
    """The SYN slants down to the right, the SYN-ACK under it down to the left:
    their texts come closer at one end than in the middle. Whatever the zoom,
    an options line is left out rather than written over the next label."""
    ladder = tcp_ladder(analysis_of(HANDSHAKE), 0)
    scene = LadderScene(ladder, positions(ladder.timestamps(), scale))
    shown = 0
    for zoom in np.linspace(0.5, 2.5, 41):
        g = scene.geometry(zoom=float(zoom))
        texts = [i for i in scene.build(g, (0.0, 0.0, g.width, g.height), Look())
                 if isinstance(i, Text)]
        options = {t.group: t for t in texts if t.cls == "options"}
        labels = {t.group: t for t in texts if t.cls == "label"}
        for n, below in options.items():
            shown += 1
            over = labels.get(n + 1)
            if over is None:
                continue
            (a_lo, a_hi), (b_lo, b_hi) = _span(below), _span(over)
            lo, hi = max(a_lo, b_lo), min(a_hi, b_hi)
            for x in (lo, (lo + hi) / 2, hi) if lo < hi else ():
                # the options' descent plus the label's ascent
                room = _baseline(over, x) - _baseline(below, x)
                assert room >= 0.25 * below.size + 0.75 * over.size, (zoom, n, x, room)
    assert shown  # at the larger zooms the options are there


# -- the command line ----------------------------------------------------------------
def visualizer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "visualizer", *args], capture_output=True,
                          text=True, timeout=60)


def test_cli_exports_the_ladder_as_svg(tmp_path: Path) -> None:
    out = tmp_path / "hs.svg"
    result = visualizer("export", str(HANDSHAKE), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert len(arrows_of(ET.parse(out).getroot())) == 14
    other = tmp_path / "hs.drawing"
    result = visualizer("export", str(HANDSHAKE), "-o", str(other), "--format", "svg",
                        "--stream", "0", "--absolute", "--scale", "log")
    assert result.returncode == 0, result.stderr
    root = ET.parse(other).getroot()
    first = next(t.text or "" for t in root.iter(f"{SVG}text") if t.get("class") == "label")
    assert re.fullmatch(r"SYN seq=\d+ len=0 win=65495", first)
    assert first != "SYN seq=0 len=0 win=65495"          # absolute, not relative


@pytest.mark.parametrize(("args", "message"), [
    (["--stream", "4"], "no TCP stream 4"),
    (["--annotate"], "annotate"),
    (["--format", "pcap", "--absolute"], "only apply to --format svg"),
])
def test_cli_svg_export_rejects_bad_input_in_one_line(tmp_path: Path, args: list[str],
                                                       message: str) -> None:
    out = tmp_path / "x.svg"
    result = visualizer("export", str(HANDSHAKE), "-o", str(out), *args)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_svg_export_of_a_capture_without_conversations(tmp_path: Path) -> None:
    text = tmp_path / "notes.pcap"
    text.write_text("not packets\n")
    result = visualizer("export", str(text), "-o", str(tmp_path / "x.svg"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
