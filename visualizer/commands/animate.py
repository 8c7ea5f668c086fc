"""``visualizer export FILE -o OUT --animate``: the ladder's playback as an
animated GIF, an MP4 or WebM video, or an animated SVG, for slides
(core/ladder/animation.py plans it; gui/animation.py paints the raster
formats offscreen)."""

from __future__ import annotations

import os
import sys

from visualizer.commands import warn_about
from visualizer.commands.progress import load_session, steps
from visualizer.core.describe.explain import explain
from visualizer.core.errors import BadInput
from visualizer.core.ladder.animation import Plan, make_plan, write_animated_svg
from visualizer.core.ladder.build import Ladder, attach_calls, describe, tcp_ladder
from visualizer.core.ladder.scene import LadderScene
from visualizer.core.output import check_output
from visualizer.core.playback.timescale import positions

ANIMATION_FORMATS = ("gif", "mp4", "webm", "svg")


def animation_format(output: str) -> str:
    ext = os.path.splitext(output)[1].lower().lstrip(".")
    if ext not in ANIMATION_FORMATS:
        raise BadInput(f"{output}: an animation is .gif, .mp4, .webm or .svg (the name "
                       "says which)")
    return ext


def animate_command(path: str, output: str, *, stream: int | None, first: int | None,
                    last: int | None, size: tuple[int, int], fps: float | None) -> int:
    check_output(output)
    fmt = animation_format(output)
    with load_session(path) as session:
        analysis = session.analysis
        assert analysis is not None
        if not analysis.tcp_summaries and not analysis.udp.flows:
            raise BadInput(f"{path}: no conversation to animate (no TCP stream, no UDP flow)")
        ladder: Ladder | None
        if stream is not None:
            count = len(analysis.tcp_summaries)
            if not 0 <= stream < count:
                raise BadInput(f"there is no TCP stream {stream}: {path} has {count} "
                               "(numbered from 0, see 'visualizer analyze --stats')")
            ladder = attach_calls(tcp_ladder(analysis, stream), session.recording)
        else:
            ladder = session.ladder(session.ladder_window(everything=True))
        if ladder is None or not ladder.arrows:
            raise BadInput(f"{path}: no conversation to animate")
        frames = [a.index + 1 for a in ladder.arrows]
        lo = frames[0] if first is None else first
        hi = frames[-1] if last is None else last
        if not 1 <= lo <= hi or hi > len(session.store or ()):
            raise BadInput(f"--from {lo} --to {hi} is out of range: {path} has packets 1 to "
                           f"{len(session.store or ())}")
        picked = [k for k, number in enumerate(frames) if lo <= number <= hi]
        if not picked:
            raise BadInput(f"no packet of the animated conversation lies in {lo}..{hi}")
        captions = []
        for k, arrow in enumerate(ladder.arrows):
            try:
                captions.append(explain(analysis, arrow.index).plain())
            except IndexError:
                captions.append(describe(ladder, k))
        scene = LadderScene(ladder, positions(ladder.timestamps(), "order"))
        plan = make_plan(scene, captions, first=picked[0], last=picked[-1], size=size,
                         fps=fps or (10.0 if fmt == "gif" else 25.0))
        code = warn_about(session)
    if fmt == "svg":
        write_animated_svg(plan, output)
    else:
        _write_raster(plan, output, fmt)
    seconds = plan.frame_count / plan.fps
    print(f"wrote {output}: {ladder.title}, packets {frames[picked[0]]} to "
          f"{frames[picked[-1]]}, {plan.frame_count} frames, {seconds:.1f} s ({fmt})",
          file=sys.stderr)
    return code


def _write_raster(plan: Plan, output: str, fmt: str) -> None:
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") \
            and "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"   # frames are painted, never shown
    from visualizer.gui.app import make_app

    app = make_app()   # kept until the frames are painted: they need its fonts
    from visualizer.gui.animation import write_animation

    with steps("rendering", plan.frame_count, "frames") as update:
        write_animation(plan, output, fmt, progress=update)
    del app
