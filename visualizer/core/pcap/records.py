"""The one walk over a capture's packet records.

Every reader of packets goes through here: the CLI and the GUI loading a
file, the live follower of a spool that is still being written, and
``CaptureFile.frames()``. The walk hands out chunks of consecutive records
as numpy arrays, together with the file's bytes that hold their frames, so
that the store decodes a chunk at once (``decode/columns.py``).

Damage is handled here and only here: the walk stops at the first record it
cannot trust and says why in the capture's warnings. A growing file's last
record cut off at the end is not damage, only not complete yet: the walk
stops there quietly and goes on from it when asked again. Records with no
captured bytes are kept up to EMPTY_KEPT per file and only counted beyond
(a pcap header followed by 2 GiB of zeros, a sparse file that uses no
disk, is 134 million such records and no packet).

Classic pcap is walked by a tight loop over the record headers whose fields
are then gathered with numpy; pcapng comes block by block from the
capture's own block reader (``CaptureFile``), which knows its interfaces.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple, Protocol

import numpy as np

from visualizer.core.pcap.walk import record_starts

# Largest frame we accept in a pcap record; libpcap's own limit is 256 KiB,
# but some writers use bigger snaplens (USB, D-Bus), so allow 16 MiB before
# calling a record corrupt.
MAX_FRAME = 16 * 1024 * 1024
MIN_BLOCK = 64 * 1024        # bytes read at once, at least (pcap)
MAX_SPAN = 64 * 1024 * 1024  # a pcapng chunk's frames lie within this many bytes
EMPTY_KEPT = 1000            # records with no captured bytes kept, per file


class FrameRecord(NamedTuple):
    """Where one frame lies in the file and how it was stamped."""

    ts_ns: int          # Unix epoch nanoseconds
    caplen: int         # bytes present in the file
    origlen: int        # bytes on the wire
    linktype: int
    offset: int         # of the frame's first byte in the file
    interface: int      # pcapng interface id (0 for pcap)
    comment: str | None


class FrameChunk(NamedTuple):
    """Consecutive records as arrays (one entry per frame), with their bytes."""

    ts_ns: np.ndarray       # int64
    caplen: np.ndarray      # int64
    origlen: np.ndarray     # int64
    offset: np.ndarray      # int64, of the frame's first byte in the file
    linktype: np.ndarray    # int64
    interface: np.ndarray   # int64
    comments: list[tuple[int, str]]  # (index within the chunk, pcapng comment)
    data: bytes | memoryview  # the file's bytes from ``base`` on: every frame of the chunk
    base: int

    def records(self) -> Iterator[FrameRecord]:
        comments = dict(self.comments)
        for k, (ts, caplen, origlen, linktype, offset, interface) in enumerate(zip(
                self.ts_ns.tolist(), self.caplen.tolist(), self.origlen.tolist(),
                self.linktype.tolist(), self.offset.tolist(), self.interface.tolist(),
                strict=True)):
            yield FrameRecord(ts, caplen, origlen, linktype, offset, interface, comments.get(k))


class Source(Protocol):
    """Where the walk reads the file's bytes (``pcap/source.py``)."""

    @property
    def size(self) -> int: ...

    @property
    def truncated(self) -> bool:
        """The file shrank while it was read (the source has said so)."""
        ...

    def read(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes from ``offset`` (fewer at the end of the file)."""
        ...

    def block(self, offset: int, n: int) -> memoryview:
        """As ``read``, in a buffer valid until the next call."""
        ...

    def release(self) -> None:
        """The buffer of ``block`` is not needed any more."""
        ...

    def zeros(self, offset: int) -> int:
        """How many bytes from ``offset`` on are zeros."""
        ...


class Records:
    """A walk over the records of one capture, from one position on.

    ``read(n)`` gives the next chunk of at most ``n`` records, or None when
    there is none (yet, for a growing file). A chunk's ``data`` is valid
    until the next ``read``.
    """

    def __init__(self, source: Source, warnings: list[str], *, growing: bool) -> None:
        self.source = source
        self.warnings = warnings
        self.growing = growing
        self.stopped = False        # damage: nothing more will come
        self.empty_kept = 0         # records with no captured bytes handed out
        self.empty_skipped = 0      # and left out past EMPTY_KEPT
        self._empty_warning = -1    # where in ``warnings`` they are counted

    def read(self, n: int) -> FrameChunk | None:
        while not self.stopped and n > 0:
            chunk = self._next(n)
            if chunk is None:
                break
            chunk = self._without_empty(chunk)
            if chunk is not None:
                return chunk
        if self.stopped:
            self.source.release()   # (memory for the analysis that follows)
        return None

    def _next(self, n: int) -> FrameChunk | None:
        raise NotImplementedError

    def _without_empty(self, chunk: FrameChunk) -> FrameChunk | None:
        """``chunk`` without the records of no captured bytes past EMPTY_KEPT (None:
        nothing is left)."""
        empty = np.flatnonzero(chunk.caplen == 0)
        kept = min(len(empty), max(EMPTY_KEPT - self.empty_kept, 0))
        self.empty_kept += kept
        if kept == len(empty):
            return chunk
        keep = np.ones(len(chunk.caplen), bool)
        keep[empty[kept:]] = False
        self._skip_empty(len(empty) - kept)
        if not keep.any():
            return None
        index = np.cumsum(keep) - 1   # old index -> new index, where kept
        comments = [(int(index[i]), c) for i, c in chunk.comments if keep[i]]
        return FrameChunk(chunk.ts_ns[keep], chunk.caplen[keep], chunk.origlen[keep],
                          chunk.offset[keep], chunk.linktype[keep], chunk.interface[keep],
                          comments, chunk.data, chunk.base)

    def _skip_empty(self, count: int) -> None:
        """Count ``count`` more records of no captured bytes left out, in one warning."""
        self.empty_skipped += count
        text = (f"skipped {self.empty_skipped:,} empty records (no captured bytes) after "
                f"the first {EMPTY_KEPT:,}: frames after them are numbered without them")
        if self._empty_warning < 0:
            self._empty_warning = len(self.warnings)
            self.warnings.append(text)
        else:
            self.warnings[self._empty_warning] = text

    def _stop(self, warning: str | None) -> None:
        """The walk ends here: damage (with a warning) or the end of a whole file."""
        if warning is not None:
            self.warnings.append(warning)
        self.stopped = True

    def _cut_off(self, warning: str) -> None:
        """The file ends inside a record: damage, unless the file is still growing
        (or it shrank while being read, which the source has already said)."""
        if self.source.truncated:
            self._stop(None)
        elif not self.growing:
            self._stop(warning)


class PcapRecords(Records):
    """Classic pcap: a loop follows the record headers, numpy gathers their fields."""

    def __init__(self, source: Source, warnings: list[str], *, pos: int, big_endian: bool,
                 header_len: int, nanosecond: bool, snaplen: int, linktype: int,
                 growing: bool = False) -> None:
        super().__init__(source, warnings, growing=growing)
        self.pos = pos                      # where the next record's header starts
        self._order = ">" if big_endian else "<"
        self._header_len = header_len       # 16, or 24 for "modified" pcap
        self._mult = 1 if nanosecond else 1000
        self._snaplen = snaplen
        self._limit = min(max(snaplen, 262144), MAX_FRAME)  # as Wireshark: >= 256 KiB
        self._linktype = linktype
        self._mean = 256                    # bytes a record, as seen so far

    def _next(self, n: int) -> FrameChunk | None:
        hdr = self._header_len
        want = max(MIN_BLOCK, n * self._mean * 5 // 4)
        while True:
            if self.empty_kept >= EMPTY_KEPT:
                self._skip_zeros()
            pos, size = self.pos, self.source.size
            if pos >= size:
                if not self.growing:
                    self.stopped = True
                return None
            data = self.source.block(pos, min(want, size - pos))
            at_end = pos + len(data) >= self.source.size  # (smaller now, if it shrank)
            starts = record_starts(bytes(data), hdr, self._order == ">", n)
            heads = np.asarray(starts, dtype=np.int64)
            fields = (np.frombuffer(data, dtype=np.uint8)[heads[:, None] + np.arange(16)]
                      .view(np.dtype(self._order + "u4")).astype(np.int64))
            sec, frac, caplen, orig = fields.T
            too_big = caplen > self._limit
            bad = np.flatnonzero(too_big | (heads + hdr + caplen > len(data)))
            k = int(bad[0]) if len(bad) else len(starts)
            if k < len(starts):
                where = pos + starts[k]
                if too_big[k]:
                    self._stop(f"record at byte {where} claims {int(caplen[k])} captured "
                               f"bytes (snaplen {self._snaplen}): the file is damaged from "
                               "there on")
                elif at_end:
                    self._cut_off(f"file ends inside the frame that starts at byte "
                                  f"{where + hdr}")
                elif k == 0:  # a frame longer than the bytes read: read more
                    want = hdr + int(caplen[0])
                    continue
            elif len(starts) < n and at_end:
                end = starts[-1] + hdr + int(caplen[-1]) if starts else 0
                if end < len(data):
                    self._cut_off(f"file ends inside a record header at byte {pos + end}")
                elif not self.growing:
                    self.stopped = True
            if not k:
                return None
            last = starts[k - 1] + hdr + int(caplen[k - 1])
            self.pos = pos + last
            self._mean = max(last // k, 1)
            caplen, heads = caplen[:k], heads[:k]
            return FrameChunk(sec[:k] * 1_000_000_000 + frac[:k] * self._mult, caplen,
                              np.maximum(orig[:k], caplen), heads + (pos + hdr),
                              np.full(k, self._linktype, np.int64), np.zeros(k, np.int64),
                              [], data, pos)

    def _skip_zeros(self) -> None:
        """Count the records of a run of zeros at ``pos`` without reading them
        one by one (all empty: time 0, no bytes captured or sent)."""
        hdr = self._header_len
        if self.source.read(self.pos, hdr) != bytes(hdr):
            return
        count = self.source.zeros(self.pos) // hdr
        self.pos += count * hdr
        self._skip_empty(count)

class PcapngRecords(Records):
    """pcapng: the frames the capture's block reader finds, gathered into chunks."""

    def __init__(self, source: Source, warnings: list[str],
                 frames: Iterator[FrameRecord]) -> None:
        super().__init__(source, warnings, growing=False)
        self._frames = frames
        self._pending: FrameRecord | None = None

    def _next(self, n: int) -> FrameChunk | None:
        records: list[FrameRecord] = []
        rec = self._pending
        self._pending = None
        while len(records) < n:
            if rec is None:
                rec = next(self._frames, None)
                if rec is None:
                    break
            if records and rec.offset + rec.caplen - records[0].offset > MAX_SPAN:
                self._pending = rec
                break
            records.append(rec)
            rec = None
        if not records:
            return None
        base = records[0].offset
        data = self.source.block(base, records[-1].offset + records[-1].caplen - base)
        while records and records[-1].offset + records[-1].caplen > base + len(data):
            records.pop()       # the file shrank: these frames are gone
            self.stopped = True
        if not records:
            return None
        ts, caplen, origlen, linktype, offset, interface, comment = zip(*records, strict=True)
        comments = ([(i, c) for i, c in enumerate(comment) if c is not None]
                    if comment.count(None) != len(comment) else [])
        k = len(records)
        return FrameChunk(np.fromiter(ts, np.int64, k), np.fromiter(caplen, np.int64, k),
                          np.fromiter(origlen, np.int64, k), np.fromiter(offset, np.int64, k),
                          np.fromiter(linktype, np.int64, k),
                          np.fromiter(interface, np.int64, k), comments, data, base)
