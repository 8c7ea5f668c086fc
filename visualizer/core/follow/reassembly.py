"""Reassembling the payload of a TCP connection as Wireshark's Follow Stream does.

Sans-I/O: :class:`TcpFollower` is fed the segments of one connection in
frame order and keeps the chunks of payload in the order they become
contiguous. The behaviour is that of tshark 4.0's follow tap, learnt from
its output:

- Each side has a next expected sequence number, set by its first segment
  (a SYN counts one). A segment at that number is appended; one that starts
  before it but reaches past it gives only its new bytes (a retransmission
  carrying more data, an overlap); one with nothing new is dropped.
- A segment after it (out of order, or after a gap) waits in a list until
  the bytes before it arrive; then it is appended, cut to what is new.
- When the other side acknowledges past the lowest waiting segment, the
  bytes in between were seen by the receiver but not by the capture: a chunk
  ``[N bytes missing in capture file]`` (with a NUL, as tshark writes it)
  takes their place, and reassembly goes on from the waiting segment.
- Sequence numbers are tshark's relative ones: its quirk of restarting a
  side whose expected number is still 0 depends on them.

Chunks are never merged: each is the new bytes of one frame, as tshark
prints them (one line each in ``-z follow,tcp,raw``).
"""

from __future__ import annotations

from dataclasses import dataclass

_M32 = 0xFFFFFFFF
_HALF = 0x80000000
SYN = 0x002


def _lt(a: int, b: int) -> bool:
    """a before b in sequence space (tshark's LT_SEQ)."""
    return (a - b) & _M32 >= _HALF


def _gt(a: int, b: int) -> bool:
    """a after b in sequence space (tshark's GT_SEQ)."""
    return (b - a) & _M32 >= _HALF


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes one side sent, in stream order, and the frame that carried them."""

    direction: int     # 0: from node 0 (the sender of the conversation's first packet)
    frame: int         # 1-based frame number that carried the bytes (for a gap: the ACK's)
    data: bytes
    gap: bool = False  # a marker standing for bytes the capture does not hold


@dataclass(slots=True)
class _Waiting:
    frame: int
    seq: int
    data: bytes


class TcpFollower:
    """Feed one connection's segments in frame order; read :attr:`chunks`."""

    def __init__(self) -> None:
        self.chunks: list[Chunk] = []
        self._next = [0, 0]          # next expected sequence number, per side
        self._written = [0, 0]       # bytes appended so far, per side
        self._waiting: list[list[_Waiting]] = [[], []]

    def feed(self, direction: int, frame: int, seq: int, ack: int, flags: int, seglen: int,
             data: bytes) -> None:
        """One segment: ``seq``/``ack`` relative, ``seglen`` the TCP payload length on
        the wire, ``data`` the payload bytes captured (fewer when the snaplen cut them)."""
        seq &= _M32
        if flags & SYN:
            seq = (seq + 1) & _M32
        other = 1 - direction
        if self._waiting[other]:   # this segment may acknowledge bytes the capture missed
            while self._drain(other, ack & _M32, frame, use_ack=True):
                pass
        if self._written[direction] == 0 and self._next[direction] == 0:
            self._next[direction] = seq
        expected = self._next[direction]
        if _lt(seq, expected):
            end = (seq + seglen) & _M32
            if _gt(end, expected):   # a retransmission that carries new bytes too
                skip = (expected - seq) & _M32
                data = data[skip:]
                seq, seglen = expected, (end - expected) & _M32
        if not data or _lt(seq, expected):
            return
        if seq == expected:
            self._next[direction] = (expected + seglen) & _M32
            self._written[direction] += len(data)
            self.chunks.append(Chunk(direction, frame, data))
            while self._drain(direction, 0, frame, use_ack=False):
                pass
        else:   # ahead of what was seen: wait for the bytes before it
            self._waiting[direction].append(_Waiting(frame, seq, data))

    def _drain(self, side: int, acknowledged: int, frame: int, *, use_ack: bool) -> bool:
        """Append the first waiting segment of ``side`` that now fits (or drop one
        that brings nothing new); True when something changed."""
        waiting = self._waiting[side]
        if not waiting:
            return False
        expected = self._next[side]
        lowest = waiting[0].seq
        for k, item in enumerate(waiting):
            if _gt(lowest, item.seq):
                lowest = item.seq
            if _lt(item.seq, expected):
                end = (item.seq + len(item.data)) & _M32
                if _gt(end, expected):
                    skip = (expected - item.seq) & _M32
                    if len(item.data) > skip:
                        self.chunks.append(Chunk(side, item.frame, item.data[skip:]))
                    self._next[side] = (expected + len(item.data) - skip) & _M32
                del waiting[k]
                return True
            if item.seq == expected:
                if item.data:
                    self.chunks.append(Chunk(side, item.frame, item.data))
                self._next[side] = (expected + len(item.data)) & _M32
                del waiting[k]
                return True
        if use_ack and _gt(acknowledged, lowest):
            missing = (lowest - expected) & _M32
            marker = f"[{_as_int(missing)} bytes missing in capture file]".encode() + b"\0"
            self.chunks.append(Chunk(side, frame, marker, gap=True))
            self._next[side] = lowest
            return True
        return False


def _as_int(value: int) -> int:
    """A 32-bit number as C's ``(int)`` reads it."""
    return value - (1 << 32) if value >= _HALF else value
