"""Lessons: a recording (or a scenario to run) and the steps to walk through it.

A lesson is a small TOML file, read with the standard library's ``tomllib``,
that a teacher writes by copying one from ``resources/lessons/``::

    title = "Lesson 1: the three-way handshake"
    recording = "../samples/tcp-handshake.pcapng"   # relative to this file
    # or: scenario = "tcp-handshake" and params = { count = 1 }

    [[step]]
    text = "The client's connect() sends a SYN."
    go = 1                       # show frame 1 landed

    [[step]]
    text = "Predict the server's answer."
    predict = ["flags", "seq", "ack"]
    frame = 2                    # the packet asked about (default: the next one)

    [[step]]
    text = "Play on to the next state change."
    play_to = "state"            # a breakpoint kind (core/playback/breakpoints.py)

Every step has ``text`` and at most one of ``go``, ``predict`` and
``play_to``. Anything wrong is refused before anything runs, as one line
naming the file, the line and the problem (:class:`BadInput`): bad TOML, an
unknown key, scenario, parameter, question or breakpoint kind, a missing
recording.

:class:`LessonWalk` walks a loaded lesson over an open session, headless:
what each step shows and asks. The GUI drives the same walk.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from visualizer.core.errors import BadInput
from visualizer.core.playback.breakpoints import BREAKPOINTS, breakpoint_mask, find
from visualizer.core.quiz.questions import FIELDS, Question, tcp_questions
from visualizer.core.session import Session

__all__ = ["Lesson", "LessonWalk", "Step", "load_lesson"]

LESSON_KEYS = ("title", "summary", "recording", "scenario", "params", "step")
STEP_KEYS = ("text", "go", "predict", "frame", "play_to")
MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class Step:
    text: str
    line: int                       # where the step starts in the file
    go: int | None = None           # frame number to show landed
    predict: tuple[str, ...] = ()   # fields to ask about
    frame: int | None = None        # the packet predicted (None: the next one)
    play_to: str | None = None      # breakpoint kind

    @property
    def action(self) -> str:
        """'go', 'predict', 'play_to' or 'text'."""
        if self.go is not None:
            return "go"
        if self.predict:
            return "predict"
        return "play_to" if self.play_to else "text"


@dataclass(frozen=True)
class Lesson:
    path: str
    title: str
    summary: str
    recording: str | None           # absolute path of the recording, or
    scenario: str | None            # the scenario to run,
    params: tuple[str, ...]         # with its parameters as "k=v"
    steps: tuple[Step, ...]


class _Lines:
    """Line numbers of keys and ``[[step]]`` headers, for messages."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.steps = [n + 1 for n, line in enumerate(self.lines)
                      if re.match(r"\s*\[\[\s*step\s*\]\]", line)]

    def key(self, key: str, start: int = 1, end: int | None = None) -> int:
        pattern = re.compile(rf"\s*{re.escape(key)}\s*=")
        for n in range(start, (end or len(self.lines)) + 1):
            if n - 1 < len(self.lines) and pattern.match(self.lines[n - 1]):
                return n
        return start

    def step(self, k: int) -> tuple[int, int]:
        start = self.steps[k] if k < len(self.steps) else 1
        end = self.steps[k + 1] - 1 if k + 1 < len(self.steps) else len(self.lines)
        return start, end


def load_lesson(path: str) -> Lesson:
    """Read and check the lesson at ``path`` (see the module docstring)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as err:
        raise BadInput(f"{path}: cannot read the lesson: {err.strerror or err}") from None
    if len(raw) > MAX_BYTES:
        raise BadInput(f"{path}: not a lesson: over {MAX_BYTES:,} bytes")
    try:
        text = raw.decode("utf-8")
        doc = tomllib.loads(text)
    except UnicodeDecodeError:
        raise BadInput(f"{path}:1: not a lesson: the file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as err:
        found = re.search(r"at line (\d+)", str(err))
        problem = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(err))
        raise BadInput(f"{path}:{found.group(1) if found else 1}: {problem}") from None
    lines = _Lines(text)

    def bad(line: int, problem: str) -> BadInput:
        return BadInput(f"{path}:{line}: {problem}")

    for key in doc:
        if key not in LESSON_KEYS:
            raise bad(lines.key(key), f"unknown key {key!r}: a lesson has "
                                      f"{', '.join(LESSON_KEYS)}")
    title = doc.get("title", Path(path).stem)
    summary = doc.get("summary", "")
    if not isinstance(title, str) or not isinstance(summary, str):
        raise bad(lines.key("title" if not isinstance(title, str) else "summary"),
                  "title and summary must be text")
    recording, scenario, params = _source(path, doc, lines, bad)
    steps = doc.get("step")
    if not isinstance(steps, list) or not steps:
        raise bad(1, "a lesson needs at least one [[step]]")
    return Lesson(path, title, summary, recording, scenario, params,
                  tuple(_step(k, s, lines, bad) for k, s in enumerate(steps)))


def _source(path: str, doc: dict[str, Any], lines: _Lines, bad: Any
            ) -> tuple[str | None, str | None, tuple[str, ...]]:
    recording, scenario, params = doc.get("recording"), doc.get("scenario"), doc.get("params")
    if (recording is None) == (scenario is None):
        raise bad(1, "a lesson names either a recording or a scenario (one of them)")
    if recording is not None:
        if not isinstance(recording, str):
            raise bad(lines.key("recording"), "recording must be a file name")
        if params is not None:
            raise bad(lines.key("params"), "params go with a scenario, not a recording")
        full = (Path(path).resolve().parent / recording).resolve()
        if not full.is_file():
            raise bad(lines.key("recording"), f"no such recording: {recording}")
        return str(full), None, ()
    if not isinstance(scenario, str):
        raise bad(lines.key("scenario"), "scenario must be a scenario's name")
    if params is not None and not isinstance(params, dict):
        raise bad(lines.key("params"), "params must be a table, e.g. params = { count = 1 }")
    pairs = tuple(f"{k}={str(v).lower() if isinstance(v, bool) else v}"
                  for k, v in (params or {}).items())
    try:
        check_scenario(scenario, pairs)
    except BadInput as err:
        raise bad(lines.key("params" if params and "scenario" not in str(err)
                            else "scenario"), str(err)) from None
    return None, scenario, pairs


def check_scenario(name: str, pairs: Sequence[str]) -> None:
    """Refuse an unknown scenario or parameter as ``visualizer record`` would,
    without running anything."""
    from visualizer.core.path.link import parse_path, split_path_pairs, with_defaults
    from visualizer.core.traffic.registry import get_scenario

    cls = get_scenario(name)
    scenario_pairs, path_pairs = split_path_pairs(pairs, (p.name for p in cls.params))
    cls.parse_params(scenario_pairs)
    parse_path(with_defaults(path_pairs, cls.path_defaults))


def _step(k: int, step: Any, lines: _Lines, bad: Any) -> Step:
    start, end = lines.step(k)
    if not isinstance(step, dict):
        raise bad(start, f"step {k + 1} must be a [[step]] table")
    for key in step:
        if key not in STEP_KEYS:
            raise bad(lines.key(key, start, end), f"step {k + 1}: unknown key {key!r}: a "
                                                  f"step has {', '.join(STEP_KEYS)}")
    text = step.get("text")
    if not isinstance(text, str) or not text.strip():
        raise bad(start, f"step {k + 1} needs text")
    actions = [key for key in ("go", "predict", "play_to") if key in step]
    if len(actions) > 1:
        raise bad(lines.key(actions[1], start, end),
                  f"step {k + 1}: one of go, predict and play_to per step")
    go, frame, play_to = step.get("go"), step.get("frame"), step.get("play_to")
    for key, value in (("go", go), ("frame", frame)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or value < 1):
            raise bad(lines.key(key, start, end),
                      f"step {k + 1}: {key} must be a frame number (1 or more)")
    if frame is not None and "predict" not in step:
        raise bad(lines.key("frame", start, end), f"step {k + 1}: frame goes with predict")
    predict = step.get("predict", [])
    if isinstance(predict, str):
        predict = [predict]
    if not isinstance(predict, list) or ("predict" in step and not predict) or any(
            f not in FIELDS for f in predict):
        raise bad(lines.key("predict", start, end),
                  f"step {k + 1}: predict is a list of {', '.join(FIELDS)}")
    if play_to is not None and play_to not in BREAKPOINTS:
        raise bad(lines.key("play_to", start, end),
                  f"step {k + 1}: unknown breakpoint {play_to!r}: choose from "
                  f"{', '.join(BREAKPOINTS)}")
    return Step(text.strip(), start, go, tuple(predict), frame, play_to)


class LessonWalk:
    """A lesson walked over an open session: step by step, forwards and back.

    ``position`` is the packet shown (an index into ``packets``, -1 before
    the first); each step's ``enter`` moves it as the step says and returns
    the questions to ask (a predict step), so a front end only shows them.
    """

    def __init__(self, lesson: Lesson, session: Session,
                 packets: np.ndarray | None = None) -> None:
        if session.analysis is None:
            raise BadInput(f"{lesson.path}: the recording has no packets to walk through")
        self.lesson = lesson
        self.session = session
        self.packets = np.arange(session.count) if packets is None else packets
        self.step = -1
        self.position = -1
        self.asked = -1                  # the position the last predict step asked about
        self._history: list[int] = []    # position before each step entered

    @property
    def done(self) -> bool:
        return self.step >= len(self.lesson.steps) - 1

    def next(self) -> tuple[Step, list[Question]]:
        if self.done:
            raise IndexError("the lesson has no more steps")
        self._history.append(self.position)
        self.step += 1
        return self.lesson.steps[self.step], self._enter(self.lesson.steps[self.step])

    def back(self) -> tuple[Step, list[Question]]:
        if self.step <= 0:
            raise IndexError("this is the first step")
        self._history.pop()
        self.position = self._history[-1]
        self.step -= 1
        return self.lesson.steps[self.step], self._enter(self.lesson.steps[self.step])

    def _where(self, step: Step, frame: int) -> int:
        found = np.flatnonzero(self.packets == frame - self.session.first_number)
        if not len(found):
            raise BadInput(f"{self.lesson.path}:{step.line}: frame {frame} is not in the "
                           f"recording ({self.session.count} packets)")
        return int(found[0])

    def _enter(self, step: Step) -> list[Question]:
        analysis = self.session.analysis
        assert analysis is not None
        if step.go is not None:
            self.position = self._where(step, step.go)
        elif step.play_to is not None:
            mask = breakpoint_mask(step.play_to, analysis, self.packets,
                                   self.session.path_view)
            target = find(mask, self.position, 1)
            if target < 0:
                raise BadInput(f"{self.lesson.path}:{step.line}: nothing to play to: no "
                               f"{BREAKPOINTS[step.play_to]} after this packet")
            self.position = target
        elif step.predict:
            at = (self._where(step, step.frame) if step.frame is not None
                  else self.position + 1)
            if at >= len(self.packets):
                raise BadInput(f"{self.lesson.path}:{step.line}: no packet left to predict")
            self.asked = at
            self.position = at     # shown once answered: the front end reveals it
            return self.questions(int(self.packets[at]), step.predict)
        return []

    def questions(self, index: int, fields: tuple[str, ...]) -> list[Question]:
        """The questions about packet ``index`` (store index)."""
        from visualizer.core.quiz.questions import udp_arrival_questions

        analysis = self.session.analysis
        assert analysis is not None
        stream = int(analysis.values("stream")[index])
        first = self.session.first_number
        if stream >= 0:
            asked = tuple(f for f in fields if f != "arrives")
            return tcp_questions(analysis, stream, asked, first_number=first, only=index)
        view = self.session.path_view
        if "arrives" in fields and view is not None:
            return [q for q in udp_arrival_questions(analysis, view, first_number=first)
                    if q.index == index]
        return []
