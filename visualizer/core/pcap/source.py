"""A capture file's bytes, read with ``pread`` rather than mapped.

A mapped file that shrinks while it is read (another program truncates it,
a capture starts over in the same file) kills the reader with SIGBUS as
soon as it touches a page past the new end, and Python cannot turn that
signal into an error. ``pread`` returns short instead: ``FileSource`` notes
the truncation once, in the capture's warnings, and hands out what is
still there, so what was read before stays usable.

Loading reads a chunk of records at a time into one buffer of anonymous
memory, reused from chunk to chunk (``block``), so that memory holds one
chunk's bytes however large the file, whatever the allocator does. Reads
of a few bytes (a TCP segment's options, the frame on screen) go through a
read-ahead window, so that a pass in file order costs one system call per
window rather than one per packet.
"""

from __future__ import annotations

import errno
import mmap
import os
from collections.abc import Callable
from typing import BinaryIO

TRUNCATED = "the file was truncated while being read"
WINDOW = 256 * 1024   # bytes read ahead for small reads
SMALL = 16 * 1024     # reads up to this size go through the window
SCAN = 1024 * 1024    # bytes looked at at once for the end of a run of zeros
COPY_BUFFER = 8 * 1024 * 1024  # bytes copied at once when the kernel cannot copy them


class BytesSource:
    """Bytes already in memory (tests, fuzzing)."""

    truncated = False

    def __init__(self, data: bytes, warnings: list[str]) -> None:
        self._data = data
        self.size = len(data)
        self.warnings = warnings

    def read(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes from ``offset`` (fewer at the end)."""
        return bytes(self._data[offset:offset + n])

    def block(self, offset: int, n: int) -> memoryview:
        """As :meth:`read`, without a copy."""
        return memoryview(self._data)[offset:offset + n]

    def release(self) -> None:
        pass

    def zeros(self, offset: int) -> int:
        """How many bytes from ``offset`` on are zeros."""
        return _zeros(self, offset, lambda pos: pos)

    def copy(self, offset: int, n: int, out: BinaryIO) -> int:
        """Write up to ``n`` bytes from ``offset`` to ``out``; how many there were."""
        part = self._data[offset:offset + n]
        out.write(part)
        return len(part)

    def close(self) -> None:
        pass


class FileSource:
    """An open file, read with ``pread`` (see module docstring)."""

    def __init__(self, fd: int, warnings: list[str]) -> None:
        self._fd: int | None = fd
        self.size = os.fstat(fd).st_size   # what readers may ask for; see refresh()
        self.warnings = warnings
        self.truncated = False
        self._window: tuple[int, bytes] = (0, b"")
        self._buffer: mmap.mmap | None = None   # for block(): anonymous memory, not the file

    def read(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes from ``offset``: fewer at the end, and fewer once the
        file has shrunk (``truncated`` then says so; bytes read before stay)."""
        start, window = self._window   # one tuple: another thread may replace it
        at = offset - start
        if at >= 0 and at + n <= len(window):   # (the analysis asks for each packet)
            return window[at:at + n]
        n = min(n, self.size - offset)
        if n <= 0:
            return b""
        if n > SMALL:
            return self._pread(offset, n)
        window = self._pread(offset, min(WINDOW, self.size - offset))
        self._window = (offset, window)
        return window[:n]

    def block(self, offset: int, n: int) -> memoryview:
        """As :meth:`read`, into a buffer that the next call reuses: valid until then."""
        n = min(n, self.size - offset)
        if n <= 0:
            return memoryview(b"")
        if self._buffer is None or len(self._buffer) < n:  # views of the old may live on
            self._buffer = mmap.mmap(-1, n)
        view = memoryview(self._buffer)[:n]
        return view[:self.readinto(offset, view)]

    def release(self) -> None:
        """Let the buffer of :meth:`block` go (the walk that used it is over)."""
        self._buffer = None

    def readinto(self, offset: int, view: memoryview) -> int:
        """Fill ``view`` with the bytes from ``offset`` on; how many there were (fewer
        at the end, and once the file has shrunk)."""
        n = min(len(view), self.size - offset)
        done = 0
        while done < n:
            try:
                got = os.preadv(self._open_fd(), [view[done:n]], offset + done)
            except OSError as err:
                self._lost(offset + done, f"reading failed at byte {offset + done} "
                                          f"({err.strerror})")
                break
            if not got:
                self._lost(offset + done, f"{TRUNCATED} (it ends at byte {offset + done} "
                                          "now)")
                break
            done += got
        return done

    def copy(self, offset: int, n: int, out: BinaryIO) -> int:
        """Write up to ``n`` bytes from ``offset`` to ``out``; how many there were
        (fewer once the file has shrunk). The kernel copies them when it can
        (``sendfile``): a copy through a buffer of ours took 0.12 s to 0.56 s for
        the same 388 MB, ``sendfile`` 0.17 s every time."""
        n = max(min(n, self.size - offset), 0)
        done = 0
        try:
            out.flush()
            target = out.fileno()
            while done < n:
                sent = os.sendfile(target, self._open_fd(), offset + done, n - done)
                if not sent:
                    break       # the file ends early: the copy below finds out and says so
                done += sent
        except (OSError, ValueError):  # no sendfile to ``out``: the copy below, or its error
            pass
        buffer = memoryview(bytearray(min(n - done, COPY_BUFFER)))
        while done < n:
            got = self.readinto(offset + done, buffer[:n - done])
            if not got:
                break
            out.write(buffer[:got])
            done += got
        return done

    def zeros(self, offset: int) -> int:
        """How many bytes from ``offset`` on are zeros; the holes of a sparse
        file are skipped without reading them."""
        return _zeros(self, offset, self._data_from)

    def _data_from(self, pos: int) -> int:
        """Where data (not a hole) starts at or after ``pos``."""
        if self._fd is None:
            return pos
        try:
            return os.lseek(self._fd, pos, os.SEEK_DATA)
        except OSError as err:  # ENXIO: only a hole after pos; else no SEEK_DATA here
            return self.size if err.errno == errno.ENXIO else pos

    def refresh(self) -> bool:
        """Take in what was appended since (a file still being written); True
        when there are new bytes."""
        if self._fd is None:
            return False
        size = os.fstat(self._fd).st_size
        if size <= self.size:
            return False
        self.size = size
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._window = (0, b"")
        self._buffer = None

    def _open_fd(self) -> int:
        if self._fd is None:
            raise ValueError("read from a closed capture file")
        return self._fd

    def _pread(self, offset: int, n: int) -> bytes:
        parts = []
        done = 0
        while done < n:
            try:
                part = os.pread(self._open_fd(), n - done, offset + done)
            except OSError as err:
                self._lost(offset + done, f"reading failed at byte {offset + done} "
                                          f"({err.strerror})")
                break
            if not part:
                self._lost(offset + done, f"{TRUNCATED} (it ends at byte {offset + done} "
                                          "now)")
                break
            parts.append(part)
            done += len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _lost(self, end: int, why: str) -> None:
        """Nothing can be read from ``end`` on: the file is that short now."""
        self.size = min(self.size, end)
        if not self.truncated:
            self.truncated = True
            self.warnings.append(f"{why}: what was read before is kept")


def _zeros(source: BytesSource | FileSource, offset: int,
           data_from: Callable[[int], int]) -> int:
    pos = offset
    while pos < source.size:
        pos = min(max(data_from(pos), pos), source.size)
        block = source.read(pos, SCAN)
        if not block:
            break
        rest = block.lstrip(b"\0")
        if rest:
            return pos + len(block) - len(rest) - offset
        pos += len(block)
    return min(pos, source.size) - offset
