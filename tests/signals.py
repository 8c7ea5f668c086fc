"""Make Ctrl-C reach a child as it would from a terminal.

A shell starts background jobs with SIGINT ignored, and Python keeps an
ignored SIGINT ignored: a child of a test suite launched that way (``cmd &``,
some CI runners) would never see the interrupt the test sends. Passing
``preexec_fn=default_sigint`` gives the child the terminal's behaviour.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_spools(data: Path, count: int = 1, size: int = 100_000) -> None:
    """Until ``count`` recording spools under XDG_DATA_HOME ``data`` hold ``size``
    bytes each: packets are being captured, so an interrupt now has some to keep.
    A fixed sleep is too short on a busy machine, where setting up takes seconds."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        spools = list((data / "packet-visualizer" / "spool").glob("record-*.pcap"))
        if len(spools) == count and all(s.stat().st_size > size for s in spools):
            return
        time.sleep(0.05)
    raise AssertionError(f"no {count} spools of {size} bytes after 60 s")
