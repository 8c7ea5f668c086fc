"""Ctrl-C in the terminal that started the window closes it the proper way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from signals import default_sigint


def _sockets(pid: int) -> int:
    count = 0
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:")
        except OSError:
            continue
    return count


def test_ctrl_c_closes_the_window_and_saves_its_layout(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_CONFIG_HOME=str(tmp_path / "config"))
    proc = subprocess.Popen([sys.executable, "-m", "visualizer", "gui"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)
    try:
        # The window is up once its wake-up socket pair exists.
        deadline = time.monotonic() + 30
        while _sockets(proc.pid) < 2 and proc.poll() is None:
            assert time.monotonic() < deadline, "the window never set up its Ctrl-C handler"
            time.sleep(0.05)
        time.sleep(0.5)  # idle: no Python code is running in the event loop
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "interrupted" not in err
    # closeEvent ran: the layout was saved, and nothing was logged as a crash
    (conf,) = (tmp_path / "config").rglob("*.conf")
    assert "geometry" in conf.read_text()
    log = tmp_path / "data" / "packet-visualizer" / "crash.log"
    assert not log.exists() or "uncaught" not in log.read_text()
