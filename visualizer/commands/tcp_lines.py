"""``analyze --json``'s line for each analysed TCP packet (most of a capture).

:mod:`visualizer.commands.record_lines` gives the text of every field, a
column at a time; this joins them into lines. mypyc compiles this module
with the analysis (``core/compiled.py``): an f-string of typed values is
then built in C, about half the time of a ``%`` template a line.
Interpreted, it makes the same lines.
"""

from __future__ import annotations


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
