"""Every file of tcpdump's test corpus opens, or is refused cleanly.

Many of these files are deliberately malformed (crash reproducers). Each
must load into the store and through the analysis without an exception
other than BadInput, and without hanging. The test prints how many open
fully, partly (damage or malformed frames marked), or are refused.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from visualizer.commands.records import packet_records
from visualizer.core.decode import headers as dec
from visualizer.core.decode.store import PacketStore
from visualizer.core.errors import BadInput
from visualizer.core.flows.analysis import analyze

pytestmark = pytest.mark.corpus


def test_every_corpus_file_opens_or_is_refused(corpus_dir: Path,
                                               tell: Callable[[str], None]) -> None:
    outcome: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    slowest = (0.0, "")
    packets = 0
    for path in sorted(corpus_dir.iterdir()):
        started = time.perf_counter()
        try:
            store = PacketStore.from_file(str(path))
        except BadInput as err:
            outcome["refused"] += 1
            refused[str(err).split(": ", 1)[1]] += 1
            continue
        analysis = analyze(store)
        records = list(packet_records(store, analysis))
        assert len(records) == len(store)
        status = store.column("status")
        packets += len(store)
        damaged = bool(store.capture.warnings) or bool((status == dec.MALFORMED).any())
        outcome["partly" if damaged else "fully"] += 1
        store.close()
        elapsed = time.perf_counter() - started
        slowest = max(slowest, (elapsed, path.name))
    tell(f"corpus: {sum(outcome.values())} files, {packets} packets: "
         f"{outcome['fully']} open fully, {outcome['partly']} partly "
         f"(damage or malformed frames marked), {outcome['refused']} refused "
         f"{dict(refused)}; slowest {slowest[1]} {slowest[0]:.3f} s")
    assert outcome["fully"] + outcome["partly"] >= 800


def test_analyze_cli_on_damaged_corpus_files(corpus_dir: Path) -> None:
    """The CLI path (process, printing) on files with malformed frames."""
    damaged = []
    for path in sorted(corpus_dir.iterdir()):
        try:
            store = PacketStore.from_file(str(path))
        except BadInput:
            continue
        if (store.column("status") == dec.MALFORMED).any():
            damaged.append(path)
        store.close()
    assert damaged
    for path in damaged[:15]:
        result = subprocess.run([sys.executable, "-m", "visualizer", "analyze", str(path)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert "malformed" in result.stdout
