"""core/heap.py: with the mmap threshold fixed, freed megabyte blocks leave the
process at once; with glibc's default they stay (the window's loading pattern:
big arrays made and dropped between small ones that live on)."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHILD = """
import sys
import numpy as np
from visualizer.core.heap import map_big_blocks

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

if sys.argv[1] == "fixed" and not map_big_blocks():
    print("unsupported")   # not glibc: no mallopt(M_MMAP_THRESHOLD)
    sys.exit()
freed = np.ones(16 << 20, np.uint8)   # glibc's default threshold rises to this size
del freed
base = rss()
blocks, kept = [], []
for _ in range(60):
    blocks.append(np.ones(2 << 20, np.uint8))   # 2 MiB, every page touched
    kept.append(np.ones(1024))                  # 8 KiB that stays
del blocks
print((rss() - base) >> 20)
"""


def retained_mib(mode: str) -> str:
    """In a child process, so that this one's allocator stays as it was."""
    return subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True,
                          timeout=60, check=True).stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_freed_big_blocks_leave_the_process_once_the_threshold_is_fixed() -> None:
    fixed = retained_mib("fixed")
    if fixed == "unsupported":
        pytest.skip("this C library has no mallopt(M_MMAP_THRESHOLD) (not glibc)")
    assert int(retained_mib("default")) >= 100   # 120 MiB freed, none of it returned
    assert int(fixed) <= 10
