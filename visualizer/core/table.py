"""Named, append-only columns with numpy copies on demand.

The PacketStore and the Analysis both keep one entry per packet in typed
``array.array`` columns (cheap to append to, a few bytes an entry) and hand
them out three ways: the live column for per-packet loops, a cached numpy
copy of a whole column, or a numpy copy of a slice.
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Iterator
from typing import Any

import numpy as np


class ColumnTable:
    """Columns named and typed by ``types`` (name -> ``array`` typecode)."""

    def __init__(self, types: dict[str, str]) -> None:
        self._cols: dict[str, array[Any]] = {n: array(t) for n, t in types.items()}
        self._np_cache: dict[str, np.ndarray] = {}
        self._groups: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._scanned: dict[str, np.ndarray] = {}   # the column copy last scanned

    def column(self, name: str) -> np.ndarray:
        """A numpy copy of one column (cached until the column grows).

        The cache checks the length rather than trusting a clear: a loader
        thread may append while another thread reads (DESIGN: the GUI loads
        in the background), and a copy taken mid-append must not stick.
        """
        col = self._cols[name]
        arr = self._np_cache.get(name)
        if arr is None or len(arr) != len(col):
            arr = np.frombuffer(col.tobytes(), dtype=np.dtype(col.typecode))
            self._np_cache[name] = arr
        return arr

    def column_slice(self, name: str, start: int, stop: int) -> np.ndarray:
        """Entries ``start:stop`` of a column as numpy, copying only those.

        For views that take a growing capture a batch at a time: ``column``
        copies the whole column each time it has grown.
        """
        col = self._cols[name]
        return np.frombuffer(col[start:stop].tobytes(), dtype=np.dtype(col.typecode))

    def rows_of(self, name: str, value: int) -> np.ndarray:
        """The rows (ascending) whose column ``name`` holds ``value``.

        The column is sorted once (until it grows) and each lookup is a binary
        search: asking for each of 200,000 streams' rows in turn would
        otherwise scan the whole column 200,000 times. But the first lookup
        since the column grew scans it: a window that has just loaded a file
        asks once for the ladder's stream, and a scan of a million rows takes
        a millisecond or two where the sort takes thirty; the second sorts.
        """
        col = self.column(name)
        group = self._groups.get(name)
        if (group is None or group[0] is not col) and self._scanned.get(name) is not col:
            self._scanned[name] = col
            return np.flatnonzero(col == col.dtype.type(value))
        _, order, keys = self._group(name)
        key = keys.dtype.type(value)   # a Python int would make numpy convert all the keys
        lo, hi = keys.searchsorted(key, "left"), keys.searchsorted(key, "right")
        return order[lo:hi]

    def rows_of_each(self, name: str, stop: int) -> Iterator[np.ndarray]:
        """``rows_of(name, v)`` for each ``v`` in ``range(stop)``, in turn.

        One search for all the values' bounds rather than two per value: for
        the 200,000 one-packet streams of a SYN scan, the lookups were a fifth
        of the ladders' time.
        """
        _, order, keys = self._group(name)
        bounds = keys.searchsorted(np.arange(stop + 1, dtype=keys.dtype), "left").tolist()
        for lo, hi in itertools.pairwise(bounds):
            yield order[lo:hi]

    def _group(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(the column, the order that sorts it, the sorted column), cached."""
        col = self.column(name)
        group = self._groups.get(name)
        if group is None or group[0] is not col:
            order = np.argsort(col, kind="stable")
            group = (col, order, col[order])
            self._groups[name] = group
        return group

    def values(self, name: str) -> array[Any]:
        """The live column itself: indexing gives plain ints, cheaply.

        For per-packet loops, where numpy's per-element access costs more;
        read it, never change it.
        """
        return self._cols[name]

    def forget_copies(self) -> None:
        """Drop the cached numpy copies (after appending, or to free memory)."""
        self._np_cache.clear()
        self._groups.clear()
        self._scanned.clear()
