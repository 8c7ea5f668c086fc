"""Breakpoints stop where tshark's fields say they should, in both directions."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from visualizer.core.playback.breakpoints import BREAKPOINTS, breakpoint_mask, find, stop_reason
from visualizer.core.session import Session

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"
pytestmark = pytest.mark.tshark

# kind -> tshark display filter of the packets it stops at (state and lost: see below)
FILTERS = {
    "retransmission": "tcp.analysis.retransmission || tcp.analysis.fast_retransmission"
                      " || tcp.analysis.spurious_retransmission",
    "rst": "tcp.flags.reset == 1",
    "zero-window": "tcp.analysis.zero_window",
    "data": "tcp.len > 0 || udp.length > 8",
    "flag": "tcp.analysis.flags",
}


def tshark(path: Path, *args: str) -> list[list[str]]:
    out = subprocess.run(["tshark", "-n", "-r", str(path), *args], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    return [line.split("\t") for line in out.splitlines()]


def frames_matching(path: Path, display_filter: str) -> list[int]:
    return [int(r[0]) for r in tshark(path, "-Y", display_filter, "-T", "fields",
                                      "-e", "frame.number")]


def walk(mask: np.ndarray, packets: np.ndarray, direction: int) -> list[int]:
    """Every stop, from before the first packet forwards, or from the last backwards."""
    stops, k = [], (-1 if direction > 0 else len(mask))
    while (k := find(mask, k, direction)) >= 0:
        stops.append(int(packets[k]) + 1)
    return stops


def stops(path: Path, kind: str) -> tuple[list[int], list[int]]:
    with Session.load(str(path)) as session:
        assert session.analysis is not None
        view = session.path_view
        packets = view.rows if view is not None else np.arange(session.count)
        mask = breakpoint_mask(kind, session.analysis, packets, view)
        forward = walk(mask, packets, 1)
        if forward:
            reason = stop_reason(kind, session.analysis, forward[0] - 1, path=view)
            assert reason.startswith(f"Stopped at frame {forward[0]}: {BREAKPOINTS[kind]}")
        return forward, walk(mask, packets, -1)


@pytest.mark.parametrize(("sample", "kind"), [
    ("tcp-zero-window", "zero-window"), ("tcp-zero-window", "flag"),
    ("tcp-zero-window", "data"), ("tcp-abort", "rst"), ("tcp-refused", "rst"),
    ("tcp-handshake", "data"), ("udp-datagrams", "data"), ("tcp-handshake", "retransmission"),
])
def test_loopback_breakpoints_agree_with_tshark(sample: str, kind: str) -> None:
    path = SAMPLES / f"{sample}.pcapng"
    expected = frames_matching(path, FILTERS[kind])
    forward, backward = stops(path, kind)
    assert forward == expected
    assert backward == expected[::-1]
    if sample != "tcp-handshake":
        assert expected   # the sample shows what the breakpoint is for


@pytest.mark.parametrize("kind", ["retransmission", "flag"])
def test_path_breakpoints_agree_with_tshark_at_the_analysed_end(kind: str,
                                                                tmp_path: Path) -> None:
    # On a path the analysis is the receiving end's (the server's, interface 1):
    # tshark analyses that end's frames exported on their own.
    path = SAMPLES / "tcp-lossy.pcapng"
    end = tmp_path / "server.pcapng"
    subprocess.run(["tshark", "-r", str(path), "-Y", "frame.interface_id == 1", "-w", str(end)],
                   check=True, capture_output=True, timeout=120)
    at_end = frames_matching(path, "frame.interface_id == 1")   # k-th frame there
    expected = [at_end[n - 1] for n in frames_matching(end, FILTERS[kind])]
    forward, backward = stops(path, kind)
    assert forward == expected and expected
    assert backward == expected[::-1]


def tshark_state_changes(path: Path) -> list[int]:
    """Frames that change an endpoint's state by RFC 9293, from tshark's fields: each
    SYN, FIN or RST, and the first ACK of the peer's SYN or FIN (no retransmission
    in these samples)."""
    rows = tshark(path, "-Y", "tcp", "-T", "fields", "-e", "frame.number", "-e", "tcp.stream",
                  "-e", "tcp.srcport", "-e", "tcp.flags", "-e", "tcp.ack", "-e", "tcp.nxtseq")
    waiting: dict[tuple[str, str], int] = {}     # (stream, acker's port) -> ack that counts
    frames = []
    for frame, stream, port, flags_hex, ack, nxtseq in rows:
        flags = int(flags_hex, 16)
        changes = bool(flags & 0x007)            # FIN, SYN, RST
        want = waiting.get((stream, port))
        if flags & 0x010 and want is not None and int(ack) >= want:
            del waiting[(stream, port)]
            changes = True
        if flags & 0x003:                        # the peer's ACK of it changes a state
            peer = next((p for (s, p) in [(r[1], r[2]) for r in rows]
                         if s == stream and p != port), "")
            waiting[(stream, peer)] = int(nxtseq)
        if changes:
            frames.append(int(frame))
    return frames


@pytest.mark.parametrize("sample", ["tcp-handshake", "tcp-half-close", "tcp-abort",
                                    "tcp-refused", "tcp-many-clients"])
def test_state_breakpoints_agree_with_tshark(sample: str) -> None:
    path = SAMPLES / f"{sample}.pcapng"
    expected = tshark_state_changes(path)
    forward, backward = stops(path, "state")
    assert forward == expected
    assert backward == expected[::-1]


@pytest.mark.parametrize("sample", ["udp-lossy-path", "tcp-lossy"])
def test_lost_breakpoints_are_the_packets_that_never_arrived(sample: str) -> None:
    # A packet is lost when it left its sender's end (the client's capture is
    # interface 0, the server's 1) and no copy of it reached the other end.
    path = SAMPLES / f"{sample}.pcapng"
    rows = tshark(path, "-Y", "ip", "-T", "fields", "-e", "frame.number", "-e",
                  "frame.interface_id", "-e", "ip.src", "-e", "ip.id", "-e", "ip.checksum",
                  "-e", "frame.len")
    client = next(src for _f, end, src, *_ in rows if end == "0")
    seen = {(end, src, ident, ck, n) for _f, end, src, ident, ck, n in rows}
    expected = []
    for frame, end, src, ident, ck, n in rows:
        sent_here = (end == "0") == (src == client)
        other = "1" if end == "0" else "0"
        if sent_here and (other, src, ident, ck, n) not in seen:
            expected.append(int(frame))
    forward, backward = stops(path, "lost")
    assert forward == expected and expected
    assert backward == expected[::-1]


def test_unknown_kind_and_nothing_to_find() -> None:
    with Session.load(str(SAMPLES / "tcp-handshake.pcapng")) as session:
        assert session.analysis is not None
        with pytest.raises(ValueError, match="unknown breakpoint"):
            breakpoint_mask("window", session.analysis, [0])
        mask = breakpoint_mask("lost", session.analysis, np.arange(session.count))
        assert not mask.any() and find(mask, -1, 1) == -1 and find(mask, 5, -1) == -1
