"""Expert information: the findings the decoder and the tracker mark, by kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from captures import zero_window_pcap
from conftest import REAL_CORPUS

from visualizer.cli import main
from visualizer.core.expert import (
    Finding,
    FindingsSoFar,
    Severity,
    findings,
    next_index,
    problem_indices,
)
from visualizer.core.session import Session


def test_findings_group_the_marks_by_severity_and_kind(tmp_path: Path) -> None:
    path, zero = zero_window_pcap(tmp_path / "zero.pcap")
    with Session.load(str(path)) as session:
        assert session.store is not None
        found = findings(session.store, session.analysis)
    kinds = {f.kind: f for f in found}
    assert kinds["zero_window"].indices.tolist() == zero
    assert kinds["zero_window"].severity is Severity.WARNING
    assert kinds["reset"].count == 1 and kinds["retransmission"].severity is Severity.NOTE
    assert kinds["window_update"].severity is Severity.CHAT
    severities = [f.severity for f in found]
    assert severities == sorted(severities, reverse=True)
    problems = problem_indices(found)
    assert set(zero) <= set(problems.tolist())
    assert kinds["reset"].indices[0] in problems
    assert not set(kinds["retransmission"].indices.tolist()) & set(problems.tolist())


def test_next_and_previous_index() -> None:
    walk = np.array([4, 9, 14])
    assert next_index(walk, -1) == 4
    assert next_index(walk, 4) == 9
    assert next_index(walk, 14) is None
    assert next_index(walk, 9, forward=False) == 4
    assert next_index(walk, 4, forward=False) is None
    assert next_index(walk, 100, forward=False) == 14


def test_malformed_and_undecoded_frames_are_findings(tmp_path: Path) -> None:
    from visualizer.core.pcap.writer import PcapWriter

    path = tmp_path / "odd.pcap"
    with open(path, "wb") as out:
        writer = PcapWriter(out, 1)
        writer.write(1_700_000_000_000_000_000, b"\x02" * 12 + b"\x08\x00" + b"\x45\x00")
    with Session.load(str(path)) as session:
        assert session.store is not None
        found = findings(session.store, session.analysis)
    assert [(f.severity, f.kind, f.count) for f in found] == [(Severity.ERROR, "malformed", 1)]
    user0 = tmp_path / "user0.pcap"
    with open(user0, "wb") as out:
        writer = PcapWriter(out, 147)            # LINKTYPE_USER0: nothing decodes it
        for k in range(3):
            writer.write(1_700_000_000_000_000_000 + k, b"\x00" * 40)
    with Session.load(str(user0)) as session:
        assert session.store is not None
        found = findings(session.store, session.analysis)
    assert [(f.severity, f.kind, f.count) for f in found] == [
        (Severity.WARNING, "undecoded_link:147", 3)]
    assert "is not decoded" in found[0].text


def test_analyze_expert_prints_the_summary(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path, zero = zero_window_pcap(tmp_path / "zero.pcap")
    assert main(["analyze", "--expert", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Expert information:"
    assert out[1].startswith("Warning (")
    line = next(x for x in out if "TCP Zero Window segment" in x)
    assert line.split()[0] == str(len(zero))
    assert f"frames {zero[0] + 1}, {zero[1] + 1}" in line


def _grown_in_batches(path: Path, batch: int) -> tuple[list[list[Finding]], list[list[Finding]]]:
    """(FindingsSoFar after each batch, findings() of the same packets)."""
    from visualizer.core.decode.store import PacketStore
    from visualizer.core.flows.analysis import Analysis
    from visualizer.core.pcap.reader import CaptureFile

    store = PacketStore(CaptureFile.open(str(path)))
    analysis = Analysis(store)
    records = store.capture.records()
    so_far, grown, whole = FindingsSoFar(), [], []
    while True:
        before = len(store)
        store.extend(records, limit=before + batch)
        if len(store) == before:
            break
        analysis.run()
        grown.append(so_far.update(store, analysis))
        whole.append(findings(store, analysis))
    store.close()
    return grown, whole


def _same(a: list[Finding], b: list[Finding]) -> bool:
    return [(f.severity, f.kind, f.text, f.indices.tolist()) for f in a] == \
        [(f.severity, f.kind, f.text, f.indices.tolist()) for f in b]


def test_findings_of_a_growing_capture_read_only_the_new_packets(tmp_path: Path) -> None:
    path, zero = zero_window_pcap(tmp_path / "zero.pcap")
    grown, whole = _grown_in_batches(path, 3)
    assert len(grown) > 3
    assert all(_same(a, b) for a, b in zip(grown, whole, strict=True))
    assert {f.kind: f for f in grown[-1]}["zero_window"].indices.tolist() == zero


@pytest.mark.corpus
@pytest.mark.parametrize("name", ["zeek_http_1000-requests-one-dropped-response.pcap",
                                  "ndpi_ip_fragmented_garbage.pcap", "zeek_llc.pcap"])
def test_findings_of_real_captures_grown_in_batches(corpus_dir: Path, name: str) -> None:
    path = REAL_CORPUS / name
    grown, whole = _grown_in_batches(path, 997)
    assert grown[-1], "a capture with findings"
    assert all(_same(a, b) for a, b in zip(grown, whole, strict=True))


def test_another_store_starts_the_findings_over(tmp_path: Path) -> None:
    path, _ = zero_window_pcap(tmp_path / "zero.pcap")
    so_far = FindingsSoFar()
    for _ in range(2):    # the same file opened twice: two stores
        with Session.load(str(path)) as session:
            assert session.store is not None
            assert _same(so_far.update(session.store, session.analysis),
                         findings(session.store, session.analysis))
