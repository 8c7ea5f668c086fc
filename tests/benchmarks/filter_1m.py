"""A million packets through the display filter, against ``tshark -Y`` (issue 17).

    .venv/bin/python tests/benchmarks/filter_1m.py [--pcap FILE] [--packets N] [--keep]
        [--runs 5]

Without ``--pcap``, generates the mixed TCP + UDP pcap of
tests/benchmarks/make_pcap.py in /tmp and deletes it afterwards. The file
is opened once (``Session.load``: decoding and the full analysis, timed on
its own), then each expression is evaluated over the loaded columns
``--runs`` times (the median is shown: the filter bar's cost once a capture
is open). tshark has no such split: ``tshark -r FILE -Y EXPR -T fields -e
frame.number`` reads, dissects and filters the file, once per expression.
The matching frame numbers of the two are compared.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from benchlib import ROOT, add_pcap_options, big_pcap, machine, measure, print_table, require

sys.path.insert(0, str(ROOT))
from visualizer.core.filter.evaluate import DisplayFilter
from visualizer.core.session import Session

TARGET_S = 0.5   # "well under a second" for a million packets
EXPRESSIONS = [
    "tcp.analysis.retransmission && tcp.stream == 3",
    "tcp.port == 80 || udp.port in {53, 5000..6000}",
    "ip.addr == 10.0.0.0/8 && tcp.len > 1000",
    "tcp.flags.syn == 1 && !tcp.flags.ack == 1",
    "ip.ttl < 64",
    'frame contains "GET"',
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_pcap_options(parser)
    parser.add_argument("--runs", type=int, default=5, help="evaluations of each expression")
    args = parser.parse_args()
    require("tshark")
    with big_pcap(args.pcap, args.packets, args.keep) as path:
        print(machine())
        start = time.perf_counter()
        session = Session.load(path)
        loaded = time.perf_counter() - start
        assert session.store is not None
        rows = []
        for expression in EXPRESSIONS:
            display_filter = DisplayFilter(expression)
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                found = display_filter.indices(session.store, session.analysis)
                times.append(time.perf_counter() - start)
            ours = statistics.median(times)
            theirs = measure(["tshark", "-r", path, "-Y", expression, "-T", "fields",
                              "-e", "frame.number"])
            if theirs.returncode != 0:
                sys.exit(f"tshark failed: {theirs.stderr.strip()[-500:]}")
            same = (found + 1).tolist() == [int(n) for n in theirs.stdout.split()]
            rows.append([expression, f"{len(found):,}", f"{ours * 1000:,.0f} ms",
                         f"{theirs.seconds:.1f} s", "yes" if same else "NO",
                         "met" if ours < TARGET_S else "missed"])
        packets = len(session.store)
        session.close()
        print(f"after: {machine()}")
    print_table(f"Display filter over {packets:,} packets of {path} (loading them: "
                f"{loaded:.1f} s, once)",
                ["expression", "matches", "visualizer (median)", "tshark -Y", "same frames",
                 f"< {TARGET_S} s"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
