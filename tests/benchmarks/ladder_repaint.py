"""Time LadderView repaints of a 10^4-arrow ladder (budget: 16 ms, one frame at 60 Hz).

    python tests/benchmarks/ladder_repaint.py [--arrows N] [--repaints R] [--size WxH]

The ladder is a bulk transfer (handshake, data with an ACK every second
segment, a few retransmissions, close), built directly as a model, no
capture file needed. Each case scrolls to the middle, plays the cursor
there and repaints R times; the median and the worst are printed. The
cases: the default zoom, the smallest zoom (the most arrows on screen),
and the cursor moving one frame of an animation per repaint.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PyQt6.QtWidgets import QApplication

from visualizer.core.describe.kinds import ACK_K, DATA_K, FIN_K, PROBLEM_K, SYN_K, SYNACK_K
from visualizer.core.ladder.build import Arrow, Ladder, Lane
from visualizer.core.ladder.scene import ZOOM_MIN
from visualizer.core.playback.timescale import positions
from visualizer.core.tcp.states import TcpState
from visualizer.gui.ladder_view import LadderView

T0 = 1_700_000_000 * 10**9


def bulk_ladder(n: int) -> Ladder:
    """A client/server ladder of ``n`` arrows, with state changes at both ends."""
    lanes = [Lane(bytes([10, 0, 0, 1]), 40000, "client"), Lane(bytes([10, 0, 0, 2]), 80,
                                                              "server")]
    arrows = [
        Arrow(0, T0, 0, 1, "SYN seq=0 len=0 win=64240", (), {0: (TcpState.SYN_SENT,)}, SYN_K,
              "MSS=1460 SACK_PERM TS=1/0 WS=7"),
        Arrow(1, T0 + 40_000, 1, 0, "SYN,ACK seq=0 ack=1 len=0 win=65160", (),
              {1: (TcpState.SYN_RECEIVED,), 0: (TcpState.ESTABLISHED,)}, SYNACK_K,
              "MSS=1460 SACK_PERM TS=2/1 WS=7"),
        Arrow(2, T0 + 80_000, 0, 1, "ACK seq=1 ack=1 len=0 win=502", (),
              {1: (TcpState.ESTABLISHED,)}, ACK_K, "TS=3/2"),
    ]
    seq = ack = 1
    ts = T0 + 80_000
    for i in range(3, n - 3):
        ts += 20_000 + (i * 7919) % 60_000
        if i % 3:
            problem = i % 997 == 0
            label = f"PSH,ACK seq={seq} ack=1 len=1448 win=502"
            arrows.append(Arrow(i, ts, 1, 0, label, ("retransmission",) if problem else (),
                                {}, PROBLEM_K if problem else DATA_K, f"TS={i}/{i - 1}"))
            seq += 1448
        else:
            ack = seq
            arrows.append(Arrow(i, ts, 0, 1, f"ACK seq=1 ack={ack} len=0 win=1024", (), {},
                                ACK_K, f"TS={i}/{i - 1}"))
    closing: list[tuple[int, int, str, dict[int, tuple[TcpState, ...]]]] = [
        (0, 1, "FIN,ACK", {0: (TcpState.FIN_WAIT_1,), 1: (TcpState.CLOSE_WAIT,)}),
        (1, 0, "FIN,ACK", {1: (TcpState.LAST_ACK,), 0: (TcpState.FIN_WAIT_2, TcpState.TIME_WAIT)}),
        (0, 1, "ACK", {1: (TcpState.CLOSED,)})]
    for k, (src, dst, flags, transitions) in enumerate(closing):
        ts += 30_000
        arrows.append(Arrow(n - 3 + k, ts, src, dst, f"{flags} seq=1 ack={seq} len=0 win=502",
                            (), transitions, FIN_K if "FIN" in flags else ACK_K))
    return Ladder("TCP stream 0", lanes, {0: TcpState.CLOSED, 1: TcpState.LISTEN}, arrows)


def measure(view: LadderView, repaints: int, *, animate: bool = False) -> list[float]:
    """Milliseconds per synchronous viewport repaint."""
    ladder = view.ladder()
    assert ladder is not None
    middle = len(ladder.arrows) // 2
    view.set_cursor(middle, 0.5)
    view.ensure_visible(middle)
    app = QApplication.instance()
    assert app is not None
    app.processEvents()
    times = []
    for k in range(repaints):
        if animate:
            view.set_cursor(middle + k // 30, (k % 30) / 30)
        start = time.perf_counter()
        view.viewport().repaint()  # type: ignore[union-attr]
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arrows", type=int, default=10_000)
    parser.add_argument("--repaints", type=int, default=60)
    parser.add_argument("--size", default="1000x700")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    app = QApplication([])
    view = LadderView()
    view.resize(width, height)
    view.show()
    ladder = bulk_ladder(args.arrows)
    started = time.perf_counter()
    view.set_ladder(ladder, positions(ladder.timestamps(), "order"))
    print(f"set_ladder with {len(ladder.arrows)} arrows: "
          f"{(time.perf_counter() - started) * 1000:.1f} ms", file=sys.stderr)
    cases = [("order scale, zoom 1", "order", 1.0, False),
             ("order scale, zoom 1, animating", "order", 1.0, True),
             ("log scale, zoom 1", "log", 1.0, False),
             (f"order scale, smallest zoom ({ZOOM_MIN})", "order", ZOOM_MIN, False)]
    worst_median = 0.0
    for name, scale, zoom, animate in cases:
        view.set_ladder(ladder, positions(ladder.timestamps(), scale))
        view.set_zoom(zoom)
        times = measure(view, args.repaints, animate=animate)
        median = statistics.median(times)
        worst_median = max(worst_median, median)
        print(f"{name:42s} median {median:6.2f} ms  max {max(times):6.2f} ms  "
              f"({len(view.drawn_arrows())} arrows drawn)")
    view.close()
    del app
    verdict = "within" if worst_median <= 16 else "OVER"
    print(f"worst median {worst_median:.2f} ms: {verdict} the 16 ms budget")
    return 0 if worst_median <= 16 else 1


if __name__ == "__main__":
    sys.exit(main())
