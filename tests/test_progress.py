"""Progress on long command-line work: on stderr when it is a terminal (a real
pseudo-terminal here), and not one byte when it is not."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from captures import exchanges_pcap

EVERY_UPDATE = dict(os.environ, TQDM_MININTERVAL="0", TQDM_MINITERS="1")


def run_with_terminal_stderr(stdout: Path, *args: str) -> tuple[int, str]:
    """(exit code, what reached the terminal); stdout goes to the file ``stdout``."""
    leader, follower = pty.openpty()
    try:
        with open(stdout, "wb") as out:
            # every update drawn (tqdm's settings), so what is checked does not
            # depend on how fast the machine is
            proc = subprocess.Popen([sys.executable, "-m", "visualizer", *args],
                                    stdout=out, stderr=follower, env=EVERY_UPDATE)
        os.close(follower)
        chunks = []
        while True:   # read as it comes, so a full terminal never blocks the command
            try:
                chunk = os.read(leader, 65536)
            except OSError:   # EIO: the command closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = proc.wait(timeout=120)
    finally:
        os.close(leader)
    return code, b"".join(chunks).decode(errors="replace")


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    return exchanges_pcap(tmp_path / "ex.pcap", 3_000)   # 6,003 packets


@pytest.mark.parametrize("command", [["analyze", "--json"], ["export", "-o", "OUT.parquet"],
                                     ["export", "-o", "OUT.pcapng"],
                                     ["follow", "--stream", "0", "-o", "OUT.txt"]])
def test_progress_on_a_terminal(capture: Path, command: list[str]) -> None:
    args = [a.replace("OUT", str(capture.with_name("out"))) for a in command]
    stdout = capture.with_name("stdout")
    code, terminal = run_with_terminal_stderr(stdout, args[0], str(capture), *args[1:])
    assert code == 0, terminal
    assert f"reading {capture.name}" in terminal
    assert "100%" in terminal and "B/s]" in terminal and "<00:" in terminal  # rate, time left
    if args[0] == "analyze":
        assert "analyzing" in terminal and "6003/6003" in terminal
        assert stdout.read_bytes().count(b"\n") == 6_003
        assert b"reading" not in stdout.read_bytes()
    if args[-1].endswith(".parquet"):
        assert "exporting" in terminal and "6003/6003" in terminal


def test_nothing_but_the_result_without_a_terminal(capture: Path) -> None:
    table = capture.with_name("x.parquet")
    for args, said in ((["analyze", "--json", str(capture)], ""),
                       (["export", str(capture), "-o", str(table)],
                        f"wrote {table}: 6003 packets (parquet)\n")):
        result = subprocess.run([sys.executable, "-m", "visualizer", *args],
                                capture_output=True, text=True, timeout=120,
                                env=EVERY_UPDATE)
        assert result.returncode == 0
        assert result.stderr == said
