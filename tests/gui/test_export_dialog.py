"""File > Export: the annotate option writes each packet's explanation as a comment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PyQt6.QtCore import QSettings

from visualizer.core.capture.privileges import check_capture
from visualizer.core.decode.store import PacketStore
from visualizer.core.export import packet_comments
from visualizer.core.flows.analysis import analyze
from visualizer.core.pcap.reader import CaptureFile
from visualizer.gui.export_dialog import ExportDialog
from visualizer.gui.mainwindow import MainWindow

SAMPLES = Path(__file__).parents[2] / "resources" / "samples"
HANDSHAKE = SAMPLES / "tcp-handshake.pcapng"


@pytest.fixture
def dialog(qtbot, tmp_path: Path) -> ExportDialog:
    widget = ExportDialog(None, directory=str(tmp_path), total=14, conversation=None,
                          conversation_count=0, selected=0)
    qtbot.addWidget(widget)
    return widget


def test_annotate_is_offered_for_pcapng_only(dialog: ExportDialog) -> None:
    assert dialog.chosen_format() == "pcapng"
    assert dialog.annotate_box.isEnabled() and not dialog.annotate()
    dialog.annotate_box.setChecked(True)
    assert dialog.annotate()
    dialog.format.setCurrentIndex(dialog.format.findData("pcap"))
    assert not dialog.annotate_box.isEnabled()
    assert not dialog.annotate()   # still ticked, but pcap has no comments
    assert dialog.path.text().endswith(".pcap")
    assert "pcapng" in dialog.annotate_box.toolTip()
    dialog.format.setCurrentIndex(dialog.format.findData("pcapng"))
    assert dialog.annotate()


@pytest.fixture
def window(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MainWindow]:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings, permission=check_capture())
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    with qtbot.wait_signal(win.document.finished, timeout=20_000):
        assert win.open_path(str(HANDSHAKE))
    yield win
    win.document.close()


def expected() -> dict[int, str]:
    store = PacketStore.from_file(str(HANDSHAKE))
    try:
        return packet_comments(analyze(store), range(len(store)))
    finally:
        store.close()


@pytest.mark.parametrize("annotate", [True, False])
def test_export_dialog_writes_the_explanations_when_asked(
        window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        annotate: bool) -> None:
    out = tmp_path / "class.pcapng"

    def answer(self: ExportDialog) -> int:   # the user ticks the box and saves
        self.path.setText(str(out))
        self.annotate_box.setChecked(annotate)
        return 1

    monkeypatch.setattr(ExportDialog, "exec", answer)
    window.export_dialog()
    with CaptureFile.open(str(out)) as cap:
        comments = [r.comment for r in cap.frames()]
    if annotate:
        assert comments == [text for _, text in sorted(expected().items())]
    else:
        assert comments == [None] * 14
