"""The window loads a big capture while its GUI thread is kept as busy as a
restless user would keep it: a stress run for thread safety, not a timing.

    .venv/bin/python tests/benchmarks/gui_stress.py [--pcap FILE] [--packets N]
        [--mix bulk|short|scan] [--runs N] [--seed N]

Each run is a child process: the ``MainWindow`` offscreen (as
``gui_first_rows.py`` shows it) opens the file, and every 2 ms, on the GUI
thread, a timer makes a random packet below the shown count the current one
(the explanation, the details, the ladder and the timeline follow it) and now
and then picks a random TCP conversation or clears the choice, while the
loader thread decodes and analyses the rest. The run ends 0.6 s after the
load finishes. A crash (the child dies of a signal) is printed with the tail
of its stderr, which holds ``faulthandler``'s traceback of every thread.

This found the heap overflow in the compiled ``TcpStreamTable.summaries()``
(docs/architecture.md, the compiled tracker's *Threads*): the compiled build
of that time died within a minute in every run. ``PV_INTERPRETED=1`` in the
environment runs the interpreted modules instead.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from benchlib import add_pcap_options, big_pcap, machine, print_table

TIMEOUT_S = 900.0

CHILD = r"""
import faulthandler, os, random, sys, tempfile, time
faulthandler.enable()
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from benchlib import close_modal_dialogs, open_view
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication
from visualizer.core.compiled import status

path, seed, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
app = QApplication(sys.argv[:1])
with tempfile.TemporaryDirectory(prefix="gui-stress-") as settings:
    window, doc = open_view(app, "window", settings)
    dialogs = []
    guard = close_modal_dialogs(dialogs)
    rng = random.Random(seed)
    jumps, finished, count = 0, [None], 0

    def poke():
        global jumps
        session = doc.session
        count = session.count
        if count:
            doc.set_current(rng.randrange(count))
            jumps += 1
            roll = rng.random()
            if roll < 0.05 and session.analysis is not None:
                streams = session.analysis.values("stream")
                stream = streams[rng.randrange(min(count, len(streams)))]
                if stream >= 0:
                    doc.set_conversation(("tcp", int(stream)))
            elif roll < 0.1:
                doc.set_conversation(None)
        if finished[0] is not None and time.monotonic() - finished[0] > 0.6:
            app.quit()

    timer = QTimer()
    timer.timeout.connect(poke)
    timer.start(2)
    def on_finished(message):
        global count
        finished[0], count = time.monotonic(), doc.session.count

    doc.finished.connect(on_finished)
    QTimer.singleShot(int(limit * 1000), app.quit)
    start = time.monotonic()
    window.open_path(path)
    app.exec()
    elapsed = time.monotonic() - start
    guard.stop()
    doc.close()
    window.hide()
    window.deleteLater()
    app.processEvents()
print(status()["compiled"], "finished" if finished[0] else "cut off", f"{elapsed:.1f}",
      jumps, count)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_pcap_options(parser)
    parser.add_argument("--mix", default="short", choices=("bulk", "short", "scan"),
                        help="make_pcap.py's mix when generating (default short)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [here, os.path.dirname(os.path.dirname(here)), os.environ.get("PYTHONPATH", "")]))
    rows: list[list[object]] = []
    print(machine())
    with big_pcap(args.pcap, args.packets, args.keep, args.mix) as path:
        for run in range(args.runs):
            seed = args.seed + run
            begun = time.perf_counter()
            child = subprocess.run([sys.executable, "-c", CHILD, path, str(seed), str(TIMEOUT_S)],
                                   env=env, capture_output=True, text=True,
                                   timeout=TIMEOUT_S + 120)
            wall = time.perf_counter() - begun
            if child.returncode == 0 and child.stdout.split():
                compiled, how, elapsed, jumps, count = child.stdout.split()[-5:]
                rows.append([run + 1, seed, compiled, f"{how} in {elapsed} s",
                             f"{int(count):,}", f"{int(jumps):,}", "survived"])
                continue
            died = (f"signal {signal.Signals(-child.returncode).name}" if child.returncode < 0
                    else f"exit {child.returncode}")
            rows.append([run + 1, seed, "?", f"{wall:.1f} s", "", "", f"CRASHED ({died})"])
            print(f"run {run + 1}: {died}; the end of its stderr:\n"
                  + "\n".join(child.stderr.splitlines()[-30:]), file=sys.stderr)
    print(f"after: {machine()}")
    print_table(f"The window loading {os.path.basename(path)} while its GUI thread jumps "
                "to random packets",
                ["run", "seed", "compiled", "load", "packets", "jumps", "result"], rows)
    return 0 if all(row[-1] == "survived" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
