"""``visualizer quiz``: answers from standard input, checked against tshark's fields."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from captures import hosts_pcap

SAMPLES = Path(__file__).resolve().parent.parent / "resources" / "samples"
FLAG_BITS = ((0x001, "FIN"), (0x002, "SYN"), (0x004, "RST"), (0x008, "PSH"), (0x010, "ACK"),
             (0x020, "URG"), (0x040, "ECE"), (0x080, "CWR"), (0x100, "AE"))


def quiz(*args: str, answers: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "visualizer", "quiz", *args], input=answers,
                          capture_output=True, text=True, timeout=60)


def tshark_answers(path: Path, stream: int, ask: list[str]) -> list[str]:
    """The right answers, in the quiz's order, from tshark's own fields."""
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", f"tcp.stream == {stream}",
                          "-T", "fields", "-E", "separator=/t", "-e", "tcp.flags", "-e",
                          "tcp.seq", "-e", "tcp.ack", "-e", "tcp.len"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    answers = []
    for line in out.splitlines():
        flags_hex, seq, ack, length = line.split("\t")
        flags = int(flags_hex, 16)
        names = ",".join(name for bit, name in FLAG_BITS if flags & bit)
        field = {"seq": seq, "ack": ack, "len": length, "flags": names}
        for name in ask:
            if name == "ack" and not flags & 0x010:
                continue      # the quiz asks no ack without the ACK flag
            answers.append(field[name])
    return answers


@pytest.mark.tshark
@pytest.mark.parametrize(("ask", "stream"), [("seq,ack", None), ("flags,len,seq,ack", "0")])
def test_right_answers_score_everything(ask: str, stream: str | None) -> None:
    sample = SAMPLES / "tcp-handshake.pcapng"
    answers = tshark_answers(sample, 0, ask.split(","))
    args = [str(sample), "--ask", ask] + (["--stream", stream] if stream else [])
    result = quiz(*args, answers="\n".join(answers) + "\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == f"score: {len(answers)}/{len(answers)}"
    assert "Nothing missed." in lines
    assert "Wrong" not in result.stdout


@pytest.mark.tshark
def test_a_later_stream_and_count() -> None:
    sample = SAMPLES / "tcp-many-clients.pcapng"   # three clients: streams 0, 1 and 2
    answers = tshark_answers(sample, 2, ["seq", "len", "ack"])
    result = quiz(str(sample), "--stream", "2", "--ask", "seq,len,ack", "--count", "9",
                  answers="\n".join(answers) + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "score: 9/9"
    wrong = quiz(str(sample), "--stream", "1", "--ask", "seq,len,ack", "--count", "9",
                 answers="\n".join(a + "1" for a in answers) + "\n")
    assert wrong.stdout.splitlines()[-1] == "score: 0/9"


def test_no_answers_score_nothing() -> None:
    sample = SAMPLES / "tcp-handshake.pcapng"
    result = quiz(str(sample), "--ask", "seq,ack,len,flags,state", answers="")
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    total = int(first.split(": ")[1].split()[0])
    assert total > 20
    assert result.stdout.splitlines()[-1] == f"score: 0/{total}"
    assert result.stdout.count("Skipped: it is") == total


def test_a_non_numeric_answer_is_wrong_with_the_reason_and_the_quiz_goes_on() -> None:
    sample = SAMPLES / "tcp-handshake.pcapng"
    result = quiz(str(sample), "--ask", "seq", "--count", "2", answers="zero\n0\n")
    assert result.returncode == 0, result.stderr
    assert "Wrong: 'zero' is not a number" in result.stdout
    assert "frame 1 seq: 0 ('zero' is not a number)" in result.stdout
    assert result.stdout.splitlines()[-1] == "score: 1/2"


def test_a_hint_on_request_then_the_answer() -> None:
    sample = SAMPLES / "tcp-handshake.pcapng"
    result = quiz(str(sample), "--ask", "seq", "--count", "1", answers="?\n0\n")
    assert "hint: This is the client's first segment" in result.stdout
    assert result.stdout.splitlines()[-1] == "score: 1/1"


@pytest.mark.parametrize(("args", "says"), [
    (["--stream", "1"], "--stream 1: "),
    (["--stream", "-1"], "--stream -1: "),
    (["--ask", "seq,window"], "--ask: unknown question window"),
    (["--count", "0"], "--count must be a positive number"),
])
def test_bad_arguments_exit_2_in_one_line(args: list[str], says: str) -> None:
    result = quiz(str(SAMPLES / "tcp-handshake.pcapng"), *args, answers="")
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and says in result.stderr


def test_a_file_without_tcp_exits_2(tmp_path: Path) -> None:
    for path in (SAMPLES / "udp-datagrams.pcapng", hosts_pcap(tmp_path / "hosts.pcap")):
        result = quiz(str(path), answers="")
        assert result.returncode == 2
        assert result.stderr.strip() == f"visualizer: {path}: no TCP stream to ask about"
