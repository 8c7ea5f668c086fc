"""Questions about packets: right answers, checking, hints, the why, the score."""

from __future__ import annotations

from pathlib import Path

import pytest
from captures import exchanges_pcap

from visualizer.core.quiz.questions import Question, parse_fields, tcp_questions
from visualizer.core.quiz.score import Score, feedback
from visualizer.core.session import Session

SAMPLE = Path(__file__).resolve().parents[2] / "resources" / "samples" / "tcp-handshake.pcapng"


def question(field: str, answer: str, choices: tuple[str, ...] = ()) -> Question:
    return Question(0, 1, field, "?", answer, choices, "hint", "why")


def test_numeric_answers_are_checked_as_numbers() -> None:
    q = question("seq", "65")
    assert q.check("65\n").correct
    assert q.check(" 065 ").correct
    wrong = q.check("64")
    assert not wrong.correct and not wrong.skipped and wrong.reason == "you said 64, it is 65"
    bad = q.check("sixty")
    assert not bad.correct and not bad.skipped and "not a number" in bad.reason
    assert q.check("\n").skipped


def test_choices_by_number_or_text_in_any_order_and_case() -> None:
    q = question("flags", "SYN,ACK", ("SYN", "SYN,ACK", "ACK"))
    assert q.check("2").correct
    assert q.check("ack, syn").correct
    assert q.check("SYN+ACK").correct
    assert not q.check("1").correct
    assert "none of the choices" in q.check("URG").reason
    state = question("state", "TIME-WAIT", ("ESTABLISHED", "TIME-WAIT"))
    assert state.check("time_wait").correct and state.check("time wait").correct


def test_parse_fields_refuses_unknown_names() -> None:
    assert parse_fields("seq, ack") == ("seq", "ack")
    with pytest.raises(ValueError, match="window"):
        parse_fields("seq,window")


def test_handshake_questions_answers_hints_and_why(tmp_path: Path) -> None:
    with Session.load(str(exchanges_pcap(tmp_path / "x.pcap", 1))) as session:
        assert session.analysis is not None
        qs = tcp_questions(session.analysis, 0, ("flags", "seq", "ack", "len", "state"))
    by_frame: dict[int, dict[str, Question]] = {}
    for q in qs:
        by_frame.setdefault(q.frame, {})[q.field] = q
    assert "ack" not in by_frame[1]             # a SYN's ack field means nothing
    assert [by_frame[f]["flags"].answer for f in (1, 2, 3, 4, 5)] == [
        "SYN", "SYN,ACK", "ACK", "PSH,ACK", "ACK"]
    assert [by_frame[f]["state"].answer for f in (1, 2, 3)] == [
        "LISTEN", "ESTABLISHED", "ESTABLISHED"]
    assert by_frame[2]["ack"].answer == "1"
    assert "ISN" in by_frame[2]["ack"].why and "+ 1" in by_frame[2]["ack"].why
    assert by_frame[4]["len"].answer == "10" and by_frame[5]["ack"].answer == "11"
    assert "frame 4" in by_frame[5]["ack"].hint and "len 10" in by_frame[5]["ack"].hint
    assert "no data" in by_frame[3]["len"].why
    # the fields in the order asked, packet by packet
    assert [q.field for q in qs[:4]] == ["flags", "seq", "len", "state"]
    assert [q.frame for q in qs] == sorted(q.frame for q in qs)


def test_score_counts_skips_as_asked_and_lists_what_was_missed() -> None:
    score = Score()
    right, wrong, skipped = question("seq", "1"), question("ack", "5"), question("len", "0")
    for q, reply in ((right, "1"), (wrong, "4"), (skipped, "")):
        verdict = q.check(reply)
        score.add(q, verdict)
        assert feedback(q, verdict).split(":")[0] in ("Right", "Wrong", "Skipped")
    assert score.line == "score: 1/3"
    assert score.summary() == ["Missed 2 of 3:", "  frame 1 ack: 5 (you said 4, it is 5)",
                               "  frame 1 len: 0 (skipped)"]


def test_sample_recording_every_packet_asked() -> None:
    with Session.load(str(SAMPLE)) as session:
        assert session.analysis is not None
        qs = tcp_questions(session.analysis, 0, ("seq",))
        assert len(qs) == len(session.analysis.stream_indices(0))
