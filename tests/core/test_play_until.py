"""``PlaybackCursor.play_until``: play, and pause at a packet (landed, or before it flies)."""

from __future__ import annotations

import pytest
from clock import FakeClock

from visualizer.core.playback.cursor import PlaybackCursor

F, G = 0.6, 0.4
TS = [k * 1_000_000 for k in range(6)]    # evenly spaced: on the order scale one unit apart


def cursor() -> tuple[PlaybackCursor, FakeClock]:
    clock = FakeClock()
    return PlaybackCursor(TS, clock=clock, scale="order"), clock


def test_plays_through_and_stops_when_the_packet_has_landed() -> None:
    c, clock = cursor()
    c.play_until(3)
    assert c.playing and c.stop_at == 3
    clock.advance(3 * (F + G) + F - 0.01)   # packet 3 still flying
    c.tick()
    assert c.index == 3 and c.progress < 1.0 and c.playing
    clock.advance(0.02)
    c.tick()
    assert (c.index, c.progress, c.playing, c.stop_at) == (3, 1.0, False, -1)
    clock.advance(10)
    assert not c.tick()                      # it stays there


def test_before_it_flies_shows_the_previous_packet_landed() -> None:
    c, clock = cursor()
    c.seek(0)
    c.play_until(2, land=False)
    clock.advance(5.0)                       # far past packet 2's take-off
    c.tick()
    assert (c.index, c.progress, c.playing) == (1, 1.0, False)
    c.play_until(2)                          # now let it land
    clock.advance(F + 0.01)
    c.tick()
    assert (c.index, c.progress, c.playing) == (2, 1.0, False)


def test_other_controls_cancel_the_stop() -> None:
    c, clock = cursor()
    c.play_until(4)
    c.pause()
    assert c.stop_at == -1
    c.play()
    clock.advance(100)
    c.tick()
    assert c.index == 5                      # played to the end: no stop any more
    c.seek(0)
    c.play_until(2)
    c.seek(1)
    assert c.stop_at == -1


def test_a_packet_behind_or_out_of_range_is_refused() -> None:
    c, _ = cursor()
    c.seek(3)
    with pytest.raises(ValueError):
        c.play_until(2)
    with pytest.raises(ValueError):
        c.play_until(3)                      # already landed
    with pytest.raises(IndexError):
        c.play_until(6)
    c.play_until(4)
    assert c.stop_at == 4
