"""The open capture as every front end sees it: the Session.

mitmproxy's view (``addons/view.py``) is the model: one object holds the
packets (``PacketStore``) and their ``Analysis``, the current packet and
the conversation filter, and what follows from them (the visible packets,
the conversations list, the packets the ladder draws), and knows nothing
of any front end. The GUI's Document turns its changes into Qt signals;
the commands print from it.

One path for files and live captures, as mitmproxy replays a saved file
through its live pipeline: :meth:`Session.open_capture` opens a file,
:meth:`Session.follow` a spool that a capture process is still writing,
and from then on :meth:`Session.read` decodes and analyses the next chunk
of packets, whichever the source. A file ends; a spool is mapped again
with :meth:`Session.refresh` as it grows. :meth:`Session.load` does it all
at once, for a command.

The Session has no thread of its own, but a front end may read in another
thread (the GUI does, to keep its window responsive), so it has two sides:

- reading (``refresh``, ``read``): the reader's thread. It appends to the
  store and the analysis under ``lock`` and returns a :class:`Batch`:
  packets up to ``count`` of ``store`` can now be shown.
- showing (everything else): the front end's thread. ``show(batch)`` moves
  ``count`` on. The front end reads rows below ``count`` without the lock
  (columns only grow, and the numpy caches check lengths); what walks the
  analysis's own structures takes ``lock`` (the methods here that do take
  it themselves; a window that must not wait acquires it first, with a
  timeout). ``open_capture``, ``follow`` and ``close`` only while no read
  is under way.

The ring buffer (``follow(..., keep_last=N)``): once a live capture holds
N + max(N/4, 1000) packets, ``read`` builds a new store over the spool's
last N packets aside (the analysis starts over there, as for a capture
that began there) and returns it in its batch; the front end shows the
old store until ``show`` hands the new one over in one step.

Python's cyclic garbage collector: a big analysis is hundreds of thousands
of objects, and each full collection walks them all with the GIL held (up
to 66 ms for a million packets). They hold no reference cycles (refcounting
frees them with the store), so once a capture is big ``read`` moves them
out of the collector's sight (``gc.freeze()``) after every chunk.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

from visualizer.core.collector import collector_paused
from visualizer.core.decode.store import PacketStore
from visualizer.core.describe.kinds import packet_kinds
from visualizer.core.describe.summary import PacketSummary
from visualizer.core.errors import BadInput
from visualizer.core.filter.evaluate import DisplayFilter
from visualizer.core.flows.analysis import Analysis
from visualizer.core.ladder.build import Ladder, attach_calls, combined_ladder, other_indices
from visualizer.core.ladder.transit import path_ladder
from visualizer.core.path.fates import PathRecord
from visualizer.core.path.view import PathView, path_view, unseen_numbers
from visualizer.core.pcap.format import PCAP_RECORD_HEADER
from visualizer.core.pcap.growing import GrowingCapture
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.pcap.recording import RecordingInfo
from visualizer.core.tcp.states import TcpState

CHUNK = 1_024             # packets per read unless asked otherwise
LOAD_CHUNK = 65_536       # packets per read of a command that shows its progress
FREEZE_FROM = 100_000     # packets: from here on a read freezes what it made
LADDER_ALL_LIMIT = 6      # conversations the ladder draws together when none is chosen
WINDOW = 5_000            # most packets the ladder draws
LIVE_WINDOW = 2_000       # a live capture's ladder: its newest packets
# np.isin's way for a column against a few conversation numbers: numpy picks a
# lookup table for integers, 8 ms over a million packets where comparing with
# each number takes 0.6 (it does that for a short list, and sorts a long one;
# a ladder shows at most LADDER_ALL_LIMIT conversations)
_FEW: Final[Literal["sort"]] = "sort"


@dataclass(slots=True)
class Conversation:
    """A row of the conversations list. Not frozen: the list is made anew at
    each refresh, a SYN scan's 200,000 rows several times while it loads, and
    a frozen dataclass's ``__init__`` (a ``setattr`` call a field) took four
    times as long. Treat it as read-only all the same."""

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


class _ConversationRows:
    """:meth:`Session.conversations`'s rows, each made again only when packets of
    its conversation have arrived since the last call. The list is asked for
    twice a second while a file loads; making every row each time took 0.3 s
    at 71,000 connections, holding up the window. A row is never changed: a
    conversation with new packets gets a new one."""

    def __init__(self, of: Analysis | None = None) -> None:
        self.of = of                      # the analysis the rows are of
        self.to = 0                       # its packets taken in
        self.tcp: list[Conversation] = []
        self.udp: list[Conversation] = []
        self.states: dict[tuple[TcpState, TcpState], str] = {}
        # rows made before that have had packets since, not made again yet
        # (``most``); the conversations past the rows made are the other ones
        self.stale_streams: set[int] = set()
        self.stale_flows: set[int] = set()
        self.left = False   # the last update's ``most`` left rows to later calls

    def update(self, count: int, problems: np.ndarray, most: int | None = None
               ) -> tuple[list[Conversation], list[Conversation]]:
        """(TCP rows, UDP rows) with packets [0, count) of the analysis taken in,
        and the tracker's counts as of now; ``problems``: flagged packets per stream.

        ``most``: make at most this many rows, those made before first, then
        new ones in turn; the others at the next calls: the list lags behind
        for a while rather than holding up the window. A call's work is that
        of the packets and rows it takes in, whatever the length of the list
        (but for a look at every ICMP error linked so far).
        """
        a = self.of
        assert a is not None
        start, self.to = self.to, count
        stream = a.column_slice("stream", start, count)
        flow = a.column_slice("udp_flow", start, count)
        # rows made before with packets since (new conversations come after them;
        # a stream numbered for an ICMP error's quoted header has no packet)
        self.stale_streams.update(np.unique(stream[(stream >= 0) & (stream < len(self.tcp))])
                                  .tolist())
        self.stale_flows.update(np.unique(flow[(flow >= 0) & (flow < len(self.udp))]).tolist())
        self.stale_flows.update(link.flow for i, link in list(a.icmp_links.items())
                                if start <= i < count and link.flow < len(self.udp))
        budget = len(a.tcp.connections) + len(a.udp_flows) if most is None else most
        stream_rows = _take(self.stale_streams, budget)
        stream_rows += range(len(self.tcp), min(len(a.tcp.connections),
                                                len(self.tcp) + budget - len(stream_rows)))
        budget -= len(stream_rows)
        flow_rows = _take(self.stale_flows, budget)
        flow_rows += range(len(self.udp), min(len(a.udp_flows),
                                              len(self.udp) + budget - len(flow_rows)))
        connections, states_text = a.tcp.connections, self.states
        made = np.asarray(stream_rows, dtype=np.int64)
        flagged = np.zeros(len(made), np.int64)
        inside = made < len(problems)
        flagged[inside] = problems[made[inside]]
        for k, bad in zip(stream_rows, flagged.tolist(), strict=True):
            c = connections[k]
            ends = a.endpoint_texts("tcp", k)
            if (states := states_text.get(c.states)) is None:
                states = states_text[c.states] = " / ".join(st.value for st in c.states)
            _put(self.tcp, k, Conversation(
                "tcp", k, ends, c.packets[0] + c.packets[1], c.bytes[0] + c.bytes[1],
                c.first_ts_ns, c.last_ts_ns, states, bad))
        for k in flow_rows:
            f = a.udp_flows[k]
            ends = a.endpoint_texts("udp", k)
            _put(self.udp, k, Conversation(
                "udp", k, ends, f.packets[0] + f.packets[1], f.bytes[0] + f.bytes[1],
                f.first_ts_ns, f.last_ts_ns,
                f"{f.icmp_errors} ICMP error(s)" if f.icmp_errors else "", 0))
        # (the loader appends to the tables only under the session's lock, held here)
        self.left = bool(self.stale_streams or self.stale_flows
                         or len(self.tcp) < len(a.tcp.connections)
                         or len(self.udp) < len(a.udp_flows))
        return self.tcp, self.udp


def _take(stale: set[int], most: int) -> list[int]:
    """Up to ``most`` numbers out of ``stale`` (all of them when it has no more)."""
    if len(stale) <= most:
        taken = list(stale)
        stale.clear()
        return taken
    return [stale.pop() for _ in range(max(most, 0))]


def _put(rows: list[Conversation], k: int, row: Conversation) -> None:
    """Row ``k`` of ``rows`` made anew, or the next one (conversations are numbered
    in turn, and the new ones are taken in ascending order)."""
    if k < len(rows):
        rows[k] = row
    else:
        rows.append(row)


@dataclass(frozen=True)
class Batch:
    """What one read brought: packets [0, count) of ``store`` can be shown."""

    store: PacketStore
    analysis: Analysis | None
    count: int
    first_number: int    # frame number of the store's first packet (a ring buffer moves it on)
    added: int           # packets this read added (0: nothing more for now)
    bytes_read: int      # how far into the file reading has got (all of it: nothing more)
    bytes_total: int


@dataclass(frozen=True)
class LadderWindow:
    """Which packets the ladder draws: these conversations (and, with
    ``others``, the packets of none), between indices ``start`` and ``stop``."""

    streams: tuple[int, ...]
    flows: tuple[int, ...]
    others: bool
    start: int
    stop: int
    partial: bool        # some packets of the conversations fall outside


class _Feed:
    """Where reading goes on: a capture, its walk over records, the store and
    analysis they fill. A ring buffer's new feed runs ahead of what is shown."""

    def __init__(self, capture: CaptureFile, *, analyse: bool = True,
                 first_number: int = 1, only_interface: int | None = None,
                 start: int | None = None) -> None:
        self.capture = capture
        self.store = PacketStore(capture)
        self.analysis = (Analysis(self.store, only_interface=only_interface) if analyse
                         else None)
        self.first_number = first_number
        # one walk for a file and a spool: a spool's stops quietly at a record
        # not complete yet, and goes on from it once it is
        self.records = capture.records() if start is None else capture.records(start)

    def take(self, limit: int | None) -> int:
        """Decode and analyse up to ``limit`` more frames (None: all there are)."""
        store = self.store
        before = len(store)
        store.extend(self.records, limit=None if limit is None else before + limit)
        if self.analysis is not None:
            self.analysis.run()
        return len(store) - before

    def tail(self, keep: int) -> _Feed:
        """A new feed over the last ``keep`` packets of this spool."""
        start = len(self.store) - keep
        spool = GrowingCapture.follow(self.capture.path)
        feed = _Feed(spool, analyse=self.analysis is not None,
                     first_number=self.first_number + start,
                     start=int(self.store.values("offset")[start]) - PCAP_RECORD_HEADER.size)
        feed.take(None)
        return feed

    def batch(self, added: int) -> Batch:
        store, size = self.store, self.capture.size
        count = len(store)
        done = int(store.values("offset")[count - 1]) if count and added else size
        return Batch(store, self.analysis, count, self.first_number, added, done, size)


class Session:
    """One open capture and what a front end shows of it (module docstring)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.store: PacketStore | None = None
        self.analysis: Analysis | None = None
        self.recording: RecordingInfo | None = None
        self.path: str | None = None
        self.live = False            # a live capture is (or was) the source
        self.following = False       # ... and is still being written
        self.keep_last = 0           # ring buffer: about this many packets (0: all)
        self.sweep = True            # collect young garbage before freezing (read)
        self.count = 0               # packets shown
        self.first_number = 1        # frame number of index 0 (a ring buffer moves it on)
        self.current = -1
        self.conversation: tuple[str, int] | None = None
        self.display_filter: DisplayFilter | None = None
        self._shown: tuple[object, int, np.ndarray] | None = None  # (store, count, mask)
        self._feed: _Feed | None = None
        self.path_record: PathRecord | None = None   # a recording on a path
        self._path_view: PathView | None = None
        self._read_all = False        # the whole file is shown (a path view needs it)
        self._retired: list[PacketStore] = []   # ring buffer: stores read past, not closed
        self._kinds = np.zeros(0, dtype=np.uint8)
        # per TCP stream, its packets with an analysis flag among the first
        # ``_problems_to`` of ``_problems_of`` (counted a batch at a time)
        self._problems = np.zeros(0, dtype=np.int64)
        self._problems_to = 0
        self._problems_of: Analysis | None = None
        self._shown_conversations: tuple[object, set[int], set[int]] = (None, set(), set())
        self._rows = _ConversationRows()

    # -- opening -----------------------------------------------------------
    def open_capture(self, capture: CaptureFile, *, analyse: bool = True) -> None:
        """Show ``capture`` (a file: ``CaptureFile.open``), empty until read.

        ``analyse=False``: the store only, for a command that needs no
        analysis (``analysis`` stays None).
        """
        self.close()
        recording = RecordingInfo.from_capture(capture)
        # On a path, the analysis is a tap at the receiving end (path/view.py).
        self.path_record = (PathRecord.from_dict(recording.path)
                            if recording is not None and recording.path else None)
        feed = self._feed = _Feed(capture, analyse=analyse, only_interface=(
            self.path_record.analysed_end if self.path_record is not None else None))
        self.store, self.analysis = feed.store, feed.analysis
        self.recording = recording
        self.path = capture.path

    def follow(self, path: str, *, keep_last: int = 0) -> None:
        """Follow the pcap spool at ``path`` that a capture process is writing.

        The spool is opened at the first ``refresh`` or ``read`` (its pcap
        header must be written by then) and shown from the first batch.
        ``keep_last`` > 0 is a ring buffer (module docstring).
        """
        self.close()
        self.path, self.live, self.following, self.keep_last = path, True, True, keep_last

    @classmethod
    def load(cls, path: str, *, analyse: bool = True,
             progress: Callable[[int, int], None] | None = None) -> Session:
        """The file at ``path``, read to the end (a command's way in; close it,
        or use it as a context manager). ``progress(bytes read, bytes in all)``
        is called after each of the reads of LOAD_CHUNK packets it then makes."""
        session = cls()
        # No sweep: it would walk every object the analysis made (a million
        # packets of short connections: 0.4 s) to find none of them garbage.
        # What a sweep finds is the interpreter's start-up garbage (a few
        # hundred objects), frozen then; a command reads once and exits. A
        # window reads a little at a time and still sweeps: its own young
        # garbage would be frozen with the packets' objects.
        session.sweep = False
        session.open_capture(CaptureFile.open(path), analyse=analyse)
        limit = None if progress is None else LOAD_CHUNK
        try:
            while (batch := session.read(limit)).added:
                session.show(batch)
                if progress is not None:
                    progress(batch.bytes_read, batch.bytes_total)
            session.show(batch)   # nothing more: the whole file is shown
        except BaseException:
            session.close()
            raise
        return session

    def finish(self) -> None:
        """The capture is no longer written to (the capture process ended)."""
        self.following = False

    def close(self) -> None:
        """Forget the capture and close its file (no read may be under way)."""
        feed, self._feed = self._feed, None
        with self.lock:
            stores = [self.store, *self._retired, feed.store if feed is not None else None]
            for store in {id(s): s for s in stores if s is not None}.values():
                store.close()
            self.store = self.analysis = self.recording = None
            self._retired = []
            self.path_record, self._path_view, self._read_all = None, None, False
        self.path, self.live, self.following, self.keep_last = None, False, False, 0
        self.count, self.current, self.conversation = 0, -1, None
        self.first_number = 1
        self._shown = None
        self._kinds = np.zeros(0, dtype=np.uint8)
        self._rows = _ConversationRows()
        self._shown_conversations = (None, set(), set())
        self._problems, self._problems_to, self._problems_of = np.zeros(0, np.int64), 0, None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def warnings(self) -> list[str]:
        """What a user should be told about the file (``PacketStore.warnings``)."""
        return self.store.warnings() if self.store is not None else []

    # -- reading (the reader's thread) -----------------------------------------
    def refresh(self) -> bool:
        """A live capture: map the spool again if it grew; True when it did."""
        feed = self._reading()
        return isinstance(feed.capture, GrowingCapture) and feed.capture.refresh()

    def read(self, limit: int | None = CHUNK) -> Batch:
        """Decode and analyse up to ``limit`` more packets (None: all there are)."""
        feed = self._reading()
        # The collector stays off until the freeze: turned on between the two, it
        # walks everything the analysis made (a scan's 2.8 million objects, more
        # than a second) just before gc.collect(1) walks it all again.
        with collector_paused():
            with self.lock:
                added = feed.take(limit)
            if len(feed.store) >= FREEZE_FROM:
                if self.sweep:
                    gc.collect(1)  # the young garbage first, so none of it is frozen
                gc.freeze()
        keep = self.keep_last
        if keep and len(feed.store) >= keep + max(keep // 4, 1000):
            retired = feed.store
            feed = self._feed = feed.tail(keep)
            with self.lock:
                self._retired.append(retired)
        return feed.batch(added)

    def _reading(self) -> _Feed:
        if self._feed is None:
            if not self.live or self.path is None:
                raise ValueError("nothing to read: open a capture or follow a spool first")
            self._feed = _Feed(GrowingCapture.follow(self.path))
        return self._feed

    # -- showing (the front end's thread) --------------------------------------
    def show(self, batch: Batch) -> bool:
        """Show packets [0, batch.count) of the batch's store.

        True when that store replaced the one shown (the ring buffer moved
        on: every index, the current packet and the filter start over); a
        batch of a store already replaced is ignored.
        """
        if batch.store is self.store:
            self.count = max(self.count, batch.count)
            self._read_all = not batch.added and batch.bytes_read >= batch.bytes_total
            return False
        if self.store is not None and batch.first_number <= self.first_number:
            return False
        replaced = self.store is not None
        with self.lock:
            self.store, self.analysis = batch.store, batch.analysis
            done = [s for s in self._retired if s is not batch.store]
            self._retired = [s for s in self._retired if s is batch.store]
        for store in done:
            store.close()
        self.count, self.first_number = batch.count, batch.first_number
        self._read_all = not batch.added and batch.bytes_read >= batch.bytes_total
        if replaced:
            self.current, self.conversation = -1, None
            self._kinds = np.zeros(0, dtype=np.uint8)
        return replaced

    @property
    def path_view(self) -> PathView | None:
        """A recording on a path seen once per packet (None otherwise), once it is
        read to the end."""
        record, store = self.path_record, self.store
        if (record is None or store is None or self.following or not self._read_all
                or self.count < len(store)):
            return None
        if self._path_view is None:
            self._path_view = path_view(store, record)
        return self._path_view

    def summary(self) -> PacketSummary | None:
        """Column texts of the packets (None before there is an analysis); on a path
        the packets lost on the way are numbered as their streams' others."""
        store, analysis = self.store, self.analysis
        if store is None or analysis is None:
            return None
        view = self.path_view
        return PacketSummary(store, analysis, unseen_numbers(store, analysis, view)
                             if view is not None else None)

    def set_current(self, index: int) -> bool:
        """Select packet ``index`` (-1: none); True if that changed anything. On a
        path a packet's copy at the other end selects the packet as the view shows it."""
        index = index if 0 <= index < self.count else -1
        if index >= 0 and self.path_view is not None:
            shown = self.path_view.shown_as(index)
            index = shown if shown >= 0 else index
        changed, self.current = index != self.current, index
        return changed

    def set_conversation(self, key: tuple[str, int] | None) -> bool:
        """Filter on conversation ``("tcp" | "udp", number)`` (None: all packets)."""
        changed, self.conversation = key != self.conversation, key
        return changed

    def set_display_filter(self, display_filter: DisplayFilter | None) -> bool:
        """Show only the packets that match ``display_filter`` (None: all); True if
        that changed anything. It narrows everything the views read: the visible
        packets, the conversations list, the ladder (and so playback)."""
        changed = (display_filter.text if display_filter is not None else None) != (
            self.display_filter.text if self.display_filter is not None else None)
        self.display_filter, self._shown = display_filter, None
        return changed

    def shown(self) -> np.ndarray | None:
        """Per packet in [0, count): does the display filter keep it? (None: no
        filter.) Evaluated again only when the packets shown have changed."""
        f, store = self.display_filter, self.store
        if f is None or store is None:
            return None
        cached = self._shown
        if cached is None or cached[0] is not store or cached[1] > self.count:
            cached = (store, 0, np.zeros(0, bool))
        if cached[1] < self.count:   # only the packets that are new (a live capture)
            more = f.mask(store, self.analysis, self.count, self.first_number, cached[1])
            cached = self._shown = (store, self.count, np.concatenate([cached[2], more]))
        return cached[2]

    def visible_indices(self) -> np.ndarray | None:
        """Indices of the packets in the conversation filter and the display filter
        (None: all). On a path, each packet once (``path_view``), not its copy at
        each end."""
        rows = self._conversation_indices()
        shown = self.shown()
        if shown is None:
            return rows
        return np.flatnonzero(shown) if rows is None else rows[shown[rows]]

    def first_visible(self) -> int:
        """The first packet the views show (-1: none): what a newly opened capture
        selects, so that a display filter kept from the last one is obeyed."""
        rows = self.visible_indices()
        if rows is None:
            return 0 if self.count else -1
        return int(rows[0]) if len(rows) else -1

    def _conversation_indices(self) -> np.ndarray | None:
        view = self.path_view
        if view is not None:
            rows = view.rows
            if self.conversation is not None and self.analysis is not None:
                column = "stream" if self.conversation[0] == "tcp" else "udp_flow"
                mine = self.analysis.column(column)[rows] == self.conversation[1]
                rows = rows[mine]
            return rows
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

    def conversations(self, most: int | None = None) -> list[Conversation]:
        """TCP streams then UDP flows, as of now. A conversation none of whose
        packets arrived since the last call is the same object as then.

        ``most``: make at most this many rows anew: those made before that
        have had packets since, then new ones in turn; the others are as of
        an earlier call, or missing, until :attr:`conversations_behind` is
        False.
        """
        if self.analysis is None:
            return []
        a = self.analysis
        shown = self.shown()
        with self.lock:
            if self._rows.of is not a or self.count < self._rows.to:   # a new capture or ring
                self._rows = _ConversationRows(a)
            tcp, udp = self._rows.update(self.count, self._stream_problems(a), most)
            if shown is None:
                return tcp + udp
            # with a display filter: those with a packet shown (the same mask
            # object until the filter or the packets change: counted once)
            if self._shown_conversations[0] is not shown:
                self._shown_conversations = (
                    shown, set(np.unique(a.column("stream")[:self.count][shown]).tolist()),
                    set(np.unique(a.column("udp_flow")[:self.count][shown]).tolist()))
            _, streams, flows = self._shown_conversations
            return ([c for c in tcp if c.number in streams]
                    + [c for c in udp if c.number in flows])

    @property
    def conversations_behind(self) -> bool:
        """Are there conversations :meth:`conversations` has not made as of now:
        packets it has not taken in yet, or rows its ``most`` left to later calls?"""
        if self.analysis is None:
            return False
        rows = self._rows
        return rows.of is not self.analysis or rows.to < self.count or self.conversations_left

    @property
    def conversations_left(self) -> bool:
        """Rows the last :meth:`conversations` call's ``most`` left to later calls."""
        return self._rows.of is self.analysis and self._rows.left

    def _stream_problems(self, a: Analysis) -> np.ndarray:
        """Per TCP stream, its packets shown so far that carry an analysis flag.

        Counted from the packets shown since the last call only: the
        conversations list asks twice a second while a file loads, and
        counting them all again copied two columns whole each time (at 10^7
        packets, tens of milliseconds of a window's refresh).
        """
        start, stop = self._problems_to, self.count
        if a is not self._problems_of or stop < start:
            self._problems_of, self._problems, start = a, np.zeros(0, dtype=np.int64), 0
        if stop > start:
            stream = a.column_slice("stream", start, stop)
            bits = a.column_slice("analysis", start, stop)
            # as long as the streams so far, which only grow: never shorter than before
            counts = np.bincount(stream[(stream >= 0) & (bits != 0)],
                                 minlength=max(len(a.tcp.connections), len(self._problems)))
            counts[:len(self._problems)] += self._problems
            self._problems = counts
        self._problems_to = stop
        return self._problems

    # -- the ladder ------------------------------------------------------------
    def ladder_window(self, *, everything: bool = False) -> LadderWindow:
        """Which packets the ladder draws (needs an analysis).

        The chosen conversation; with none chosen, every conversation (and
        the packets of none) of a capture with a few, or else the current
        packet's conversation (or, for a packet of none, the packets of
        none). A ladder of hundreds of thousands of arrows helps nobody and
        costs seconds to build, so a live capture being written draws its
        newest LIVE_WINDOW packets and a huge conversation the WINDOW
        packets around the current one. ``everything``: every conversation
        and every packet (an export).
        """
        a, count = self.analysis, self.count
        assert a is not None
        with self.lock:
            streams, flows = range(len(a.tcp.connections)), range(len(a.udp_flows))
            if everything:
                return LadderWindow(tuple(streams), tuple(flows), True, 0, count, False)
            selected = self._ladder_selection(a, len(streams) + len(flows))
            if selected is None:
                selected = tuple(streams), tuple(flows), True
            return self._window(a, *selected)

    def _ladder_selection(self, a: Analysis, conversations: int
                          ) -> tuple[tuple[int, ...], tuple[int, ...], bool] | None:
        """(TCP streams, UDP flows, whether packets of no conversation too); None: all."""
        if self.conversation is not None:
            kind, number = self.conversation
            return ((number,), (), False) if kind == "tcp" else ((), (number,), False)
        if conversations <= LADDER_ALL_LIMIT:
            return None
        current = self.current if self.current >= 0 else 0
        stream = int(a.values("stream")[current]) if self.count else -1
        flow = int(a.values("udp_flow")[current]) if self.count else -1
        if stream >= 0:
            return (stream,), (), False
        if flow >= 0:
            return (), (flow,), False
        return (), (), True  # the current packet is in no conversation: its neighbours

    def _window(self, a: Analysis, streams: tuple[int, ...], flows: tuple[int, ...],
                others: bool) -> LadderWindow:
        count = self.count
        if self.following:
            start = max(0, count - LIVE_WINDOW)
            return LadderWindow(streams, flows, others, start, count, start > 0)
        total = len(other_indices(a, 0, count)) if others else 0
        for name, numbers in (("stream", streams), ("udp_flow", flows)):
            if numbers:
                column = a.column(name)[:count]
                total += int(np.count_nonzero(np.isin(column, numbers, kind=_FEW)))
        if total <= WINDOW:
            return LadderWindow(streams, flows, others, 0, count, False)
        current = self.current if self.current >= 0 else max(0, count - 1) if self.live else 0
        start = max(0, min(current - WINDOW // 10, count - WINDOW))
        stop = min(count, start + WINDOW)
        return LadderWindow(streams, flows, others, start, stop, start > 0 or stop < count)

    def ladder_members(self, window: LadderWindow) -> np.ndarray:
        """Indices of every packet of ``window``'s conversations (and, with
        ``others``, of no conversation) in the whole capture, not only between
        its start and stop: what stepping walks through, window after window."""
        a, count = self.analysis, self.count
        assert a is not None
        with self.lock:
            chosen = np.zeros(count, dtype=bool)
            for name, numbers in (("stream", window.streams), ("udp_flow", window.flows)):
                if numbers:
                    chosen |= np.isin(a.column(name)[:count], numbers, kind=_FEW)
            for i, link in dict(a.icmp_links).items():   # an ICMP error on its UDP flow
                if i < count and link.flow in window.flows:
                    chosen[i] = True
            if window.others:
                chosen[other_indices(a, 0, count)] = True
        shown = self.shown()   # the display filter narrows stepping as it narrows the ladder
        if shown is not None:
            chosen &= shown[:count]
        return np.flatnonzero(chosen)

    def ladder(self, window: LadderWindow | None = None, *, absolute: bool = False
               ) -> Ladder | None:
        """The ladder of ``window`` (default: :meth:`ladder_window`) with the
        recording's socket calls; None when there is nothing to draw (no
        packets, or no IP or Ethernet hosts among them)."""
        if self.analysis is None or not self.count:
            return None
        view = self.path_view
        if view is not None and self.store is not None:   # sloped arrows, crosses for the lost
            with self.lock:
                try:
                    ladder = path_ladder(self.store, self.analysis, view, absolute=absolute)
                except BadInput:   # no conversation at all
                    return None
            if self.conversation is not None:
                kind, number = self.conversation
                name = f"{'TCP stream' if kind == 'tcp' else 'UDP flow'} {number}"
                ladder.arrows = [a for a in ladder.arrows if a.conversation == name]
            ladder = self._only_shown(ladder)
            return attach_calls(ladder, self.recording) if ladder.arrows else None
        with self.lock:
            window = window or self.ladder_window()
            try:
                ladder = combined_ladder(self.analysis, window.streams, window.flows,
                                         absolute=absolute, limit=window.stop,
                                         start=window.start, others=window.others)
            except BadInput:  # nothing a ladder can draw: no IP or Ethernet hosts
                return None
        ladder = self._only_shown(ladder)
        return attach_calls(ladder, self.recording) if ladder.arrows else None

    def _only_shown(self, ladder: Ladder) -> Ladder:
        """The ladder's arrows of the packets the display filter keeps (playback
        steps through the arrows, so through those packets only)."""
        shown = self.shown()
        if shown is not None:
            ladder.arrows = [a for a in ladder.arrows if a.index < len(shown) and shown[a.index]]
        return ladder

