"""A million packets: ``visualizer analyze --stats`` against tshark (issue 8, target 2).

    .venv/bin/python tests/benchmarks/analyze_1m.py [--pcap FILE] [--packets N] [--keep]

Without ``--pcap``, generates the mixed TCP + UDP pcap of
tests/benchmarks/make_pcap.py in /tmp and deletes it afterwards. Each
command runs once, as a child process of its own, under GNU time for its
peak resident memory; the file is in the page cache for both (it was just
written or read). Targets: faster than ``tshark -r FILE -q -z conv,tcp``,
peak memory ≤ 0.3× tshark's. The TCP conversation counts of the two
outputs are compared, so that both did the same work.
"""

from __future__ import annotations

import argparse
import re
import sys

from benchlib import (
    VISUALIZER,
    add_pcap_options,
    big_pcap,
    machine,
    measure,
    print_table,
    ratio,
    require,
    verdict,
)

MEMORY_TARGET = 0.3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_pcap_options(parser)
    args = parser.parse_args()
    require("tshark")
    with big_pcap(args.pcap, args.packets, args.keep) as path:
        with open(path, "rb") as f:  # into the page cache, for both alike
            while f.read(1 << 24):
                pass
        print(machine())
        ours = measure([*VISUALIZER, "analyze", path, "--stats"])
        theirs = measure(["tshark", "-r", path, "-q", "-z", "conv,tcp"])
        print(f"after: {machine()}")
    for name, run in (("visualizer", ours), ("tshark", theirs)):
        if run.returncode != 0:
            sys.exit(f"{name} failed ({run.returncode}): {run.stderr.strip()[-500:]}")
    ours_streams = _our_tcp_streams(ours.stdout)
    theirs_streams = sum(1 for line in theirs.stdout.splitlines() if "<->" in line)
    print_table(
        f"Conversation summary of {path} (TCP streams: visualizer {ours_streams:,}, "
        f"tshark {theirs_streams:,})",
        ["", "visualizer analyze --stats", "tshark -q -z conv,tcp", "ratio", "target",
         "result"],
        [["wall", f"{ours.seconds:.2f} s", f"{theirs.seconds:.2f} s",
          ratio(ours.seconds, theirs.seconds), "< 1×",
          verdict(ours.seconds < theirs.seconds)],
         ["peak RSS", f"{ours.peak_rss_mb:,.0f} MB", f"{theirs.peak_rss_mb:,.0f} MB",
          ratio(ours.peak_rss_mb, theirs.peak_rss_mb), f"≤ {MEMORY_TARGET}×",
          verdict(ours.peak_rss_mb <= MEMORY_TARGET * theirs.peak_rss_mb)]])
    if ours_streams != theirs_streams:
        print(f"warning: the TCP stream counts differ ({ours_streams} against "
              f"{theirs_streams})", file=sys.stderr)
    return 0


def _our_tcp_streams(text: str) -> int:
    match = re.search(r"([\d,]+) TCP streams", text)
    return int(match.group(1).replace(",", "")) if match else -1


if __name__ == "__main__":
    sys.exit(main())
