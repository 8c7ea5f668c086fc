"""``export --animate``: the ladder's playback as GIF, MP4, WebM and animated SVG,
read back with Pillow, ffmpeg (imageio-ffmpeg's) and an XML parser."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image, ImageSequence

from visualizer.core.pcap.writer import PcapWriter

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "samples" / "tcp-handshake.pcapng"
SVG = "{http://www.w3.org/2000/svg}"
# packets 1..3 at 2 frames a second: each travels 1 frame, holds 2 (TRAVEL_S, HOLD_S)
RANGE = ["--from", "1", "--to", "3", "--fps", "2"]
FRAMES = 3 * (1 + 2)


def visualizer(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-m", "visualizer", *args], capture_output=True,
                          text=True, timeout=180, env=env)


def animate(out: Path, *extra: str) -> None:
    result = visualizer("export", str(SAMPLE), "-o", str(out), "--animate", *extra)
    assert result.returncode == 0, result.stderr
    assert f"{FRAMES} frames" in result.stderr


def test_gif_has_the_frames_size_and_motion(tmp_path: Path) -> None:
    out = tmp_path / "hs.gif"
    animate(out, *RANGE, "--size", "480x270")
    with Image.open(out) as gif:
        assert gif.size == (480, 270)
        pictures = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(gif)]
        durations = []
        for k in range(gif.n_frames):
            gif.seek(k)
            durations.append(gif.info["duration"])
    # Pillow merges identical frames (a packet holding still) into one longer frame
    assert sum(durations) == FRAMES * 500
    assert len(pictures) >= 3 and not np.array_equal(pictures[0], pictures[-1])


@pytest.mark.parametrize("ext", ["mp4", "webm"])
def test_video_has_the_frames_size_and_motion(tmp_path: Path, ext: str) -> None:
    out = tmp_path / f"hs.{ext}"
    animate(out, *RANGE, "--size", "320x240")
    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(out),
                            "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                           capture_output=True, timeout=60, check=True)
    assert b"320x240" in subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(out)],
        capture_output=True, timeout=60).stderr   # the stream's size, as ffmpeg reads it
    pictures = np.frombuffer(probe.stdout, dtype=np.uint8).reshape(-1, 240, 320, 3)
    assert len(pictures) == FRAMES
    assert np.abs(pictures[0].astype(int) - pictures[-1].astype(int)).mean() > 1.0


def test_svg_animates_with_smil_and_no_script(tmp_path: Path) -> None:
    out = tmp_path / "hs.svg"
    animate(out, *RANGE, "--size", "800x450")
    root = ET.parse(out).getroot()   # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg" and root.get("width") == "800"
    assert list(root.iter(f"{SVG}script")) == []
    frames = [g for g in root.iter(f"{SVG}g") if g.get("class") == "frame"]
    assert len(frames) == 2 * 3   # each packet before and after it lands
    for g in frames:
        (shown,) = g.findall(f"{SVG}animate")
        assert shown.get("attributeName") == "visibility"
        assert shown.get("repeatCount") == "indefinite" and shown.get("dur") == "5.4s"
    moves = list(root.iter(f"{SVG}animateMotion"))
    assert len(moves) == 3 and all(m.get("path", "").startswith("M ") for m in moves)
    captions = [t for t in root.iter(f"{SVG}text") if t.get("class") == "caption"]
    assert len(captions) == 3 and "SYN" in "".join(captions[0].itertext())
    assert frames[0].find(f"{SVG}animate").get("values") == "visible;hidden"  # type: ignore[union-attr]


def test_bad_input_is_one_line_with_exit_2(tmp_path: Path) -> None:
    arp_only = tmp_path / "arp.pcap"
    with open(arp_only, "wb") as out:
        PcapWriter(out, 1).write(1_700_000_000_000_000_000,
                                 b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + bytes(28))
    cases = [
        ([str(arp_only), "-o", str(tmp_path / "a.gif")], "no conversation to animate"),
        ([str(SAMPLE), "-o", str(tmp_path / "b.gif"), "--from", "5", "--to", "999"],
         "out of range"),
        ([str(SAMPLE), "-o", str(tmp_path / "c.svg"), "--from", "3", "--to", "2"],
         "out of range"),
        ([str(SAMPLE), "-o", str(tmp_path / "d.png")], ".gif, .mp4, .webm or .svg"),
        ([str(SAMPLE), "-o", str(tmp_path / "e.gif"), "--stream", "4"], "no TCP stream 4"),
        ([str(SAMPLE), "-o", str(tmp_path / "nowhere" / "f.gif")], "does not exist"),
    ]
    for args, says in cases:
        result = visualizer("export", *args, "--animate")
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and says in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arp.pcap"]


def _browser_shot(svg: Path, at_s: float, shot: Path, profile: Path) -> np.ndarray:
    """The SVG inline in a page whose script pauses its SMIL clock at *at_s*,
    so the picture does not depend on how fast a busy machine runs Chromium."""
    page = shot.with_suffix(".html")
    page.write_text("<!DOCTYPE html><html><body style='margin:0'>"
                    + svg.read_text(encoding="utf-8")
                    + "<script>const s = document.querySelector('svg');"
                    + f"s.pauseAnimations(); s.setCurrentTime({at_s});</script>"
                    + "</body></html>", encoding="utf-8")
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", "--window-size=640,360",
                    "--virtual-time-budget=1000", f"--screenshot={shot}",
                    f"--user-data-dir={profile}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    with Image.open(shot) as image:
        return np.asarray(image.convert("RGB"))


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="chromium is not installed (.ci/setup installs it)")
def test_svg_plays_in_a_real_browser(tmp_path: Path) -> None:
    """Headless Chromium plays the SMIL animation: the picture at 0.1 s (the
    SYN leaving) is not the one at 4 s (the ACK). Two shots at one time are not
    compared: under load Chromium may rasterise the caption's text in part."""
    out = tmp_path / "hs.svg"
    animate(out, *RANGE, "--size", "640x360")
    profile = tmp_path / "profile"
    early = _browser_shot(out, 0.1, tmp_path / "early.png", profile)
    late = _browser_shot(out, 4.0, tmp_path / "late.png", profile)
    assert early.shape == (360, 640, 3)
    assert np.abs(early.astype(int) - late.astype(int)).mean() > 1.0
