"""How fast the timeline repaints with a million packets (issue 19: 8 ms, half a frame).

    python tests/benchmarks/timeline_repaint.py [--packets N] [--pcap FILE] [--keep]

Generates a mixed TCP + UDP capture with make_pcap.py in a temporary
directory (about 390 bytes a packet) unless ``--pcap`` names one, analyses
it, shows a 1000x350 Timeline offscreen, and prints medians of:

- set_analysis(): building the rows and markers from the analysis;
- the first repaint at full zoom, which builds the time bins it draws from
  (core/timebins.py);
- a repaint at full zoom and zoomed in to 1 % of the capture, each after a
  one-pixel pan, so the markers are rasterised again every time (the worst
  case while the user drags or zooms), with the median time spent
  rasterising the ticks beside it (the rest is pyqtgraph's axes and Qt);
- a repaint at full zoom with the view unchanged (the playhead moves during
  playback; the marker image is reused);
- extend() by 1,000 packets, as a live capture appends them.

This is a script, not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from PyQt6.QtWidgets import QApplication

from visualizer.core.decode.store import PacketStore
from visualizer.core.flows.analysis import Analysis
from visualizer.gui.timeline import Timeline

ROUNDS = 30
TARGET_MS = 8.0   # issue 19: half a 60 Hz frame


def median_ms(action: Callable[[int], object], rounds: int = ROUNDS) -> float:
    times = []
    for i in range(rounds):
        start = time.perf_counter()
        action(i)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(path: str) -> None:
    app = QApplication.instance() or QApplication([])
    start = time.perf_counter()
    store = PacketStore.from_file(path)
    analysis = Analysis(store).run()
    n = len(store)
    print(f"{n} packets, {len(analysis.tcp.connections)} TCP streams, "
          f"{len(analysis.udp_flows)} UDP flows; loading + analysis "
          f"{time.perf_counter() - start:.1f} s")

    widget = Timeline()
    widget.resize(1000, 350)
    widget.show()
    app.processEvents()
    start = time.perf_counter()
    widget.set_analysis(analysis, n)
    print(f"set_analysis:                       {(time.perf_counter() - start) * 1000:8.1f} ms")
    app.processEvents()
    viewport = widget.plot.viewport()
    vb = widget.plot.getPlotItem().getViewBox()
    assert viewport is not None
    widget.fit()
    (x0, x1), _ = vb.viewRange()
    pixel = (x1 - x0) / viewport.width()

    def panned(lo: float, hi: float) -> Callable[[int], object]:
        def step(i: int) -> None:
            shift = pixel * (1 + i % 2)  # never the range painted before
            vb.setXRange(lo + shift, hi + shift, padding=0)
            viewport.repaint()
        return step

    renders: list[float] = []
    render = widget.markers._render

    def counted(*args: object) -> object:  # proof that a pan really re-rasterises
        start = time.perf_counter()
        image = render(*args)  # type: ignore[arg-type]
        renders.append((time.perf_counter() - start) * 1000)
        return image

    widget.markers._render = counted  # type: ignore[method-assign, assignment]
    for bins in widget.markers._bins:  # as after loading: no time bins yet
        bins.reset()
    start = time.perf_counter()
    viewport.repaint()
    print(f"first repaint (builds time bins):   {(time.perf_counter() - start) * 1000:8.1f} ms")
    renders.clear()
    full = median_ms(panned(x0, x1))
    assert len(renders) == ROUNDS, f"{len(renders)} rasterisations for {ROUNDS} pans"
    print(f"repaint, full zoom, after a pan:    {full:8.2f} ms "
          f"(rasterising {statistics.median(renders):.2f} ms); target ≤ {TARGET_MS:.0f} ms: "
          f"{'met' if full <= TARGET_MS else 'MISSED'}")
    def playhead_moved(i: int) -> None:
        widget.set_current(i * 1000)
        viewport.repaint()

    static = median_ms(playhead_moved)
    print(f"repaint, full zoom, playhead moved: {static:8.2f} ms")
    mid, span = (x0 + x1) / 2, (x1 - x0) / 100
    pixel = span / viewport.width()
    renders.clear()
    zoomed = median_ms(panned(mid, mid + span))
    print(f"repaint, zoomed to 1 %, after pan:  {zoomed:8.2f} ms "
          f"(rasterising {statistics.median(renders):.2f} ms)")

    widget.set_analysis(analysis, n - ROUNDS * 1000)
    app.processEvents()
    grow = median_ms(lambda i: widget.extend(n - (ROUNDS - 1 - i) * 1000))
    print(f"extend by 1,000 packets:            {grow:8.2f} ms")
    widget.close()
    store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--pcap", help="use this capture instead of generating one")
    parser.add_argument("--keep", action="store_true", help="keep the generated capture")
    args = parser.parse_args()
    if args.pcap:
        measure(args.pcap)
        return 0
    from make_pcap import generate  # tests/benchmarks, next to this script

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "timeline.pcap"
        with open(path, "wb") as out:
            generate(args.packets, out)
        measure(str(path))
        if args.keep:
            kept = Path(tempfile.gettempdir()) / "timeline-bench.pcap"
            path.replace(kept)
            print(f"kept {kept}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
