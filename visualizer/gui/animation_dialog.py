"""View › Export Animation…: the ladder on screen as GIF, MP4, WebM or
animated SVG (as ``export --animate`` writes it), with a progress bar and a
Cancel button. Cancelled, nothing is written."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QApplication, QFileDialog, QMenu, QMessageBox, QProgressDialog, QWidget

from visualizer.core.describe.explain import explain
from visualizer.core.errors import VisualizerError
from visualizer.core.flows.analysis import Analysis
from visualizer.core.ladder.animation import Plan, make_plan, write_animated_svg
from visualizer.core.ladder.build import describe
from visualizer.core.ladder.scene import LadderScene
from visualizer.gui.animation import Cancelled, write_animation

SIZE = (1280, 720)
FILTERS = ("GIF animation (*.gif);;MP4 video (*.mp4);;WebM video (*.webm);;"
           "Animated SVG (*.svg)")


def add_animation_action(menu: QMenu, window: QWidget) -> QAction:
    """The menu entry; ``window`` has ``stage`` and ``document`` (MainWindow)."""
    action = QAction("Export &Animation…", window)
    action.setStatusTip("The ladder's playback as a GIF, a video or an animated SVG, "
                        "for slides")

    def run() -> None:
        stage, document = window.stage, window.document  # type: ignore[attr-defined]
        export_animation_dialog(window, stage.ladder_view.scene, document.session.analysis)

    action.triggered.connect(run)
    menu.addAction(action)
    return action


def plan_for(scene: LadderScene, analysis: Analysis | None, fps: float,
             size: tuple[int, int] = SIZE) -> Plan:
    captions = []
    for k, arrow in enumerate(scene.ladder.arrows):
        try:
            captions.append(explain(analysis, arrow.index).plain() if analysis is not None
                            else describe(scene.ladder, k))
        except IndexError:
            captions.append(describe(scene.ladder, k))
    return make_plan(scene, captions, first=0, last=len(scene.ladder.arrows) - 1, size=size,
                     fps=fps)


def export_animation_dialog(parent: QWidget, scene: LadderScene | None,
                            analysis: Analysis | None) -> None:
    if scene is None or not scene.ladder.arrows:
        QMessageBox.information(parent, "Export animation", "There is no ladder to animate: "
                                "open a capture with a conversation first.")
        return
    path, _ = QFileDialog.getSaveFileName(parent, "Export animation", "animation.gif",
                                          FILTERS)
    if path:
        export_animation(parent, scene, analysis, path)


def export_animation(parent: QWidget | None, scene: LadderScene, analysis: Analysis | None,
                     path: str, *, size: tuple[int, int] = SIZE, fps: float | None = None
                     ) -> bool:
    """Write the animation to ``path`` with a progress dialog; False when
    cancelled or failed (the user was told why)."""
    fmt = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    try:
        plan = plan_for(scene, analysis, fps or (10.0 if fmt == "gif" else 25.0), size)
        if fmt == "svg":
            write_animated_svg(plan, path)
            return True
        dialog = QProgressDialog("Rendering the animation…", "Cancel", 0, plan.frame_count,
                                 parent)
        dialog.setWindowTitle("Export animation")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)

        def progress(done: int) -> None:
            dialog.setValue(done)
            QApplication.processEvents()
            if dialog.wasCanceled():
                raise Cancelled

        try:
            write_animation(plan, path, fmt, progress=progress)
        finally:
            dialog.reset()
            dialog.deleteLater()
    except Cancelled:
        return False
    except (OSError, VisualizerError) as err:
        QMessageBox.warning(parent, "Export failed", str(err))
        return False
    return True
