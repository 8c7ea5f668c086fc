"""The open capture of one window: a Session, a loader thread, Qt signals.

The ``Session`` (``visualizer.core.session``) is the capture every view
shows. The Document reads into it in a background thread, from a file or a
live capture alike, shows each batch in the GUI thread (``Session.show``)
and says what changed with signals (``grown`` at most ten times a second).
Views read ``document.session`` and listen to the document.

The loader is Python too, so it competes with the window for the GIL, and
Python shares the GIL evenly: every time Qt calls into Python to paint a
cell or run a slot, the window could wait for the loader's turn to end.
The window gets priority instead: while busy, the document runs a 10 ms
heartbeat timer, and the loader reads in small chunks and, between two,
sleeps while the heartbeat is late (the event loop is busy and wants the
GIL) and goes on at full speed while the window is idle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from PyQt6.QtCore import QObject, Qt, QTimer, pyqtSignal, pyqtSlot

from visualizer.core.capture.child import CaptureProcess
from visualizer.core.capture.remote import RemoteTarget
from visualizer.core.errors import VisualizerError
from visualizer.core.filter.evaluate import DisplayFilter
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.session import CHUNK, Batch, Session

FIRST_BATCH = 2_000      # small, so the first rows show at once; then LOAD_READ packets
LOAD_READ = 4_096        # per turn of the loader (about 10 ms of work, the analysis
                         # compiled): how long the window may wait for the lock or for
                         # the loader to notice. Reads of CHUNK (1,024: a live
                         # capture's) made opening 10^6 packets 0.6 s slower
LIVE_POLL_SECONDS = 0.05
MIN_SIGNAL_SECONDS = 0.1  # at most ten ``grown`` signals a second
HEARTBEAT_MS = 10        # the window's pulse while loading or capturing
LATE_SECONDS = 0.025     # a pulse this late: the event loop is busy, the loader waits
MAX_WAIT_SECONDS = 0.25  # but never longer than this at a time
# The loader holds the session's lock while it reads a batch, tens of ms on a
# busy machine: a view of the window waits for it this long at most, and else
# tries again a little later rather than freeze the window.
LOCK_WAIT_SECONDS = 0.02
LOCK_RETRY_MS = 250


class Document(QObject):
    """The capture shown in one window: ``session``, filled by a loader thread.

    Signals:
        reset(): a new capture replaced the old one (or the document closed).
        grown(int): packets up to the given count can now be read.
        progress(int, int): bytes read / total while opening a file.
        finished(str): loading or capturing ended; the text says why it
            stopped early ("" when it simply completed).
        capture_stats(int, int): received / dropped, while capturing.
        current_changed(int): the selected packet (0-based, -1 for none).
        conversation_changed(): the packets shown changed: the conversation
            filter, or the display filter.
        filter_changed(): the display filter changed (the conversations list
            shows only the conversations with a packet that matches).
    """

    reset = pyqtSignal()
    grown = pyqtSignal(int)
    progress = pyqtSignal(int, int)
    finished = pyqtSignal(str)
    capture_stats = pyqtSignal(int, int)
    current_changed = pyqtSignal(int)
    conversation_changed = pyqtSignal()
    filter_changed = pyqtSignal()

    # emitted from the worker thread; connected queued to the slots below
    _batch = pyqtSignal(object, object)
    _done = pyqtSignal(object, str)
    _stats = pyqtSignal(object, int, int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = Session()
        self.busy = False           # loading or capturing right now
        self._job: _Job | None = None
        self._heartbeat = QTimer(self)
        self._heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
        self._heartbeat.setInterval(HEARTBEAT_MS)
        self._heartbeat.timeout.connect(self._beat)
        self._batch.connect(self._on_batch)
        self._done.connect(self._on_done)
        self._stats.connect(self._on_stats)

    # -- opening -------------------------------------------------------
    def open_file(self, path: str) -> None:
        """Start loading ``path`` in the background; ``BadInput`` if it is no capture."""
        capture = CaptureFile.open(path)
        self.close()
        self.session.open_capture(capture)  # the recording too, before views hear of it
        self._start(_load)

    def start_capture(self, interface: str, bpf: str | None, spool: str, *,
                      python: str | None = None, keep_last: int = 0,
                      remote: RemoteTarget | None = None) -> None:
        """Capture live into ``spool`` and show the packets as they come
        (with ``remote``, from that host's tcpdump over ssh).

        Starting the capture process waits for its ready line, which can
        take a moment, so that also happens in the background; failures
        arrive as ``finished`` with the reason. ``keep_last`` > 0 is a ring
        buffer: only about that many recent packets stay in memory and in
        view (the spool keeps them all), so a capture can run for hours.
        """
        self.close()
        self.session.follow(spool, keep_last=keep_last)
        self._start(lambda job: _capture(job, interface, bpf, spool, python, remote))

    def _start(self, body: Callable[[_Job], str]) -> None:
        self.busy = True
        self.reset.emit()
        job = self._job = _Job(self)
        self._heartbeat.start()
        job.start(body)

    @pyqtSlot()
    def _beat(self) -> None:
        if self._job is not None:
            self._job.pulse = time.monotonic()

    def stop(self) -> None:
        """Stop loading or capturing; what arrived so far stays."""
        if self._job is not None:
            self._job.cancel.set()

    def wait(self, timeout: float = 10.0) -> bool:
        """Block until the background work ends (tests, shutdown)."""
        job = self._job
        return job is None or job.join(timeout)

    def close(self) -> None:
        job, self._job = self._job, None
        self._heartbeat.stop()
        if job is not None:
            job.cancel.set()
            job.join(10.0)
        self.session.close()
        self.busy = False
        self.reset.emit()

    @property
    def capture_pid(self) -> int | None:
        """The live capture process's PID while it runs (status, tests)."""
        process = self._job.process if self._job is not None else None
        return process.pid if process is not None and process.running else None

    # -- selection ---------------------------------------------------------
    def set_current(self, index: int) -> None:
        if self.session.set_current(index):
            self.current_changed.emit(self.session.current)

    def set_conversation(self, key: tuple[str, int] | None) -> None:
        if self.session.set_conversation(key):
            self.conversation_changed.emit()

    def set_display_filter(self, display_filter: DisplayFilter | None) -> None:
        if self.session.set_display_filter(display_filter):
            self.filter_changed.emit()
            self.conversation_changed.emit()

    # -- worker results (GUI thread) -------------------------------------
    @pyqtSlot(object, object)
    def _on_batch(self, job: _Job, batch: Batch) -> None:
        if job is not self._job:
            return
        session = self.session
        before = session.count
        if session.show(batch):  # the ring buffer moved on: a new, shorter store
            self.reset.emit()
            self.grown.emit(session.count)
        elif session.count > before:
            self.grown.emit(session.count)
        if not session.live:
            self.progress.emit(batch.bytes_read, batch.bytes_total)

    @pyqtSlot(object, str)
    def _on_done(self, job: _Job, message: str) -> None:
        if job is not self._job:
            return
        self.busy = False
        self.session.finish()
        self._heartbeat.stop()
        if self.session.path_view is not None:   # each packet once, now that all are read
            self.conversation_changed.emit()
        self.finished.emit(message)

    @pyqtSlot(object, int, int)
    def _on_stats(self, job: _Job, received: int, dropped: int) -> None:
        if job is self._job:
            self.capture_stats.emit(received, dropped)


class _Job:
    """One background load or capture, with its cancel flag."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_signal = 0.0
        self.pulse = time.monotonic()  # the window's heartbeat, set by the GUI thread
        self.joining = False           # the GUI thread waits for this job: no pulse
        self.process: CaptureProcess | None = None

    def start(self, body: Callable[[_Job], str]) -> None:
        def run() -> None:
            try:
                message = body(self)
            except VisualizerError as err:
                message = str(err)
            except Exception as err:  # a bug: say so rather than die silently
                message = f"internal error while reading packets: {err!r}"
            self.doc._done.emit(self, message)

        self._thread = threading.Thread(target=run, name="document-loader", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> bool:
        if self._thread is None:
            return True
        self.joining = True
        self._thread.join(timeout)
        self.joining = False
        return not self._thread.is_alive()

    def make_way(self) -> None:
        """Worker: sleep while the window is busy (its heartbeat is late)."""
        start = time.monotonic()
        while (not self.joining and not self.cancel.is_set()
               and time.monotonic() - self.pulse > LATE_SECONDS
               and time.monotonic() - start < MAX_WAIT_SECONDS):
            time.sleep(0.002)

    def announce(self, batch: Batch, *, force: bool = False) -> None:
        """Hand ``batch`` to the window (at most ten times a second), its new
        conversations named here rather than in the window's thread."""
        if batch.analysis is not None:
            batch.analysis.name_conversations()
        now = time.monotonic()
        if force or now - self._last_signal >= MIN_SIGNAL_SECONDS:
            self._last_signal = now
            self.doc._batch.emit(self, batch)


def _load(job: _Job) -> str:
    session, batch, limit = job.doc.session, None, FIRST_BATCH
    while not job.cancel.is_set() and (batch := session.read(limit)).added:
        limit = LOAD_READ
        job.announce(batch, force=batch.count <= FIRST_BATCH)
        job.make_way()
    if batch is None:  # stopped before the first chunk
        return "stopped after 0 packets: the rest of the file was not read"
    job.announce(batch, force=True)
    if job.cancel.is_set():
        return f"stopped after {batch.count:,} packets: the rest of the file was not read"
    # the reader's (damage, a cut-off record), link types and tunnels not decoded
    return "; ".join(batch.store.warnings())


def _capture(job: _Job, interface: str, bpf: str | None, spool: str,
             python: str | None, remote: RemoteTarget | None) -> str:
    process = CaptureProcess(interface=interface, bpf=bpf, output=spool, python=python,
                             remote=remote)
    job.process = process
    process.start()
    session, failure = job.doc.session, ""
    try:
        while True:
            stopping = job.cancel.is_set() or not process.running
            if stopping:
                try:
                    process.stop()
                except VisualizerError as err:
                    failure = str(err)
            session.refresh()
            while (batch := session.read(CHUNK)).added:
                job.make_way()
            job.announce(batch, force=stopping)
            job.doc._stats.emit(job, process.received, process.dropped)
            if stopping:
                break
            time.sleep(LIVE_POLL_SECONDS)
    finally:
        process.kill()
    count = batch.first_number - 1 + batch.count  # every packet captured, shown or not
    kept = f"; the {count:,} packets captured before are kept"
    if failure:
        return failure + kept
    if not job.cancel.is_set():
        return "the capture process stopped by itself" + kept
    stats = process.stats
    if stats is not None and stats.dropped:
        return f"the kernel dropped {stats.dropped:,} packets (the capture could not keep up)"
    return ""
