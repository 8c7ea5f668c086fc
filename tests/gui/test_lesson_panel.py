"""File › Open Lesson: walked with Page Down / Page Up, predictions answered by keys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt

from visualizer.core.playback.cursor import SPEED_STEPS
from visualizer.gui.mainwindow import MainWindow

LESSONS = Path(__file__).parents[2] / "resources" / "lessons"


def test_a_lesson_walks_to_its_end_and_back(qtbot, window: MainWindow) -> None:
    panel = window.lessons
    window.stage.speed.setValue(len(SPEED_STEPS) - 1)
    with qtbot.wait_signal(window.document.finished, timeout=20_000):
        assert panel.open_path(str(LESSONS / "1-handshake.toml"))
    qtbot.wait_until(lambda: panel.walk is not None and panel.walk.step == 0)
    assert panel.dock.isVisible() and "handshake" in panel.title.text()
    assert window.document.session.current == 0          # step 1: go = 1
    assert panel.where.text() == "Step 1 of 5"
    qtbot.keyClick(window, Qt.Key.Key_PageDown)           # step 2: predict frame 2
    assert panel.box.isVisible() and panel.box.question is not None
    assert not window.docks["packets"].isVisible()        # nothing gives it away
    assert not panel.next_button.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_PageDown)           # Next waits for the answers
    assert panel.walk is not None and panel.walk.step == 1
    for answer in ("syn,ack", "0", "5"):                  # the last one wrong
        qtbot.keyClicks(panel.box.entry, answer)
        qtbot.keyClick(panel.box.entry, Qt.Key.Key_Return)
    qtbot.wait_until(lambda: window.document.session.current == 1, timeout=10_000)
    assert window.docks["packets"].isVisible()
    assert "Wrong: you said 5, it is 1" in panel.box.feedback.text()
    assert panel.box.score.line == "score: 2/3"
    qtbot.keyClick(panel.box.entry, Qt.Key.Key_Return)    # Enter: the next step
    assert panel.walk.step == 2
    for q in list(panel.box.questions):
        qtbot.keyClicks(panel.box.entry, q.answer)
        qtbot.keyClick(panel.box.entry, Qt.Key.Key_Return)
    qtbot.wait_until(lambda: window.document.session.current == 2, timeout=10_000)
    qtbot.keyClick(window, Qt.Key.Key_PageDown)           # step 4: play to the first data
    qtbot.wait_until(lambda: window.document.session.current == 3, timeout=10_000)
    qtbot.keyClick(window, Qt.Key.Key_PageDown)           # step 5: text, the end
    assert panel.where.text() == "Step 5 of 5" and not panel.next_button.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_PageUp)             # back: step 4, landed at once
    assert panel.walk.step == 3 and window.document.session.current == 3


def test_a_bad_lesson_says_file_line_and_problem(qtbot, window: MainWindow,
                                                 messages: list[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('title = "x"\nscenario = "tcp-handshake"\nparams = { colour = 2 }\n'
                   '[[step]]\ntext = "a"\n')
    assert not window.lessons.open_path(str(bad))
    assert messages == [f"Cannot open lesson: {bad}:3: tcp-handshake has no parameter "
                        "'colour': its parameters are count, size, port, family"]
    assert window.document.session.path is None          # nothing was opened or run


def test_gui_refuses_a_bad_lesson_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('recording = "x.pcapng"\n[[step]]\ntext = "a"\n')
    result = subprocess.run([sys.executable, "-m", "visualizer", "gui", str(bad), "--screenshot",
                             str(tmp_path / "x.png")], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 2
    assert result.stderr == f"visualizer: {bad}:1: no such recording: x.pcapng\n"
    assert not (tmp_path / "x.png").exists()


def test_open_sample_lists_each_scenario_with_its_summary(window: MainWindow) -> None:
    texts = [a.text() for a in window.sample_menu.actions()]
    assert len(texts) >= 18
    assert any(t.startswith("tcp-zero-window: ") and "window" in t[17:] for t in texts)
    assert all(": " in t for t in texts)


@pytest.mark.capture
def test_a_scenario_lesson_records_then_walks(qtbot, window: MainWindow, tmp_path: Path) -> None:
    lesson = tmp_path / "run.toml"
    lesson.write_text('title = "Run it"\nscenario = "tcp-handshake"\n'
                      'params = { count = 1, size = 10 }\n'
                      '[[step]]\ntext = "The SYN."\ngo = 1\n'
                      '[[step]]\ntext = "The answer?"\npredict = ["ack"]\n')
    panel = window.lessons
    assert panel.open_path(str(lesson))
    qtbot.wait_until(lambda: panel.walk is not None, timeout=60_000)
    recording = window.document.session.recording
    assert recording is not None and recording.scenario == "tcp-handshake"
    assert recording.params["count"] == 1
    assert window.document.session.current == 0
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    assert panel.box.question is not None and panel.box.question.answer == "1"
