"""Sequence arithmetic modulo 2**32, compared with Wireshark's LT_SEQ/GT_SEQ."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from visualizer.core.tcp import seqnum

U32 = st.integers(min_value=0, max_value=seqnum.MASK)


def ws_lt(x: int, y: int) -> bool:  # Wireshark: (gint32)(x - y) < 0
    d = (x - y) & seqnum.MASK
    return d >= 1 << 31


@pytest.mark.parametrize(("a", "b", "lt", "gt"), [
    (1, 2, True, False),
    (2, 1, False, True),
    (5, 5, False, False),
    (0xFFFFFFFF, 0, True, False),         # 2**32 - 1 comes just before 0
    (0, 0xFFFFFFFF, False, True),
    (0xFFFFFF00, 0x100, True, False),     # across the wrap
    (0, 1 << 31, True, True),             # exactly half: both, as in Wireshark
])
def test_comparisons(a: int, b: int, lt: bool, gt: bool) -> None:
    assert seqnum.lt(a, b) is lt
    assert seqnum.gt(a, b) is gt
    assert seqnum.le(a, b) is (lt or a == b)
    assert seqnum.ge(a, b) is (gt or a == b)


@pytest.mark.parametrize(("a", "n", "out"), [
    (0xFFFFFFFF, 1, 0), (0, -1, 0xFFFFFFFF), (10, 5, 15), (5, -10, 0xFFFFFFFB)])
def test_add(a: int, n: int, out: int) -> None:
    assert seqnum.add(a, n) == out


@pytest.mark.parametrize(("a", "b", "d"), [
    (0, 0xFFFFFFFF, 1), (0xFFFFFFFF, 0, -1), (100, 50, 50), (50, 100, -50),
    (1 << 31, 0, -(1 << 31))])
def test_diff_is_signed(a: int, b: int, d: int) -> None:
    assert seqnum.diff(a, b) == d
    assert seqnum.sub(a, b) == d & seqnum.MASK


@pytest.mark.parametrize(("lo", "x", "hi", "inside"), [
    (10, 10, 20, True), (10, 19, 20, True), (10, 20, 20, False), (10, 9, 20, False),
    (0xFFFFFFF0, 0x5, 0x10, True),       # window across the wrap
    (0xFFFFFFF0, 0xFFFFFFEF, 0x10, False),
    (7, 7, 7, False),                    # empty window
])
def test_between(lo: int, x: int, hi: int, inside: bool) -> None:
    assert seqnum.between(lo, x, hi) is inside


@given(U32, U32)
def test_matches_wireshark_macros(a: int, b: int) -> None:
    assert seqnum.lt(a, b) == ws_lt(a, b)
    assert seqnum.gt(a, b) == ws_lt(b, a)
    assert seqnum.eq(a, b) == (a == b)
    assert seqnum.add(b, seqnum.diff(a, b)) == a
