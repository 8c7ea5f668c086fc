"""The open capture every view shows: store, analysis, selection, filter.

One ``Document`` per window (mitmproxy's view: one store shared by all
front ends). Packets arrive in batches from a background thread, whether
they come from a file being opened or from a live capture: the same path
for both, so what a user sees live is what they see when they reopen the
file.

Threading: the loader thread appends to the store and the analysis under
``lock`` and then announces the new packet count with ``grown``. Views
read rows below ``count`` freely (the columns only ever grow); anything
that walks the analysis's own structures (``conversations()``) takes the
lock.

The loader is Python too, so it competes with the window for the GIL, and
Python shares the GIL evenly: every time Qt calls into Python to paint a
cell or run a slot, the window could wait for the loader's turn to end.
The window gets priority instead: while busy, the document runs a 10 ms
heartbeat timer, and the loader works in small chunks and, between two,
sleeps while the heartbeat is late (the event loop is busy and wants the
GIL) and goes on at full speed while the window is idle.

Python's cyclic garbage collector gets in the way too: a big analysis is
hundreds of thousands of objects, and each full collection walks them all
with the GIL held (up to 66 ms for a million packets). They hold no
reference cycles (refcounting frees them with the store), so once a
capture is big the loader moves them out of the collector's sight
(``gc.freeze()``) after every chunk.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PyQt6.QtCore import QObject, Qt, QTimer, pyqtSignal, pyqtSlot

from visualizer.core.capture.child import CaptureProcess
from visualizer.core.decode.store import PacketStore, format_endpoint
from visualizer.core.describe.kinds import packet_kinds
from visualizer.core.errors import VisualizerError
from visualizer.core.flows.analysis import Analysis
from visualizer.core.pcap.format import PCAP_RECORD_HEADER
from visualizer.core.pcap.growing import GrowingCapture
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.pcap.recording import RecordingInfo
from visualizer.core.pcap.records import Records

FIRST_BATCH = 2_000      # small, so the first rows show at once
CHUNK = 1_024            # then packets per turn of the loader (about 10 ms of work):
                         # how long the window may wait for the lock or for the
                         # loader to notice that it is busy
LIVE_POLL_SECONDS = 0.05
MIN_SIGNAL_SECONDS = 0.1  # at most ten ``grown`` signals a second
HEARTBEAT_MS = 10        # the window's pulse while loading or capturing
LATE_SECONDS = 0.025     # a pulse this late: the event loop is busy, the loader waits
MAX_WAIT_SECONDS = 0.25  # but never longer than this at a time
FREEZE_FROM = 100_000    # packets: from here on the loader freezes what it made


@dataclass(frozen=True)
class Conversation:
    """A row of the conversations pane."""

    kind: str            # "tcp" or "udp"
    number: int          # tcp.stream or UDP flow index
    endpoints: tuple[str, str]
    packets: int
    bytes: int
    first_ns: int
    last_ns: int
    states: str          # "TIME-WAIT / CLOSED" for TCP, "" for UDP
    problems: int = 0    # packets with analysis flags

    @property
    def key(self) -> tuple[str, int]:
        return (self.kind, self.number)

    @property
    def duration_s(self) -> float:
        return (self.last_ns - self.first_ns) / 1e9


class Document(QObject):
    """The capture shown in one window.

    Signals:
        reset(): a new capture replaced the old one (or the document closed).
        grown(int): packets up to the given count can now be read.
        progress(int, int): bytes read / total while opening a file.
        finished(str): loading or capturing ended; the text says why it
            stopped early ("" when it simply completed).
        capture_stats(int, int): received / dropped, while capturing.
        current_changed(int): the selected packet (0-based, -1 for none).
        conversation_changed(): the conversation filter changed.
    """

    reset = pyqtSignal()
    grown = pyqtSignal(int)
    progress = pyqtSignal(int, int)
    finished = pyqtSignal(str)
    capture_stats = pyqtSignal(int, int)
    current_changed = pyqtSignal(int)
    conversation_changed = pyqtSignal()

    # emitted from the worker thread; connected queued to the slots below
    _batch = pyqtSignal(object, object, int)
    _rebased = pyqtSignal(object, object, object, int, int)
    _done = pyqtSignal(object, str)
    _progress = pyqtSignal(object, int, int)
    _stats = pyqtSignal(object, int, int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.lock = threading.RLock()
        self.store: PacketStore | None = None
        self.analysis: Analysis | None = None
        self.recording: RecordingInfo | None = None
        self.path: str | None = None
        self.live = False           # a live capture is (or was) the source
        self.busy = False           # loading or capturing right now
        self.count = 0
        self.first_number = 1       # frame number of index 0 (a ring buffer moves it on)
        self.current = -1
        self.conversation: tuple[str, int] | None = None
        self._job: _Job | None = None
        self._kinds = np.zeros(0, dtype=np.uint8)
        self._endpoint_text: dict[tuple[str, int], tuple[str, str]] = {}
        self._states_text: dict[tuple[object, ...], str] = {}
        self._heartbeat = QTimer(self)
        self._heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
        self._heartbeat.setInterval(HEARTBEAT_MS)
        self._heartbeat.timeout.connect(self._beat)
        self._batch.connect(self._on_batch)
        self._rebased.connect(self._on_rebased)
        self._done.connect(self._on_done)
        self._progress.connect(self._on_progress)
        self._stats.connect(self._on_stats)

    # -- opening -------------------------------------------------------
    def open_file(self, path: str) -> None:
        """Start loading ``path`` in the background; ``BadInput`` if it is no capture."""
        capture = CaptureFile.open(path)
        self.close()
        store = PacketStore(capture)
        self.store, self.analysis = store, Analysis(store)
        self.recording = RecordingInfo.from_capture(capture)  # before views hear of it
        self.path, self.busy = path, True
        self.reset.emit()
        job = _Job(self)
        job.store, job.analysis = self.store, self.analysis
        self._start(job, lambda: _load(job, capture))

    def start_capture(self, interface: str, bpf: str | None, spool: str, *,
                      python: str | None = None, keep_last: int = 0) -> None:
        """Capture live into ``spool`` and show the packets as they come.

        Starting the capture process waits for its ready line, which can
        take a moment, so that also happens in the background; failures
        arrive as ``finished`` with the reason. ``keep_last`` > 0 is a ring
        buffer: only about that many recent packets stay in memory and in
        view (the spool keeps them all), so a capture can run for hours.
        """
        self.close()
        self.path, self.live, self.busy = spool, True, True
        self.reset.emit()
        job = _Job(self)
        self._start(job, lambda: _capture(job, interface, bpf, spool, python, keep_last))

    def _start(self, job: _Job, body: Callable[[], str]) -> None:
        self._job = job
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
        with self.lock:
            if self.store is not None:
                self.store.close()
            self.store = self.analysis = self.recording = None
        self.path, self.live, self.busy = None, False, False
        self.count, self.current, self.conversation = 0, -1, None
        self.first_number = 1
        self._kinds = np.zeros(0, dtype=np.uint8)
        self._endpoint_text.clear()
        self.reset.emit()

    @property
    def capture_pid(self) -> int | None:
        """The live capture process's PID while it runs (status, tests)."""
        process = self._job.process if self._job is not None else None
        return process.pid if process is not None and process.running else None

    # -- selection ---------------------------------------------------------
    def set_current(self, index: int) -> None:
        index = index if 0 <= index < self.count else -1
        if index != self.current:
            self.current = index
            self.current_changed.emit(index)

    def set_conversation(self, key: tuple[str, int] | None) -> None:
        if key != self.conversation:
            self.conversation = key
            self.conversation_changed.emit()

    def visible_indices(self) -> np.ndarray | None:
        """Indices of the packets in the conversation filter (None: all)."""
        if self.conversation is None or self.analysis is None:
            return None
        kind, number = self.conversation
        a = self.analysis
        if kind == "tcp":
            return np.flatnonzero(a.column("stream")[:self.count] == number)
        mask = a.column("udp_flow")[:self.count] == number
        # list() of a dict runs in C under the GIL: a consistent copy without the lock
        linked = [i for i, link in list(a.icmp_links.items()) if link.flow == number
                  and i < self.count]
        mask[linked] = True
        return np.flatnonzero(mask)

    def kinds(self) -> np.ndarray:
        """Kind codes (``visualizer.core.describe.kinds``) of packets [0, count)."""
        if len(self._kinds) < self.count and self.analysis is not None:
            self._kinds = np.concatenate(
                [self._kinds, packet_kinds(self.analysis, len(self._kinds), self.count)])
        return self._kinds[:self.count]

    def conversations(self) -> list[Conversation]:
        """TCP streams then UDP flows, as of now."""
        if self.analysis is None:
            return []
        a = self.analysis
        # Called twice a second while packets arrive, over thousands of
        # conversations: the text that never changes is made once.
        names, states_text = self._endpoint_text, self._states_text
        with self.lock:
            rows = []
            stream = a.column("stream")[:self.count]
            bits = a.column("analysis")[:self.count]
            problems = np.bincount(stream[(stream >= 0) & (bits != 0)],
                                   minlength=len(a.tcp.connections)).tolist()
            for c in a.tcp.connections:
                key = ("tcp", c.stream)
                if (ends := names.get(key)) is None:
                    ends = names[key] = _endpoint_pair(c.endpoints)
                if (states := states_text.get(c.states)) is None:
                    states = states_text[c.states] = " / ".join(st.value for st in c.states)
                rows.append(Conversation(
                    "tcp", c.stream, ends, c.packets[0] + c.packets[1],
                    c.bytes[0] + c.bytes[1], c.first_ts_ns, c.last_ts_ns, states,
                    problems[c.stream] if c.stream < len(problems) else 0))
            for f in a.udp_flows:
                key = ("udp", f.flow)
                if (ends := names.get(key)) is None:
                    ends = names[key] = _endpoint_pair(f.endpoints)
                rows.append(Conversation(
                    "udp", f.flow, ends, f.packets[0] + f.packets[1], f.bytes[0] + f.bytes[1],
                    f.first_ts_ns, f.last_ts_ns,
                    f"{f.icmp_errors} ICMP error(s)" if f.icmp_errors else "", 0))
        return rows

    # -- worker results (GUI thread) -------------------------------------
    @pyqtSlot(object, object, object, int, int)
    def _on_rebased(self, job: _Job, store: PacketStore, analysis: Analysis, count: int,
                    first_number: int) -> None:
        """The ring buffer moved on: show the worker's new, shorter store."""
        if job is not self._job:
            return
        with self.lock:
            old, self.store, self.analysis = self.store, store, analysis
        self.count, self.first_number = count, first_number
        self.current, self.conversation = -1, None
        self._kinds = np.zeros(0, dtype=np.uint8)
        self._endpoint_text.clear()  # the new analysis numbers its streams anew
        if old is not None and old is not store:
            old.close()
        self.reset.emit()
        self.grown.emit(count)

    @pyqtSlot(object, object, int)
    def _on_batch(self, job: _Job, store: PacketStore, count: int) -> None:
        # a batch counted in a store the ring buffer has replaced is stale
        if job is self._job and store is self.store and count > self.count:
            self.count = count
            self.grown.emit(count)

    @pyqtSlot(object, str)
    def _on_done(self, job: _Job, message: str) -> None:
        if job is not self._job:
            return
        self.busy = False
        self._heartbeat.stop()
        self.finished.emit(message)

    @pyqtSlot(object, int, int)
    def _on_progress(self, job: _Job, done: int, total: int) -> None:
        if job is self._job:
            self.progress.emit(done, total)

    @pyqtSlot(object, int, int)
    def _on_stats(self, job: _Job, received: int, dropped: int) -> None:
        if job is self._job:
            self.capture_stats.emit(received, dropped)

    # -- used by the worker --------------------------------------------------
    def _attach_live(self, job: _Job, capture: GrowingCapture) -> None:
        """Worker: the spool exists now; set up the store on it."""
        with self.lock:
            store = PacketStore(capture)
            self.store, self.analysis = store, Analysis(store)
            job.store, job.analysis = store, self.analysis


def _endpoint_pair(endpoints: tuple[tuple[bytes, int], tuple[bytes, int]]
                   ) -> tuple[str, str]:
    (ea, pa), (eb, pb) = endpoints
    return format_endpoint(ea, pa), format_endpoint(eb, pb)


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
        self.store: PacketStore | None = None      # what the worker appends to
        self.analysis: Analysis | None = None

    def start(self, body: Callable[[], str]) -> None:
        def run() -> None:
            try:
                message = body()
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

    def add(self, records: Records, limit: int) -> int:
        """Decode and analyse up to ``limit`` more records; the new count."""
        doc = self.doc
        with doc.lock:
            store, analysis = self.store, self.analysis
            assert store is not None and analysis is not None
            store.extend(records, limit=len(store) + limit)
            analysis.run()
            count = len(store)
        if count >= FREEZE_FROM:
            gc.collect(1)  # the young garbage first, so none of it is frozen
            gc.freeze()
        return count

    def announce(self, count: int, *, force: bool = False) -> bool:
        """Tell the window about ``count`` packets (at most ten times a second)."""
        now = time.monotonic()
        if force or now - self._last_signal >= MIN_SIGNAL_SECONDS:
            self._last_signal = now
            self.doc._batch.emit(self, self.store, count)
            return True
        return False


def _load(job: _Job, capture: CaptureFile) -> str:
    records = capture.records()
    limit, count = FIRST_BATCH, 0
    while not job.cancel.is_set():
        new = job.add(records, limit)
        if new == count:
            break
        count, limit = new, CHUNK
        store = job.store
        if job.announce(count, force=count <= FIRST_BATCH) and store is not None:
            offset = int(store.values("offset")[count - 1])
            job.doc._progress.emit(job, offset, capture.size)
        job.make_way()
    job.announce(count, force=True)
    job.doc._progress.emit(job, capture.size, capture.size)
    if job.cancel.is_set():
        return f"stopped after {count:,} packets: the rest of the file was not read"
    if capture.warnings:
        return capture.warnings[0]
    return ""


def _rebase(job: _Job, spool: str, keep: int, first_number: int
            ) -> tuple[GrowingCapture, Records, int, int]:
    """Ring buffer: a new store over the last ``keep`` packets of the spool.

    Built aside (the GUI keeps showing the old store meanwhile) and handed
    over with ``_rebased``; the old store is closed by the GUI thread. The
    analysis starts over at the first kept packet, as it would for a
    capture that began there (connections already open join mid-stream).
    """
    old = job.store
    assert old is not None
    start = len(old) - keep
    tail = GrowingCapture.follow(spool)
    records = tail.records(old.values("offset")[start] - PCAP_RECORD_HEADER.size)
    store = PacketStore(tail)
    analysis = Analysis(store)
    store.extend(records)
    analysis.run()
    job.store, job.analysis = store, analysis
    first_number += start
    job.doc._rebased.emit(job, store, analysis, len(store), first_number)
    return tail, records, len(store), first_number


def _capture(job: _Job, interface: str, bpf: str | None, spool: str,
             python: str | None, keep_last: int) -> str:
    process = CaptureProcess(interface=interface, bpf=bpf, output=spool, python=python)
    job.process = process
    process.start()
    failure = ""
    first_number = 1
    count = 0
    try:
        growing = GrowingCapture.follow(spool)
        records = growing.records()
        job.doc._attach_live(job, growing)
        while True:
            stopping = job.cancel.is_set() or not process.running
            if stopping:
                try:
                    process.stop()
                except VisualizerError as err:
                    failure = str(err)
            growing.refresh()
            while (added := job.add(records, CHUNK)) != count:
                count = added
                job.make_way()
            if keep_last and count >= keep_last + max(keep_last // 4, 1000):
                growing, records, count, first_number = _rebase(job, spool, keep_last,
                                                                first_number)
            else:
                job.announce(count, force=stopping)
            job.doc._stats.emit(job, process.received, process.dropped)
            if stopping:
                break
            time.sleep(LIVE_POLL_SECONDS)
    finally:
        process.kill()
    count += first_number - 1  # every packet captured, shown or not
    kept = f"; the {count:,} packets captured before are kept"
    if failure:
        return failure + kept
    if not job.cancel.is_set():
        return "the capture process stopped by itself" + kept
    stats = process.stats
    if stats is not None and stats.dropped:
        return f"the kernel dropped {stats.dropped:,} packets (the capture could not keep up)"
    return ""
