"""The playback cursor, driven by a fake clock through the bundled recording."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from clock import FakeClock

from visualizer.core.decode.store import PacketStore
from visualizer.core.playback.cursor import LOOP_PAUSE, MAX_SPEED, MIN_SPEED, PlaybackCursor
from visualizer.core.playback.timescale import SCALES, positions

SAMPLES = Path(__file__).parents[2] / "resources" / "samples"
F, G = 0.6, 0.4  # the default flight and gap seconds, spelled out so the sums below read


@pytest.fixture(scope="module")
def sample_ts() -> np.ndarray:
    store = PacketStore.from_file(str(SAMPLES / "tcp-handshake.pcapng"))
    ts = store.column("ts_ns").copy()
    store.close()
    assert len(ts) == 14
    return ts


def cursor_of(ts: np.ndarray | list[int], **kw: object) -> tuple[PlaybackCursor, FakeClock]:
    clock = FakeClock()
    return PlaybackCursor(ts, clock=clock, **kw), clock  # type: ignore[arg-type]


def state(c: PlaybackCursor) -> tuple[int, float, float, bool]:
    return c.index, round(c.progress, 6), round(c.position(), 6), c.playing


def play_for(c: PlaybackCursor, clock: FakeClock, seconds: float) -> bool:
    clock.advance(seconds)
    return c.tick()


# -- playing ------------------------------------------------------------------

def test_a_new_cursor_is_before_the_first_packet(sample_ts: np.ndarray) -> None:
    c, _ = cursor_of(sample_ts)
    assert len(c) == 14
    assert state(c) == (-1, 0.0, 0.0, False)
    assert c.packet == -1 and not c.running
    assert (c.scale, c.speed, c.loop) == ("log", 1.0, False)


def test_order_scale_plays_one_packet_a_second(sample_ts: np.ndarray) -> None:
    # each packet: 0.6 s of flight, then one scale unit (0.4 s) of waiting
    c, clock = cursor_of(sample_ts, scale="order")
    c.play()
    assert state(c) == (0, 0.0, 0.0, True)
    expected = [
        (0.3, (0, 0.5, 0.0, True)),       # half way along the first arrow
        (0.5, (0, 1.0, 0.5, True)),       # landed, the playhead glides to packet 1
        (0.35, (1, 0.25, 1.0, True)),     # packet 1 took off at 1.0 s
        (4.55, (5, 1.0, 5.25, True)),     # 5.7 s: packet 5 landed 0.1 s ago
        (7.9, (13, 1.0, 13.0, False)),    # 13.6 s: the last one has landed, stop
    ]
    for dt, want in expected:
        assert play_for(c, clock, dt)
        assert state(c) == want, dt
    assert c.packet == 13 and not c.running
    assert not play_for(c, clock, 5.0)  # nothing moves any more


def takeoffs(c: PlaybackCursor, clock: FakeClock, step: float = 0.01) -> dict[int, float]:
    """Play to the end in small ticks; when each packet took off (seconds after play)."""
    start = clock.now
    c.play()
    seen = {c.index: 0.0}
    while c.running:
        clock.advance(step)
        c.tick()
        if c.index not in seen and c.progress < 1:
            seen[c.index] = clock.now - start - c.progress * c.flight_seconds / c.speed
    return seen


@pytest.mark.parametrize("scale", list(SCALES))
def test_packets_take_off_where_the_scale_puts_them(sample_ts: np.ndarray, scale: str) -> None:
    c, clock = cursor_of(sample_ts, scale=scale)
    times = takeoffs(c, clock)
    pos = positions(sample_ts, scale)
    assert sorted(times) == list(range(14))
    for k, t in times.items():
        assert t == pytest.approx(k * F + pos[k] * G, abs=1e-6), k
    # all scales span 0..13, so the whole show lasts the same: 14 flights, 13 units of wait
    assert c.duration() == pytest.approx(14 * F + 13 * G)
    assert (c.index, c.progress) == (13, 1.0)


def test_real_time_waits_in_proportion_to_the_gaps(sample_ts: np.ndarray) -> None:
    c, clock = cursor_of(sample_ts, scale="real")
    times = takeoffs(c, clock)
    span = int(sample_ts[-1] - sample_ts[0])
    for k in range(13):
        gap_ns = int(sample_ts[k + 1] - sample_ts[k])
        waited = times[k + 1] - times[k] - F
        assert waited == pytest.approx(gap_ns / span * 13 * G, abs=1e-6)


def test_log_scale_keeps_short_gaps_watchable(sample_ts: np.ndarray) -> None:
    # the 4-µs gap after packet 6 and the 139-µs one after packet 5
    real = takeoffs(*cursor_of(sample_ts, scale="real"))
    log = takeoffs(*cursor_of(sample_ts, scale="log"))
    real_short, real_long = real[6] - real[5] - F, real[5] - real[4] - F
    log_short, log_long = log[6] - log[5] - F, log[5] - log[4] - F
    assert real_long / real_short > 30
    assert 1 < log_long / log_short < 4


@pytest.mark.parametrize("scale", list(SCALES))
def test_a_40_microsecond_handshake_plays_over_seconds(scale: str) -> None:
    c, clock = cursor_of([0, 16_000, 40_000], scale=scale)
    assert c.duration() == pytest.approx(3 * F + 2 * G)
    c.play()
    play_for(c, clock, 1.0)
    assert c.index < 2 and c.playing


def test_double_speed_doubles_progress(sample_ts: np.ndarray) -> None:
    slow, slow_clock = cursor_of(sample_ts)
    fast, fast_clock = cursor_of(sample_ts, speed=2.0)
    slow.play()
    fast.play()
    play_for(slow, slow_clock, 0.15)
    play_for(fast, fast_clock, 0.15)
    assert (slow.progress, fast.progress) == (pytest.approx(0.25), pytest.approx(0.5))
    assert fast.duration() == pytest.approx(slow.duration() / 2)


def test_changing_speed_mid_flight_does_not_jump(sample_ts: np.ndarray) -> None:
    c, clock = cursor_of(sample_ts)
    c.play()
    clock.advance(0.15)  # not ticked yet: this time still runs at speed 1
    c.set_speed(2.0)
    assert c.progress == pytest.approx(0.25)
    play_for(c, clock, 0.15)
    assert c.progress == pytest.approx(0.75)


def test_speed_is_clamped_and_walks_in_steps(sample_ts: np.ndarray) -> None:
    c, _ = cursor_of(sample_ts)
    assert c.faster() == 2.0 and c.faster() == 4.0
    assert c.set_speed(1.0) == 1.0 and c.slower() == 0.5
    assert c.set_speed(100) == MAX_SPEED and c.faster() == MAX_SPEED
    assert c.set_speed(0) == MIN_SPEED and c.slower() == MIN_SPEED
    assert c.set_speed(3.0) == 3.0 and c.faster() == 4.0
    assert c.set_speed(3.0) == 3.0 and c.slower() == 2.0
    with pytest.raises(ValueError, match="speed"):
        c.set_speed(float("nan"))


def test_loop_starts_over_after_a_pause(sample_ts: np.ndarray) -> None:
    c, clock = cursor_of(sample_ts, loop=True, scale="order")
    c.play()
    play_for(c, clock, 13.6 + LOOP_PAUSE / 2)
    assert state(c) == (13, 1.0, 13.0, True)  # waiting to start over
    play_for(c, clock, LOOP_PAUSE / 2 + 0.3)
    assert state(c) == (0, 0.5, 0.0, True)
    c.set_loop(False)
    play_for(c, clock, 100.0)
    assert state(c) == (13, 1.0, 13.0, False)


def test_play_at_the_end_starts_over_and_pause_freezes(sample_ts: np.ndarray) -> None:
    c, clock = cursor_of(sample_ts)
    c.last()
    c.play()
    assert state(c) == (0, 0.0, 0.0, True)
    play_for(c, clock, 0.3)
    c.pause()
    assert not play_for(c, clock, 5.0)
    assert c.progress == pytest.approx(0.5) and not c.running
    c.toggle()
    assert c.playing
    play_for(c, clock, 0.15)
    assert c.progress == pytest.approx(0.75)
    c.toggle()
    assert not c.playing


# -- stepping and seeking -------------------------------------------------------

def test_step_forward_flies_the_next_packet_and_stops(sample_ts: np.ndarray) -> None:
    c, clock = cursor_of(sample_ts)
    assert c.step_forward()
    assert (c.index, c.progress, c.playing, c.running) == (0, 0.0, False, True)
    assert play_for(c, clock, 0.3)
    assert c.progress == pytest.approx(0.5)
    assert play_for(c, clock, 10.0)
    assert (c.index, c.progress, c.running) == (0, 1.0, False)  # landed, no next packet
    assert not play_for(c, clock, 10.0)
    assert c.step_forward() and c.index == 1


def test_step_forward_while_playing_pauses(sample_ts: np.ndarray) -> None:
    c, clock = cursor_of(sample_ts)
    c.play()
    play_for(c, clock, 0.3)
    c.step_forward()
    assert (c.index, c.progress, c.playing) == (1, 0.0, False)
    assert c.step_forward() and c.index == 2  # pressing again does not wait for the landing


def test_step_back_from_the_end_shows_packets_landed(sample_ts: np.ndarray) -> None:
    c, clock = cursor_of(sample_ts, scale="order")
    c.last()
    assert state(c) == (13, 1.0, 13.0, False)
    assert c.step_back() and state(c) == (12, 1.0, 12.0, False)
    c.step_forward()  # 13 flies ...
    assert c.step_back() and state(c) == (12, 1.0, 12.0, False)  # ... back: 12 landed
    assert not play_for(c, clock, 1.0)
    c.seek(0)
    assert c.step_back() and c.index == -1
    assert not c.step_back()


def test_step_forward_at_the_last_packet_lands_it(sample_ts: np.ndarray) -> None:
    c, _ = cursor_of(sample_ts)
    c.seek(12)
    c.step_forward()
    assert (c.index, c.progress) == (13, 0.0)
    assert c.step_forward()
    assert (c.index, c.progress, c.running) == (13, 1.0, False)
    assert not c.step_forward()


def test_seek_shows_the_packet_landed_and_keeps_playing(sample_ts: np.ndarray) -> None:
    c, clock = cursor_of(sample_ts, scale="order")
    c.seek(5)
    assert state(c) == (5, 1.0, 5.0, False)
    c.first()
    assert state(c) == (0, 1.0, 0.0, False)
    c.rewind()
    assert state(c) == (-1, 0.0, 0.0, False)
    c.play()
    c.seek(10)
    play_for(c, clock, 0.4 + 0.3)  # the wait after 10, then half of 11's flight
    assert state(c) == (11, 0.5, 11.0, True)
    with pytest.raises(IndexError):
        c.seek(14)
    with pytest.raises(IndexError):
        c.seek(-2)


def test_seek_before_the_first_while_playing_flies_packet_zero(sample_ts: np.ndarray) -> None:
    c, clock = cursor_of(sample_ts)
    c.play()
    play_for(c, clock, 2.0)
    c.rewind()
    assert c.index == -1 and c.playing
    play_for(c, clock, 0.3)
    assert (c.index, c.progress) == (0, pytest.approx(0.5))


def test_seek_position_puts_the_playhead_there(sample_ts: np.ndarray) -> None:
    c, clock = cursor_of(sample_ts, scale="order")
    c.seek_position(4.5)
    assert state(c) == (4, 1.0, 4.5, False)
    c.play()
    play_for(c, clock, 0.25)  # the rest of the wait (half a unit = 0.2 s), then 0.05 s
    assert (c.index, c.progress) == (5, pytest.approx(0.05 / F))
    c.seek_position(-0.5)
    assert c.index == -1
    c.seek_position(99.0)
    assert state(c)[:3] == (13, 1.0, 13.0)


@pytest.mark.parametrize("scale", list(SCALES))
def test_seek_time_maps_capture_time_to_the_scale(sample_ts: np.ndarray, scale: str) -> None:
    c, _ = cursor_of(sample_ts, scale=scale)
    pos = positions(sample_ts, scale)
    c.seek_time(int(sample_ts[6]))
    assert (c.index, c.progress, c.position()) == (6, 1.0, pytest.approx(pos[6]))
    middle = int(sample_ts[6] + sample_ts[7]) // 2
    c.seek_time(middle)
    assert c.index == 6
    assert c.position() == pytest.approx((pos[6] + pos[7]) / 2, abs=1e-3)
    c.seek_time(int(sample_ts[0]) - 1)
    assert c.index == -1
    c.seek_time(int(sample_ts[-1]) + 10**9)
    assert c.index == 13


def test_seek_packet_finds_a_store_index() -> None:
    c, _ = cursor_of([100, 200, 300], packets=[7, 9, 12])
    assert c.seek_packet(9)
    assert (c.index, c.packet) == (1, 9)
    assert not c.seek_packet(8)
    assert c.index == 1


# -- changing what is played -------------------------------------------------------

def test_set_scale_keeps_the_packet_in_flight(sample_ts: np.ndarray) -> None:
    c, clock = cursor_of(sample_ts, scale="order")
    c.seek(4)
    c.step_forward()
    play_for(c, clock, 0.3)
    c.set_scale("real")
    assert (c.index, c.progress, c.scale) == (5, pytest.approx(0.5), "real")
    assert c.positions.tolist() == positions(sample_ts, "real").tolist()
    with pytest.raises(ValueError, match="unknown time scale"):
        c.set_scale("linear")


def test_set_scale_keeps_the_share_of_the_wait(sample_ts: np.ndarray) -> None:
    c, _ = cursor_of(sample_ts, scale="order")
    c.seek_position(2.25)  # a quarter of the way from packet 2 to 3
    c.set_scale("log")
    pos = positions(sample_ts, "log")
    assert c.index == 2
    assert c.position() == pytest.approx(pos[2] + (pos[3] - pos[2]) / 4)


def test_a_growing_capture_keeps_the_current_packet(sample_ts: np.ndarray) -> None:
    c, clock = cursor_of(sample_ts[:10], scale="order")
    c.play()
    play_for(c, clock, 100.0)
    assert (c.index, c.playing) == (9, False)  # caught up with the live capture
    c.set_timestamps(sample_ts)
    assert (c.index, c.progress) == (9, 1.0)
    c.play()  # not at the end any more: goes on with packet 10
    play_for(c, clock, G + 0.3)
    assert (c.index, c.progress) == (10, pytest.approx(0.5))


def test_a_new_selection_keeps_the_packet_when_it_is_in_it(sample_ts: np.ndarray) -> None:
    c, _ = cursor_of(sample_ts, packets=range(100, 114))
    c.seek(5)
    c.set_timestamps(sample_ts[3:8], packets=range(103, 108))
    assert (c.index, c.packet, len(c)) == (2, 105, 5)
    c.set_timestamps(sample_ts[10:], packets=range(110, 114))
    assert (c.index, c.packet, c.running) == (-1, -1, False)
    with pytest.raises(ValueError, match="timestamps but"):
        c.set_timestamps(sample_ts, packets=[1, 2])


# -- edge cases -----------------------------------------------------------------------

def test_nothing_to_play() -> None:
    c, clock = cursor_of([])
    c.play()
    assert not c.playing and not play_for(c, clock, 1.0)
    assert not c.step_forward() and not c.step_back()
    c.first()
    c.last()
    c.seek_position(3.0)
    c.seek_time(5)
    c.seek(-1)
    with pytest.raises(IndexError):
        c.seek(0)
    assert state(c) == (-1, 0.0, 0.0, False) and c.duration() == 0.0
    c.set_timestamps([10, 20])
    assert (len(c), c.index) == (2, -1)


def test_one_packet_flies_once_or_forever() -> None:
    c, clock = cursor_of([42])
    c.play()
    play_for(c, clock, 0.3)
    assert (c.index, c.progress) == (0, pytest.approx(0.5))
    play_for(c, clock, 0.3)
    assert (c.index, c.progress, c.playing) == (0, 1.0, False)
    looping, clock = cursor_of([42], loop=True)
    looping.play()
    play_for(looping, clock, F + LOOP_PAUSE + 0.15)
    assert (looping.index, looping.progress, looping.playing) == (0, pytest.approx(0.25), True)


@pytest.mark.parametrize("scale", list(SCALES))
def test_packets_at_the_same_instant_all_fly(scale: str) -> None:
    c, clock = cursor_of([5, 5, 5], scale=scale)
    times = takeoffs(c, clock)
    assert sorted(times) == [0, 1, 2]
    assert times[1] - times[0] >= F - 1e-9 and times[2] - times[1] >= F - 1e-9


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown time scale"):
        PlaybackCursor([1], scale="linear")
    with pytest.raises(ValueError, match="flight_seconds"):
        PlaybackCursor([1], flight_seconds=0)
    with pytest.raises(ValueError, match="gap_seconds"):
        PlaybackCursor([1], gap_seconds=-1)


# -- on a path: packets fly for their transit time -------------------------------

MS = 1_000_000


def path_cursor() -> tuple[PlaybackCursor, FakeClock]:
    """Four packets 10 ms apart, each 25 ms in transit but the third, which is lost
    (timescale.NOT_ARRIVED), on the real-time scale: 30 ms of departures over 3 units."""
    ts = [0, 10 * MS, 20 * MS, 30 * MS]
    arrivals = [25 * MS, 35 * MS, -1, 55 * MS]
    return cursor_of(ts, scale="real", arrivals=arrivals)


def test_on_a_path_packets_fly_for_their_transit_and_several_at_once() -> None:
    c, clock = path_cursor()
    assert c.concurrent
    unit = G / (10 * MS)        # show seconds per ns: one unit of the scale is 10 ms
    c.play()
    play_for(c, clock, 5 * MS * unit)            # 5 ms in: packet 0 is a fifth of the way
    assert state(c) == (0, 0.2, 0.5, True)
    play_for(c, clock, 10 * MS * unit)           # 15 ms: packet 1 left, packet 0 still flying
    assert (c.index, round(c.progress, 6)) == (1, 0.2)
    assert round(c.position(), 6) == 1.5         # the playhead runs with the clock
    play_for(c, clock, 45 * MS * unit)           # 60 ms: the last arrival was at 55 ms
    assert (c.index, c.progress, c.playing) == (3, 1.0, False)
    # The whole playback lasts as long as the recording, on the scale: 55 ms.
    assert c.duration() == pytest.approx(55 * MS * unit)


def test_on_a_path_a_lost_packet_flies_part_of_a_typical_transit_and_stepping_lands() -> None:
    c, clock = path_cursor()
    c.seek(1)
    assert (c.index, c.progress) == (1, 1.0)
    assert c.position() == 3.0   # it landed at 35 ms: past the last departure, the end
    assert c.step_forward()                      # the lost packet flies, to its cross
    play_for(c, clock, 0.55 * 2.5 * G / 2)       # half of 0.55 of the median transit
    assert round(c.progress, 6) == 0.5 and c.index == 2
    play_for(c, clock, 10.0)
    assert (c.index, c.progress, c.running) == (2, 1.0, False)
    assert c.step_back() and (c.index, c.progress) == (1, 1.0)


def test_on_a_path_a_scale_change_keeps_the_packet_where_it_was() -> None:
    c, clock = path_cursor()
    c.step_forward()
    play_for(c, clock, 0.25 * 2.5 * G)           # a quarter of packet 0's 25 ms
    c.set_scale("order")
    assert c.concurrent and (c.index, round(c.progress, 6)) == (0, 0.25)
    c.set_timestamps(c.timestamps, c.packets)    # without arrivals: one packet at a time
    assert not c.concurrent and (c.index, round(c.progress, 6)) == (0, 0.25)
