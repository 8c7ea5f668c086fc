"""The desktop application's entry point.

The window itself (packet table, ladder animation, timeline) is the next
piece of work; until it lands, starting the GUI says so and points to the
commands that already work, rather than opening an empty window.
"""

from __future__ import annotations

import sys


def run_gui(file: str | None, *, screenshot: str | None = None, select: int | None = None) -> int:
    del screenshot, select  # used once the window exists
    print("Packet Visualizer: the desktop window is not built yet. What works today:\n"
          "  visualizer scenarios                          list the built-in scenarios\n"
          "  visualizer record tcp-handshake -o hs.pcapng  capture one (needs CAP_NET_RAW)\n"
          "  visualizer analyze FILE | ladder FILE         see what happened\n"
          "  visualizer export FILE -o OUT --stream N      cut out one conversation\n"
          + (f"For {file}, try: visualizer ladder {file}\n" if file else ""),
          file=sys.stderr)
    return 0
