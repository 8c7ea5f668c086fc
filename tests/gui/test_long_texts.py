"""No text the window shows may make the window wider than the screen.

A label's minimum width is its text's width unless it wraps or is told
otherwise, and a main window grows to fit its widgets' minimum sizes. In
ndpi_ip_fragmented_garbage (real-world corpus) a datagram of 312 fragments was
explained with all its frame numbers in the title, and stepping through the
capture made the window 10,841 pixels wide, for good (and every later
screenshot 40 MiB).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REAL_CORPUS
from documents import open_in_window

pytestmark = pytest.mark.corpus

FRAGMENTED = REAL_CORPUS / "ndpi_ip_fragmented_garbage.pcap"


def test_stepping_through_a_capture_keeps_the_window_its_size(
        qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    window = open_in_window(qtbot, tmp_path, FRAGMENTED, monkeypatch)
    qtbot.waitExposed(window)
    title = window.stage.explanation.title
    for index in range(window.document.session.count):   # as a user stepping with Right
        window.document.set_current(index)
        qtbot.wait(2)   # the layout's requests
        assert window.width() == 1366, (index, title.toolTip())
        assert title.width() < window.width()
