"""Export a million packets to pcap (issue 8, target 6: ≤ 2 s).

    .venv/bin/python tests/benchmarks/export_1m.py [--pcap FILE] [--packets N] [--keep]

Without ``--pcap``, generates the mixed pcap of tests/benchmarks/make_pcap.py
in /tmp and deletes it afterwards. Measured:

- the core call, ``export_packets(store, range(n), OUT, "pcap")``, on a
  store already loaded: the export itself (the target);
- ``visualizer export FILE -o OUT --format pcap`` end to end, which also
  opens and decodes the file;
- the reference, ``editcap -F nsecpcap FILE OUT`` (Wireshark's file
  rewriter; nanosecond pcap, like the input).

Exporting everything of a pcap to pcap must reproduce it byte for byte, so
each output is also compared with the input.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import sys
import tempfile
import time

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

from visualizer.core.decode.store import PacketStore
from visualizer.core.export import export_packets

TARGET_S = 2.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_pcap_options(parser)
    args = parser.parse_args()
    require("editcap")
    with big_pcap(args.pcap, args.packets, args.keep) as path, \
            tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        print(machine())
        out = os.path.join(tmp, "core.pcap")
        start = time.perf_counter()
        store = PacketStore.from_file(path)
        load_s = time.perf_counter() - start
        start = time.perf_counter()
        n = export_packets(store, range(len(store)), out, "pcap")
        core_s = time.perf_counter() - start
        store.close()
        core_same = filecmp.cmp(path, out, shallow=False)
        os.unlink(out)

        cli_out = os.path.join(tmp, "cli.pcap")
        cli = measure([*VISUALIZER, "export", path, "-o", cli_out, "--format", "pcap"])
        if cli.returncode != 0:
            sys.exit(f"visualizer export failed: {cli.stderr.strip()[-500:]}")
        cli_same = filecmp.cmp(path, cli_out, shallow=False)
        os.unlink(cli_out)

        ref_out = os.path.join(tmp, "editcap.pcap")
        ref = measure(["editcap", "-F", "nsecpcap", path, ref_out])
        if ref.returncode != 0:
            sys.exit(f"editcap failed: {ref.stderr.strip()[-500:]}")
        ref_same = filecmp.cmp(path, ref_out, shallow=False)
        os.unlink(ref_out)
        print(f"after: {machine()}")

    def same(flag: bool) -> str:
        return "identical" if flag else "DIFFERS"

    print_table(
        f"{n:,} packets to pcap",
        ["what", "wall", "editcap -F nsecpcap", "ratio", "peak RSS", "output", "target",
         "result"],
        [["export_packets() (store loaded)", f"{core_s:.2f} s", f"{ref.seconds:.2f} s",
          ratio(core_s, ref.seconds), "", same(core_same), f"≤ {TARGET_S:g} s",
          verdict(core_s <= TARGET_S)],
         ["visualizer export (load + export)", f"{cli.seconds:.2f} s", f"{ref.seconds:.2f} s",
          ratio(cli.seconds, ref.seconds), f"{cli.peak_rss_mb:,.0f} MB", same(cli_same), "",
          ""],
         ["  of which loading the store (in process)", f"{load_s:.2f} s", "", "", "", "", "",
          ""],
         ["editcap -F nsecpcap", f"{ref.seconds:.2f} s", "", "", f"{ref.peak_rss_mb:,.0f} MB",
          same(ref_same), "", ""]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
