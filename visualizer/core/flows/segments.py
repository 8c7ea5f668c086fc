"""Which packets of a store the TCP tracker takes, and the segment each one is.

The full analysis (``flows/analysis.py``) feeds the tracker every such
packet, the conversation summary (``flows/summaries.py``) only those that
can change a summary; both pick them with :func:`tracked` and build their
segments with :func:`segment_builder`, so that they feed it the same.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from visualizer.core.decode import headers as dec
from visualizer.core.decode.store import PacketStore
from visualizer.core.tcp.segment import TcpSegment


def tracked(store: PacketStore, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Per packet in ``[start, stop)``: does the TCP tracker take it? TCP, not an IP
    fragment, and decoded whole (or with only its options cut off by the snaplen:
    the fields the tracker needs are there)."""
    stop = len(store) if stop is None else stop
    part = store.column_slice
    status = part("status", start, stop)
    tcp = part("proto", start, stop) == dec.PROTO_TCP
    tcp &= part("fragment", start, stop) == 0
    # options cut off by the snaplen: the fields before them are still good
    ok = (status == dec.OK) | (part("reason", start, stop)
                               == dec.MalformedReason.TCP_OPTIONS_TRUNCATED)
    return ok & tcp


def segment_builder(store: PacketStore) -> Callable[[int], TcpSegment]:
    """A function giving the segment packet ``i`` is to the tracker (for the
    packets :func:`tracked` takes)."""
    v = store.values
    ts, src, dst, sport, dport = v("ts_ns"), v("src"), v("dst"), v("sport"), v("dport")
    seq, ack, flags, window = v("seq"), v("ack"), v("tcp_flags"), v("window")
    plen, urgent, thl = v("payload_len"), v("urgent"), v("tcp_header_len")
    address, options = store.address, store.tcp_options
    # the named tuple made from a plain one, in C: calling the class goes through
    # its Python-level __new__ (190 of 380 ns a segment)
    new = tuple.__new__

    def segment(i: int) -> TcpSegment:
        return new(TcpSegment, (i + 1, ts[i], address(src[i]), sport[i], address(dst[i]),
                                dport[i], seq[i], ack[i], flags[i], window[i], plen[i],
                                options(i) if thl[i] > 20 else b"", urgent[i]))
    return segment
