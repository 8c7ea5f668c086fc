"""Start-up times (issue 8, target 5): ``visualizer analyze`` of a small file
≤ 0.5 s, the GUI window shown ≤ 1.5 s after launch.

    .venv/bin/python tests/benchmarks/startup.py [--runs N] [--file F] [--importtime]

- analyze: ``python -m visualizer analyze F`` (default: the 14-packet
  resources/samples/tcp-handshake.pcapng) as a child process, wall time,
  median of N runs (default 5); reference ``tshark -r F`` the same way.
- GUI: ``python -m visualizer gui F`` with QT_QPA_PLATFORM=offscreen and a
  temporary settings and data directory. The app has no "shown" hook, so the
  child runs the real entry point with ``QApplication.exec`` wrapped, and
  notes when the event loop starts (``show()`` has returned), the first
  paint event of any widget (the target's "window shown"), the end of the
  first pass of the event loop, and the file loaded; then it quits. Times
  are from before the child is started, on the monotonic clock that both
  processes share.
- ``--importtime``: the slowest imports of the GUI start (``python -X
  importtime``), to see where the time goes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import SAMPLES, VISUALIZER, machine, print_table, ratio, require, verdict

ANALYZE_TARGET_S = 0.5
GUI_TARGET_S = 1.5

# Run in the child: the real ``visualizer gui`` with the event loop's start
# reported on stdout as "shown <t> loaded <t>" (time.monotonic()).
_GUI_CHILD = r"""
import sys, time
from PyQt6.QtCore import QEvent, QObject, QTimer
from PyQt6.QtWidgets import QApplication

_exec = QApplication.exec
marks = {}

class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and "painted" not in marks:
            marks["painted"] = time.monotonic()
        return False

def _report():
    print(" ".join(f"{k} {v}" for k, v in marks.items()), flush=True)
    QApplication.instance().removeEventFilter(filt)  # or it outlives Qt at exit
    QApplication.quit()

def _first_pass():
    app = QApplication.instance()
    app.processEvents()
    marks["first_pass"] = time.monotonic()
    windows = [w for w in app.topLevelWidgets() if w.isVisible() and w.isWindow()]
    marks["visible"] = len(windows)
    doc = next((w.document for w in windows if hasattr(w, "document")), None)
    if doc is None or not doc.busy:
        marks["loaded"] = marks["first_pass"]
        _report()
        return
    def loaded(_message):
        marks["loaded"] = time.monotonic()
        QTimer.singleShot(0, _report)
    doc.finished.connect(loaded)

filt = FirstPaint()

def exec_(*args):
    marks["exec"] = time.monotonic()
    QApplication.instance().installEventFilter(filt)
    QTimer.singleShot(0, _first_pass)
    QTimer.singleShot(30000, QApplication.quit)  # never hang the benchmark
    return _exec()

QApplication.exec = exec_
from visualizer.cli import main
sys.exit(main(["gui", sys.argv[1]]))
"""


def median_run(command: list[str], runs: int, env: dict[str, str] | None = None
               ) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def gui_env(home: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=os.path.join(home, "config"),
               XDG_DATA_HOME=os.path.join(home, "data"), XDG_CACHE_HOME=os.path.join(home,
                                                                                      "cache"))
    return env


def gui_launch(path: str, env: dict[str, str]) -> dict[str, float]:
    """Seconds from launch to: the event loop's start (the window's show()
    has returned), its first paint, the first pass of the event loop done,
    and the file loaded."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _GUI_CHILD, path], capture_output=True,
                          text=True, env=env, timeout=60, check=False)
    words = proc.stdout.split()
    marks = {k: float(v) for k, v in zip(words[::2], words[1::2], strict=False)}
    if proc.returncode != 0 or "loaded" not in marks:
        raise RuntimeError(f"the GUI did not start (exit {proc.returncode}): "
                           f"{(proc.stderr or proc.stdout).strip()[-800:]}")
    if marks["visible"] < 1 or "painted" not in marks:
        raise RuntimeError("the GUI's event loop ran but no window was visible or painted")
    return {k: v - start for k, v in marks.items() if k != "visible"}


def import_profile(path: str, env: dict[str, str], top: int = 15) -> None:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", _GUI_CHILD, path],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        rows.append((int(cumulative_us), int(self_us), name.rstrip()))
    rows.sort(reverse=True)
    print_table("Slowest imports of the GUI start (python -X importtime, one run)",
                ["module", "cumulative ms", "self ms"],
                [[name, f"{cum / 1000:.0f}", f"{own / 1000:.0f}"]
                 for cum, own, name in rows[:top]])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--file", default=str(SAMPLES / "tcp-handshake.pcapng"))
    parser.add_argument("--importtime", action="store_true")
    args = parser.parse_args()
    require("tshark")
    print(machine())
    ours, ours_all = median_run([*VISUALIZER, "analyze", args.file], args.runs)
    theirs, _ = median_run(["tshark", "-r", args.file], args.runs)
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as home:
        env = gui_env(home)
        gui_launch(args.file, env)  # a first start fills caches (fontconfig...) in ``home``
        launches = [gui_launch(args.file, env) for _ in range(args.runs)]
        if args.importtime:
            import_profile(args.file, env)
    print(f"after: {machine()}")

    def spread(values: list[float]) -> str:
        return f"{min(values):.2f}–{max(values):.2f} s"

    def gui_row(what: str, mark: str, target: bool) -> list[str]:
        values = [launch[mark] for launch in launches]
        median = statistics.median(values)
        return [f"visualizer gui: {what}", f"{median:.2f} s", spread(values), "", "",
                f"≤ {GUI_TARGET_S:g} s" if target else "",
                verdict(median <= GUI_TARGET_S) if target else ""]

    name = os.path.basename(args.file)
    print_table(
        f"Start-up, median of {args.runs} runs ({name}; GUI offscreen)",
        ["what", "ours", "range", "reference", "ratio", "target", "result"],
        [[f"visualizer analyze {name}", f"{ours:.2f} s", spread(ours_all),
          f"tshark -r: {theirs:.2f} s", ratio(ours, theirs), f"≤ {ANALYZE_TARGET_S:g} s",
          verdict(ours <= ANALYZE_TARGET_S)],
         gui_row("window shown, event loop starts", "exec", False),
         gui_row("window first painted", "painted", True),
         gui_row("first event-loop pass done", "first_pass", False),
         gui_row("file loaded", "loaded", False)])
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, subprocess.CalledProcessError) as err:
        sys.exit(f"startup: {err}")
