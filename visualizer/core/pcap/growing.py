"""Following a pcap file that the capture process is still writing.

The capture process writes a pcap stream to a spool file and flushes each
burst (DESIGN: Capture). ``GrowingCapture`` reads what is there and takes
in what was appended when asked to (``refresh()``); its walks
(``records()``, the same walk as any file's) stop quietly at a record cut
off at the end, which is simply not complete yet, and go on from it once
it is. A live capture and an opened file take the same path through the
store and the analysis.
"""

from __future__ import annotations

from visualizer.core.errors import BadInput
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.pcap.source import FileSource


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
        return cls(cap.path, cap.source, cap.format, big_endian=cap.big_endian,
                   nanosecond=cap.nanosecond, snaplen=cap.snaplen, interfaces=cap.interfaces,
                   warnings=cap.warnings)

    def refresh(self) -> bool:
        """Take in what was appended since; True when there are new bytes."""
        return isinstance(self.source, FileSource) and self.source.refresh()
