"""What the sides of one run share: the deadline, the abort flag, byte counts
and the sockets to close when the run ends.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Protocol

from visualizer.core.traffic.failures import RunAborted


class RunSocket(Protocol):
    """What the run needs of a socket it releases at the end, and a sampler of its
    TCP state reads (a LoggedSocket)."""

    closed: bool
    side: str
    local: str
    remote: str

    def close(self, note: str = ...) -> None: ...

    def tcp_info(self) -> tuple[bytes, str] | None: ...


# A blocking call waits in slices this long, checking the abort flag and the
# deadline between slices, so no side can outlive its run.
WAIT_SLICE = 0.05


class Expired(Exception):
    """The run's deadline (``by_run``) or a call's own time limit passed.

    Internal: the socket wrapper turns it into ``CallTimedOut`` with context.
    """

    def __init__(self, by_run: bool) -> None:
        super().__init__(by_run)
        self.by_run = by_run


class RunControl:
    """Thread-safe shared state of one prepared run."""

    def __init__(self) -> None:
        self._abort = threading.Event()
        self._lock = threading.Lock()
        self._deadline: float | None = None  # time.monotonic()
        self.timeout: float | None = None
        self.sent: Counter[str] = Counter()
        self.received: Counter[str] = Counter()
        self._sockets: list[RunSocket] = []

    def start(self, timeout: float) -> None:
        self.timeout = timeout
        self._deadline = time.monotonic() + timeout

    def abort(self) -> None:
        self._abort.set()

    @property
    def aborted(self) -> bool:
        return self._abort.is_set()

    def remaining(self) -> float | None:
        return None if self._deadline is None else self._deadline - time.monotonic()

    def check(self, call_deadline: float | None = None) -> None:
        """Raise ``RunAborted`` or ``Expired`` if the waiting must stop."""
        if self._abort.is_set():
            raise RunAborted
        now = time.monotonic()
        if self._deadline is not None and now >= self._deadline:
            raise Expired(by_run=True)
        if call_deadline is not None and now >= call_deadline:
            raise Expired(by_run=False)

    def count(self, side: str, *, sent: int = 0, received: int = 0) -> None:
        with self._lock:
            self.sent[side] += sent
            self.received[side] += received

    def register(self, sock: RunSocket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def open_sockets(self) -> list[RunSocket]:
        """The run's sockets not closed yet (from any thread)."""
        with self._lock:
            return [s for s in self._sockets if not s.closed]
