"""What the issue-8 benchmark scripts share: tables, machine notes, child
process timing, the big generated pcap, the compiled sender.

The benchmarks are scripts, not timed tests: a timed test fails on a busy
machine, while a script prints the figures next to the reference's from
the same run, so that both suffer the same load. Run them from the
repository root, e.g. ``.venv/bin/python tests/benchmarks/analyze_1m.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    from visualizer.gui.document import Document
    from visualizer.gui.mainwindow import MainWindow

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SAMPLES = ROOT / "resources" / "samples"

# Measure the package as installed: byte-compiled (.ci/setup does it too).
# Under PYTHONDONTWRITEBYTECODE each of our commands would otherwise compile
# its modules from source, 0.2 s a run that tshark does not pay.
subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "visualizer")],
               stdout=subprocess.DEVNULL, check=False)
VISUALIZER = [sys.executable, "-m", "visualizer"]
GNU_TIME = "/usr/bin/time"


# --------------------------------------------------------------------------
# Printing


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A Markdown table, so that docs/performance.md can take it as it is."""
    texts = [[str(c) for c in header]] + [[_cell(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in texts) for i in range(len(header))]
    print(f"\n{title}\n")
    for n, row in enumerate(texts):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print()


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 10 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}×" if theirs else "n/a"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def machine() -> str:
    """One line about the machine and how busy it was, for the figures' caption."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (f"{os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, "
            f"Python {platform.python_version()}; {load()}")


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


# --------------------------------------------------------------------------
# Child processes


@dataclass(frozen=True)
class Run:
    """A finished child process: its wall time and peak resident memory (and its
    CPU time, user + system, when GNU time reports it; else 0)."""

    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str
    cpu_seconds: float = 0.0


def measure(command: Sequence[str], *, env: dict[str, str] | None = None,
            stdout_path: str | None = None) -> Run:
    """Runs ``command`` to the end; wall time from here, peak RSS from GNU time
    (or getrusage of this child alone when GNU time is missing). ``stdout_path``:
    the output goes to that file rather than into memory (``Run.stdout`` is empty)."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        report = os.path.join(tmp, "time.txt")
        wrapped = [GNU_TIME, "-v", "-o", report, *command] if os.path.exists(GNU_TIME) \
            else list(command)
        before = _children_maxrss()
        start = time.perf_counter()
        with contextlib.ExitStack() as stack:
            sink = (stack.enter_context(open(stdout_path, "w")) if stdout_path
                    else subprocess.PIPE)
            proc = subprocess.run(wrapped, stdout=sink, stderr=subprocess.PIPE, text=True,
                                  env=env, check=False)
        seconds = time.perf_counter() - start
        cpu = 0.0
        if os.path.exists(report):
            text = Path(report).read_text()
            peak_kb = _gnu_time_rss(text)
            cpu = _gnu_time_cpu(text)
        else:  # RUSAGE_CHILDREN is the largest child so far: meaningful if it grew
            peak_kb = max(_children_maxrss(), before)
    return Run(seconds, peak_kb / 1024, proc.returncode, proc.stdout or "", proc.stderr,
               cpu)


def _gnu_time_cpu(text: str) -> float:
    return sum(float(line.rsplit(":", 1)[1]) for line in text.splitlines()
               if line.strip().startswith(("User time", "System time")))


def _gnu_time_rss(text: str) -> float:
    for line in text.splitlines():
        if "Maximum resident set size" in line:
            return float(line.rsplit(":", 1)[1])
    raise RuntimeError(f"no peak RSS in GNU time's report: {text[-300:]}")


def _children_maxrss() -> float:
    import resource

    return float(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def require(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        sys.exit(f"{program} is not installed: it is the reference this benchmark compares with")
    return path


# --------------------------------------------------------------------------
# The million-packet file


@contextlib.contextmanager
def big_pcap(path: str | None, packets: int, keep: bool, mix: str = "bulk") -> Iterator[str]:
    """``path`` if given (used as it is, never deleted); otherwise a generated
    pcap of ``packets`` packets in /tmp (make_pcap.py's ``mix``), deleted
    afterwards unless ``keep``."""
    if path:
        if not os.path.exists(path):
            sys.exit(f"{path}: no such file")
        yield path
        return
    sys.path.insert(0, str(HERE))
    from make_pcap import MIXES  # the benchmark generator, next to this file

    fd, tmp = tempfile.mkstemp(prefix="bench-1m-", suffix=".pcap")
    try:
        start = time.perf_counter()
        with os.fdopen(fd, "wb") as out:
            n = MIXES[mix](packets, out)
        size = os.path.getsize(tmp) / 1e6
        print(f"generated {tmp}: {n:,} packets, {size:,.0f} MB in "
              f"{time.perf_counter() - start:.0f} s", file=sys.stderr)
        yield tmp
    finally:
        if keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            os.unlink(tmp)


def over_mixes(args: argparse.Namespace, default: str,
               compare: Callable[[str, str], list[list[object]]]) -> list[list[object]]:
    """The rows of ``compare(mix, path)`` for each of ``args.mixes`` (comma-separated
    make_pcap.py mixes) or for ``args.pcap`` alone (as mix "file", made like
    ``default``); each file read into the page cache first, for ours and tshark's
    alike, and the machine's load said before and after."""
    mixes = ["file"] if args.pcap else args.mixes.split(",")
    rows: list[list[object]] = []
    print(machine())
    for mix in mixes:
        with big_pcap(args.pcap, args.packets, args.keep, default if mix == "file" else mix) \
                as path:
            with open(path, "rb") as f:
                while f.read(1 << 24):
                    pass
            rows += compare(mix, path)
            print(f"after {mix}: {machine()}", file=sys.stderr)
    print(f"after: {machine()}")
    return rows


def add_pcap_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pcap", help="use this pcap instead of generating one "
                        "(tests/benchmarks/make_pcap.py makes it)")
    parser.add_argument("--packets", type=int, default=1_000_000,
                        help="packets to generate (default 1,000,000)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the generated pcap and say where it is")


# --------------------------------------------------------------------------
# The C sender


@contextlib.contextmanager
def blast_program() -> Iterator[str]:
    """``blast.c`` compiled into a temporary directory (removed afterwards)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("no C compiler (cc): the capture benchmarks need one for their sender")
    with tempfile.TemporaryDirectory(prefix="bench-blast-") as tmp:
        exe = os.path.join(tmp, "blast")
        subprocess.run([cc, "-O2", "-o", exe, str(HERE / "blast.c")], check=True)
        yield exe


def blast(exe: str, protocol: str, port: int, rate: float, seconds: float,
          size: int = 64) -> dict[str, float]:
    """Runs the sender to the end; its JSON result (see blast.c)."""
    proc = subprocess.run([exe, protocol, str(port), str(rate), str(seconds), str(size)],
                          capture_output=True, text=True, check=False, timeout=seconds + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"the sender failed: {proc.stderr.strip()}")
    result: dict[str, float] = json.loads(proc.stdout)
    return result


def start_blast(exe: str, protocol: str, port: int, rate: float, seconds: float,
                size: int = 64) -> subprocess.Popen[str]:
    """The sender in the background; read its JSON line from ``stdout`` at the end."""
    return subprocess.Popen([exe, protocol, str(port), str(rate), str(seconds), str(size)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def free_port() -> int:
    """A TCP and UDP port nobody uses on 127.0.0.1 right now."""
    import socket

    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


# --------------------------------------------------------------------------
# The Qt event loop's stalls


class StallMeter:
    """A timer due every ``interval_ms``; the longest gap between two of its
    ticks is the longest time the event loop could not run (plus the interval).

    Created after the QApplication; Qt is imported only here.
    """

    def __init__(self, interval_ms: int = 10, over_ms: float = 100.0) -> None:
        from PyQt6.QtCore import Qt, QTimer

        self.interval_ms = interval_ms
        self.over_ms = over_ms
        self.ticks = 0
        self.longest_ms = 0.0
        self.longest_at = 0.0  # seconds since start()
        self.over = 0          # gaps longer than ``over_ms``
        self._start = self._last = 0.0
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._start = self._last = time.perf_counter()
        self.ticks, self.longest_ms, self.over = 0, 0.0, 0
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self._tick()

    def _tick(self) -> None:
        now = time.perf_counter()
        gap = (now - self._last) * 1000
        if gap > self.longest_ms:
            self.longest_ms, self.longest_at = gap, now - self._start
        if gap > self.over_ms:
            self.over += 1
        self._last = now
        self.ticks += 1

    def summary(self) -> str:
        return (f"{self.longest_ms:.0f} ms at {self.longest_at:.1f} s; "
                f"{self.over} over {self.over_ms:g} ms")


def close_modal_dialogs(log: list[str]) -> QTimer:
    """A timer that closes any modal dialog (a benchmark has nobody to click
    it), noting its text in ``log``. Keep the returned timer alive."""
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication, QMessageBox

    def check() -> None:
        widget = QApplication.activeModalWidget()
        if widget is None:
            return
        text = widget.text() if isinstance(widget, QMessageBox) else widget.windowTitle()
        log.append(text)
        widget.close()

    timer = QTimer()
    timer.setInterval(200)
    timer.timeout.connect(check)
    timer.start()
    return timer


def open_view(app: QApplication, view: str, settings_dir: str
              ) -> tuple[MainWindow | None, Document]:
    """(window or None, document): for ``view == "window"`` the main window as
    ``run_gui`` shows it (1440×900, start-up objects frozen), laid out and
    painted before the clock starts; otherwise a bare ``Document``."""
    from PyQt6.QtCore import QSettings

    if view != "window":
        from visualizer.gui.document import Document

        return None, Document()
    from visualizer.gui.app import freeze_startup_objects
    from visualizer.gui.mainwindow import MainWindow

    window = MainWindow(settings=QSettings(os.path.join(settings_dir, "bench.ini"),
                                           QSettings.Format.IniFormat))
    window.resize(1440, 900)
    window.show()
    freeze_startup_objects()
    for _ in range(20):
        app.processEvents()
        time.sleep(0.005)
    return window, window.document
