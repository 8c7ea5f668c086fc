"""Which packets of a store the TCP tracker takes, and the segment each one is.

The full analysis (``flows/analysis.py``) feeds the tracker every such
packet, the conversation summary (``flows/summaries.py``) only those that
can change a summary; both pick them with :func:`tracked` and build their
segments with :class:`Segments`, so that they feed it the same. mypyc compiles
this module with the tracker (``core/compiled.py``).
"""

from __future__ import annotations

from typing import Any, Final

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


class Segments:
    """The segment each packet of a store is to the tracker (for the packets
    :func:`tracked` takes), read from the store's live columns: it sees the
    packets the store gains later too."""

    def __init__(self, store: PacketStore) -> None:
        v = store.values
        # Any: compiled, each read is then one C call giving the entry's own int
        # object, not an int unboxed and boxed again for the segment
        self.ts: Any = v("ts_ns")
        self.src: Any = v("src")
        self.dst: Any = v("dst")
        self.sport: Any = v("sport")
        self.dport: Any = v("dport")
        self.seq: Any = v("seq")
        self.ack: Any = v("ack")
        self.flags: Any = v("tcp_flags")
        self.window: Any = v("window")
        self.payload_len: Any = v("payload_len")
        self.urgent: Any = v("urgent")
        self.header_len: Any = v("tcp_header_len")
        self.timestamps_only: Any = v("timestamps_only")
        self.addresses = store.addresses
        self.options = store.tcp_options

    def at(self, i: int) -> TcpSegment:
        """The segment packet ``i`` is, for the tracker: its options are left out
        when they are NOP NOP TS alone, which the tracker skips (connection.py).
        Reading them from the file was a third of a real capture's analysis."""
        key: object = i   # boxed once for the dozen reads below
        options = (self.options(i) if self.header_len[key] > 20
                   and not self.timestamps_only[key] else b"")
        # the named tuple made from a plain one, in C: calling the class goes
        # through its Python-level __new__
        return _new_tuple(TcpSegment, (
            i + 1, self.ts[key], self._address(self.src[key]), self.sport[key],
            self._address(self.dst[key]), self.dport[key], self.seq[key], self.ack[key],
            self.flags[key], self.window[key], self.payload_len[key], options,
            self.urgent[key]))

    def _address(self, address_id: int) -> bytes:
        # PacketStore.address, inline: compiled, calling the store's method
        # would be two interpreted calls a segment
        return self.addresses[address_id] if address_id >= 0 else b""


_new_tuple: Final = tuple.__new__
