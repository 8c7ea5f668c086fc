"""IPv4 and IPv6 fragment reassembly, as tshark does it by default.

Fragments are grouped by (IP version, source, destination, identification,
protocol). A datagram is complete once its last fragment (More Fragments
clear) is known and every byte before it has arrived; the frame that
completes it carries the reassembled transport header and length (tshark
shows the TCP or UDP header there, "Reassembled in" that frame), the other
fragments stay fragments. Overlaps are resolved as we read Wireshark's
reassembly: fragments are laid down in order of offset (of two at the same
offset, the earlier one first), and a byte already laid down is kept
(tests/core/test_fragments.py checks overlaps that rewrite the TCP header
against tshark).

A fragment whose bytes were cut by the snaplen cannot be used; its datagram
is never complete. Pending datagrams are forgotten, oldest first, once
they hold more than ``MAX_PENDING_BYTES``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from visualizer.core.decode import headers as dec

MAX_PENDING_BYTES = 32 << 20

_ipv4 = struct.Struct("!BBHHHBBH4s4s")
_ipv6 = struct.Struct("!IHBB16s16s")


class Piece(NamedTuple):
    """One fragment's bytes: ``frame[start:start+length]`` of packet ``packet``
    (0-based) lies at ``offset`` in the datagram."""

    packet: int
    start: int
    length: int
    offset: int


class Reassembled(NamedTuple):
    """A datagram completed at some packet: where its bytes came from, and
    its transport header (enough for the TCP options)."""

    ip_version: int
    src: bytes
    dst: bytes
    proto: int
    pieces: tuple[Piece, ...]   # in offset order, overlaps included
    header: bytes               # the datagram's first bytes, up to the transport payload
    size: int = 0               # the datagram's payload length

    @property
    def frames(self) -> tuple[int, ...]:
        """The frame numbers (1-based) of its fragments, in capture order."""
        return tuple(sorted({p.packet + 1 for p in self.pieces}))

    def frames_text(self, runs: int = 6) -> str:
        """Its frames as a reader takes them in: "3, 7-9"; consecutive frames
        as one run, and after ``runs`` runs only how many more. A datagram of
        300 fragments listed one by one made a line 13,000 pixels wide."""
        spans: list[list[int]] = []
        for n in self.frames:
            if spans and n == spans[-1][1] + 1:
                spans[-1][1] = n
            else:
                spans.append([n, n])
        shown = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans[:runs])
        left = sum(b - a + 1 for a, b in spans[runs:])
        return shown + (f" and {left} more" if left else "")


@dataclass
class _Pending:
    pieces: list[tuple[Piece, bytes]] = field(default_factory=list)
    total: int | None = None   # known from the last fragment
    size: int = 0


class Fragment(NamedTuple):
    key: tuple[object, ...]
    ip_version: int
    src: bytes
    dst: bytes
    proto: int
    offset: int
    more: bool
    start: int      # of the fragment's data in the frame
    data: bytes


def parse(frame: bytes, ip_offset: int) -> Fragment | None:
    """The fragment whose IP header starts at ``frame[ip_offset]`` (None: not a
    usable fragment, e.g. cut by the snaplen)."""
    if ip_offset + 1 > len(frame):
        return None
    version = frame[ip_offset] >> 4
    if version == 4 and ip_offset + 20 <= len(frame):
        vihl, _, total, ident, flags, _, proto, _, src, dst = _ipv4.unpack_from(frame, ip_offset)
        ihl = (vihl & 0x0F) * 4
        start, stop = ip_offset + ihl, ip_offset + total
        if ihl < 20 or stop < start or stop > len(frame):
            return None
        return Fragment((4, src, dst, ident, proto), 4, src, dst, proto, (flags & 0x1FFF) * 8,
                        bool(flags & 0x2000), start, frame[start:stop])
    if version == 6 and ip_offset + 40 <= len(frame):
        _, plen, nxt, _, src, dst = _ipv6.unpack_from(frame, ip_offset)
        pos, stop = ip_offset + 40, ip_offset + 40 + plen
        if stop > len(frame):
            return None
        for _ in range(8):
            if pos + 8 > stop:
                return None
            if nxt == 44:
                offset_flags, ident = struct.unpack_from("!HI", frame, pos + 2)
                proto, start = frame[pos], pos + 8
                return Fragment((6, src, dst, ident, proto), 6, src, dst, proto,
                                offset_flags & 0xFFF8, bool(offset_flags & 1), start,
                                frame[start:stop])
            if nxt not in (0, 43, 60, 51):
                return None
            size = (frame[pos + 1] + 2) * 4 if nxt == 51 else (frame[pos + 1] + 1) * 8
            nxt = frame[pos]
            pos += size
    return None


class Reassembler:
    """Feed fragments in capture order; a datagram comes back when complete."""

    def __init__(self) -> None:
        self._pending: dict[tuple[object, ...], _Pending] = {}
        self._bytes = 0

    def add(self, index: int, frag: Fragment) -> tuple[Reassembled, dec.Decoded] | None:
        """Add the fragment of packet ``index``; if this fragment completes its
        datagram, the datagram and its transport decoded (offsets within the
        datagram's payload)."""
        pending = self._pending.get(frag.key)
        if pending is None:
            pending = self._pending[frag.key] = _Pending()
        piece = Piece(index, frag.start, len(frag.data), frag.offset)
        pending.pieces.append((piece, frag.data))
        pending.size += len(frag.data)
        self._bytes += len(frag.data)
        if not frag.more:
            pending.total = frag.offset + len(frag.data)
        data = _assemble(pending)
        if data is None:
            self._forget_old()
            return None
        del self._pending[frag.key]
        self._bytes -= pending.size
        ordered = tuple(p for p, _ in _laid_order(pending))
        d = dec.transport(frag.ip_version, frag.src, frag.dst, frag.proto, data)
        head = d.l4_offset + (d.tcp_header_len or 8)
        return Reassembled(frag.ip_version, frag.src, frag.dst, frag.proto, ordered,
                           data[:head], len(data)), d

    def _forget_old(self) -> None:
        while self._bytes > MAX_PENDING_BYTES and self._pending:
            key = next(iter(self._pending))
            self._bytes -= self._pending.pop(key).size


def _laid_order(pending: _Pending) -> list[tuple[Piece, bytes]]:
    # by offset; at the same offset the earlier fragment first (a stable sort)
    return sorted(pending.pieces, key=lambda item: item[0].offset)


def _assemble(pending: _Pending) -> bytes | None:
    """The datagram's bytes if every one of them has arrived, else None."""
    total = pending.total
    if total is None:
        return None
    out = bytearray(total)
    done = 0
    for piece, data in _laid_order(pending):
        if piece.offset > done:
            return None  # a hole
        end = min(piece.offset + len(data), total)
        if end > done:
            out[done:end] = data[done - piece.offset:end - piece.offset]
            done = end
    return bytes(out) if done >= total else None



def assemble(datagram: Reassembled, frame_of: Callable[[int], bytes]) -> bytes:
    """The payload of a reassembled ``datagram`` (``frame_of(packet)`` gives a
    packet's frame), laid down as when it was reassembled."""
    pending = _Pending(total=datagram.size)
    for p in datagram.pieces:
        pending.pieces.append((p, frame_of(p.packet)[p.start:p.start + p.length]))
    return _assemble(pending) or b""
