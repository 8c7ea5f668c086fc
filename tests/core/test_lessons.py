"""Lessons: every shipped one loads and plays to its end headless; bad ones are
refused in one line naming the file, the line and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from visualizer.core.errors import BadInput
from visualizer.core.quiz.lesson import LessonWalk, load_lesson
from visualizer.core.session import Session

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
LESSONS = sorted((RESOURCES / "lessons").glob("*.toml"))
SAMPLE = RESOURCES / "samples" / "tcp-handshake.pcapng"


def test_six_lessons_are_shipped() -> None:
    titles = [load_lesson(str(p)).title for p in LESSONS]
    assert len(titles) >= 6
    for word in ("handshake", "sequence numbers", "port", "closing", "retransmission", "UDP"):
        assert any(word in t for t in titles), word


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_shipped_lesson_plays_to_its_end(path: Path) -> None:
    lesson = load_lesson(str(path))
    assert lesson.recording is not None and Path(lesson.recording).is_file()
    with Session.load(lesson.recording) as session:
        view = session.path_view
        walk = LessonWalk(lesson, session, view.rows if view is not None else None)
        asked = 0
        while not walk.done:
            step, questions = walk.next()
            assert step.text
            if step.predict:
                assert questions, f"{path.name}:{step.line}: nothing asked"
                asked += len(questions)
                for q in questions:     # the right answer is right, another is not
                    assert q.check(q.answer).correct and q.why
                    assert not q.check("999999" if q.numeric else "none at all").correct
        assert walk.step == len(lesson.steps) - 1
        # and back to the start, each step where it was
        positions = []
        while walk.step > 0:
            walk.back()
            positions.append(walk.position)
        assert walk.step == 0 and positions[-1] == walk.position
    assert asked or "many" in path.name or "loss" in path.name


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "lesson.toml"
    path.write_text(text)
    return str(path)


GOOD_HEAD = f'title = "t"\nrecording = "{SAMPLE}"\n'


@pytest.mark.parametrize(("text", "line", "problem"), [
    ('title = "t"\nscenario = "tcp-handshak"\n[[step]]\ntext = "x"\n', 2,
     "unknown scenario 'tcp-handshak'"),
    ('title = "t"\nscenario = "tcp-handshake"\nparams = { count = 3, colour = 1 }\n'
     '[[step]]\ntext = "x"\n', 3, "tcp-handshake has no parameter 'colour'"),
    ('title = "t"\nscenario = "tcp-handshake"\nparams = { count = -4 }\n[[step]]\ntext = "x"\n',
     3, "count"),
    (GOOD_HEAD + '[[step]]\ntext = "a"\n\n[[step]]\ntext = "b"\nplay_to = "retrans"\n', 8,
     "step 2: unknown breakpoint 'retrans'"),
    (GOOD_HEAD + '[[step]]\ntext = "a"\npredict = ["seq", "window"]\n', 5,
     "step 1: predict is a list of"),
    (GOOD_HEAD + '[[step]]\ntext = "a"\ngo = 0\n', 5, "go must be a frame number"),
    (GOOD_HEAD + '[[step]]\ntext = "a"\ngo = 2\nplay_to = "rst"\n', 6,
     "one of go, predict and play_to"),
    (GOOD_HEAD + '[[step]]\ntxt = "a"\n', 4, "step 1: unknown key 'txt'"),
    (GOOD_HEAD + '[[step]]\ntext = "a\n', 4, "Illegal character"),   # bad TOML
    ('title = "t"\nrecording = "nowhere.pcapng"\n[[step]]\ntext = "a"\n', 2,
     "no such recording"),
    ('title = "t"\n', 1, "a lesson names either a recording or a scenario"),
    (GOOD_HEAD, 1, "at least one [[step]]"),
    (GOOD_HEAD + 'colour = 3\n[[step]]\ntext = "a"\n', 3, "unknown key 'colour'"),
])
def test_a_bad_lesson_is_one_line_with_file_and_line(tmp_path: Path, text: str, line: int,
                                                     problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(BadInput) as caught:
        load_lesson(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: "), message
    assert problem in message


def test_a_scenario_lesson_is_checked_without_running(tmp_path: Path) -> None:
    lesson = load_lesson(write(tmp_path, 'scenario = "tcp-handshake"\n'
                                         'params = { count = 1, size = 10 }\n'
                                         '[[step]]\ntext = "a"\ngo = 1\n'))
    assert (lesson.scenario, lesson.params, lesson.recording) == (
        "tcp-handshake", ("count=1", "size=10"), None)
    assert lesson.steps[0].action == "go"


def test_a_step_past_the_recording_says_where(tmp_path: Path) -> None:
    lesson = load_lesson(write(tmp_path, GOOD_HEAD + '[[step]]\ntext = "a"\ngo = 99\n'))
    with Session.load(str(SAMPLE)) as session:
        walk = LessonWalk(lesson, session)
        with pytest.raises(BadInput, match=r"lesson.toml:3: frame 99 is not in the recording"):
            walk.next()
