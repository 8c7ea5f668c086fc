"""Following a pcap file that the capture process is still writing.

The capture process writes a pcap stream to a spool file and flushes each
burst (DESIGN: Capture). ``GrowingCapture`` maps what is there and maps
again when the file grows; its walks (``records()``, the same walk as any
file's) stop quietly at a record cut off at the end, which is simply not
complete yet, and go on from it once it is. The store reads the frame
bytes from the current mapping, so a live capture and an opened file take
the same path through the store and the analysis.
"""

from __future__ import annotations

import contextlib
import mmap
import os

from visualizer.core.errors import BadInput
from visualizer.core.pcap.reader import CaptureFile


class GrowingCapture(CaptureFile):
    """A pcap file being appended to by another process."""

    growing = True

    @classmethod
    def follow(cls, path: str) -> GrowingCapture:
        """Open ``path`` (its pcap header must already be written). Walks start at
        its first record, or at the record header at the byte given to
        ``records()`` (a ring buffer that lets the oldest packets go)."""
        cap = CaptureFile.open(path)
        if cap.format != "pcap" or cap.kuznetzov:
            cap.close()
            raise BadInput(f"{path}: a live capture spool must be a plain pcap stream")
        grown = cls(cap.path, cap.data, cap.format, big_endian=cap.big_endian,
                    nanosecond=cap.nanosecond, snaplen=cap.snaplen, interfaces=cap.interfaces)
        grown._mm, grown._fd = cap._mm, cap._fd
        cap._mm = cap._fd = None  # now owned by ``grown``
        return grown

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
