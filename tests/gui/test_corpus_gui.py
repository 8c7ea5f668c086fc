"""Every file of tcpdump's corpus through the GUI's own path, one after another.

One window's worth of views stays open while the files are opened in turn,
as a user would open them: the ``Document`` loads each in its background
thread, then the packet table, the conversations pane, the timeline, the
ladder (drawn), the packet detail (first and last packet) and the
explanation of every packet are asked for what they would show. A file
must not crash a view, hang (each file within ``SECONDS_PER_FILE``) or cost
memory far beyond its size; one the app cannot read is refused with one
line. The test prints what it saw: how many files opened fully, partly or
were refused, the slowest files and the worst memory growth.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import QModelIndex, Qt
from PyQt6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from visualizer.core import decode as dec
from visualizer.core.dissect import analysis_nodes
from visualizer.core.errors import BadInput
from visualizer.core.explain import explain
from visualizer.core.ladder import combined_ladder
from visualizer.core.timescale import positions
from visualizer.gui.conversations import ConversationsPane
from visualizer.gui.detail import PacketDetail
from visualizer.gui.document import Document
from visualizer.gui.ladder_view import LadderView
from visualizer.gui.packet_table import PacketTable
from visualizer.gui.timeline import Timeline

pytestmark = pytest.mark.corpus

SAMPLE = Path(__file__).resolve().parents[2] / "resources" / "samples" / "tcp-handshake.pcapng"

SECONDS_PER_FILE = 10.0
LADDER_CONVERSATIONS = 6     # as the stage draws them when none is selected
# Memory: RSS growth while one file is open may be this many times the file
# (its mapping, columns, analysis, the views' caches)...
MEMORY_FACTOR = 20
# ...but growth below this is noise (allocator arenas, Qt's caches, scapy's
# first import) and never fails the test.
MEMORY_FLOOR = 48 * 1024 * 1024
RATIO_MIN_SIZE = 16 * 1024
ROLES = (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole,
         Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole)


def _status(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/self/status")


def rss_bytes() -> int:
    """This process's resident set size now."""
    return _status("VmRSS")


def reset_peak() -> bool:
    """Start measuring the peak RSS afresh (Linux >= 4.0); False where that is refused."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


def peak_bytes(measured: bool) -> int:
    """The peak RSS since ``reset_peak`` (its result ``measured``), else RSS now."""
    return _status("VmHWM") if measured else rss_bytes()


@dataclass
class Outcome:
    name: str
    size: int
    kind: str = "fully"          # fully, partly or refused
    why: str = ""                # the refusal, warning or frame status that made it so
    packets: int = 0
    seconds: float = 0.0
    growth: int = 0              # peak RSS while the file was open, less RSS before


class Views:
    """The views of one main window, fed by one Document."""

    def __init__(self, qtbot: QtBot) -> None:
        self.window = QWidget()
        qtbot.addWidget(self.window)
        self.window.resize(1200, 900)
        self.doc = Document(self.window)
        self.table = PacketTable(self.doc, self.window)
        self.table.setGeometry(0, 0, 600, 300)
        self.conversations = ConversationsPane(self.doc, self.window)
        self.conversations.setGeometry(600, 0, 600, 300)
        self.timeline = Timeline(self.window)
        self.timeline.setGeometry(0, 300, 600, 300)
        self.ladder = LadderView(self.window)
        self.ladder.setGeometry(600, 300, 600, 300)
        self.detail = PacketDetail(self.window)
        self.detail.setGeometry(0, 600, 1200, 300)
        self.window.show()
        qtbot.waitExposed(self.window)

    def show_all(self) -> None:
        """Ask every view for what it shows of the loaded file."""
        doc = self.doc
        store, analysis = doc.store, doc.analysis
        assert store is not None and analysis is not None
        assert len(store) == doc.count
        model = self.table.model
        assert model.rowCount() == doc.count
        for row in {0, doc.count - 1} if doc.count else ():
            for column in range(model.columnCount()):
                index = model.index(row, column, QModelIndex())
                for role in ROLES:
                    model.data(index, role)
                assert isinstance(model.data(index, Qt.ItemDataRole.DisplayRole), str)

        self.conversations.model.refresh()
        conversations = doc.conversations()
        assert self.conversations.model.rowCount() == len(conversations)

        if not doc.count:
            return
        self.timeline.set_analysis(analysis, doc.count)
        assert len(self.timeline.packet_times()) == doc.count

        streams = range(min(len(analysis.tcp_summaries), LADDER_CONVERSATIONS))
        flows = range(min(len(analysis.udp_flows), LADDER_CONVERSATIONS - len(streams)))
        if len(streams) + len(flows):
            ladder = combined_ladder(analysis, streams, flows, limit=doc.count)
            self.ladder.set_ladder(ladder, positions(ladder.timestamps(), "log"))
            image = self.ladder.render_image(visible_only=True)
            assert not image.isNull()
        else:
            self.ladder.set_ladder(None)

        linktype = store.values("linktype")
        for i in {0, doc.count - 1}:
            self.detail.show_packet(store.frame(i), int(linktype[i]), analysis_nodes(analysis, i))
            assert self.detail.nodes()
        for i in range(doc.count):
            assert explain(analysis, i).title
        QApplication.processEvents()  # paint it all now, counted for this file


def outcome_of(views: Views, message: str) -> tuple[str, str]:
    """("fully" | "partly", why) for a file the document loaded."""
    store = views.doc.store
    assert store is not None
    if message:
        return "partly", message.split(" at byte")[0]
    status = store.column("status")
    if (status == dec.MALFORMED).any():
        return "partly", "malformed frames marked"
    if (status == dec.UNSUPPORTED_LINK).any():
        return "partly", "link type not decoded"
    return "fully", ""


def open_one(qtbot: QtBot, views: Views, path: Path) -> Outcome:
    result = Outcome(path.name, path.stat().st_size)
    peak_measured = reset_peak()
    before = rss_bytes()
    started = time.perf_counter()
    try:
        with qtbot.wait_signal(views.doc.finished, timeout=int(SECONDS_PER_FILE * 1000)) as done:
            views.doc.open_file(str(path))
    except BadInput as err:
        text = str(err)
        assert "\n" not in text and text.startswith(str(path)), text
        result.kind, result.why = "refused", text.split(": ", 1)[1]
    else:
        message = str(done.args[0])
        assert "internal error" not in message, f"{path.name}: {message}"
        result.kind, result.why = outcome_of(views, message)
        result.packets = views.doc.count
        views.show_all()
    result.seconds = time.perf_counter() - started
    result.growth = peak_bytes(peak_measured) - before
    return result


def test_every_corpus_file_through_the_gui(qtbot: QtBot, corpus_dir: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    views = Views(qtbot)
    warm_up = open_one(qtbot, views, SAMPLE)  # first imports (scapy's layers), Qt's caches
    assert warm_up.kind == "fully" and warm_up.packets == 14
    start_rss = rss_bytes()
    started = time.perf_counter()
    outcomes: list[Outcome] = []
    problems: list[str] = []
    for path in sorted(corpus_dir.iterdir()):
        try:
            result = open_one(qtbot, views, path)
        except Exception as err:  # collect them all: one bad file must not hide the next
            problems.append(f"{path.name}: {type(err).__name__}: {err}")
            views.doc.close()
            continue
        outcomes.append(result)
        if result.seconds > SECONDS_PER_FILE:
            problems.append(f"{path.name}: took {result.seconds:.1f} s")
        if result.growth > max(MEMORY_FACTOR * result.size, MEMORY_FLOOR):
            problems.append(f"{path.name}: RSS grew {result.growth / 2**20:.1f} MiB for a file "
                            f"of {result.size / 2**20:.2f} MiB")
    views.doc.close()
    total = time.perf_counter() - started

    kinds = Counter(o.kind for o in outcomes)
    reasons = Counter(f"{o.kind}: {o.why}" for o in outcomes if o.why)
    slowest = sorted(outcomes, key=lambda o: o.seconds, reverse=True)[:5]
    # a ratio means little for a file of a few hundred bytes: rank those of 16 KiB or more
    ratios = [(o.growth / o.size, o) for o in outcomes if o.size >= RATIO_MIN_SIZE]
    worst_ratio, worst = max(ratios, key=lambda r: r[0])
    biggest = max(outcomes, key=lambda o: o.growth)
    with capsys.disabled():
        print(f"\ncorpus through the GUI: {len(outcomes)} files, "
              f"{sum(o.packets for o in outcomes)} packets in {total:.1f} s: "
              f"{kinds['fully']} fully, {kinds['partly']} partly, {kinds['refused']} refused, "
              f"{len(problems)} problems")
        for reason, count in reasons.most_common():
            print(f"  {count:4} {reason}")
        print("  slowest: " + ", ".join(f"{o.name} {o.seconds:.2f} s ({o.packets} packets)"
                                        for o in slowest))
        print(f"  peak RSS growth per file: largest {biggest.growth / 2**10:.0f} KiB "
              f"({biggest.name}, {biggest.size / 2**10:.0f} KiB); worst ratio of the "
              f"{len(ratios)} files of 16 KiB or more {worst_ratio:.1f}x ({worst.name}, "
              f"{worst.growth / 2**10:.0f} KiB for {worst.size / 2**10:.0f} KiB); RSS after "
              f"the run {(rss_bytes() - start_rss) / 2**20:+.1f} MiB")
    assert not problems, "\n".join(problems)
    assert kinds["fully"] + kinds["partly"] >= 800
    assert np.isfinite(worst_ratio)
