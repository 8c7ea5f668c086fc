"""Issue 19: the full analysis and the summary against tshark, on several mixes.

    .venv/bin/python tests/benchmarks/analysis_vs_tshark.py [--packets N]
        [--mixes bulk,short,scan] [--pcap FILE] [--keep] [--also-interpreted]

For each mix of tests/benchmarks/make_pcap.py (``bulk``: long transfers,
``short``: 20-packet connections, 50,000 in a million packets; ``scan``: one
SYN per connection), one run of each command, each a child process under GNU
time, the file in the page cache for all:

- per-packet analysis: ``visualizer analyze F --json`` against
  ``tshark -r F -T fields -e frame.number -e tcp.stream -e tcp.seq -e tcp.ack
  -e tcp.len -e tcp.analysis.flags`` (target: ≤ 0.33× tshark's time), both
  writing to a file in /tmp (removed); their line counts are compared;
- summary: ``visualizer analyze F --stats`` against ``tshark -r F -q -z
  conv,tcp`` (target: ≤ 0.3×); their TCP conversation counts are compared.

With ``--also-interpreted`` each of our commands runs a second time with
``PV_INTERPRETED=1`` (the analysis modules from their source, not the ones mypyc
compiled: core/compiled.py), next to the same tshark run.

The machine is shared: the ratios of one run are what count, with the load
average printed before and after. CPU time (user + system) is printed too: it
suffers less from other processes than wall time does.
"""

from __future__ import annotations

import argparse
import os
import re
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

JSON_TARGET = 0.33
STATS_TARGET = 0.3
FIELDS = ["-T", "fields", "-e", "frame.number", "-e", "tcp.stream", "-e", "tcp.seq",
          "-e", "tcp.ack", "-e", "tcp.len", "-e", "tcp.analysis.flags"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_pcap_options(parser)
    parser.add_argument("--mixes", default="bulk,short",
                        help="make_pcap.py mixes to generate, comma-separated (default "
                        "bulk,short; ignored with --pcap)")
    parser.add_argument("--also-interpreted", action="store_true",
                        help="run ours also with PV_INTERPRETED=1 (the modules mypyc "
                        "compiled, from their source), in the same run")
    args = parser.parse_args()
    require("tshark")
    rows = over_mixes(args, "bulk",
                      lambda mix, path: _compare(mix, path, args.also_interpreted))
    print_table(
        f"Analysis against tshark, {args.packets:,} packets a mix (ratios: ours / tshark's)",
        ["mix", "work", "visualizer wall (CPU)", "tshark wall (CPU)", "ratio wall",
         "ratio CPU", "peak RSS ours / tshark", "target", "result"], rows)
    return 0


def _compare(mix: str, path: str, also_interpreted: bool) -> list[list[object]]:
    rows: list[list[object]] = []
    compiled_env = {k: v for k, v in os.environ.items() if k != "PV_INTERPRETED"}
    modes = [("", compiled_env),
             (", interpreted", dict(os.environ, PV_INTERPRETED="1"))]
    modes = modes if also_interpreted else modes[:1]
    with tempfile.TemporaryDirectory(prefix="bench-19-") as tmp:
        ours_out, theirs_out = os.path.join(tmp, "ours.jsonl"), os.path.join(tmp, "tshark.txt")
        theirs = _ok("tshark", measure(["tshark", "-r", path, *FIELDS], stdout_path=theirs_out))
        for label, env in modes:
            ours = _ok("visualizer", measure([*VISUALIZER, "analyze", path, "--json"],
                                             env=env, stdout_path=ours_out))
            lines = (_lines(ours_out), _lines(theirs_out))
            if lines[0] != lines[1]:
                print(f"warning: {mix}: {lines[0]} JSON lines against {lines[1]} tshark lines",
                      file=sys.stderr)
            rows.append(_row(mix, f"per packet ({lines[0]:,} lines{label})", ours, theirs,
                             JSON_TARGET))
    theirs = _ok("tshark", measure(["tshark", "-r", path, "-q", "-z", "conv,tcp"]))
    for label, env in modes:
        ours = _ok("visualizer", measure([*VISUALIZER, "analyze", path, "--stats"], env=env))
        streams = (_our_tcp_streams(ours.stdout),
                   sum(1 for line in theirs.stdout.splitlines() if "<->" in line))
        if streams[0] != streams[1]:
            print(f"warning: {mix}: {streams[0]} TCP streams against tshark's {streams[1]}",
                  file=sys.stderr)
        rows.append(_row(mix, f"summary ({streams[0]:,} TCP streams{label})", ours, theirs,
                         STATS_TARGET))
    return rows


def _row(mix: str, work: str, o: Run, t: Run, target: float) -> list[object]:
    return [mix, work, f"{o.seconds:.2f} s ({o.cpu_seconds:.2f} s)",
            f"{t.seconds:.2f} s ({t.cpu_seconds:.2f} s)", ratio(o.seconds, t.seconds),
            ratio(o.cpu_seconds, t.cpu_seconds),
            f"{o.peak_rss_mb:,.0f} / {t.peak_rss_mb:,.0f} MB", f"≤ {target}×",
            verdict(o.seconds <= target * t.seconds)]


def _ok(name: str, run: Run) -> Run:
    if run.returncode != 0:
        sys.exit(f"{name} failed ({run.returncode}): {run.stderr.strip()[-500:]}")
    return run


def _lines(path: str) -> int:
    with open(path, "rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 24), b""))


def _our_tcp_streams(text: str) -> int:
    match = re.search(r"([\d,]+) TCP streams", text)
    return int(match.group(1).replace(",", "")) if match else -1


if __name__ == "__main__":
    sys.exit(main())
