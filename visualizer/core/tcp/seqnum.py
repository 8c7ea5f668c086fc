"""Sequence-number arithmetic modulo 2**32 (RFC 9293 section 3.4).

Comparisons are by signed 32-bit distance, exactly as Wireshark's
``LT_SEQ``/``GT_SEQ`` macros: ``a`` is before ``b`` when ``(a - b) mod 2**32``
read as a signed 32-bit integer is negative. At a distance of exactly 2**31
both ``lt(a, b)`` and ``lt(b, a)`` hold; that is the same ambiguity Wireshark
(and the RFC) has, kept so that results agree with tshark.
"""

from __future__ import annotations

MOD = 1 << 32
MASK = MOD - 1
HALF = 1 << 31

__all__ = ["HALF", "MASK", "MOD", "add", "between", "diff", "eq", "ge", "gt", "le", "lt", "sub"]


def add(a: int, n: int) -> int:
    """``a + n`` modulo 2**32 (``n`` may be negative)."""
    return (a + n) & MASK


def sub(a: int, b: int) -> int:
    """``a - b`` modulo 2**32, as an unsigned number in [0, 2**32)."""
    return (a - b) & MASK


def diff(a: int, b: int) -> int:
    """The signed distance from ``b`` to ``a``: ``a - b`` read as a signed 32-bit number."""
    d = (a - b) & MASK
    return d - MOD if d & HALF else d


def eq(a: int, b: int) -> bool:
    return (a - b) & MASK == 0


def lt(a: int, b: int) -> bool:
    """``a`` comes before ``b`` in sequence space (Wireshark ``LT_SEQ``)."""
    return bool((a - b) & HALF)


def le(a: int, b: int) -> bool:
    """Wireshark ``LE_SEQ``: equal, or before."""
    return (a - b) & MASK == 0 or bool((a - b) & HALF)


def gt(a: int, b: int) -> bool:
    """``a`` comes after ``b`` in sequence space (Wireshark ``GT_SEQ``)."""
    return bool((b - a) & HALF)


def ge(a: int, b: int) -> bool:
    """Wireshark ``GE_SEQ``: equal, or after."""
    return (a - b) & MASK == 0 or bool((b - a) & HALF)


def between(lo: int, x: int, hi: int) -> bool:
    """``lo <= x < hi`` in sequence space: ``x`` lies in the window starting at ``lo``.

    Measured as unsigned offsets from ``lo``, so it is well defined for any
    window shorter than 2**32 (an empty window, ``lo == hi``, holds nothing).
    """
    return (x - lo) & MASK < (hi - lo) & MASK
