"""Writing the file a user named, safely, above all as root.

The rules (docs/architecture.md, "Writing output"):

- ``-`` is standard output, written as it is.
- A character device (``/dev/null``) or a FIFO is opened and written in
  place, as tcpdump and tshark do: it is never replaced, so running as root
  cannot turn ``/dev/null`` into a regular file.
- A regular file, or a name that does not exist yet (a dangling symlink
  included), is written to a fresh temporary file in the same directory
  (``O_EXCL | O_NOFOLLOW``, mode 0600 until it is complete) and renamed over
  the name: a failure leaves any earlier file as it was, and a symlink at
  the name is replaced itself, never followed.
- A directory, a block device (a disk) or a socket is refused before any
  work starts, with one line.

:func:`check_output` applies the rules without writing (commands call it
before running a scenario); :func:`written` applies them and writes.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from visualizer.core.errors import BadInput, VisualizerError


class OutputFailed(VisualizerError):
    """Writing the output failed (disk full, file size limit, I/O error).

    For a replaced file nothing was written: the temporary file is gone and
    any earlier file at the path is as it was; the message says so.
    """


class Target(enum.Enum):
    STDOUT = "stdout"       # ``-``
    IN_PLACE = "in place"   # a character device or a FIFO
    REPLACE = "replace"     # a regular file or a new name: temporary file, then rename


def check_output(path: str) -> Target:
    """How ``path`` will be written; raises BadInput (one line) for a path that
    must not or cannot be written, before anything is done."""
    if path == "":
        raise BadInput("the output path is empty: name a file")
    if path == "-":
        return Target.STDOUT
    if path.endswith(os.sep):
        raise BadInput(f"{path}: names a directory; name a file to write")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except NotADirectoryError:
        raise BadInput(f"{path}: a part of the path is not a directory") from None
    except OSError as err:
        raise BadInput(f"{path}: {err.strerror}") from None
    if mode is not None:
        if stat.S_ISDIR(mode):
            raise BadInput(f"{path} is a directory: name a file to write")
        if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
            return Target.IN_PLACE
        if stat.S_ISBLK(mode):
            raise BadInput(f"{path} is a block device (a disk): refusing to write over it")
        if not stat.S_ISREG(mode):
            raise BadInput(f"{path} is neither a file, a character device nor a FIFO")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise BadInput(f"{path}: the directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise BadInput(f"{path}: cannot write to the directory {directory}")
    return Target.REPLACE


def document_mode() -> int:
    """The mode a new document gets under the current umask (0644 usually).

    A recording or an export is a document to share, not a secret: every
    output gets the same mode, whatever its format.
    """
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def written(path: str, *, prefix: str = ".output-") -> Iterator[BinaryIO]:
    """A binary stream to write ``path`` by the rules above.

    For a replaced file the data reach ``path`` only when the block ends
    without an exception; an OSError while writing becomes OutputFailed.
    """
    target = check_output(path)
    if target is Target.STDOUT:
        out = sys.stdout.buffer
        with _failures(path, target):
            yield out
            out.flush()
        return
    if target is Target.IN_PLACE:
        with _failures(path, target):
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            with os.fdopen(fd, "wb") as out:
                yield out
        return
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, dir=directory)  # O_EXCL | O_NOFOLLOW
    except OSError as err:
        raise BadInput(f"{path}: cannot write here: {err.strerror}") from None
    try:
        with _failures(path, target):
            os.fchmod(fd, document_mode())
            with os.fdopen(fd, "wb") as out:
                yield out
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _failures(path: str, target: Target) -> Iterator[None]:
    try:
        yield
    except OSError as err:  # ENOSPC, EFBIG, EIO, EPIPE: one line
        if isinstance(err, BrokenPipeError) and target is Target.STDOUT:
            raise
        tail = (f": nothing was written, and any earlier {path} is unchanged"
                if target is Target.REPLACE else "")
        raise OutputFailed(f"cannot write {path}: {err.strerror or err}{tail}") from None


class GrowingOutput:
    """A file written as it grows, such as a live capture's pcap stream.

    A regular file (or a new name) is created afresh at a temporary name
    beside ``path`` with ``O_EXCL | O_NOFOLLOW`` and an exclusive lock, and
    :meth:`publish` renames it over ``path`` once the caller has written its
    header: a planted symlink is replaced, never followed, and readers that
    wait for ``path`` find a readable file. A second capture into a path
    whose file is still locked by a running one is refused. ``-``, devices
    and FIFOs are written in place.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.target = check_output(path)
        self._tmp: str | None = None
        if self.target is Target.STDOUT:
            self.file: BinaryIO = sys.stdout.buffer
            return
        if self.target is Target.IN_PLACE:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            except OSError as err:
                raise BadInput(f"cannot write {path}: {err.strerror}") from None
        else:
            _refuse_if_locked(path)
            try:
                fd, self._tmp = tempfile.mkstemp(
                    prefix=".capture-", dir=os.path.dirname(os.path.abspath(path)))
            except OSError as err:
                raise BadInput(f"{path}: cannot write here: {err.strerror}") from None
            os.fchmod(fd, document_mode())
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new inode: never contended
        self.file = os.fdopen(fd, "wb", buffering=0)

    def publish(self) -> None:
        """Put the file at ``path`` (once; a no-op for stdout, devices and FIFOs)."""
        if self._tmp is not None:
            os.replace(self._tmp, self.path)
            self._tmp = None

    def close(self) -> None:
        if self.target is not Target.STDOUT:
            self.file.close()
        if self._tmp is not None:  # never published: nothing worth keeping
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
            self._tmp = None


def _refuse_if_locked(path: str) -> None:
    """BadInput when a running capture holds the file at ``path``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return  # none there, a symlink (replaced, not followed) or unreadable
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise BadInput(f"{path}: another capture is writing this file; "
                       "choose another name") from None
    finally:
        os.close(fd)
