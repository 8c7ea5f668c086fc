"""``visualizer analyze FILE -Y EXPR``: the display filter on the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO

SAMPLE = str(REPO / "resources" / "samples" / "tcp-handshake.pcapng")


def visualizer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "visualizer", *args], capture_output=True,
                          text=True, timeout=120)


def json_rows(*args: str) -> list[dict[str, object]]:
    result = visualizer("analyze", SAMPLE, "--json", *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_json_rows_are_the_matching_packets_unchanged() -> None:
    every = json_rows()
    data = json_rows("-Y", "tcp.len > 0 && tcp.stream == 0")
    assert data == [row for row in every if row["len"] and row["stream"] == 0]
    assert len(data) == 6
    assert json_rows("--display-filter", "tcp.flags.syn == 1") == every[:2]


def test_table_lines_are_the_matching_packets() -> None:
    result = visualizer("analyze", SAMPLE, "-Y", "tcp.flags.fin == 1")
    assert result.returncode == 0, result.stderr
    frames = [int(line.split()[0]) for line in result.stdout.splitlines()]
    every = json_rows()
    assert frames == [r["frame"] for r in every if "FIN" in str(r["flags"])]
    assert len(frames) == 2


def test_a_filter_that_matches_nothing_prints_nothing() -> None:
    result = visualizer("analyze", SAMPLE, "--json", "-Y", "udp")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize(("expression", "says"), [
    ("tcp.prot == 80", '"tcp.prot" is not a field or protocol this app knows (column 1)'),
    ('tcp.port == "x"', '"x" is not an integer, which tcp.port is (column 13)'),
    ("tcp.port = 80", '"=" was unexpected at column 10'),
    ("tcp.port ==", "the expression ends too early (column 12)"),
])
def test_a_bad_filter_exits_2_with_one_line(expression: str, says: str) -> None:
    result = visualizer("analyze", SAMPLE, "-Y", expression)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"visualizer: display filter: {says}\n"


def test_a_bad_filter_is_refused_before_the_file_is_read() -> None:
    result = visualizer("analyze", "/nonexistent.pcap", "-Y", "tcp.port ==")
    assert result.returncode == 2
    assert "display filter" in result.stderr and result.stderr.count("\n") == 1


def test_stats_and_a_filter_are_one_or_the_other() -> None:
    result = visualizer("analyze", SAMPLE, "--stats", "-Y", "tcp")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--stats" in result.stderr
