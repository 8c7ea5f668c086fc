"""``export -o OUT.parquet``: DuckDB reads back what ``analyze --json`` says,
row for row and stream for stream."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from visualizer.commands import parquet
from visualizer.core.tcp.testing import Capture, Conversation, write_pcap

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"


def visualizer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "visualizer", *args], capture_output=True,
                          text=True, timeout=120)


def three_streams(path: Path) -> Path:
    """Three interleaved TCP connections, 1,404 packets, one retransmission each."""
    capture = Capture()
    convs = [Conversation(("10.0.0.1", 40000 + k), ("10.0.0.2", 80), capture=capture,
                          client_isn=1000 * k) for k in range(3)]
    for conv in convs:
        conv.handshake()
    for n in range(230):
        for k, conv in enumerate(convs):
            conv.c2s("PA", data=10 + k)
            conv.s2c("A", win=1000 + n)
            if n == 100:
                conv.c2s("PA", data=10 + k, seq=conv.client.snd_nxt - 10 - k)
    for conv in convs:
        conv.close()
    return write_pcap(path, capture.segments)


def json_records(path: Path) -> list[dict]:
    result = visualizer("analyze", "--json", str(path))
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def per_stream(records: list[dict]) -> dict[int, tuple[int, ...]]:
    sums: dict[int, list[int]] = defaultdict(lambda: [0] * 6)
    for r in records:
        if r["stream"] is None:
            continue
        s = sums[r["stream"]]
        for k, value in enumerate((1, r["len"], r["seq"], r["ack"], r["window"],
                                   len(r["analysis"]))):
            s[k] += value
    return {k: tuple(v) for k, v in sums.items()}


def duckdb_per_stream(table: Path) -> dict[int, tuple[int, ...]]:
    rows = duckdb.sql(f"""
        SELECT stream, count(*), sum(len), sum(seq), sum(ack), sum("window"),
               sum(len(analysis))
        FROM read_parquet('{table}') WHERE stream IS NOT NULL GROUP BY stream
    """).fetchall()
    return {int(r[0]): tuple(int(x) for x in r[1:]) for r in rows}


def test_duckdb_reads_what_analyze_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    capture = three_streams(tmp_path / "three.pcap")
    out = tmp_path / "three.parquet"
    monkeypatch.setattr(parquet, "ROWS_PER_GROUP", 500)   # several row groups
    assert parquet.export_parquet(str(capture), str(out), stream=None) == 0
    records = json_records(capture)
    assert pq.ParquetFile(out).metadata.num_row_groups == 3
    (count,) = duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}')").fetchone() or (0,)
    assert count == len(records) == 1_404
    expected = per_stream(records)
    assert len(expected) == 3 and all(s[5] >= 1 for s in expected.values())  # retransmitted
    assert duckdb_per_stream(out) == expected
    frames = duckdb.sql(f"SELECT frame, flags, src_state, analysis FROM read_parquet('{out}') "
                        "ORDER BY frame").fetchall()
    assert [list(f) for f in frames] == [[r["frame"], r["flags"], r.get("src_state"),
                                          r["analysis"]] for r in records]


def test_the_command_writes_samples_and_one_stream(tmp_path: Path) -> None:
    samples = sorted(SAMPLES.glob("*.pcapng"))   # path recordings among them
    for sample in samples:
        out = tmp_path / f"{sample.stem}.parquet"
        result = visualizer("export", str(sample), "-o", str(out))
        assert result.returncode == 0, result.stderr
        records = json_records(sample)
        assert pq.read_metadata(out).num_rows == len(records)
        assert duckdb_per_stream(out) == per_stream(records)
    # a folder of recordings is one table (the user guide's query)
    (n,) = duckdb.sql(f"SELECT count(DISTINCT filename) FROM "
                      f"read_parquet('{tmp_path}/*.parquet', filename = true)").fetchone() or (0,)
    assert n == len(samples) >= 2
    one = tmp_path / "one.parquet"
    result = visualizer("export", str(SAMPLES / "tcp-handshake.pcapng"), "-o", str(one),
                        "--stream", "0")
    assert result.returncode == 0, result.stderr
    streams = duckdb.sql(f"SELECT DISTINCT stream FROM read_parquet('{one}')").fetchall()
    assert streams == [(0,)]


def test_bad_stream_and_bad_place_write_nothing(tmp_path: Path) -> None:
    out = tmp_path / "kept.parquet"
    out.write_bytes(b"earlier")
    result = visualizer("export", str(SAMPLES / "tcp-handshake.pcapng"), "-o", str(out),
                        "--stream", "7")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "no TCP stream 7" in result.stderr
    assert out.read_bytes() == b"earlier"
    result = visualizer("export", str(SAMPLES / "tcp-handshake.pcapng"), "-o",
                        str(tmp_path / "nowhere" / "x.parquet"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.parquet"]


@pytest.mark.corpus
def test_corpus_recordings_agree(corpus_dir: Path, tmp_path: Path) -> None:
    files = sorted((corpus_dir / "real").glob("*.pcap*"), key=lambda p: p.stat().st_size)[:4]
    for capture in files:
        out = tmp_path / f"{capture.name}.parquet"
        result = visualizer("export", str(capture), "-o", str(out))
        assert result.returncode in (0, 1), result.stderr
        records = json_records(capture)
        assert pq.read_metadata(out).num_rows == len(records), capture.name
        assert duckdb_per_stream(out) == per_stream(records), capture.name
