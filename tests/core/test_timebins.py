"""Pre-binned packet times (core/timebins.py) against a plain count of the packets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from visualizer.core import timebins as tb
from visualizer.core.timebins import TimeBins, bin_width, level_for, visible


def _packets(seed: int, count: int, keys: int, span_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Packets sorted by time, some before the first one of the capture (negative)."""
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(-0.01 * span_s, span_s, count))
    return times, rng.integers(0, keys, count).astype(np.int32)


def _pairs(times: np.ndarray, keys: np.ndarray, level: int) -> set[tuple[int, int]]:
    width = bin_width(level)
    pairs = zip(times.tolist(), keys.tolist(), strict=True)
    return {(int(k), math.floor(t / width)) for t, k in pairs}


def _decoded(codes: np.ndarray) -> set[tuple[int, int]]:
    return {(int(c) >> tb.BIN_BITS, (int(c) & tb.BIN_MASK) - tb.BIN_OFFSET) for c in codes}


def test_level_is_the_coarsest_with_bins_of_at_most_half_a_pixel() -> None:
    for spp in (2e-6, 3e-6, 1e-4, 0.37, 12.0, 5000.0):
        level = level_for(spp)
        assert bin_width(level) <= spp / 2 < bin_width(level + 1)
    assert level_for(1.9e-6) == -1 and level_for(0) == -1 and level_for(math.inf) == -1


@pytest.mark.parametrize("level", [3, 6, 9])
def test_codes_are_the_occupied_bins_of_each_conversation(level: int) -> None:
    times, keys = _packets(1, 20_000, 7, 0.02)
    codes = TimeBins().codes(level, times, keys)
    assert codes is not None
    assert np.all(np.diff(codes) > 0)        # sorted by key, then bin; no repeats
    assert _decoded(codes) == _pairs(times, keys, level)


def test_a_level_made_from_a_finer_one_equals_one_made_from_the_packets() -> None:
    times, keys = _packets(2, 30_000, 11, 0.5)
    bins = TimeBins()
    assert bins.codes(5, times, keys) is not None
    coarse = bins.codes(8, times, keys)     # coarsened from level 5
    direct = TimeBins().codes(8, times, keys)
    assert coarse is not None and direct is not None
    np.testing.assert_array_equal(coarse, direct)


def test_appended_packets_are_merged_into_a_kept_level() -> None:
    times, keys = _packets(3, 40_000, 5, 10.0)
    bins = TimeBins()
    for end in (10_000, 10_001, 25_000, 40_000):
        grown = bins.codes(7, times[:end], keys[:end])
        whole = TimeBins().codes(7, times[:end], keys[:end])
        assert grown is not None and whole is not None
        np.testing.assert_array_equal(grown, whole)


def test_a_coarser_level_after_appends_comes_from_the_finer_one_brought_up(
        monkeypatch) -> None:
    """A loading window zooms out as packets arrive: the new, coarser level is
    the finer kept one with the new packets merged in, coarsened, not a sort of
    every packet; and it equals the level made from the packets."""
    times, keys = _packets(4, 60_000, 9, 2.0)
    bins = TimeBins()
    assert bins.codes(6, times[:20_000], keys[:20_000]) is not None
    sorted_lengths: list[int] = []
    real = tb._codes

    def codes(t: np.ndarray, k: np.ndarray, level: int) -> np.ndarray | None:
        sorted_lengths.append(len(t))
        return real(t, k, level)

    monkeypatch.setattr(tb, "_codes", codes)
    for end, level in ((45_000, 8), (60_000, 10)):
        grown = bins.codes(level, times[:end], keys[:end])
        whole = TimeBins().codes(level, times[:end], keys[:end])
        assert grown is not None and whole is not None
        np.testing.assert_array_equal(grown, whole)
        finer = bins.codes(6, times[:end], keys[:end])   # the finer level is current too
        assert finer is not None
        np.testing.assert_array_equal(finer, TimeBins().codes(6, times[:end], keys[:end]))
    # only the new packets are binned; the whole captures binned are the comparisons'
    assert sorted_lengths == [25_000, 45_000, 45_000, 15_000, 60_000, 15_000, 60_000]


def test_levels_take_in_packets_reordered_at_the_end_again() -> None:
    """Packets a little early are sorted in among the last ones: each
    kept level then merges the packets from there on, and equals one made anew."""
    times, keys = _packets(5, 30_000, 6, 1.0)
    bins = TimeBins()
    assert bins.codes(7, times[:20_000], keys[:20_000]) is not None
    assert bins.codes(9, times[:20_000], keys[:20_000]) is not None
    late = np.concatenate([times[:20_000], times[19_990:20_000] - 2e-3, times[20_000:]])
    late_keys = np.concatenate([keys[:20_000], np.full(10, 50, keys.dtype), keys[20_000:]])
    order = np.argsort(late, kind="stable")
    at = int(np.searchsorted(times[:20_000], late[20_000:20_010].min(), side="right"))
    assert at < 20_000
    bins.reordered_from(at)
    for level in (7, 9, 8):
        again = bins.codes(level, late[order], late_keys[order])
        whole = TimeBins().codes(level, late[order], late_keys[order])
        assert again is not None and whole is not None
        np.testing.assert_array_equal(again, whole)


def test_levels_of_packets_that_went_away_are_not_built_upon() -> None:
    """Other packets given without a reset (fewer than a kept level had): no kept
    level is merged into the new ones."""
    a_times, a_keys = _packets(6, 4_000, 5, 1.0)
    b_times, b_keys = _packets(7, 6_000, 5, 1.0)
    bins = TimeBins()
    assert bins.codes(10, a_times, a_keys + 20) is not None   # conversations of their own
    assert bins.codes(14, b_times[:3_000], b_keys[:3_000]) is not None
    again = bins.codes(12, b_times, b_keys)
    whole = TimeBins().codes(12, b_times, b_keys)
    assert again is not None and whole is not None
    np.testing.assert_array_equal(again, whole)


def test_a_level_that_does_not_shrink_the_data_is_not_used(monkeypatch) -> None:
    times = np.arange(1000, dtype=np.float64)          # one packet a second
    keys = np.arange(1000, dtype=np.int32)             # each its own conversation (a scan)
    level = level_for(4000.0)                          # bins wider than the capture
    bins = TimeBins()
    assert bins.codes(level, times, keys) is None      # as many bins as packets
    built = []
    monkeypatch.setattr(tb, "_codes", lambda *args: built.append(args) or None)
    for finer in (level, level - 1, 3):                # neither it nor a finer one is tried
        assert bins.codes(finer, times, keys) is None
    assert not built
    monkeypatch.undo()
    twice = np.arange(2000, dtype=np.float64)          # until the packets have doubled
    few = np.zeros(2000, dtype=np.int32)
    codes = bins.codes(level, twice, few)
    assert codes is not None and len(codes) <= 2       # one conversation, 2000 s


def test_at_most_a_few_levels_are_kept() -> None:
    times, keys = _packets(4, 10_000, 3, 100.0)
    bins = TimeBins()
    for level in range(10, 16):
        assert bins.codes(level, times, keys) is not None
    assert len(bins._levels) == tb.KEPT


def test_visible_gives_the_bins_of_the_rows_and_times_asked_for() -> None:
    times, keys = _packets(5, 50_000, 40, 60.0)
    level = 10
    codes = TimeBins().codes(level, times, keys)
    assert codes is not None
    rows = np.array([0, 3, 17, 39])
    start, stop = 12.5, 31.25
    centres, got = visible(codes, level, rows, start, stop)
    width = bin_width(level)
    expected = {(k, b) for k, b in _pairs(times, keys, level)
                if k in set(rows.tolist()) and math.floor(start / width) <= b
                <= math.floor(stop / width)}
    assert {(int(k), math.floor(c / width)) for c, k in zip(centres, got, strict=True)} == expected
    assert len(got) == len(expected)
    # a centre is within half a bin of every packet it stands for
    assert np.all(np.abs(centres / width - np.floor(centres / width) - 0.5) < 1e-6)
    empty_c, empty_k = visible(codes, level, np.array([], dtype=np.int64), start, stop)
    assert len(empty_c) == len(empty_k) == 0


def test_times_too_far_for_a_code_fall_back_to_the_packets() -> None:
    times = np.array([0.0, 1e6, 2e6])                  # 23 days at level 0's microsecond
    keys = np.zeros(3, dtype=np.int32)
    assert TimeBins().codes(0, times, keys) is None
    assert TimeBins().codes(12, times, keys) is None   # ratio 1: not worth it either
