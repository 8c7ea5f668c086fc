"""Header bytes the store does not keep, read back from the capture for many
packets at once (the display filter's ``eth.src``, ``ip.ttl``, ``contains``...).

The frames lie in the file in frame order, so one pass reads it in large
blocks (``BLOCK``) and takes what each packet needs from the block that
holds it, with numpy gathers: a million packets cost one read of the file,
not a million reads.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from visualizer.core.decode.store import PacketStore

BLOCK = 16 * 1024 * 1024


def _blocks(store: PacketStore, first: np.ndarray, last: np.ndarray, pad: int = 0
            ) -> Iterator[tuple[np.ndarray, int, bytes]]:
    """(row numbers into ``first``, block start, block bytes): blocks of the file
    that each hold bytes ``first[r]:last[r]`` of their rows whole, and ``pad``
    bytes more (zeros past the end of the file). ``first`` must be ascending."""
    n, i = len(first), 0
    read = store.capture.read
    while i < n:
        start = int(first[i])
        stop = max(start + BLOCK, int(last[i]))
        # the rows whose bytes end inside [start, stop)
        j = i + int(np.searchsorted(np.maximum.accumulate(last[i:]), stop, side="right"))
        j = max(j, i + 1)
        stop = max(stop, int(last[i:j].max()))
        data = read(start, stop - start + pad)
        if len(data) < stop - start + pad:
            data += bytes(stop - start + pad - len(data))
        yield np.arange(i, j), start, data
        i = j


def gather(store: PacketStore, rows: np.ndarray, at: np.ndarray, width: int) -> np.ndarray:
    """Bytes ``at[k]:at[k]+width`` of each frame ``rows[k]`` (rows ascending) as a
    (len(rows), width) uint8 array; bytes past a frame's captured end are 0."""
    out = np.zeros((len(rows), width), np.uint8)
    if not len(rows):
        return out
    offset = store.column("offset")[rows]
    caplen = store.column("caplen")[rows].astype(np.int64)
    first = offset + at
    for part, start, data in _blocks(store, first, first, pad=width):
        buf = np.frombuffer(data, np.uint8)   # padded: every window is whole
        windows = np.lib.stride_tricks.sliding_window_view(buf, width)
        out[part] = windows[first[part] - start]
    beyond = np.arange(width) >= (caplen - at)[:, None]    # past the captured bytes
    out[beyond] = 0
    return out


def contains(store: PacketStore, rows: np.ndarray, start: np.ndarray, stop: np.ndarray,
             needle: bytes) -> np.ndarray:
    """Per row: do bytes ``start:stop`` of frame ``rows[k]`` (cut at its captured
    end) contain ``needle``?"""
    found = np.zeros(len(rows), bool)
    if not len(rows):
        return found
    offset = store.column("offset")[rows]
    stop = np.minimum(stop, store.column("caplen")[rows].astype(np.int64))
    keep = stop - start >= len(needle)
    first, last = offset + start, offset + stop
    for part, base, data in _blocks(store, first, last):
        for k, a, b in zip(part[keep[part]].tolist(), (first[part][keep[part]] - base).tolist(),
                           (last[part][keep[part]] - base).tolist(), strict=True):
            found[k] = data.find(needle, a, b) >= 0
    return found
