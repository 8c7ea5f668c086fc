"""A crashed session loses no packet: the spool survives and is offered back."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QMessageBox

from visualizer.core.capture.privileges import check_capture
from visualizer.core.capture.spool import orphans
from visualizer.core.pcap.reader import CaptureFile
from visualizer.gui.mainwindow import MainWindow

# A GUI session reduced to what matters here: a Document capturing live into
# a spool, as the window does, printing how many packets it has shown.
SESSION = textwrap.dedent("""
    import os, sys
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication
    from visualizer.core.capture.spool import new_spool_path
    from visualizer.gui.document import Document
    app = QApplication([])
    doc = Document()
    doc.grown.connect(lambda n: print("shown", n, flush=True))
    spool = str(new_spool_path())
    print("spool", spool, flush=True)
    doc.start_capture("lo", sys.argv[1], spool)
    app.exec()
""")


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return [int(p) for p in out.split()]


@pytest.mark.capture
def test_killed_gui_leaves_a_complete_spool_that_is_recovered(
        qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        port = sink.getsockname()[1]
        session = subprocess.Popen([sys.executable, "-c", SESSION, f"udp port {port}"],
                                   stdout=subprocess.PIPE, text=True,
                                   env={**os.environ, "XDG_DATA_HOME": str(tmp_path)})
        try:
            assert session.stdout is not None
            spool = Path(session.stdout.readline().split(" ", 1)[1].strip())
            deadline = time.monotonic() + 20
            while not spool.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            capture_pids = _children(session.pid)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                for i in range(200):
                    sender.sendto(f"datagram {i}".encode(), ("127.0.0.1", port))
                    time.sleep(0.001)
            shown = 0
            while shown < 200 and time.monotonic() < deadline:
                line = session.stdout.readline()
                if line.startswith("shown"):
                    shown = int(line.split()[1])
            assert shown == 200, "the session showed every datagram before it died"
            session.send_signal(signal.SIGKILL)  # the GUI crashes
            session.wait()
        finally:
            if session.poll() is None:
                session.kill()
                session.wait()
            if session.stdout is not None:
                session.stdout.close()
        # the capture process notices its parent is gone and stops by itself
        deadline = time.monotonic() + 10
        while any(os.path.exists(f"/proc/{p}") for p in capture_pids) \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(os.path.exists(f"/proc/{p}") for p in capture_pids)
    with CaptureFile.open(str(spool)) as cap:
        assert len(list(cap.frames())) == 200 and not cap.warnings

    (orphan,) = orphans()
    assert orphan.path == spool
    answers: list[str] = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda _p, title, *a, **k: answers.append(title)
                        or QMessageBox.StandardButton.Yes)
    window = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                        permission=check_capture())
    qtbot.addWidget(window)
    with qtbot.wait_signal(window.document.finished, timeout=20_000):
        window.offer_recovery()
    assert answers == ["Recover capture"]
    assert window.document.session.count == 200
    assert orphans() == [], "a recovered spool is moved out of the spool directory"
    window.document.close()
