"""Pre-binned packet times for drawing a timeline zoomed out.

A timeline at full zoom over a million packets has a few thousand pixel
columns and, on screen, the few rows whose labels fit. Drawing it from the
packets costs a pass over all of them for every pan. :class:`TimeBins` keeps,
for the packets of one kind, which time bins each conversation has a packet
in, at bin widths of ``BASE_S * 4**level``: one number per occupied
(conversation, bin), sorted by conversation and then by bin. Drawing then
reads, for each conversation on screen, its bins in the visible range: the
cost is capped by rows times pixel columns, whatever the number of packets.
This is what pyqtgraph's downsampling does for lines, for ticks.

A level is built when first asked for, from the nearest finer level that is
kept (coarsening is one linear pass, the codes stay sorted; the finer level
first takes in the packets appended since it was made) or else from the
packets (one sort); it then follows appended packets with a merge of the new
ones. A level that does not make the data at least ``MIN_GAIN`` times smaller
is not worth reading, nor is any finer one: that is remembered until the
packets have doubled (a SYN scan, one packet per conversation, is drawn from
its packets after one try). At most ``KEPT`` levels are kept, so the memory
stays a few bytes a packet at worst.
"""

from __future__ import annotations

import math

import numpy as np

BASE_S = 1e-6          # level 0's bin width
LEVEL_STEP = 4         # each level's bins are this many times wider
BIN_BITS = 36          # a code is key << BIN_BITS | (bin + BIN_OFFSET)
BIN_OFFSET = 1 << (BIN_BITS - 1)
BIN_MASK = (1 << BIN_BITS) - 1
MAX_KEY = (1 << (63 - BIN_BITS)) - 1
MIN_GAIN = 4
KEPT = 3


def level_for(seconds_per_pixel: float) -> int:
    """The coarsest level whose bins are at most half a pixel wide (-1: none is)."""
    if not seconds_per_pixel > 0 or not math.isfinite(seconds_per_pixel):
        return -1
    ratio = seconds_per_pixel / 2 / BASE_S
    if ratio < 1:
        return -1
    return math.floor(math.log(ratio, LEVEL_STEP) + 1e-9)


def bin_width(level: int) -> float:
    return float(BASE_S * LEVEL_STEP ** level)


def _codes(times: np.ndarray, keys: np.ndarray, level: int) -> np.ndarray | None:
    """Sorted unique codes of packets (``times`` in seconds); None when a bin
    index or a key does not fit in a code."""
    if not len(times):
        return np.empty(0, dtype=np.int64)
    bins = np.floor(times / bin_width(level))
    if (max(-float(bins.min()), float(bins.max())) >= BIN_OFFSET
            or int(keys.min()) < 0 or int(keys.max()) > MAX_KEY):
        return None
    codes = keys.astype(np.int64) << BIN_BITS
    codes |= bins.astype(np.int64) + BIN_OFFSET
    codes.sort()
    return _distinct(codes)


def _coarsen(codes: np.ndarray, by_levels: int) -> np.ndarray:
    """The codes of a level ``by_levels`` coarser: stays sorted, so deduplicating
    is a comparison of neighbours."""
    shift = 2 * by_levels  # LEVEL_STEP == 4: two bits a level
    bins = (codes & BIN_MASK) - BIN_OFFSET
    coarse = (codes >> BIN_BITS) << BIN_BITS
    coarse |= (bins >> shift) + BIN_OFFSET
    return _distinct(coarse)


def _merge(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Two sorted unique code arrays as one (timsort merges the two runs)."""
    return _distinct(np.sort(np.concatenate([old, new]), kind="stable"))


def _distinct(ordered: np.ndarray) -> np.ndarray:
    """A sorted array without its repeats: np.unique hashes, which costs ten
    times a sort on a million codes."""
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def distinct(values: np.ndarray) -> np.ndarray:
    """``values`` sorted, without repeats."""
    return _distinct(np.sort(values))


class TimeBins:
    """The binned levels of one kind's packets (see the module docstring).

    The caller owns the packets, sorted by time, and passes them in each call:
    ``times`` in seconds and ``keys`` (conversation keys, non-negative) of the
    same length. It calls :meth:`reset` when it drops packets and
    :meth:`reordered_from` when it reorders some; appending needs nothing.
    """

    def __init__(self) -> None:
        # level -> (codes, packets in them), least recently used first
        self._levels: dict[int, tuple[np.ndarray, int]] = {}
        self._useless = (-1, 0)   # levels up to this one are useless, until twice these packets

    def reset(self) -> None:
        self._levels.clear()
        self._useless = (-1, 0)

    def reordered_from(self, index: int) -> None:
        """The packets from ``index`` on were put in another order (new ones sorted
        in among them). A level's codes are a set: those of its first packets
        still are, so each level takes in the packets from ``index`` again when
        next asked for, rather than being made anew."""
        self._levels = {level: (codes, min(count, index))
                        for level, (codes, count) in self._levels.items()}

    def codes(self, level: int, times: np.ndarray, keys: np.ndarray) -> np.ndarray | None:
        """Level ``level``'s codes over all the packets given; None when reading
        the packets themselves is as cheap."""
        count = len(times)
        if level < 0 or (level <= self._useless[0] and count < 2 * self._useless[1]):
            return None
        if any(n > count for _, n in self._levels.values()):   # packets went away
            self.reset()                                       # unannounced
        kept = self._levels.get(level)
        codes = (self._build(level, times, keys) if kept is None
                 else _brought_up(kept, level, times, keys))
        if codes is None or len(codes) * MIN_GAIN > max(count, 1):
            for finer in [lv for lv in self._levels if lv <= level]:
                del self._levels[finer]
            self._useless = (max(level, self._useless[0]), count)
            return None
        self._keep(level, codes, count)
        return codes

    def _build(self, level: int, times: np.ndarray, keys: np.ndarray) -> np.ndarray | None:
        """From the nearest finer level kept, brought up to the packets given
        first when it has fewer (a loading window zooms out as the capture
        grows: a sort of every packet at each new level was 20-50 ms a
        million), else from the packets."""
        count = len(times)
        finer = [lv for lv, (_, n) in self._levels.items() if lv < level and n <= count]
        if finer:
            source = max(finer)
            codes = _brought_up(self._levels[source], source, times, keys)
            if codes is not None:
                self._levels[source] = (codes, count)
                return _coarsen(codes, level - source)
        return _codes(times, keys, level)

    def _keep(self, level: int, codes: np.ndarray, count: int) -> None:
        self._levels.pop(level, None)        # to the end: the most recently used
        self._levels[level] = (codes, count)
        while len(self._levels) > KEPT:
            del self._levels[next(iter(self._levels))]


def _brought_up(kept: tuple[np.ndarray, int], level: int, times: np.ndarray,
                keys: np.ndarray) -> np.ndarray | None:
    """A kept level's codes (of its first packets) with those of the packets
    given since merged in; None when those do not fit in codes (``_codes``)."""
    codes, n = kept
    if n == len(times):
        return codes
    tail = _codes(times[n:], keys[n:], level)
    return None if tail is None else _merge(codes, tail)


def visible(codes: np.ndarray, level: int, keys: np.ndarray,
            start: float, stop: float) -> tuple[np.ndarray, np.ndarray]:
    """The occupied bins of conversations ``keys`` (sorted) that meet the time
    range [start, stop]: their centres in seconds and their keys."""
    width = bin_width(level)
    first = max(math.floor(start / width), -BIN_OFFSET) + BIN_OFFSET
    last = min(math.floor(stop / width), BIN_OFFSET - 1) + BIN_OFFSET
    base = keys.astype(np.int64) << BIN_BITS
    lo = np.searchsorted(codes, base + first, side="left")
    hi = np.searchsorted(codes, base + last, side="right")
    counts = hi - lo
    total = int(counts.sum())
    if not total:
        return np.empty(0, dtype=np.float64), np.empty(0, dtype=np.int64)
    ends = np.cumsum(counts)
    index = np.repeat(lo - (ends - counts), counts) + np.arange(total)
    chosen = codes[index]
    centres = ((chosen & BIN_MASK) - BIN_OFFSET).astype(np.float64)
    centres += 0.5
    centres *= width
    return centres, chosen >> BIN_BITS
