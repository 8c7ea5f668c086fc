"""Count what a test may leave behind: open file descriptors.

Garbage from earlier tests (a store nobody closed) can be collected in the
middle of the next one and close a descriptor there, so the count collects
garbage first: a test that compares two counts then sees only its own doing.
"""

from __future__ import annotations

import gc
import os


def open_fds() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))
