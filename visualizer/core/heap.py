"""Freed big arrays go back to the system at once (glibc's malloc).

glibc serves a block of at least its mmap threshold with a mapping of its
own, unmapped when freed. The threshold starts at 128 KiB, but every such
block freed raises it to that block's size (up to 32 MiB), so after a few
frees the megabyte-sized numpy arrays a loading window makes and drops every
batch come from the heap, which keeps what it frees. Loading 2×10^6 packets
in the window, the peak resident memory was then 618 MB; with the threshold
fixed at 1 MiB it is 519 MB, in the same time. Only processes that make the QApplication
(``gui/app.py``'s ``make_app``: the window, and ``export --animate``'s
raster video) do this; ``analyze`` and the other commands keep glibc's
default: there the page faults of new mappings cost 0.6 s of system time a
million packets, for memory they do not need.
"""

from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3   # glibc's malloc.h
THRESHOLD = 1 << 20


def map_big_blocks(threshold: int = THRESHOLD) -> bool:
    """Fix the mmap threshold at ``threshold`` bytes; False where the C library
    has no ``mallopt`` or refuses (musl, macOS: nothing changes)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt   # the C library this process runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, threshold) == 1
