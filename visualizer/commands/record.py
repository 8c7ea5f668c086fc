"""``visualizer record``: run a scenario with capture on, write the recording."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from visualizer.core.errors import CaptureFailed
from visualizer.core.record import record


def record_command(scenario: str, output: str, params: Sequence[str], fmt: str,
                   interface: str) -> int:
    try:
        result = record(scenario, params, output, fmt=fmt, interface=interface)
    except CaptureFailed as err:  # the output is written only after a capture succeeds
        raise CaptureFailed(f"{err}: nothing was written, and any earlier {output} is "
                            "unchanged") from None
    stats = result.stats
    print(f"wrote {result.path}: {result.packets} packets of {scenario}, "
          f"{len(result.run.calls)} socket calls "
          f"(capture received {stats.received}, dropped {stats.dropped})", file=sys.stderr)
    if stats.dropped:
        print(f"visualizer: warning: the kernel dropped {stats.dropped} packets; the "
              "recording is incomplete", file=sys.stderr)
    if result.run.error is not None:
        print(f"visualizer: the scenario failed: {result.run.error} "
              f"(the packets captured so far are in {result.path})", file=sys.stderr)
        return result.run.error.exit_code
    return 0
