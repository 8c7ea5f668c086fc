"""The PacketStore: every packet of a capture, as columns.

Append-only. The frame bytes stay in the (memory-mapped) capture file; the
store keeps where each frame lies plus the decoded header fields the views
and the analysis need, as typed arrays (a few dozen bytes per packet, so a
million packets are comfortable). Rare, variable-size facts (malformation
notes, comments, ICMP quotes) live in sparse dicts keyed by index.

Indices are 0-based; the frame numbers shown to users are index + 1, as
Wireshark numbers frames.
"""

from __future__ import annotations

import ipaddress
from array import array
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from visualizer.core import decode as dec
from visualizer.core.pcapfile import CaptureFile, FrameRecord

# name -> array typecode (the matching numpy dtype follows from it)
COLUMNS: dict[str, str] = {
    "ts_ns": "q", "caplen": "I", "origlen": "I", "offset": "q", "linktype": "i",
    "interface": "I", "status": "B", "ip_version": "B", "proto": "B", "src": "i", "dst": "i",
    "sport": "H", "dport": "H", "tcp_flags": "H", "seq": "I", "ack": "I", "window": "H",
    "urgent": "H", "payload_len": "I", "l4_offset": "I", "tcp_header_len": "B",
    "icmp_type": "h", "icmp_code": "h",
    "fragment": "B",  # part of a fragmented IP datagram (not reassembled)
}


class PacketStore:
    """Columns of decoded header fields over the frames of one capture file."""

    def __init__(self, capture: CaptureFile) -> None:
        self.capture = capture
        self._cols: dict[str, array[Any]] = {n: array(t) for n, t in COLUMNS.items()}
        self._np_cache: dict[str, np.ndarray] = {}
        self._addresses: list[bytes] = []
        self._address_ids: dict[bytes, int] = {b"": -1}
        self.notes: dict[int, str] = {}            # index -> why it is malformed / not IP
        self.comments: dict[int, str] = {}         # index -> pcapng packet comment
        self.quoted: dict[int, dec.Quoted] = {}    # index -> what an ICMP error quotes

    # -- building ------------------------------------------------------
    @classmethod
    def from_file(cls, path: str, *, progress: Callable[[int, int], bool] | None = None,
                  limit: int | None = None) -> PacketStore:
        """Open ``path`` and decode every frame.

        ``progress(bytes_done, bytes_total)`` is called every few thousand
        frames; returning False stops loading (what was read stays).
        """
        store = cls(CaptureFile.open(path))
        store.extend(store.capture.frames(), progress=progress, limit=limit)
        return store

    def extend(self, frames: Iterator[FrameRecord], *,
               progress: Callable[[int, int], bool] | None = None,
               limit: int | None = None) -> None:
        c = self._cols
        ts, caplen_c, origlen_c, offset_c = c["ts_ns"], c["caplen"], c["origlen"], c["offset"]
        link_c, iface_c = c["linktype"], c["interface"]
        status_c, ipv_c = c["status"], c["ip_version"]
        proto_c, src_c, dst_c, sport_c = c["proto"], c["src"], c["dst"], c["sport"]
        dport_c, flags_c, seq_c, ack_c = c["dport"], c["tcp_flags"], c["seq"], c["ack"]
        win_c, urg_c, plen_c, l4_c = c["window"], c["urgent"], c["payload_len"], c["l4_offset"]
        thl_c, it_c, ic_c = c["tcp_header_len"], c["icmp_type"], c["icmp_code"]
        frag_c = c["fragment"]
        ids, addresses = self._address_ids, self._addresses
        data, decode = self.capture.data, dec.decode
        total = self.capture.size
        index = len(ts)
        for rec in frames:
            d = decode(rec.linktype, data, rec.offset, rec.caplen, rec.origlen)
            ts.append(rec.ts_ns)
            caplen_c.append(rec.caplen)
            origlen_c.append(rec.origlen)
            offset_c.append(rec.offset)
            link_c.append(rec.linktype)
            iface_c.append(rec.interface)
            status_c.append(d.status)
            ipv_c.append(d.ip_version)
            proto_c.append(d.proto)
            src = ids.get(d.src)
            if src is None:
                src = ids[d.src] = len(addresses)
                addresses.append(d.src)
            dst = ids.get(d.dst)
            if dst is None:
                dst = ids[d.dst] = len(addresses)
                addresses.append(d.dst)
            src_c.append(src)
            dst_c.append(dst)
            sport_c.append(d.sport)
            dport_c.append(d.dport)
            flags_c.append(d.tcp_flags)
            seq_c.append(d.seq)
            ack_c.append(d.ack)
            win_c.append(d.window)
            urg_c.append(d.urgent)
            plen_c.append(min(d.payload_len, 0xFFFFFFFF))
            l4_c.append(d.l4_offset)
            thl_c.append(d.tcp_header_len)
            it_c.append(d.icmp_type)
            ic_c.append(d.icmp_code)
            frag_c.append(d.fragment)
            if d.note:
                self.notes[index] = d.note
            if d.quoted is not None:
                self.quoted[index] = d.quoted
            if rec.comment is not None:
                self.comments[index] = rec.comment
            index += 1
            if not index % 8192:
                self.capture.release(rec.offset)
                if progress is not None and not progress(rec.offset, total):
                    break
            if limit is not None and index >= limit:
                break
        self._np_cache.clear()
        if progress is not None:
            progress(total, total)

    # -- reading -------------------------------------------------------
    def __len__(self) -> int:
        return len(self._cols["ts_ns"])

    def column(self, name: str) -> np.ndarray:
        """A numpy copy of one column (cached until the column grows).

        The cache checks the length rather than trusting a clear: a loader
        thread may append while another thread reads (DESIGN: the GUI loads
        in the background), and a copy taken mid-append must not stick.
        """
        col = self._cols[name]
        arr = self._np_cache.get(name)
        if arr is None or len(arr) != len(col):
            arr = np.frombuffer(col.tobytes(), dtype=np.dtype(col.typecode))
            self._np_cache[name] = arr
        return arr

    def values(self, name: str) -> array[Any]:
        """The live column itself: indexing gives plain ints, cheaply.

        For per-packet loops, where numpy's per-element access costs more;
        read it, never change it.
        """
        return self._cols[name]

    def frame(self, index: int) -> bytes:
        c = self._cols
        off = c["offset"][index]
        return bytes(self.capture.data[off:off + c["caplen"][index]])

    def decoded(self, index: int) -> dec.Decoded:
        c = self._cols
        return dec.decode(c["linktype"][index], self.capture.data, c["offset"][index],
                          c["caplen"][index], c["origlen"][index])

    def tcp_options(self, index: int) -> bytes:
        c = self._cols
        start = c["offset"][index] + c["l4_offset"][index]
        return bytes(self.capture.data[start + 20:start + c["tcp_header_len"][index]])

    def address(self, address_id: int) -> bytes:
        return self._addresses[address_id] if address_id >= 0 else b""

    def address_text(self, address_id: int) -> str:
        return format_address(self.address(address_id))

    def close(self) -> None:
        self._np_cache.clear()
        self.capture.close()


_text_cache: dict[bytes, str] = {}


def format_address(raw: bytes) -> str:
    """``b'\\x7f\\0\\0\\1'`` -> ``'127.0.0.1'``; IPv6 compressed; ``''`` for none."""
    text = _text_cache.get(raw)
    if text is None:
        text = str(ipaddress.ip_address(raw)) if len(raw) == 4 or len(raw) == 16 else raw.hex()
        if len(_text_cache) < 100_000:
            _text_cache[raw] = text
    return text


def format_endpoint(raw: bytes, port: int) -> str:
    """``127.0.0.1:80`` or ``[::1]:80``."""
    text = format_address(raw)
    return f"[{text}]:{port}" if ":" in text else f"{text}:{port}"
