"""Predict mode, driven with real key presses: right, wrong, skip, hint, the end, and
nothing shows a packet before it is revealed."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import Qt

from visualizer.core.playback.cursor import SPEED_STEPS
from visualizer.gui.mainwindow import MainWindow

SAMPLES = Path(__file__).parents[2] / "resources" / "samples"
HANDSHAKE = SAMPLES / "tcp-handshake.pcapng"


def type_answer(qtbot, window: MainWindow, text: str) -> None:
    entry = window.predict.box.entry
    qtbot.keyClicks(entry, text)
    qtbot.keyClick(entry, Qt.Key.Key_Return)


def open_and_predict(qtbot, window: MainWindow) -> None:
    with qtbot.wait_signal(window.document.finished, timeout=20_000):
        assert window.open_path(str(HANDSHAKE))
    qtbot.wait_until(lambda: window.document.session.current == 0)  # the first is selected
    window.stage.speed.setValue(len(SPEED_STEPS) - 1)
    qtbot.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    assert window.predict.on


def ladder_text(window: MainWindow, tmp_path: Path) -> str:
    """What the ladder shows, as the SVG of the view drawn as on screen."""
    svg = tmp_path / "ladder.svg"
    window.stage.ladder_view.export_svg(str(svg))
    return svg.read_text()


def label(window: MainWindow, position: int) -> str:
    assert window.stage.ladder is not None
    return window.stage.ladder.arrows[position].label.split(" win=")[0]


def assert_hidden(window: MainWindow, position: int, tmp_path: Path) -> None:
    """Packet ``position`` of the ladder (store index = position here) is not shown anywhere."""
    stage, session = window.stage, window.document.session
    assert stage.playback.index == position - 1
    assert session.current == position - 1
    assert label(window, position) not in ladder_text(window, tmp_path)
    if position:
        assert label(window, position - 1) in ladder_text(window, tmp_path)
    assert not window.docks["packets"].isVisible() and not stage.timeline.isVisible()
    title = stage.explanation.title.text()
    assert f"Packet {position + 1}:" not in title
    if position == 0:                   # nothing shown yet: the details are empty
        assert window.detail.nodes() == []


def test_right_wrong_skip_and_nothing_shows_early(qtbot, window: MainWindow,
                                                  tmp_path: Path) -> None:
    open_and_predict(qtbot, window)
    box, stage, doc = window.predict.box, window.stage, window.document
    assert window.predict.dock.isVisible()
    assert stage.ladder_view.future_mode() == "hidden"
    # frame 1 is asked about: even the selected first packet went away
    assert box.question is not None and (box.question.frame, box.question.field) == (1, "flags")
    assert_hidden(window, 0, tmp_path)
    # the playback keys do nothing while a question is open
    for key in (Qt.Key.Key_Right, Qt.Key.Key_Space, Qt.Key.Key_End, Qt.Key.Key_D):
        qtbot.keyClick(stage.ladder_view, key)
    assert_hidden(window, 0, tmp_path)
    # right: flags by choice number, seq by value (a SYN has no ack to ask)
    type_answer(qtbot, window, "1")
    assert box.question is not None and box.question.field == "seq"
    assert_hidden(window, 0, tmp_path)
    type_answer(qtbot, window, "0")
    qtbot.wait_until(lambda: doc.session.current == 0, timeout=10_000)   # revealed: it flies
    assert "Right: SYN" in box.feedback.text() and "Right: 0" in box.feedback.text()
    assert box.score_label.text() == "Score 2 of 2"
    # Enter: the next packet, hidden until answered
    qtbot.keyClick(box.entry, Qt.Key.Key_Return)
    assert box.question is not None and box.question.frame == 2
    assert_hidden(window, 1, tmp_path)
    assert "Packet 1:" in stage.explanation.title.text()   # the last one revealed
    type_answer(qtbot, window, "?")                        # a hint
    assert box.feedback.text().startswith("Hint: ")
    type_answer(qtbot, window, "ack")                      # wrong
    assert "Wrong: you said ACK, it is SYN,ACK" in box.feedback.text()
    assert_hidden(window, 1, tmp_path)
    qtbot.mouseClick(box.skip_button, Qt.MouseButton.LeftButton)   # skip the seq
    assert_hidden(window, 1, tmp_path)
    type_answer(qtbot, window, "1")                        # the ack: right
    qtbot.wait_until(lambda: doc.session.current == 1, timeout=10_000)
    assert "Skipped: it is 0" in box.feedback.text()
    assert box.score_label.text() == "Score 3 of 5"
    # off: the view comes back
    qtbot.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    assert not window.predict.on and window.docks["packets"].isVisible()
    assert stage.ladder_view.future_mode() == "faint" and stage.btn_play.isEnabled()


def test_the_end_lists_what_was_missed(qtbot, window: MainWindow) -> None:
    window.predict.ask_fields = ("len",)
    open_and_predict(qtbot, window)
    box, doc = window.predict.box, window.document
    for position in range(14):
        assert box.question is not None and box.question.frame == position + 1
        type_answer(qtbot, window, "64" if position == 3 else "")   # one right, the rest skipped
        qtbot.wait_until(lambda p=position: doc.session.current == p, timeout=10_000)
        qtbot.keyClick(box.entry, Qt.Key.Key_Return)
    assert "The end. score: 1/14" in box.prompt.text()
    assert "Missed 13 of 14" in box.feedback.text()
    assert "frame 14 len: 0 (skipped)" in box.feedback.text()


def test_the_answer_box_says_what_to_do_in_full_on_a_small_screen(
        qtbot, window: MainWindow) -> None:
    window.resize(1366, 768)
    open_and_predict(qtbot, window)
    entry = window.predict.box.entry
    qtbot.wait_until(entry.isVisible)
    qtbot.wait(10)   # the pane's layout
    text_width = entry.fontMetrics().horizontalAdvance(entry.placeholderText())
    assert text_width < entry.contentsRect().width() - 8   # the frame's and text margins
