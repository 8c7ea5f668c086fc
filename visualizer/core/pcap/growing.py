"""Following a pcap file that the capture process is still writing.

The capture process writes a pcap stream to a spool file and flushes each
burst (DESIGN: Capture). ``GrowingCapture`` maps what is there, hands out
the records that are complete, and maps again when the file grows; a
record cut off at the end is simply not complete yet. The store reads the
frame bytes from the current mapping, so a live capture and an opened
file take the same path through the store and the analysis.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from collections.abc import Iterator

from visualizer.core.errors import BadInput
from visualizer.core.pcap import format as fmt
from visualizer.core.pcap.reader import CaptureFile, FrameRecord


class GrowingCapture(CaptureFile):
    """A pcap file being appended to by another process."""

    _next: int = fmt.PCAP_FILE_HEADER_LEN
    damaged: bool = False

    @classmethod
    def follow(cls, path: str) -> GrowingCapture:
        """Open ``path`` (its pcap header must already be written)."""
        cap = CaptureFile.open(path)
        if cap.format != "pcap" or cap.kuznetzov:
            cap.close()
            raise BadInput(f"{path}: a live capture spool must be a plain pcap stream")
        grown = cls(cap.path, cap.data, cap.format, big_endian=cap.big_endian,
                    nanosecond=cap.nanosecond, snaplen=cap.snaplen, interfaces=cap.interfaces)
        grown._mm, grown._fd = cap._mm, cap._fd
        cap._mm = cap._fd = None  # now owned by ``grown``
        return grown

    def skip_to(self, offset: int) -> None:
        """Continue from the record header at byte ``offset`` (a ring buffer
        that lets the oldest packets go starts a new follower there)."""
        if not fmt.PCAP_FILE_HEADER_LEN <= offset <= len(self.data):
            raise ValueError(f"offset {offset} is outside the records of {self.path}")
        self._next = offset

    def refresh(self) -> bool:
        """Map the file again if it grew; True when there are new bytes."""
        if self._fd is None:
            return False
        size = os.fstat(self._fd).st_size
        if size <= len(self.data):
            return False
        old = self._mm
        self._mm = mmap.mmap(self._fd, 0, access=mmap.ACCESS_READ)
        self.data = self._mm
        self._released = 0
        if old is not None:
            with contextlib.suppress(BufferError):
                old.close()
        return True

    def new_frames(self) -> list[FrameRecord]:
        """The complete records written since the last call."""
        if self.damaged:
            return []
        warned = len(self.warnings)
        out = list(self._pcap_frames(self._next, growing=True))
        if out:
            self._next = out[-1].offset + out[-1].caplen
        self.damaged = len(self.warnings) > warned  # a damaged record: stop following
        return out

    def frames(self) -> Iterator[FrameRecord]:
        """Every complete record so far (the file may still grow)."""
        self._next = fmt.PCAP_FILE_HEADER_LEN
        self.damaged = False
        return iter(self.new_frames())
