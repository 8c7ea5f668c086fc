"""Where the records of a block of a classic pcap file begin.

Each record's header says how long the record is, so finding the next one
means reading this one: the one loop over records numpy cannot do. It is
compiled with the analysis (``core/compiled.py``), where indexing ``bytes``
is a C array access; interpreted, it runs as fast as the ``struct`` loop it
replaced.
"""

from __future__ import annotations


def record_starts(data: bytes, header_len: int, big_endian: bool, n: int) -> list[int]:
    """The offsets in ``data`` of the headers of up to ``n`` records, following
    the captured lengths only: whether each record is sound (its length within
    reason, its bytes inside ``data``) is the caller's check."""
    starts: list[int] = []
    p = 0
    last = len(data) - header_len
    while p <= last and len(starts) < n:
        starts.append(p)
        q = p + 8   # the captured length: after the seconds and the fraction
        if big_endian:
            caplen = data[q] << 24 | data[q + 1] << 16 | data[q + 2] << 8 | data[q + 3]
        else:
            caplen = data[q] | data[q + 1] << 8 | data[q + 2] << 16 | data[q + 3] << 24
        p += header_len + caplen
    return starts
