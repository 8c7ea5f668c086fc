"""``visualizer quiz``: predict a TCP stream's numbers in a terminal.

For labs over ssh and for scripts. It asks about the stream's packets in
frame order, for each packet each field named by ``--ask`` in that order
(``visualizer.core.quiz.questions``), reads one answer a line from standard
input (an empty line skips, ``?`` shows a hint; the end of input skips the
rest), says after
each whether it was right and why, then shows the packet. It ends with a
summary of what was missed and the line ``score: R/Q``. Standard input need
not be a terminal: ``printf '0\\n1\\n' | visualizer quiz f.pcapng`` works.
"""

from __future__ import annotations

from typing import TextIO

from visualizer.commands import warn_about
from visualizer.core.errors import BadInput
from visualizer.core.quiz.questions import TCP_FIELDS, Question, parse_fields, tcp_questions
from visualizer.core.quiz.score import Score, feedback
from visualizer.core.session import Session
from visualizer.core.tcp.segment import flag_text

DEFAULT_ASK = "seq,ack"
HINT_REQUESTS = ("?", "hint")


def _packet_line(session: Session, index: int) -> str:
    """'frame 3: ACK seq=1 ack=1 len=0', shown once a packet's questions are done."""
    analysis = session.analysis
    store = session.store
    assert analysis is not None and store is not None
    flags = int(store.values("tcp_flags")[index])
    ack = f" ack={analysis.values('rel_ack')[index]}" if flags & 0x10 else ""
    return (f"  → frame {session.first_number + index}: {flag_text(flags) or 'no flags'} "
            f"seq={analysis.values('rel_seq')[index]}{ack} "
            f"len={store.values('payload_len')[index]}")


def _ask(question: Question, answers: TextIO, out: TextIO) -> str:
    """Ask and read the answer; ``?`` shows the hint and asks again."""
    out.write(question.prompt + "\n")
    if question.choices:
        out.write("  " + "  ".join(f"{k}) {c}" for k, c in enumerate(question.choices, 1))
                  + "\n")
    while True:
        out.write("> ")
        out.flush()
        line = answers.readline()
        if not answers.isatty():   # a transcript shows what was answered
            out.write(line.rstrip("\n"))
        if not answers.isatty() or not line.endswith("\n"):
            out.write("\n")
        if line.strip() not in HINT_REQUESTS:
            return line
        out.write(f"  hint: {question.hint}\n")


def quiz_command(path: str, *, stream: int | None, ask: str | None, count: int | None,
                 answers: TextIO, out: TextIO) -> int:
    try:
        fields = parse_fields(ask or DEFAULT_ASK, TCP_FIELDS)
    except ValueError as err:
        raise BadInput(f"--ask: {err}") from None
    if count is not None and count <= 0:
        raise BadInput("--count must be a positive number of questions")
    with Session.load(path) as session:
        analysis = session.analysis
        assert analysis is not None
        streams = len(analysis.tcp.connections)
        if not streams:
            raise BadInput(f"{path}: no TCP stream to ask about")
        number = 0 if stream is None else stream
        if not 0 <= number < streams:
            raise BadInput(f"--stream {number}: {path} has {streams} TCP stream"
                           f"{'s' if streams > 1 else ''} (0 to {streams - 1})")
        questions = tcp_questions(analysis, number, fields, first_number=session.first_number,
                                  limit=count)
        score = Score()
        out.write(f"TCP stream {number}: {len(questions)} questions. Relative numbers, as "
                  "Wireshark shows them. Empty line: skip; ?: a hint.\n")
        for k, question in enumerate(questions):
            verdict = question.check(_ask(question, answers, out))
            score.add(question, verdict)
            out.write(feedback(question, verdict) + "\n")
            last = k + 1 == len(questions) or questions[k + 1].index != question.index
            if last:
                out.write(_packet_line(session, question.index) + "\n")
            out.write(f"  {score.line}\n\n" if last else "\n")
        for line in score.summary():
            out.write(line + "\n")
        out.write(score.line + "\n")
        return warn_about(session)
