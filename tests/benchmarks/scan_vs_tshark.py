"""Issue 20, item 16: many small conversations (a SYN scan) against tshark.

    .venv/bin/python tests/benchmarks/scan_vs_tshark.py [--packets N]
        [--mixes scan,short] [--pcap FILE] [--keep]

For each mix of tests/benchmarks/make_pcap.py (default ``scan``: one SYN per
TCP stream, 200,000 streams in 200,000 packets; ``short``: 20-packet
connections), one run of each command, each a child process under GNU time,
the file in the page cache for all, ours and tshark's one after the other:

- ``visualizer ladder F`` against tshark's own flow graph,
  ``tshark -r F -q -z flow,tcp,network`` (target: no slower, no more memory);
- ``visualizer analyze F`` against ``tshark -r F -T fields -e tcp.stream``;
- the window: ``visualizer gui F --screenshot PNG`` (offscreen) against the
  flow graph again, the nearest thing tshark does to opening the file in a
  window with its conversations listed.

Outputs go to files in /tmp (removed). The machine is shared: the ratios of
one run are what count, with the load average printed before and after; CPU
time (user + system) is printed too, as it suffers less from other processes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from benchlib import (
    VISUALIZER,
    Run,
    add_pcap_options,
    measure,
    over_mixes,
    print_table,
    ratio,
    require,
    verdict,
)

FLOW = ["-q", "-z", "flow,tcp,network"]
STREAMS = ["-T", "fields", "-e", "tcp.stream"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_pcap_options(parser)
    parser.set_defaults(packets=200_000)
    parser.add_argument("--mixes", default="scan",
                        help="make_pcap.py mixes to generate, comma-separated (default "
                        "scan; ignored with --pcap)")
    parser.add_argument("--no-gui", action="store_true", help="leave the window out")
    args = parser.parse_args()
    require("tshark")
    rows = over_mixes(args, "scan", lambda mix, path: _compare(mix, path, gui=not args.no_gui))
    print_table(
        f"Many conversations against tshark, {args.packets:,} packets a mix "
        "(ratios: ours / tshark's)",
        ["mix", "ours", "tshark", "visualizer wall (CPU)", "tshark wall (CPU)",
         "ratio wall", "ratio CPU", "peak RSS ours / tshark", "no slower, no bigger"], rows)
    return 0


def _compare(mix: str, path: str, *, gui: bool) -> list[list[object]]:
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        out = os.path.join(tmp, "out.txt")
        flow = _ok("tshark", measure(["tshark", "-r", path, *FLOW], stdout_path=out))
        ladder = _ok("visualizer", measure([*VISUALIZER, "ladder", path], stdout_path=out))
        rows.append(_row(mix, "ladder", "-z flow,tcp,network", ladder, flow))
        streams = _ok("tshark", measure(["tshark", "-r", path, *STREAMS], stdout_path=out))
        analyze = _ok("visualizer", measure([*VISUALIZER, "analyze", path], stdout_path=out))
        rows.append(_row(mix, "analyze", "-T fields -e tcp.stream", analyze, streams))
        if gui:
            env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
            window = _ok("visualizer", measure(
                [*VISUALIZER, "gui", path, "--screenshot", os.path.join(tmp, "gui.png")],
                env=env))
            rows.append(_row(mix, "gui --screenshot", "-z flow,tcp,network", window, flow))
    return rows


def _row(mix: str, ours: str, theirs: str, o: Run, t: Run) -> list[object]:
    return [mix, ours, theirs, f"{o.seconds:.2f} s ({o.cpu_seconds:.2f} s)",
            f"{t.seconds:.2f} s ({t.cpu_seconds:.2f} s)", ratio(o.seconds, t.seconds),
            ratio(o.cpu_seconds, t.cpu_seconds),
            f"{o.peak_rss_mb:,.0f} / {t.peak_rss_mb:,.0f} MB",
            verdict(o.seconds <= t.seconds and o.peak_rss_mb <= t.peak_rss_mb)]


def _ok(name: str, run: Run) -> Run:
    if run.returncode != 0:
        sys.exit(f"{name} failed ({run.returncode}): {run.stderr.strip()[-500:]}")
    return run


if __name__ == "__main__":
    sys.exit(main())
