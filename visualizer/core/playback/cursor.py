"""The playback model: which packet is on screen and how far it has flown.

The ladder, the timeline's playhead and the scrubber all render one
:class:`PlaybackCursor`; none of them keeps playback state of its own
(DESIGN.md: "Playback position, speed and time scale live in a Qt-free
model in core"). The cursor has no timer and no thread: the GUI calls
:meth:`PlaybackCursor.tick` from its animation timer while
:attr:`PlaybackCursor.running` is true, and the clock is injected, so tests
drive it with a fake clock and get the same answers every time.

How a playback unfolds
----------------------
Packets play one after another. Packet ``k`` *flies* along its arrow
(``progress`` 0 -> 1) for ``flight_seconds``; once it has landed the cursor
*waits* for the gap to packet ``k+1`` on the chosen time scale
(``visualizer.core.playback.timescale``: order, real or log), one scale unit lasting
``gap_seconds``; then packet ``k+1`` takes off. Every duration is divided by
the speed. Because every scale spans 0..n-1, a recording of n packets plays
in ``n * flight_seconds + (n-1) * gap_seconds`` seconds at speed 1 whatever
the scale: a 40-µs loopback handshake is stretched over seconds, and the
scale only decides how the waiting is shared out between the gaps.

On a path (``arrivals`` given: each packet's arrival time at the other end)
packets fly for as long as they took, on the same scale as the gaps:
packet ``k`` takes off at ``positions[k] * gap_seconds`` and lands at its
arrival's position times ``gap_seconds``, so several packets are in the
air at once, as a window of segments is, and show time runs in step with
the scale's axis (the real-time scale is the capture's clock, slowed
down). ``concurrent`` is then true: the current packet is the last one to
take off, and a seek or step shows its target landed, as elsewhere.

Time is kept in *show seconds* (playback seconds at speed 1), so changing
the speed mid-flight never makes a packet jump. Packet ``k`` takes off at
show time ``k * flight_seconds + positions[k] * gap_seconds``.

- ``index`` is the current packet (0-based within the played packets), -1
  before the first; ``packet`` is the same packet's index in the store (the
  ``packets`` given to the constructor, by default ``range(n)``).
- ``position()`` is a continuous position on the scale axis for a playhead
  and a scrubber: it stays at the current packet's position while the packet
  flies and glides to the next packet's position during the wait.
- Stepping is manual control, as frame-stepping is in a video player: it
  pauses playback. ``step_forward()`` *flies* the next packet (the GUI keeps
  ticking while ``running``); ``step_back()`` shows the previous packet
  already landed. Seeking shows the target packet landed and keeps playing
  if the cursor was playing.
- At the end playback stops, or with ``loop`` on waits ``LOOP_PAUSE`` show
  seconds and starts again with the first packet. ``play()`` at the end
  starts over from the first packet.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from visualizer.core.playback.timescale import SCALES, arrival_positions, positions

__all__ = ["DEFAULT_FLIGHT_SECONDS", "DEFAULT_GAP_SECONDS", "LOOP_PAUSE", "MAX_SPEED",
           "MIN_SPEED", "SPEED_STEPS", "PlaybackCursor"]

DEFAULT_FLIGHT_SECONDS = 0.6  # one arrow, at speed 1: slow enough to follow with the eye
DEFAULT_GAP_SECONDS = 0.4     # one unit of the time scale (the mean gap), at speed 1
LOOP_PAUSE = 1.0              # show seconds between the last landing and the restart
MIN_SPEED = 0.1
MAX_SPEED = 16.0
_EPS = 1e-9                   # show seconds: a boundary this close counts as reached
SPEED_STEPS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)  # what faster()/slower() walk


def _clamped_speed(speed: float) -> float:
    if math.isnan(speed):
        raise ValueError("speed must be a number")
    return min(max(float(speed), MIN_SPEED), MAX_SPEED)


class _Mode(enum.Enum):
    PAUSED = "paused"
    PLAYING = "playing"
    STEPPING = "stepping"  # paused, but the stepped-to packet is still flying


class PlaybackCursor:
    """Playback position, speed, scale and loop over a list of packets (module docstring)."""

    def __init__(self, timestamps: Sequence[int] | np.ndarray, packets: Sequence[int] |
                 np.ndarray | None = None, *, clock: Callable[[], float] = time.monotonic,
                 scale: str = "log", speed: float = 1.0, loop: bool = False,
                 flight_seconds: float = DEFAULT_FLIGHT_SECONDS,
                 gap_seconds: float = DEFAULT_GAP_SECONDS,
                 arrivals: Sequence[int] | np.ndarray | None = None) -> None:
        if not flight_seconds > 0:
            raise ValueError(f"flight_seconds must be positive, not {flight_seconds}")
        if not gap_seconds >= 0:
            raise ValueError(f"gap_seconds must not be negative, not {gap_seconds}")
        if scale not in SCALES:
            raise ValueError(f"unknown time scale {scale!r}: choose one of {', '.join(SCALES)}")
        self._clock = clock
        self._flight = float(flight_seconds)
        self._gap = float(gap_seconds)
        self._scale = scale
        self._speed = _clamped_speed(speed)
        self._loop = loop
        self._mode = _Mode.PAUSED
        self._last = clock()
        self._index = -1
        self._elapsed = 0.0  # show seconds since the current packet took off
        self._stop: tuple[int, bool] | None = None  # play_until: (index, land)
        self._load(timestamps, packets, arrivals)

    # -- reading ---------------------------------------------------------
    def __len__(self) -> int:
        return len(self._ts)

    @property
    def index(self) -> int:
        """The current packet within the played list; -1 before the first."""
        return self._index

    @property
    def packet(self) -> int:
        """The current packet's store index; -1 before the first."""
        return int(self._packets[self._index]) if self._index >= 0 else -1

    @property
    def progress(self) -> float:
        """How far the current packet has travelled along its arrow (1.0: landed)."""
        if self._index < 0:
            return 0.0
        flight = float(self._flights[self._index])
        if self._elapsed >= flight - _EPS:
            return 1.0
        return self._elapsed / flight

    @property
    def playing(self) -> bool:
        return self._mode is _Mode.PLAYING

    @property
    def running(self) -> bool:
        """Whether ticking can change anything (playing, or a stepped packet flying)."""
        return self._mode is not _Mode.PAUSED

    @property
    def concurrent(self) -> bool:
        """Whether packets fly for their transit time, several at once (on a path)."""
        return self._concurrent

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def scale(self) -> str:
        return self._scale

    @property
    def loop(self) -> bool:
        return self._loop

    @property
    def flight_seconds(self) -> float:
        return self._flight

    @property
    def gap_seconds(self) -> float:
        return self._gap

    @property
    def positions(self) -> np.ndarray:
        """Each packet's position on the current scale (read-only, 0..n-1)."""
        return self._pos

    @property
    def timestamps(self) -> np.ndarray:
        return self._ts

    @property
    def packets(self) -> np.ndarray:
        return self._packets

    def duration(self) -> float:
        """Wall-clock seconds one full playback takes at the current speed."""
        if not len(self._ts):
            return 0.0
        return self._end() / self._speed

    def position(self) -> float:
        """The playhead on the scale axis (see module docstring)."""
        k = self._index
        if k < 0:
            return 0.0
        here = float(self._pos[k])
        if self._concurrent:   # the playhead runs with the packets in the air
            return min(here + self._elapsed / self._gap, float(self._pos[-1])) \
                if self._gap > 0 else here
        waited = self._elapsed - self._flight
        if waited <= 0 or k == len(self._pos) - 1 or self._gap <= 0:
            return here
        return min(here + waited / self._gap, float(self._pos[k + 1]))

    # -- the clock ---------------------------------------------------------
    def tick(self) -> bool:
        """Advance by the clock; True when anything visible changed."""
        before = self._snapshot()
        self._catch_up()
        return self._snapshot() != before

    def _snapshot(self) -> tuple[int, float, float, _Mode]:
        return self._index, self.progress, self.position(), self._mode

    def _catch_up(self) -> None:
        now = self._clock()
        dt = max(0.0, now - self._last)
        self._last = now
        if self._mode is _Mode.PAUSED:
            return
        advance = dt * self._speed
        if self._index < 0:  # playing from before the first: packet 0 takes off now
            self._index, self._elapsed = 0, 0.0
        if self._mode is _Mode.STEPPING:
            self._elapsed += advance
            flight = float(self._flights[self._index])
            if self._elapsed >= flight - _EPS:
                self._elapsed = flight
                self._mode = _Mode.PAUSED
            return
        show = float(self._start[self._index]) + self._elapsed + advance
        if self._stop is not None and self._stopped(show):
            return
        end = self._end()
        if show >= end - _EPS:
            last = len(self._start) - 1
            if not self._loop:   # everything landed, the last to arrive included
                self._index, self._elapsed = last, end - float(self._start[last])
                self._mode = _Mode.PAUSED
                return
            cycle = end + LOOP_PAUSE
            if show < cycle - _EPS:  # the pause before starting over
                self._index, self._elapsed = last, show - float(self._start[last])
                return
            show = math.fmod(show, cycle)
            if show >= cycle - _EPS:
                show = 0.0
        self._index = max(int(np.searchsorted(self._start, show + _EPS, side="right")) - 1, 0)
        self._elapsed = max(show - float(self._start[self._index]), 0.0)

    def _stopped(self, show: float) -> bool:
        """play_until: stop once show time ``show`` reaches the stop; True if it did."""
        assert self._stop is not None
        target, land = self._stop
        at = float(self._start[target]) + (float(self._flights[target]) if land else 0.0)
        if show < at - _EPS:
            return False
        self._stop = None
        self._mode = _Mode.PAUSED
        if land or target == 0:
            self._index, self._elapsed = (target, self._landed_at(target)) if land else (-1, 0.0)
        else:
            self._index, self._elapsed = target - 1, at - float(self._start[target - 1])
        return True

    def _wake(self, mode: _Mode) -> None:
        """Enter ``mode``; starting to run counts time from now."""
        if self._mode is _Mode.PAUSED:
            self._last = self._clock()
        self._mode = mode

    def _end(self) -> float:
        """Show time at which the last packet lands."""
        return float(np.max(self._start + self._flights))

    # -- play / pause ------------------------------------------------------
    def play(self) -> None:
        """Play from here; from the first packet when before it or at the end."""
        if not len(self._ts):
            return
        self._catch_up()
        self._stop = None
        at_end = self._index == len(self._ts) - 1 and self.progress >= 1.0
        if self._index < 0 or at_end:
            self._index, self._elapsed = 0, 0.0
        self._wake(_Mode.PLAYING)

    def play_until(self, index: int, *, land: bool = True) -> None:
        """Play from here and pause once packet ``index`` has landed, or, with
        ``land=False``, just before it takes off (the previous packet landed and
        its wait over): a breakpoint, or a question to ask before a packet shows.
        Any other control (pause, seek, step) cancels the stop."""
        if not 0 <= index < len(self._ts):
            raise IndexError(f"packet {index} out of range: {len(self._ts)} packets")
        self._catch_up()
        self._stop = None
        if self._index >= 0 and (index < self._index or (index == self._index and (
                not land or self.progress >= 1.0))):
            raise ValueError(f"packet {index} is not ahead of packet {self._index}")
        self._wake(_Mode.PLAYING)
        self._stop = (index, land)

    @property
    def stop_at(self) -> int:
        """The packet play_until stops at, -1 when none."""
        return self._stop[0] if self._stop is not None else -1

    def pause(self) -> None:
        """Stop where we are (a packet in flight stays in mid-air)."""
        self._catch_up()
        self._stop = None
        self._mode = _Mode.PAUSED

    def toggle(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    # -- stepping and seeking ----------------------------------------------
    def step_forward(self) -> bool:
        """Pause and fly the next packet; at the last packet, land it. True if it moved."""
        self._catch_up()
        self._stop = None
        if self._index >= len(self._ts) - 1:
            landing = self._index >= 0 and self.progress < 1.0
            if landing:
                self._elapsed = float(self._flights[self._index])
            self._mode = _Mode.PAUSED
            return landing
        self._index += 1
        self._elapsed = 0.0
        self._wake(_Mode.STEPPING)
        return True

    def step_back(self) -> bool:
        """Pause and show the previous packet landed (before the first: nothing)."""
        self._catch_up()
        self._stop = None
        self._mode = _Mode.PAUSED
        if self._index < 0:
            return False
        self._index -= 1
        self._elapsed = self._landed_at(self._index)
        return True

    def seek(self, index: int) -> None:
        """Show packet ``index`` (-1: before the first) landed."""
        if not -1 <= index < len(self._ts):
            raise IndexError(f"packet {index} out of range: {len(self._ts)} packets")
        self._catch_up()
        self._stop = None
        self._index = index
        self._elapsed = self._landed_at(index)
        self._settle()

    def seek_packet(self, packet: int) -> bool:
        """Seek to the packet whose store index is ``packet``; False if it is not played."""
        found = self._find(packet)
        if found < 0:
            return False
        self.seek(found)
        return True

    def _find(self, packet: int) -> int:
        """The played index of store index ``packet``, -1 if it is not played."""
        found = np.flatnonzero(self._packets == packet)
        return int(found[0]) if len(found) else -1

    def first(self) -> None:
        """Show the first packet landed."""
        if len(self._ts):
            self.seek(0)

    def last(self) -> None:
        """Show the last packet landed."""
        if len(self._ts):
            self.seek(len(self._ts) - 1)

    def rewind(self) -> None:
        """Go before the first packet: nothing shown, play flies packet 0 first."""
        self.seek(-1)

    def seek_position(self, pos: float) -> None:
        """Put the playhead at ``pos`` on the scale axis (scrubbing).

        The last packet at or before ``pos`` is shown landed and the wait for
        the next one is partly spent, so ``position()`` returns ``pos``.
        Below 0: before the first packet; beyond the end: the last packet.
        """
        n = len(self._ts)
        if not n:
            return
        self._catch_up()
        if pos < 0:
            self._index, self._elapsed = -1, 0.0
        else:
            pos = min(float(pos), float(self._pos[-1]))
            k = max(int(np.searchsorted(self._pos, pos, side="right")) - 1, 0)
            self._index = k
            if self._concurrent:
                self._elapsed = (pos - float(self._pos[k])) * self._gap
            else:
                self._elapsed = self._flight
                if k < n - 1:
                    self._elapsed += (pos - float(self._pos[k])) * self._gap
        self._settle()

    def seek_time(self, ts_ns: int) -> None:
        """Put the playhead at capture time ``ts_ns`` (before the first packet: -1)."""
        n = len(self._ts)
        if not n:
            return
        ts = self._ts_sorted
        k = int(np.searchsorted(ts, ts_ns, side="right")) - 1
        if k < 0:
            self.seek_position(-1.0)
            return
        pos = float(self._pos[k])
        if k < n - 1 and ts[k + 1] > ts[k]:
            fraction = (ts_ns - int(ts[k])) / (int(ts[k + 1]) - int(ts[k]))
            pos += fraction * (float(self._pos[k + 1]) - pos)
        self.seek_position(pos)

    def _settle(self) -> None:
        """After a seek: a stepped flight no longer runs; playing goes on from here."""
        if self._mode is _Mode.STEPPING:
            self._mode = _Mode.PAUSED

    # -- settings ----------------------------------------------------------
    def set_speed(self, speed: float) -> float:
        """Set the speed, clamped to MIN_SPEED..MAX_SPEED; returns the speed set."""
        speed = _clamped_speed(speed)
        self._catch_up()  # the time since the last tick ran at the old speed
        self._speed = speed
        return speed

    def faster(self) -> float:
        """The next step up in SPEED_STEPS (the + key)."""
        higher = [s for s in SPEED_STEPS if s > self._speed * (1 + 1e-9)]
        return self.set_speed(higher[0] if higher else MAX_SPEED)

    def slower(self) -> float:
        """The next step down in SPEED_STEPS (the - key)."""
        lower = [s for s in SPEED_STEPS if s < self._speed * (1 - 1e-9)]
        return self.set_speed(lower[-1] if lower else MIN_SPEED)

    def set_loop(self, loop: bool) -> None:
        self._catch_up()
        self._loop = loop

    def set_scale(self, scale: str) -> None:
        """Change the time scale, keeping the current packet and its flight."""
        if scale not in SCALES:
            raise ValueError(f"unknown time scale {scale!r}: choose one of {', '.join(SCALES)}")
        self._catch_up()
        fraction, progress = self._wait_fraction(), self.progress
        self._scale = scale
        self._layout()
        self._set_wait_fraction(fraction, progress)

    def set_timestamps(self, timestamps: Sequence[int] | np.ndarray,
                       packets: Sequence[int] | np.ndarray | None = None,
                       arrivals: Sequence[int] | np.ndarray | None = None) -> None:
        """Play a new list (the selection changed, or a live capture grew);
        ``arrivals`` as for the constructor.

        The current packet stays current, at the same point of its flight,
        when its store index is among the new ``packets``; otherwise the
        cursor goes before the first packet and pauses.
        """
        self._catch_up()
        self._stop = None
        current = self.packet
        was_last = self._index == len(self._ts) - 1
        fraction, progress = self._wait_fraction(), self.progress
        self._load(timestamps, packets, arrivals)
        found = self._find(current) if current >= 0 else -1
        if found < 0:
            self._index, self._elapsed = -1, 0.0
            self._mode = _Mode.PAUSED
            return
        self._index = found
        if was_last:  # it had no next packet; a new one starts its wait afresh
            fraction = None
        self._set_wait_fraction(fraction, progress)

    # -- layout --------------------------------------------------------------
    def _load(self, timestamps: Sequence[int] | np.ndarray,
              packets: Sequence[int] | np.ndarray | None,
              arrivals: Sequence[int] | np.ndarray | None = None) -> None:
        ts = np.array(timestamps, dtype=np.int64)
        n = len(ts)
        ids = np.arange(n, dtype=np.int64) if packets is None else np.array(packets,
                                                                              dtype=np.int64)
        if len(ids) != n:
            raise ValueError(f"{n} timestamps but {len(ids)} packets")
        if arrivals is not None and len(arrivals) != n:
            raise ValueError(f"{n} timestamps but {len(arrivals)} arrivals")
        self._arrivals = None if arrivals is None else np.array(arrivals, dtype=np.int64)
        ts.flags.writeable = False
        ids.flags.writeable = False
        self._ts, self._packets = ts, ids
        # seek_time needs time order; a capture can step back in time
        self._ts_sorted = np.maximum.accumulate(ts) if n else ts
        self._layout()

    def _layout(self) -> None:
        pos = positions(self._ts, self._scale)
        pos.flags.writeable = False
        self._pos = pos
        land = (arrival_positions(self._ts, self._arrivals, pos)
                if self._arrivals is not None and len(pos) else None)
        self._concurrent = land is not None
        if land is None:
            self._start = np.arange(len(pos)) * self._flight + pos * self._gap
            self._flights = np.full(len(pos), self._flight)
        else:
            self._start = pos * self._gap
            self._flights = (land - pos) * self._gap

    def _landed_at(self, k: int) -> float:
        """``elapsed`` of packet ``k`` (-1: before the first) shown landed."""
        return float(self._flights[k]) if k >= 0 else 0.0

    def _wait_fraction(self) -> float | None:
        """How much of the wait for the next packet is spent; None when not waiting
        for a next packet (before the first, in flight, or after the last)."""
        k = self._index
        waited = self._elapsed - self._flight
        if self._concurrent or k < 0 or k == len(self._pos) - 1 or waited <= 0:
            return None
        wait = float(self._pos[k + 1] - self._pos[k]) * self._gap
        return min(waited / wait, 1.0) if wait > 0 else 0.0

    def _set_wait_fraction(self, fraction: float | None, progress: float) -> None:
        """Put the current packet back where it was: ``fraction`` of its wait for the
        next one spent, or (None) ``progress`` of the way along its arrow."""
        k = self._index
        if k < 0:
            return
        if fraction is None or k == len(self._pos) - 1:
            self._elapsed = progress * float(self._flights[k])
            return
        wait = float(self._pos[k + 1] - self._pos[k]) * self._gap
        self._elapsed = self._flight + fraction * wait
