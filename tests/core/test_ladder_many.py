"""Many conversations (a SYN scan): every ladder at once is each stream's own
ladder, and the lookups it makes do not grow with the number of streams."""

from __future__ import annotations

from pathlib import Path

import pytest

from visualizer.core.decode.store import PacketStore
from visualizer.core.flows.analysis import Analysis, analyze
from visualizer.core.ladder.build import all_ladders, tcp_ladder, udp_ladder
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.table import ColumnTable
from visualizer.core.tcp.states import TcpState
from visualizer.core.tcp.testing import Capture, Conversation, write_pcap


def many_streams(tmp_path: Path, scanned: int) -> Analysis:
    """Two whole connections, a refused one, then ``scanned`` lone SYNs."""
    cap = Capture()
    for k in range(2):
        conv = Conversation(("10.0.0.1", 40000 + k), ("10.0.0.2", 80), capture=cap)
        conv.handshake()
        conv.c2s("PA", data=10)
        conv.s2c("A")
        conv.close()
    refused = Conversation(("10.0.0.1", 41000), ("10.0.0.3", 81), capture=cap)
    refused.c2s("S")
    refused.s2c("RA")
    for k in range(scanned):
        Conversation(("10.0.0.9", 50000), ("10.1.0.1", 1 + k), capture=cap).c2s("S")
    path = write_pcap(tmp_path / f"scan-{scanned}.pcap", cap.segments)
    store = PacketStore(CaptureFile.open(str(path)))
    store.extend(store.capture.records())
    return analyze(store)


def test_every_ladder_at_once_is_each_streams_own(tmp_path: Path) -> None:
    a = many_streams(tmp_path, scanned=20)
    assert len(a.tcp.connections) == 23
    for absolute in (False, True):
        each = [tcp_ladder(a, s, absolute=absolute) for s in range(len(a.tcp.connections))]
        each += [udp_ladder(a, f) for f in range(len(a.udp_flows))]
        assert list(all_ladders(a, absolute=absolute)) == each
    refused, scanned = each[2], each[3]
    assert refused.initial_states[1] is TcpState.CLOSED   # nobody listened
    assert scanned.initial_states == {0: TcpState.CLOSED, 1: TcpState.LISTEN}


def lookups(monkeypatch: pytest.MonkeyPatch, a: Analysis) -> int:
    """The column lookups and searches drawing every ladder of ``a`` makes."""
    count = 0

    def counted(name: str) -> None:
        method = getattr(ColumnTable, name)

        def wrapper(self: ColumnTable, *args: object) -> object:
            nonlocal count
            count += 1
            return method(self, *args)
        monkeypatch.setattr(ColumnTable, name, wrapper)

    for name in ("values", "column", "column_slice", "rows_of"):
        counted(name)
    for _ in all_ladders(a):
        pass
    monkeypatch.undo()
    return count


def test_the_lookups_do_not_grow_with_the_streams(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: a dozen column lookups and two binary searches per stream,
    400,000 searches for a scan's 200,000 streams."""
    few = lookups(monkeypatch, many_streams(tmp_path, scanned=5))
    many = lookups(monkeypatch, many_streams(tmp_path, scanned=200))
    assert many == few < 40
