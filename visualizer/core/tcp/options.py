"""Decode raw TCP option bytes, never raising, whatever the bytes.

Walks the option list as RFC 9293 section 3.1 lays it out: kind 0 (EOL)
ends it, kind 1 (NOP) is one byte, every other kind has a length byte that
counts the kind and length bytes themselves. Parsing stops at the first
option whose length is missing, below 2, or runs past the end of the
bytes; such a list is marked ``malformed``. A known option with the wrong
length is skipped (its kind is recorded in ``bad_length``) and marks the
list malformed too, as Wireshark's "invalid length" check does.

Window scale: RFC 7323 section 2.3 says a shift above 14 is logged and 14
used instead. Wireshark does exactly that (expert info "Window scale shift
exceeds 14", then 1 << 14), so ``wscale`` holds the capped shift and
``wscale_raw`` the value on the wire.

mypyc compiles this module with the tracker (``core/compiled.py``): a
connection's SYN and SYN-ACK carry options that differ in their timestamps
and so miss the cache, and parsing them in the interpreter was a sixth of
the summary of a capture of many short connections.
"""

from __future__ import annotations

import struct
from typing import Final, NamedTuple

__all__ = ["EMPTY_OPTIONS", "TcpOptions", "parse_options"]

EOL, NOP, MSS, WSCALE, SACK_PERM, SACK, TIMESTAMP = 0, 1, 2, 3, 4, 5, 8
WSCALE_MAX = 14
SACK_BLOCKS_COUNTED = 3   # of a segment's SACK blocks, in bytes in flight (tshark 4.0)

_OPTION_NAMES = {2: "MSS", 3: "WS", 4: "SACK_PERM", 5: "SACK", 8: "TS", 19: "MD5",
                 28: "UTO", 29: "AO", 30: "MPTCP", 34: "TFO", 172: "AccECN0",
                 174: "AccECN1", 253: "EXP1", 254: "EXP2"}


class TcpOptions(NamedTuple):
    """The options of one segment. ``None`` / empty: the option was absent.

    Immutable. A named tuple, as the tracker's other values are: a frozen
    dataclass's ``__init__`` runs in Python, for every SYN."""

    mss: int | None = None
    wscale: int | None = None         # shift count, capped at 14
    wscale_raw: int | None = None     # shift count as sent
    sack_permitted: bool = False
    sack_blocks: tuple[tuple[int, int], ...] = ()   # absolute (left, right) edges
    timestamp: tuple[int, int] | None = None        # (TSval, TSecr)
    unknown: tuple[int, ...] = ()     # kinds we do not decode, in order
    bad_length: tuple[int, ...] = ()  # known kinds carrying the wrong length
    malformed: bool = False           # the list was cut short or inconsistent

    @property
    def sack_bytes(self) -> int:
        """Sum of the lengths of the first three SACK blocks, modulo 2**32
        (Wireshark's bytes-in-flight subtraction: tshark 4.0 keeps at most
        three blocks of a segment for it, although a segment may carry four)."""
        total = 0
        for left, right in self.sack_blocks[:SACK_BLOCKS_COUNTED]:
            total += (right - left) & 0xFFFFFFFF
        return total & 0xFFFFFFFF

    def summary(self) -> str:
        """Compact text such as ``"MSS=1460 WS=128 SACK_PERM TS=1/0"``.

        WS is the multiplier (2^shift), as Wireshark writes it: the shift
        count alone (WS=7) reads as a factor of seven.
        """
        parts = []
        if self.mss is not None:
            parts.append(f"MSS={self.mss}")
        if self.wscale is not None:
            parts.append(f"WS={1 << min(self.wscale, 14)}")
        if self.sack_permitted:
            parts.append("SACK_PERM")
        for left, right in self.sack_blocks:
            parts.append(f"SACK={left}-{right}")
        if self.timestamp is not None:
            parts.append(f"TS={self.timestamp[0]}/{self.timestamp[1]}")
        parts.extend(_OPTION_NAMES.get(k, f"opt{k}") for k in self.unknown)
        if self.malformed:
            parts.append("MALFORMED")
        return " ".join(parts)


EMPTY_OPTIONS = TcpOptions()

_U16 = struct.Struct("!H")
_U32x2 = struct.Struct("!II")
_new_tuple: Final = tuple.__new__   # a named tuple from a plain one, in C
_CACHE: dict[bytes, TcpOptions] = {}
_CACHE_MAX = 4096
#: The first bytes of NOP NOP TS (12 bytes in all), the options of nearly every
#: Linux data segment
TIMESTAMPS_ONLY_PREFIX = b"\x01\x01\x08\x0a"


def parse_options(raw: bytes) -> TcpOptions:
    """Decode ``raw``; never raises. Results for repeated byte strings are cached."""
    if not raw:
        return EMPTY_OPTIONS
    # Fast path: NOP NOP TS, the options of nearly every Linux data segment.
    if len(raw) == 12 and raw[:4] == TIMESTAMPS_ONLY_PREFIX:
        return _new_tuple(TcpOptions, (None, None, None, False, (), _U32x2.unpack_from(raw, 4),
                                       (), (), False))
    hit = _CACHE.get(raw)
    if hit is not None:
        return hit
    opts = _parse(bytes(raw))
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[bytes(raw)] = opts
    return opts


def _parse(raw: bytes) -> TcpOptions:
    mss = wscale = wscale_raw = None
    sack_perm = False
    sacks: list[tuple[int, int]] = []
    ts: tuple[int, int] | None = None
    unknown: list[int] = []
    bad: list[int] = []
    malformed = False
    i, n = 0, len(raw)
    while i < n:
        kind = raw[i]
        if kind == EOL:
            break
        if kind == NOP:
            i += 1
            continue
        if i + 1 >= n:
            malformed = True
            break
        length = raw[i + 1]
        if length < 2 or i + length > n:
            malformed = True
            break
        body = raw[i + 2:i + length]
        if kind == MSS:
            if length == 4:
                mss = _U16.unpack(body)[0]
            else:
                bad.append(kind)
        elif kind == WSCALE:
            if length == 3:
                wscale_raw = body[0]
                wscale = min(wscale_raw, WSCALE_MAX)
            else:
                bad.append(kind)
        elif kind == SACK_PERM:
            if length == 2:
                sack_perm = True
            else:
                bad.append(kind)
        elif kind == SACK:
            # Complete (left, right) pairs only; a ragged tail is malformed.
            if (length - 2) % 8:
                bad.append(kind)
            for off in range(0, len(body) - 7, 8):
                sacks.append(_U32x2.unpack_from(body, off))
        elif kind == TIMESTAMP:
            if length == 10:
                ts = _U32x2.unpack(body)
            else:
                bad.append(kind)
        else:
            unknown.append(kind)
        i += length
    return _new_tuple(TcpOptions, (mss, wscale, wscale_raw, sack_perm, tuple(sacks), ts,
                                   tuple(unknown), tuple(bad), malformed or bool(bad)))
