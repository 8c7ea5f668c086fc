"""``analyze --json``'s line for each analysed TCP packet (most of a capture).

:mod:`visualizer.commands.record_lines` gives the text of every field, a
column at a time; this joins them into lines. mypyc compiles this module
with the analysis (``core/compiled.py``): an f-string of typed values is
then built in C, about half the time of a ``%`` template a line. The
``time`` field's text comes from :func:`time_texts`.
Interpreted, it makes the same lines.
"""

from __future__ import annotations

from typing import Final

_NS: Final = 1_000_000_000
# From 100 µs (below, repr writes an exponent: 5e-05) to 2**22 s (past it the
# float nearest d / 1e9 may be more than half a nanosecond off), the shortest
# repr of d / 1e9 is d's own decimal digits: two 9-place decimals lie 1 ns apart,
# more than a float's spacing there, so no shorter text gives the same float.
_DIGITS_FROM: Final = 100_000
_DIGITS_BELOW: Final = (1 << 22) * _NS


def time_texts(rel_ns: list[int]) -> list[str]:
    """``repr(round(d / 1e9, 9))`` of each offset ``d`` (ns): the float json.dumps
    writes for ``time``. From integers where that is the same text (about half
    the time of a float's repr, compiled)."""
    out: list[str] = []
    for d in rel_ns:
        if _DIGITS_FROM <= d < _DIGITS_BELOW:
            fraction = str(d % _NS)
            fraction = ("0" * (9 - len(fraction)) + fraction).rstrip("0")
            out.append(f"{d // _NS}.{fraction or '0'}")
        else:
            out.append(repr(round(d / 1e9, 9)))
    return out


def tcp_lines(frame: list[int], time: list[str], seconds: list[int], nanoseconds: list[int],
              length: list[int], src: list[str], dst: list[str], sport: list[int],
              dport: list[int], protocol: list[str], stream: list[int], seq: list[int],
              ack: list[int], payload_len: list[int], flags: list[str], window: list[int],
              analysis: list[str], next_seq: list[int], src_state: list[str],
              dst_state: list[str], extra: list[str]) -> list[str]:
    """One line a packet. Text arguments are JSON already; ``extra`` is what
    follows the states (``,"duplicate_ack_num":2`` and the like), often empty."""
    lines: list[str] = []
    for k in range(len(frame)):
        # zero-padded by hand: compiled, a format spec ({:09d}) costs five times
        # as much as all the rest of the line
        ns = str(nanoseconds[k])
        lines.append(
            f'{{"frame":{frame[k]},"time":{time[k]},"epoch":"{seconds[k]}.{"0" * (9 - len(ns))}'
            f'{ns}","length":{length[k]},"src":{src[k]},"dst":{dst[k]},'
            f'"sport":{sport[k]},"dport":{dport[k]},"protocol":{protocol[k]},'
            f'"stream":{stream[k]},"seq":{seq[k]},"ack":{ack[k]},"len":{payload_len[k]},'
            f'"flags":{flags[k]},"window":{window[k]},"analysis":{analysis[k]},'
            f'"next_seq":{next_seq[k]},"src_state":{src_state[k]},'
            f'"dst_state":{dst_state[k]}{extra[k]}}}\n')
    return lines
