"""Questions about packets, their right answers, hints and the *why*.

Predict-observe-explain: before a packet is shown the learner predicts one
of its numbers, then sees it and is told why it is so. A :class:`Question`
holds everything needed to ask and to check, computed from the analysis
(the same numbers tshark shows, relative as Wireshark shows them), so any
front end (the terminal quiz, the GUI's predict mode, a lesson) asks the
same questions and accepts the same answers.

The fields one can ask about:

- ``flags``: the TCP flags, multiple choice ("SYN,ACK");
- ``seq``, ``ack``, ``len``: the relative sequence number, the relative
  acknowledgement number (asked only when the ACK flag is set: without it
  the field means nothing) and the payload length, numeric;
- ``state``: the receiver's endpoint state after the packet, multiple choice;
- ``arrives``: for a UDP datagram of a recording on a path, whether it
  reaches the other end (yes / no).

The *why* is the packet's explanation (``describe/explain.py``): the
sentences that talk about the field asked, else all of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from visualizer.core.decode.headers import PROTO_UDP
from visualizer.core.describe.explain import explain
from visualizer.core.flows.analysis import Analysis
from visualizer.core.path.view import NOT_ARRIVED, PathView
from visualizer.core.tcp.segment import ACK, FIN, FLAG_NAMES, SYN, flag_text
from visualizer.core.tcp.states import TcpState

__all__ = ["FIELDS", "TCP_FIELDS", "Question", "Verdict", "parse_fields", "tcp_questions",
           "udp_arrival_questions"]

TCP_FIELDS = ("seq", "ack", "len", "flags", "state")
FIELDS = (*TCP_FIELDS, "arrives")
NUMERIC = ("seq", "ack", "len")

# the flag sets TCP stacks send, offered as choices (the right one is added when missing)
FLAG_CHOICES = ("SYN", "SYN,ACK", "ACK", "PSH,ACK", "FIN,ACK", "FIN,PSH,ACK", "RST",
                "RST,ACK")
STATE_CHOICES = tuple(str(s) for s in TcpState if s is not TcpState.JOINED_MID_STREAM)
YES_NO = ("yes", "no")
_FLAG_ORDER = {name: k for k, (_bit, name) in enumerate(FLAG_NAMES)}
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


@dataclass(frozen=True)
class Verdict:
    """How an answer fared: right, wrong (with the reason) or skipped."""

    correct: bool
    skipped: bool
    reason: str          # what was wrong with it, "" when right or skipped


@dataclass(frozen=True)
class Question:
    """One question about one packet (see the module docstring)."""

    index: int                  # the packet's 0-based index in the store
    frame: int                  # its 1-based frame number, as Wireshark numbers it
    field: str                  # one of FIELDS
    prompt: str
    answer: str                 # the right answer, as shown
    choices: tuple[str, ...]    # multiple choice; () for a numeric question
    hint: str
    why: str                    # the explanation that says why the answer is so

    @property
    def numeric(self) -> bool:
        return not self.choices

    def check(self, reply: str) -> Verdict:
        """Check ``reply`` (as typed: a number, a choice's text or its number 1..n;
        empty: skipped)."""
        text = reply.strip()
        if not text:
            return Verdict(False, True, "")
        if self.numeric:
            try:
                value = int(text)
            except ValueError:
                return Verdict(False, False, f"{text!r} is not a number")
            if value == int(self.answer):
                return Verdict(True, False, "")
            return Verdict(False, False, f"you said {value}, it is {self.answer}")
        chosen = self._choice(text)
        if chosen is None:
            return Verdict(False, False, f"{text!r} is none of the choices "
                                         f"({' / '.join(self.choices)})")
        if _normal(self.field, chosen) == _normal(self.field, self.answer):
            return Verdict(True, False, "")
        return Verdict(False, False, f"you said {chosen}, it is {self.answer}")

    def _choice(self, text: str) -> str | None:
        if text.isdigit() and 1 <= int(text) <= len(self.choices):
            return self.choices[int(text) - 1]
        wanted = _normal(self.field, text)
        for choice in self.choices:
            if _normal(self.field, choice) == wanted:
                return choice
        return None


def _normal(field: str, text: str) -> str:
    """Answers compare without case, spaces or flag order: 'ack, syn' is 'SYN,ACK'."""
    if field == "flags":
        names = [n for n in re.split(r"[\s,+/|-]+", text.upper()) if n]
        return ",".join(sorted(set(names), key=lambda n: _FLAG_ORDER.get(n, 99)))
    return re.sub(r"[\s_-]+", "-", text.strip().upper())


def parse_fields(text: str, known: tuple[str, ...] = FIELDS) -> tuple[str, ...]:
    """``"seq,ack"`` -> ("seq", "ack"); a name not in ``known`` raises ValueError."""
    names = tuple(n.strip().lower() for n in text.split(",") if n.strip())
    unknown = ", ".join(n for n in names if n not in known)
    if unknown or not names:
        raise ValueError(f"unknown question {unknown or repr(text)}: choose from "
                         f"{', '.join(known)}")
    return names


def _why(text: str, field: str) -> str:
    """The sentences of an explanation that talk about ``field``, else all of it."""
    words = {"seq": ("seq", "sequence number", "ISN"), "ack": ("ack", "acknowledg"),
             "len": ("byte",), "state": tuple(str(s) for s in TcpState),
             "flags": ()}[field]
    sentences = [s for s in _SENTENCE.split(text) if any(w in s for w in words)]
    return " ".join(sentences) if sentences else text


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _previous(analysis: Analysis, indices: list[int], k: int, direction: int) -> int:
    """The index of the last packet before ``indices[k]`` sent in ``direction``, -1 if none."""
    d = analysis.values("direction")
    for j in range(k - 1, -1, -1):
        if d[indices[j]] == direction:
            return indices[j]
    return -1


def tcp_questions(analysis: Analysis, stream: int, ask: tuple[str, ...] = TCP_FIELDS,
                  *, first_number: int = 1, only: int | None = None,
                  limit: int | None = None) -> list[Question]:
    """The questions about TCP stream ``stream``, packet by packet in frame order, for
    each packet each field of ``ask`` in that order (``ack`` only with the ACK flag);
    with ``only``, about that packet (store index) alone; at most ``limit``."""
    store = analysis.store
    flags_c, plen = store.values("tcp_flags"), store.values("payload_len")
    seq, ack, d = (analysis.values(n) for n in ("rel_seq", "rel_ack", "direction"))
    roles = analysis.tcp_roles(stream)
    names = ("the client", "the server") if roles[0] else ("side A", "side B")
    indices = [int(i) for i in analysis.stream_indices(stream)]
    questions: list[Question] = []
    for k, i in enumerate(indices):
        if limit is not None and len(questions) >= limit:
            break
        if only is not None and i != only:
            continue
        flags, direction = int(flags_c[i]), int(d[i])
        sender, receiver = names[direction], names[1 - direction]
        frame = first_number + i
        about = f"Frame {frame}, {sender} → {receiver}"
        text = explain(analysis, i).text
        mine = _previous(analysis, indices, k, direction)
        theirs = _previous(analysis, indices, k, 1 - direction)
        for field in ask:
            if field == "arrives" or (field == "ack" and not flags & ACK):
                continue
            choices: tuple[str, ...] = ()
            if field == "seq":
                prompt = f"{about}: its relative seq?"
                answer = str(seq[i])
                hint = (_sent_hint(analysis, mine, sender) if mine >= 0 else
                        f"This is {sender}'s first segment: relative numbers count from its "
                        "ISN.")
            elif field == "ack":
                prompt = f"{about}: its relative ack?"
                answer = str(ack[i])
                hint = (_sent_hint(analysis, theirs, receiver) + " The ack names the next "
                        f"byte {sender} expects." if theirs >= 0 else
                        f"{sender} has seen nothing from {receiver} yet.")
            elif field == "len":
                prompt = f"{about}: how many bytes of data does it carry?"
                answer = str(plen[i])
                hint = ("Only data counts: the handshake, pure ACKs and a bare FIN carry none."
                        if plen[i] == 0 else "It carries data: what did the application "
                        "send()?")
            elif field == "flags":
                prompt = f"{about}: which flags does it carry?"
                answer = flag_text(flags) or "none"
                choices = FLAG_CHOICES if answer in FLAG_CHOICES else (*FLAG_CHOICES, answer)
                before = analysis.states(indices[k - 1])[direction] if k else None
                hint = (f"{sender} is in {before} before it." if before is not None else
                        f"This is the first packet of the connection, from {sender}.")
            else:  # state
                after = analysis.states(i)[1 - direction]
                if after is None or after is TcpState.JOINED_MID_STREAM:
                    continue
                prompt = f"{about}: {receiver}'s state once it has arrived?"
                answer = str(after)
                choices = STATE_CHOICES
                before = (analysis.states(indices[k - 1])[1 - direction] if k
                          else TcpState.CLOSED if roles[0] and direction == 0 else None)
                hint = (f"{receiver} is in {before} before it arrives."
                        if before is not None else "Which flags does it carry?")
            why = _why(text, field)
            if field == "len" and not plen[i]:
                why = ("It carries no data: SYNs, FINs and pure ACKs have len 0 (a SYN or a "
                       "FIN still consumes one sequence number).")
            questions.append(Question(i, frame, field, prompt, answer, choices, _cap(hint),
                                      why))
    return questions[:limit]


def _sent_hint(analysis: Analysis, index: int, who: str) -> str:
    """'the client's last segment (frame 3) had seq 1, len 64 and a SYN'."""
    store = analysis.store
    flags = int(store.values("tcp_flags")[index])
    extra = " and a SYN" if flags & SYN else " and a FIN" if flags & FIN else ""
    consumes = " (a SYN or FIN counts as one byte)" if extra else ""
    return (f"{_cap(who)}'s last segment (frame {index + 1}) had seq "
            f"{analysis.values('rel_seq')[index]}, len {store.values('payload_len')[index]}"
            f"{extra}{consumes}.")


def udp_arrival_questions(analysis: Analysis, view: PathView, *, first_number: int = 1
                          ) -> list[Question]:
    """For a recording on a path: does each UDP datagram reach the other end?"""
    proto = analysis.store.values("proto")
    questions = []
    for row, i in enumerate(view.rows.tolist()):
        if proto[i] != PROTO_UDP:
            continue
        arrived = int(view.arrived_ns[row]) != NOT_ARRIVED
        fate, cause = view.fate[row], view.why[row]
        why = ("It arrived: UDP gives no guarantee, but the path delivered it"
               f"{' (' + fate + ')' if fate not in ('delivered', '') else ''}." if arrived
               else f"It was {fate} on the path{': ' + cause if cause else ''}. UDP neither "
               "notices nor sends it again: the application must, if it cares.")
        questions.append(Question(
            i, first_number + i, "arrives",
            f"Frame {first_number + i}: does this UDP datagram reach the other end?",
            "yes" if arrived else "no", YES_NO,
            "The path drops, delays and reorders some packets; UDP itself never resends.",
            why))
    return questions
