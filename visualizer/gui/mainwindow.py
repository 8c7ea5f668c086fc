"""The main window: menus, toolbars, docks, status bar, and the wiring.

Every view shows the one ``Document``; the window only connects them and
handles the actions (open, export, run a scenario, capture). Long work
(loading, capturing, running a scenario) happens in the Document's or the
runner's background thread, so the window always stays responsive.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time

from PyQt6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer, pyqtSlot
from PyQt6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QShowEvent,
)
from PyQt6.QtWidgets import (
    QCheckBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from visualizer import __version__
from visualizer.core.capture.privileges import (
    CapturePermission,
    check_capture,
    grant_commands,
    running_as_root,
)
from visualizer.core.capture.remote import RemoteTarget
from visualizer.core.capture.spool import new_spool_path, orphans, recordings_dir
from visualizer.core.decode.dissect import analysis_nodes, warm_up
from visualizer.core.errors import VisualizerError
from visualizer.core.export import export_packets, packet_comments
from visualizer.gui import follow_view
from visualizer.gui.animation_dialog import add_animation_action
from visualizer.gui.banner import PrivilegeBanner
from visualizer.gui.breakpoints import Breakpoints
from visualizer.gui.capture_panel import CapturePanel
from visualizer.gui.conversations import ConversationsPane
from visualizer.gui.detail import PacketDetail
from visualizer.gui.document import Document
from visualizer.gui.expert_pane import ExpertPane
from visualizer.gui.export_dialog import ExportDialog
from visualizer.gui.filter_bar import FilterBar, above
from visualizer.gui.guide import GuideDialog
from visualizer.gui.lesson_panel import LessonPanel
from visualizer.gui.packet_table import PacketTable
from visualizer.gui.predict import PredictMode
from visualizer.gui.presenter import PresenterMode
from visualizer.gui.resources import icon, sample_label, samples
from visualizer.gui.scenario_panel import ScenarioPanel
from visualizer.gui.stage import Stage

MAX_RECENT = 10
SMALL_HEIGHT = 1000    # a window shorter than this puts the packet list behind a tab
FILE_FILTER = "Captures (*.pcapng *.pcap *.cap *.ntar);;All files (*)"


class MainWindow(QMainWindow):
    """The application window (see module docstring)."""

    def __init__(self, *, permission: CapturePermission | None = None,
                 settings: QSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings()
        self.document = Document(self)
        self.permission = permission or check_capture()
        self.setWindowIcon(icon("app"))
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self._saved = True          # False after a live capture nobody saved yet
        self._select_first = QTimer(self)
        self._select_first.setSingleShot(True)
        self._select_first.setInterval(100)
        self._select_first.timeout.connect(self._on_select_first)
        # scapy's import takes up to a second: do it now, off the GUI thread
        self._warm_up = threading.Thread(target=warm_up, name="scapy-import", daemon=True)
        self._warm_up.start()
        self._needs_default_layout = True
        self._asked: QSize | None = None   # the size before the first show
        self._build_views()
        self._build_actions()
        self._build_menus()
        self._build_toolbars()
        self._build_status_bar()
        self._connect_document()
        self._update_title()
        self._restore_settings()
        self.banner.set_permission(self.permission)
        self.scenarios.set_capture_permitted(self.permission.permitted, self.permission.reason)
        self.capture_panel.set_capture_permitted(self.permission.permitted,
                                                 self.permission.reason)
        self._sync_actions()

    # -- building ----------------------------------------------------------
    def _build_views(self) -> None:
        doc = self.document
        self.banner = PrivilegeBanner()
        self.stage = Stage(doc)
        center = QWidget()
        layout = QVBoxLayout(center)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.stage, 1)
        self.setCentralWidget(center)

        self.packet_table = PacketTable(doc)
        self.detail = PacketDetail()
        self.conversations = ConversationsPane(doc)
        self.scenarios = ScenarioPanel()
        self.capture_panel = CapturePanel()
        self.docks: dict[str, QDockWidget] = {}
        self._dock("scenarios", "Scenarios", self.scenarios, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("conversations", "Conversations", self.conversations,
                   Qt.DockWidgetArea.LeftDockWidgetArea)
        self.filter_bar = FilterBar(doc)
        self._dock("packets", "Packets", above(self.filter_bar, self.packet_table),
                   Qt.DockWidgetArea.BottomDockWidgetArea)
        self._dock("details", "Packet details", self.detail,
                   Qt.DockWidgetArea.RightDockWidgetArea)
        self.expert = ExpertPane(doc)
        self._dock("expert", "Expert information", self.expert,
                   Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.docks["packets"], self.docks["expert"])
        self.docks["packets"].raise_()
        # Predict mode hides what would give the answers away: the packet list and the
        # expert findings (a zero window, a retransmission...).
        self.predict = PredictMode(self, self.stage, [self.docks["packets"],
                                                      self.docks["expert"]])
        self.lessons = LessonPanel(self)
        self.presenter = PresenterMode(self, self.stage, [self.lessons.dock, self.predict.dock])

    def _arrange_docks(self) -> None:
        """On a small screen (1366×768, 1440×900) the packet list below would leave the
        ladder two packets' height: it shares the right column with the
        details, a tab away, and the ladder and its explanation get the height.
        """
        if self.height() < SMALL_HEIGHT:   # the expert findings go with the packet list
            for name in ("packets", "expert"):
                self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.docks[name])
                self.tabifyDockWidget(self.docks["details"], self.docks[name])
            self.docks["details"].raise_()

    def _default_dock_sizes(self) -> None:
        """The ladder is what a student watches: give the centre the room.

        Applied once the window has its size (before that Qt rescales it).
        """
        self.resizeDocks([self.docks["scenarios"], self.docks["details"]], [285, 370],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["scenarios"], self.docks["conversations"]], [520, 200],
                         Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["packets"]], [200], Qt.Orientation.Vertical)

    def setVisible(self, visible: bool) -> None:
        if visible and self._needs_default_layout and not self.isVisible():
            self._asked = self.size()
        super().setVisible(visible)

    def showEvent(self, event: QShowEvent | None) -> None:
        super().showEvent(event)
        if self._needs_default_layout:
            self._needs_default_layout = False
            QTimer.singleShot(0, self._first_layout)

    def _first_layout(self) -> None:
        """The default layout, in the size the window was given.

        Showing it with the packet list under everything stretched it to the
        least height of that layout (805 px with GTK's fonts), past the bottom
        of a 768 px screen. Arranged for the size it was given, it fits that
        size again. (Arranged before the first show, a tab bar of the moved
        docks was left behind over the timeline.)
        """
        asked = self._asked
        self._arrange_docks()
        self._default_dock_sizes()
        if asked is not None and self.size() != asked and not (
                self.isMaximized() or self.isFullScreen()):
            self.resize(asked.expandedTo(self.minimumSizeHint()))

    def _dock(self, name: str, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{name}")  # saveState needs names
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.docks[name] = dock

    def _action(self, text: str, slot: object,
                shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None,
                icon_name: str | None = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if icon_name:
            action.setIcon(icon(icon_name))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(f"{tip} ({action.shortcut().toString()})"
                              if shortcut is not None else tip)
        action.triggered.connect(slot)  # type: ignore[arg-type]
        return action

    def _build_actions(self) -> None:
        K = QKeySequence.StandardKey
        self.act_open = self._action("&Open…", self.open_dialog, K.Open, "open",
                                     "Open a pcap or pcapng file")
        self.act_export = self._action("&Export…", self.export_dialog, "Ctrl+E", "export",
                                       "Export all, the conversation or the selected packets")
        self.act_save = self._action("&Save Capture As…", self.save_capture, K.Save, "save",
                                     "Save the live capture or the recording")
        self.act_wireshark = self._action("Open in &Wireshark", self.open_in_wireshark,
                                          "Ctrl+Shift+W", "wireshark",
                                          "Open this capture in Wireshark")
        self.act_close = self._action("&Close", self.close_document, K.Close)
        self.act_quit = self._action("&Quit", self.close, K.Quit)
        self.act_run = self._action("&Run Scenario", self.scenarios.run, "Ctrl+R", "run",
                                    "Run the chosen scenario with capture on")
        self.act_capture = self._action("Start &Capture", self.toggle_capture, "Ctrl+K",
                                        "capture-start", "Start or stop a live capture")
        self.act_privileges = self._action("Capture &Privileges…", self.banner.show_help)
        self.act_record_program = self._action("Record My &Program…", self.record_program)
        self.act_guide = self._action("&User Guide", self.show_guide, K.HelpContents)
        self.act_about = self._action("&About Packet Visualizer", self.show_about)
        self.act_about_qt = self._action("About &Qt", lambda: QMessageBox.aboutQt(self))
        self.act_reset_layout = self._action("Reset &Layout", self.reset_layout)
        self.time_formats = QActionGroup(self)
        self.time_actions: dict[str, QAction] = {}
        for key, text in (("relative", "Seconds Since First Packet"),
                          ("delta", "Seconds Since Previous Packet"),
                          ("absolute", "Date and Time of Day")):
            action = QAction(text, self)
            action.setCheckable(True)
            action.setData(key)
            self.time_formats.addAction(action)
            self.time_actions[key] = action
        self.time_formats.triggered.connect(self._on_time_format)
        self.act_absolute = QAction("&Absolute Sequence Numbers", self)
        self.act_absolute.setCheckable(True)
        self.act_absolute.setShortcut(QKeySequence("Ctrl+Shift+A"))
        self.act_absolute.toggled.connect(self._on_absolute)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        assert bar is not None
        m = bar.addMenu("&File")
        assert m is not None
        m.addAction(self.act_open)
        m.addAction(self.lessons.act_open)
        self.recent_menu = m.addMenu("Open &Recent")
        self.sample_menu = m.addMenu("Open &Sample")
        assert self.sample_menu is not None
        for path in samples():
            action = self.sample_menu.addAction(sample_label(path))
            assert action is not None
            action.triggered.connect(lambda _=False, p=str(path): self.open_path(p))
        m.addSeparator()
        m.addAction(self.act_save)
        m.addAction(self.act_export)
        m.addAction(self.act_wireshark)
        m.addSeparator()
        m.addAction(self.act_close)
        m.addAction(self.act_quit)
        m = bar.addMenu("&Capture")
        assert m is not None
        m.addAction(self.act_run)
        m.addAction(self.act_record_program)
        m.addAction(self.act_capture)
        m.addSeparator()
        m.addAction(self.act_privileges)
        self.view_menu = bar.addMenu("&View")
        m = self.view_menu
        assert m is not None
        tm = m.addMenu("&Time Format")
        assert tm is not None
        for action in self.time_actions.values():
            tm.addAction(action)
        m.addAction(self.act_absolute)
        self.act_follow = follow_view.install(self, self.document, m, self.conversations)
        self.stage.add_view_actions(m)
        m.addAction(self.predict.action)
        m.addAction(self.presenter.action)
        add_animation_action(m, self)
        m.addSeparator()
        for dock in self.docks.values():
            m.addAction(dock.toggleViewAction())
        m.addAction(self.act_reset_layout)
        go = bar.addMenu("&Go")
        assert go is not None
        self.stage.add_go_actions(go)
        go.addSeparator()
        self.breakpoints = Breakpoints(self.stage, self.statusBar().showMessage)  # type: ignore[union-attr]
        self.breakpoints.add_go_actions(go)
        self.expert.add_go_actions(go, self)
        m = bar.addMenu("&Help")
        assert m is not None
        m.addAction(self.act_guide)
        m.addAction(self.act_about)
        m.addAction(self.act_about_qt)
        self._refresh_recent()

    def _build_toolbars(self) -> None:
        main = QToolBar("Main")
        main.setObjectName("toolbar-main")
        main.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for action in (self.act_open, self.act_save, self.act_export, self.act_wireshark):
            main.addAction(action)
        for action in (self.act_save, self.act_wireshark):  # seldom used: icons only, so
            button = main.widgetForAction(action)         # Export and Capture fit at 1366 px
            if isinstance(button, QToolButton):
                button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        main.addSeparator()
        main.addAction(self.predict.action)
        main.addSeparator()
        main.addAction(self.act_run)
        main.addAction(self.act_capture)
        self.addToolBar(main)
        capture = QToolBar("Capture")
        capture.setObjectName("toolbar-capture")
        capture.addWidget(self.capture_panel)
        self.addToolBar(capture)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        assert status is not None
        self.status_packets = QLabel("No capture open")
        self.status_capture = QLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(200)
        self.progress.setRange(0, 1000)
        self.progress.setFormat("Loading %p%")
        self.progress_cancel = QPushButton("Stop")
        self.progress_cancel.setToolTip("Stop loading: keep the packets read so far")
        self.progress_cancel.clicked.connect(self.document.stop)
        status.addWidget(self.status_packets, 1)
        status.addPermanentWidget(self.status_capture)
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.progress_cancel)
        self.progress.hide()
        self.progress_cancel.hide()

    def _connect_document(self) -> None:
        doc = self.document
        doc.reset.connect(self._on_reset)
        doc.grown.connect(self._on_grown)
        doc.filter_changed.connect(self._update_status)
        doc.progress.connect(self._on_progress)
        doc.finished.connect(self._on_finished)
        doc.capture_stats.connect(self._on_capture_stats)
        doc.current_changed.connect(self._on_current)
        self.scenarios.recording_finished.connect(self._on_recording)
        self.scenarios.run_failed.connect(self._on_run_failed)
        self.capture_panel.start_requested.connect(self.start_capture)
        self.capture_panel.remote_start_requested.connect(self.start_remote_capture)
        self.capture_panel.stop_requested.connect(self.stop_capture)
        self.banner.dismissed.connect(self._sync_actions)

    # -- opening -------------------------------------------------------------
    @pyqtSlot()
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open capture", self._last_dir(),
                                              FILE_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str) -> bool:
        """Open ``path``; a file that is no capture gets one message, nothing else changes."""
        if not self._may_discard():
            return False
        try:
            self.document.open_file(path)
        except VisualizerError as err:
            QMessageBox.warning(self, "Cannot open file", str(err))
            return False
        self._saved = True
        self.settings.setValue("files/last_dir", os.path.dirname(os.path.abspath(path)))
        self._add_recent(path)
        self._update_title()
        return True

    def _last_dir(self) -> str:
        return str(self.settings.value("files/last_dir", os.path.expanduser("~")))

    def _recent(self) -> list[str]:
        value = self.settings.value("files/recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in value or []]

    def _add_recent(self, path: str) -> None:
        path = os.path.abspath(path)
        recent = [path] + [p for p in self._recent() if p != path]
        self.settings.setValue("files/recent", recent[:MAX_RECENT])
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        menu = self.recent_menu
        assert menu is not None
        menu.clear()
        for path in self._recent():
            action = menu.addAction(path)
            assert action is not None
            action.setEnabled(os.path.exists(path))
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
        menu.setEnabled(bool(self._recent()))

    def dragEnterEvent(self, event: QDragEnterEvent | None) -> None:
        if event is not None and event.mimeData() is not None:
            mime = event.mimeData()
            assert mime is not None
            if mime.hasUrls() and any(u.isLocalFile() for u in mime.urls()):
                event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent | None) -> None:
        if event is None or event.mimeData() is None:
            return
        mime = event.mimeData()
        assert mime is not None
        files = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.open_path(files[0])

    # -- scenarios and capture -------------------------------------------------
    @pyqtSlot(str)
    def _on_recording(self, path: str) -> None:
        if self.open_path(path):
            self.statusBar().showMessage(f"Recorded {os.path.basename(path)}", 8000)  # type: ignore[union-attr]

    def record_program(self) -> None:
        """Capture > Record My Program…: the dialog opens the recording when it is written."""
        from visualizer.gui.record_program import RecordProgramDialog

        self.program_dialog = RecordProgramDialog(self, settings=self.settings)
        self.program_dialog.recorded.connect(self._on_recording)
        self.program_dialog.open()

    @pyqtSlot(str)
    def _on_run_failed(self, message: str) -> None:
        QMessageBox.warning(self, "The scenario did not run", message)

    @pyqtSlot()
    def toggle_capture(self) -> None:
        if self.document.busy and self.document.session.live:
            self.stop_capture()
        else:
            self.capture_panel.request_start()

    @pyqtSlot(str, str)
    def start_capture(self, interface: str, bpf: str, *,
                      remote: RemoteTarget | None = None) -> None:
        if not self.permission.permitted and remote is None:  # ssh needs no privilege here
            self.banner.show_help()
            return
        if not self._may_discard():
            return
        spool = str(new_spool_path())
        self.document.start_capture(interface, bpf or None, spool, python=self.permission.python,
                                    keep_last=self.capture_panel.keep_last(), remote=remote)
        self._saved = False
        self.capture_panel.set_running(True)
        self._update_title()
        self._sync_actions()

    @pyqtSlot(object, str)
    def start_remote_capture(self, target: RemoteTarget, bpf: str) -> None:
        self.start_capture("", bpf, remote=target)

    @pyqtSlot()
    def stop_capture(self) -> None:
        self.document.stop()

    # -- saving and exporting ----------------------------------------------------
    @pyqtSlot()
    def save_capture(self) -> None:
        session = self.document.session
        if session.store is None or session.path is None:
            return
        suggested = os.path.join(self._last_dir(),
                                 f"capture-{time.strftime('%Y%m%d-%H%M%S')}.pcapng")
        path, _ = QFileDialog.getSaveFileName(self, "Save capture as", suggested,
                                              "pcapng (*.pcapng);;pcap (*.pcap)")
        if path:
            self._export(path, "pcap" if path.endswith(".pcap") else "pcapng",
                         range(session.count))

    @pyqtSlot()
    def export_dialog(self) -> None:
        session = self.document.session
        if session.store is None:
            return
        visible = session.visible_indices()
        conv = session.conversation
        dialog = ExportDialog(self, directory=self._last_dir(), total=session.count,
                              conversation=f"{conv[0].upper()} {conv[1]}" if conv else None,
                              conversation_count=0 if visible is None else len(visible),
                              selected=len(self.packet_table.selected_indices()))
        if not dialog.exec():
            return
        scope = dialog.scope()
        if scope == "conversation" and visible is not None:
            indices: list[int] | range = visible.tolist()
        elif scope == "selected":
            indices = self.packet_table.selected_indices()
        else:
            indices = range(session.count)
        self._export(dialog.path.text(), dialog.chosen_format(), indices,
                     annotate=dialog.annotate())

    def export_range(self, first: int, last: int) -> None:
        """Export packets ``first..last`` (a range chosen on the timeline)."""
        path, _ = QFileDialog.getSaveFileName(
            self, f"Export packets {first + 1}–{last + 1}",
            os.path.join(self._last_dir(), f"packets-{first + 1}-{last + 1}.pcapng"),
            "pcapng (*.pcapng);;pcap (*.pcap)")
        if path:
            self._export(path, "pcap" if path.endswith(".pcap") else "pcapng",
                         range(first, last + 1))

    def _export(self, path: str, fmt: str, indices: list[int] | range, *,
                annotate: bool = False) -> None:
        """Write ``indices`` to ``path``; ``annotate``: explanations as packet comments."""
        doc = self.document
        session = doc.session
        assert session.store is not None
        try:
            with session.lock:
                comments = (packet_comments(session.analysis, indices)
                            if annotate and session.analysis is not None else None)
                n = export_packets(session.store, indices, path, fmt, comments=comments,
                                   info=session.recording)
        except (VisualizerError, OSError) as err:
            QMessageBox.warning(self, "Export failed", str(err))
            return
        self.settings.setValue("files/last_dir", os.path.dirname(os.path.abspath(path)))
        if len(indices) == session.count and session.live and not doc.busy and not self._saved:
            self._saved = True  # the spool is now redundant: the export holds it all
            if session.path:
                with contextlib.suppress(OSError):
                    os.unlink(session.path)
            self._update_title()
        self.statusBar().showMessage(f"Exported {n:,} packets to {path}", 8000)  # type: ignore[union-attr]

    @pyqtSlot()
    def open_in_wireshark(self) -> None:
        path, program = self.document.session.path, shutil.which("wireshark")
        if path and program:
            subprocess.Popen([program, path], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @pyqtSlot()
    def close_document(self) -> None:
        if self._may_discard():
            self.document.close()
            self._saved = True
            self._update_title()

    def _may_discard(self) -> bool:
        """Ask before replacing a live capture nobody saved.

        Discarding deletes its spool file; a crash leaves the spool for the
        next start to recover.
        """
        doc = self.document
        session = doc.session
        if self._saved or not session.live or session.count == 0:
            return True
        running = doc.busy
        answer = QMessageBox.question(
            self, "Discard the capture?",
            ("A capture is running. " if running else "")
            + f"The live capture ({session.count:,} packets) has not been saved. Discard it?\n\n"
            "Choose No, then File > Save Capture As, to keep it.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        spool = session.path
        doc.close()
        if spool:
            with contextlib.suppress(OSError):
                os.unlink(spool)
        self._saved = True
        return True

    # -- document signals ------------------------------------------------------
    @pyqtSlot()
    def _on_reset(self) -> None:
        self.detail.clear()
        recording = self.document.session.recording
        if recording is not None and recording.scenario:
            self.scenarios.show_recording(recording.scenario, recording.params)
        if self.document.session.path:
            self.scenarios.document_opened(self.document.session.path)
        self.scenarios.set_live(self.document.session.live)
        if not self.document.session.live:
            self.status_capture.clear()   # the last capture's figures are not this file's
        self.progress.setValue(0)
        if self.document.busy and not self.document.session.live:
            self.progress.show()
            self.progress_cancel.show()
        self._update_status()
        self._update_title()
        self._sync_actions()

    @pyqtSlot(int)
    def _on_grown(self, _count: int) -> None:
        self._update_status()
        session = self.document.session
        if session.current < 0 and session.count and not session.live \
                and not self._select_first.isActive():
            self._select_first.start()  # after the first rows are painted

    @pyqtSlot()
    def _on_select_first(self) -> None:
        doc = self.document
        session = doc.session
        if session.current < 0 and session.count and not session.live:
            doc.set_current(session.first_visible())

    @pyqtSlot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setValue(int(1000 * done / total) if total else 1000)

    @pyqtSlot(str)
    def _on_finished(self, message: str) -> None:
        self.progress.hide()
        self.progress_cancel.hide()
        self.capture_panel.set_running(False)
        self._update_status()
        self._sync_actions()
        if message:
            if self.document.session.live:
                QMessageBox.warning(self, "Capture stopped", message)
            else:
                self.statusBar().showMessage(message, 15000)  # type: ignore[union-attr]

    @pyqtSlot(int, int)
    def _on_capture_stats(self, received: int, dropped: int) -> None:
        self.status_capture.setText(f"Captured {received:,} · dropped {dropped:,}")

    @pyqtSlot(int)
    def _on_current(self, index: int) -> None:
        session = self.document.session
        if index < 0 or session.store is None or session.analysis is None:
            self.detail.clear()
            return
        with session.lock:
            frame = session.store.frame(index)
            linktype = int(session.store.values("linktype")[index])
            extra = analysis_nodes(session.analysis, index)
        self.detail.show_packet(frame, linktype, extra)

    # -- status, title, actions ------------------------------------------------
    def _update_status(self) -> None:
        doc = self.document
        session = doc.session
        if session.path is None:
            self.status_packets.setText("No capture open. Run a scenario, start a capture, "
                                        "or open a file.")
            return
        text = f"{session.count:,} packets"
        if session.first_number > 1:
            text += (f" (ring buffer: showing {session.first_number:,}–"
                     f"{session.first_number + session.count - 1:,}; "
                     "the spool keeps them all)")
        if session.display_filter is not None:   # in sight even when its bar is a tab away
            shown = session.visible_indices()
            text += (f" · display filter {session.display_filter.text}: "
                     f"{len(shown) if shown is not None else session.count:,} shown")
        if doc.busy:
            text += " · capturing…" if session.live else " · loading…"
        self.status_packets.setText(text)

    def _update_title(self) -> None:
        session = self.document.session
        name = ""
        if session.live:
            name = "Live capture" + ("" if self._saved else " (unsaved)")
        elif session.path:
            name = os.path.basename(session.path)
        self.setWindowTitle(f"{name} — Packet Visualizer" if name else "Packet Visualizer")
        self.setWindowFilePath(session.path or "")

    def _sync_actions(self) -> None:
        doc = self.document
        session = doc.session
        has = session.store is not None
        capturing = doc.busy and session.live
        self.act_export.setEnabled(has and not capturing)
        self.act_save.setEnabled(has and session.live and not capturing)
        self.act_wireshark.setEnabled(has and not capturing and shutil.which("wireshark")
                                      is not None)
        self.act_close.setEnabled(has)
        self.act_capture.setEnabled(self.permission.permitted)
        self.act_run.setEnabled(self.permission.permitted)
        self.act_capture.setText("Stop &Capture" if capturing else "Start &Capture")
        self.act_capture.setIcon(icon("capture-stop" if capturing else "capture-start"))

    # -- view settings -------------------------------------------------------------
    @pyqtSlot(QAction)
    def _on_time_format(self, action: QAction) -> None:
        key = str(action.data())
        self.packet_table.set_time_format(key)
        self.settings.setValue("view/time_format", key)

    @pyqtSlot(bool)
    def _on_absolute(self, on: bool) -> None:
        self.packet_table.set_absolute(on)
        self.stage.set_absolute(on)
        self.settings.setValue("view/absolute", on)

    def _restore_settings(self) -> None:
        s = self.settings
        self._default_state = self.saveState()
        fmt = str(s.value("view/time_format", "relative"))
        self.time_actions.get(fmt, self.time_actions["relative"]).setChecked(True)
        self.packet_table.set_time_format(fmt if fmt in self.time_actions else "relative")
        self.act_absolute.setChecked(s.value("view/absolute", False, type=bool))
        self.stage.restore_settings(s)
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1440, 900)
        state = s.value("window/state")
        self._needs_default_layout = not (isinstance(state, QByteArray)
                                          and self.restoreState(state))

    @pyqtSlot()
    def reset_layout(self) -> None:
        self.restoreState(self._default_state)
        for dock in self.docks.values():
            dock.show()
        self._arrange_docks()
        self._default_dock_sizes()

    def closeEvent(self, event: QCloseEvent | None) -> None:
        if event is not None and not self._may_discard():
            event.ignore()
            return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.stage.save_settings(self.settings)
        self.scenarios.cancel()
        self.document.close()
        # A window closed within a second of its start (a --screenshot refused at
        # once) must not leave Python to finish while that thread still imports
        # scapy: the interpreter's shutdown then crashed (SIGSEGV) now and again.
        self._warm_up.join(10.0)
        super().closeEvent(event)

    # -- help ---------------------------------------------------------------------
    @pyqtSlot()
    def show_guide(self) -> None:
        from visualizer.core.resources import user_guide

        self.guide = GuideDialog(user_guide(), self)
        self.guide.show()

    @pyqtSlot()
    def show_about(self) -> None:
        QMessageBox.about(
            self, "About Packet Visualizer",
            f"<h3>Packet Visualizer {__version__}</h3>"
            "<p>Makes TCP and UDP visible: runs client/server pairs on loopback, captures "
            "their packets and animates the handshake, the data and the close.</p>"
            "<p>TCP analysis agrees with Wireshark's tshark packet for packet.</p>"
            "<p>Licensed under the GNU GPL, version 2 or later. Built with PyQt6, "
            "pyqtgraph and scapy.</p>")

    # -- start-up checks ----------------------------------------------------------
    def offer_recovery(self) -> None:
        """Offer to open a spool left behind by a crashed session."""
        found = orphans()
        if not found:
            return
        newest = found[0]
        answer = QMessageBox.question(
            self, "Recover capture",
            f"A live capture from an earlier session was not saved "
            f"({newest.size:,} bytes, {time.ctime(newest.modified)}).\n\n"
            "Open it now? It is moved to the recordings folder and kept either way.")
        if answer == QMessageBox.StandardButton.Yes:
            target = recordings_dir() / f"recovered-{newest.path.name}"
            try:
                os.replace(newest.path, target)
            except OSError:
                target = newest.path
            self.open_path(str(target))

    ROOT_WARNING_OFF = "warnings/root_off"   # settings key: "don't warn me again"

    def warn_if_root(self) -> QMessageBox | None:
        """Says, once per start, that the whole window runs as root.

        It works, but then the code that parses packets from the network runs
        with every privilege, when only the capture process needs one. The
        warning is a window-modal box (not a status message that scrolls
        away) with the command that makes root unnecessary, and a "don't warn
        me again" box for those who run as root on purpose (a lab's demo
        machine). Returns the box, or None when there is nothing to say.
        """
        if not running_as_root():
            return None
        self.statusBar().showMessage(  # type: ignore[union-attr]
            "Running as root: only the capture needs privileges (Capture > Capture "
            "Privileges)")
        if self.settings.value(self.ROOT_WARNING_OFF, False, type=bool):
            return None
        box = QMessageBox(QMessageBox.Icon.Warning, "Running as root",
                          "Packet Visualizer is running as root: the whole application, "
                          "including the code that reads packets from the network, has "
                          "every privilege. Only capturing needs one.",
                          QMessageBox.StandardButton.Ok, self)
        box.setInformativeText(
            "Set up a dedicated capture interpreter once, then start Packet Visualizer "
            "as your own user:\n\n" + "\n".join(grant_commands()))
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setCheckBox(QCheckBox("Don't warn me again", box))
        box.finished.connect(self._on_root_warning_finished)
        self._root_warning = box
        box.open()
        return box

    @pyqtSlot(int)
    def _on_root_warning_finished(self, _result: int) -> None:
        check = self._root_warning.checkBox()
        if check is not None and check.isChecked():
            self.settings.setValue(self.ROOT_WARNING_OFF, True)
