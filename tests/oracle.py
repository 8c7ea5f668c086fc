"""Comparing ``analyze --json`` with tshark, packet by packet (shared by tests)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from visualizer.commands.records import packet_records
from visualizer.core.decode.store import PacketStore
from visualizer.core.flows.analysis import analyze
from visualizer.core.tcp.analysis_flags import ANALYSIS_FLAGS

COMPARED = ("stream", "seq", "ack", "len", "analysis")


def tshark_tcp(path: Path, options: tuple[str, ...] = ()) -> dict[int, tuple[object, ...]]:
    """frame -> (stream, seq, ack, len, analysis flags) for every frame tshark calls TCP.

    tshark prints ``occurrence=f``: the first (outermost) TCP header of a frame.
    Fields it could not dissect come back as None. ``options`` go to tshark
    (e.g. ``--disable-protocol vnc``).
    """
    fields = ["frame.number", "tcp.stream", "tcp.seq", "tcp.ack", "tcp.len",
              *(f"tcp.analysis.{name}" for name in ANALYSIS_FLAGS)]
    cmd = ["tshark", "-n", *options, "-r", str(path), "-Y", "tcp", "-T", "fields",
           "-E", "separator=/t", "-E", "occurrence=f"]
    for name in fields:
        cmd += ["-e", name]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300).stdout
    rows: dict[int, tuple[object, ...]] = {}
    for line in out.splitlines():
        cells = line.split("\t") + [""] * len(fields)
        values = [int(c) if c.isdigit() else None for c in cells[:5]]
        flags = frozenset(name for k, name in enumerate(ANALYSIS_FLAGS) if cells[5 + k])
        if values[0] is not None and values[1] is not None:  # no stream: not analysed
            rows[values[0]] = (*values[1:], flags)
    return rows


@dataclass
class Agreement:
    compared: int = 0
    agreeing: int = 0
    only_tshark_frames: list[int] = field(default_factory=list)  # tshark analyses, we do not
    only_ours_frames: list[int] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)

    @property
    def only_tshark(self) -> int:
        return len(self.only_tshark_frames)

    @property
    def only_ours(self) -> int:
        return len(self.only_ours_frames)

    def add(self, other: Agreement) -> None:
        self.compared += other.compared
        self.agreeing += other.agreeing
        self.only_tshark_frames += other.only_tshark_frames
        self.only_ours_frames += other.only_ours_frames
        self.differences += other.differences


def compare_file(path: Path, tshark_options: tuple[str, ...] = ()) -> Agreement:
    store = PacketStore.from_file(str(path))
    try:
        ours = {r["frame"]: r for r in packet_records(store, analyze(store))
                if r["stream"] is not None}
    finally:
        store.close()
    theirs = tshark_tcp(path, tshark_options)
    result = Agreement()
    result.only_ours_frames = sorted(ours.keys() - theirs.keys())
    result.only_tshark_frames = sorted(theirs.keys() - ours.keys())
    for frame in sorted(ours.keys() & theirs.keys()):
        mine = ours[frame]
        mine_values = (mine["stream"], mine["seq"], mine["ack"], mine["len"],
                       frozenset(mine["analysis"]))
        their_values = theirs[frame]
        result.compared += 1
        if mine_values == their_values:
            result.agreeing += 1
            continue
        for name, a, b in zip(COMPARED, mine_values, their_values, strict=True):
            if a != b:
                shown_a = sorted(a) if isinstance(a, frozenset) else a
                shown_b = sorted(b) if isinstance(b, frozenset) else b
                result.differences.append(
                    f"{path.name} frame {frame} {name}: ours {shown_a}, tshark {shown_b}")
    return result
