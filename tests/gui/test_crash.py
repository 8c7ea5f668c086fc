"""The crash handler: an exception in a slot is logged and shown, and the
window goes on; Qt's messages are logged, except the offscreen plugin's noise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
from PyQt6.QtCore import QTimer, qWarning
from PyQt6.QtWidgets import QApplication

from visualizer.gui import crash

app = QApplication([])
crash.install(show_dialog=lambda summary: print("dialog:", summary, flush=True))


def broken() -> None:
    raise ValueError("a slot failed")


qWarning("This plugin does not support propagateSizeHints()")
qWarning("a message worth keeping")
QTimer.singleShot(0, broken)
QTimer.singleShot(0, app.quit)
app.exec()
print("still running", flush=True)
"""


def test_an_exception_in_a_slot_is_logged_and_shown(tmp_path: Path) -> None:
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path), QT_QPA_PLATFORM="offscreen")
    script = tmp_path / "app.py"
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["dialog: ValueError: a slot failed", "still running"]
    log = (tmp_path / "packet-visualizer" / "crash.log").read_text()
    assert "uncaught exception" in log
    assert 'raise ValueError("a slot failed")' in log  # the whole traceback
    assert "Qt: a message worth keeping" in log
    assert "propagateSizeHints" not in log
