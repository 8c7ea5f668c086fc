"""A live capture into the GUI (issue 8, target 3): 10,000 packets/s for 60 s,
zero capture loss, no event-loop stall over 100 ms.

    sudo .venv/bin/python tests/benchmarks/live_view.py [--seconds S] [--rate R]
        [--view document|window|both]

Needs root (or CAP_NET_RAW) and a C compiler (the sender, blast.c). Runs
offscreen. The sender sends R (default 10,000) 64-byte UDP datagrams a
second for S (default 60) seconds to a port that the capture filters on;
the capture runs as the GUI runs it, ``Document.start_capture("lo",
"udp port N", spool)``, either on a bare Document (``document``) or in a
shown ``MainWindow`` whose views all follow the capture (``window``; the
default runs both, one after the other).

Printed: datagrams sent, packets in the document when the capture has
stopped, in the spool file, the kernel's drop counter, and the longest gap
between the ticks of a 10 ms timer during the capture.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from benchlib import (
    StallMeter,
    blast_program,
    close_modal_dialogs,
    free_port,
    machine,
    open_view,
    print_table,
    start_blast,
    verdict,
)
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication

from visualizer.core.pcap.reader import CaptureFile

STALL_MS = 100.0
SETTLE_S = 1.0     # after the sender ends: the last ring block, the last poll


@dataclass
class Result:
    view: str
    sent: int = 0
    count: int = 0                    # packets in the document once the capture stopped
    spooled: int = 0                  # records in the spool file
    received: int = 0                 # the capture process's last report
    dropped: int = 0                  # the kernel's drop counter, as the capture reports it
    stall_ms: float = 0.0
    stall: str = ""
    message: str = ""
    dialogs: list[str] = field(default_factory=list)


def run(app: QApplication, exe: str, view: str, home: str, rate: float,
        seconds: float) -> Result:
    port = free_port()
    spool = os.path.join(home, f"live-{view}.pcap")
    window, doc = open_view(app, view, home)
    result = Result(view)
    meter = StallMeter(10)
    guard = close_modal_dialogs(result.dialogs)
    sender: subprocess.Popen[str] | None = None

    def on_stats(received: int, dropped: int) -> None:
        result.received, result.dropped = received, dropped

    def wait_ready() -> None:
        nonlocal sender
        if doc.session.store is None:  # the capture process is not ready yet
            if doc.busy:
                QTimer.singleShot(20, wait_ready)
            return
        sender = start_blast(exe, "udp", port, rate, seconds)
        meter.start()
        QTimer.singleShot(100, wait_sender)

    def wait_sender() -> None:
        assert sender is not None
        if sender.poll() is None:
            QTimer.singleShot(100, wait_sender)
            return
        QTimer.singleShot(int(SETTLE_S * 1000), doc.stop)

    def on_finished(message: str) -> None:
        meter.stop()
        result.message = message
        result.count = doc.session.count
        QTimer.singleShot(0, app.quit)

    doc.capture_stats.connect(on_stats)
    doc.finished.connect(on_finished)
    doc.start_capture("lo", f"udp port {port}", spool)
    QTimer.singleShot(0, wait_ready)
    QTimer.singleShot(int((seconds + 120) * 1000), app.quit)  # never hang
    app.exec()
    if sender is None:
        raise RuntimeError(f"the capture did not start: {result.message}")
    if sender.poll() is None:
        sender.kill()
    out, err = sender.communicate()
    if sender.returncode != 0:
        raise RuntimeError(f"the sender failed: {err.strip()}")
    result.sent = int(json.loads(out)["sent"])
    result.stall_ms, result.stall = meter.longest_ms, meter.summary()
    guard.stop()
    doc.close()
    if window is not None:
        window.hide()
        window.deleteLater()
    else:
        doc.deleteLater()
    app.processEvents()
    with CaptureFile.open(spool) as cap:
        result.spooled = sum(1 for _ in cap.frames())
    os.unlink(spool)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=10_000.0)
    parser.add_argument("--view", choices=("document", "window", "both"), default="both")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("note: not root; capture needs CAP_NET_RAW", file=sys.stderr)
    views = ["document", "window"] if args.view == "both" else [args.view]
    with blast_program() as exe, tempfile.TemporaryDirectory(prefix="bench-live-") as home:
        os.environ["XDG_DATA_HOME"] = os.path.join(home, "data")
        os.environ["XDG_CONFIG_HOME"] = os.path.join(home, "config")
        from visualizer.gui.app import make_app

        app = make_app()
        print(machine())
        results = []
        for view in views:
            results.append(run(app, exe, view, home, args.rate, args.seconds))
            print(f"after {view}: {machine()}")
    rows = []
    for r in results:
        lost = r.sent - r.count
        rows.append(["Document only" if r.view == "document" else "MainWindow",
                     f"{r.sent:,}", f"{r.count:,}", f"{r.spooled:,}", f"{r.dropped:,}",
                     f"{lost:,}", r.stall, verdict(lost == 0 and r.dropped == 0),
                     verdict(r.stall_ms <= STALL_MS)])
        if r.message or r.dialogs:
            print(f"{r.view}: finished with {r.message!r}, dialogs {r.dialogs}",
                  file=sys.stderr)
    print_table(f"Live capture of {args.rate:,.0f} UDP datagrams/s for {args.seconds:g} s "
                "(offscreen)",
                ["view", "sent", "in the document", "in the spool", "kernel drops", "lost",
                 "longest stall", "zero loss", f"stall ≤ {STALL_MS:g} ms"], rows)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as err:
        sys.exit(f"live_view: {err}")
