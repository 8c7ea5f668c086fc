"""The PacketStore: every packet of a capture, as columns.

Append-only. The frame bytes stay in the capture file (read again when
needed, see ``pcap/source.py``); the store keeps where each frame lies plus
the decoded header fields the views and the analysis need, as typed arrays
(a few dozen bytes per packet, so a million packets are comfortable). Rare,
variable-size facts (malformation notes, comments, ICMP quotes) live in
sparse dicts keyed by index.

Indices are 0-based; the frame numbers shown to users are index + 1, as
Wireshark numbers frames.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import numpy as np

from visualizer.core.decode import columns as fast
from visualizer.core.decode import headers as dec
from visualizer.core.decode.fragments import Reassembled, Reassembler, assemble, parse
from visualizer.core.pcap.format import linktype_text
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.pcap.records import FrameChunk, Records
from visualizer.core.table import ColumnTable

# name -> array typecode (the matching numpy dtype follows from it)
COLUMNS: dict[str, str] = {
    "ts_ns": "q", "caplen": "I", "origlen": "I", "offset": "q", "linktype": "i",
    "interface": "I", "status": "B", "ip_version": "B", "proto": "B", "src": "i", "dst": "i",
    "sport": "H", "dport": "H", "tcp_flags": "H", "seq": "I", "ack": "I", "window": "H",
    "urgent": "H", "payload_len": "I", "l4_offset": "I", "tcp_header_len": "B",
    "icmp_type": "h", "icmp_code": "h",
    "fragment": "B",  # part of a fragmented IP datagram (1), except the one that completes
                      # it: that one (0) carries the reassembled transport header
    "reason": "B",    # why a MALFORMED frame is: a headers.MalformedReason (0 otherwise)
    "ethertype": "H",  # the frame's EtherType on links that have one (headers.ETHERTYPE_LINKS)
    "tunnel": "B",    # a headers.Tunnel: the innermost encapsulation (0: none)
    "timestamps_only": "B",  # TCP options exactly NOP NOP TS: the tracker need not read them
}
BATCH = 8192  # frames decoded at once (progress is reported after each)


class PacketStore(ColumnTable):
    """Columns of decoded header fields over the frames of one capture file."""

    def __init__(self, capture: CaptureFile) -> None:
        super().__init__(COLUMNS)
        self.capture = capture
        self._read = capture.source.read   # (per packet in the analysis: one call less)
        self._addresses: list[bytes] = []
        self._address_ids: dict[bytes, int] = {b"": -1}
        self.notes: dict[int, str] = {}            # index -> Decoded.note: text, for display
        self.comments: dict[int, str] = {}         # index -> pcapng packet comment
        self.quoted: dict[int, dec.Quoted] = {}    # index -> what an ICMP error quotes
        # index -> the IP datagram that packet completed (its columns describe it)
        self.reassembled: dict[int, Reassembled] = {}
        self._reassembler = Reassembler()

    # -- building ------------------------------------------------------
    @classmethod
    def from_file(cls, path: str, *, progress: Callable[[int, int], bool] | None = None,
                  limit: int | None = None) -> PacketStore:
        """Open ``path`` and decode every frame.

        ``progress(bytes_done, bytes_total)`` is called every few thousand
        frames; returning False stops loading (what was read stays).
        """
        store = cls(CaptureFile.open(path))
        store.extend(store.capture.records(), progress=progress, limit=limit)
        return store

    def extend(self, records: Records, *, progress: Callable[[int, int], bool] | None = None,
               limit: int | None = None) -> None:
        """Decode and append what the walk ``records`` gives (up to ``limit``
        packets in the store; at least one more even at the limit).

        Takes no more records from the walk than it stores, so a caller can
        go on with the same walk later (the GUI loads in batches).
        ``progress`` is as for :meth:`from_file`.
        """
        # Chunks end every BATCH packets (where progress is reported) and at
        # ``limit``.
        total = self.capture.size
        while True:
            index = len(self)
            size = BATCH - index % BATCH
            if limit is not None:
                size = min(size, max(limit - index, 1))
            chunk = records.read(size)
            if chunk is None:
                break
            self._append(chunk)
            index += len(chunk.offset)
            done = int(chunk.offset[-1])
            if not index % BATCH and progress is not None and not progress(done, total):
                break
            if limit is not None and index >= limit:
                break
        self.forget_copies()
        if progress is not None:
            progress(total, total)

    def _append(self, chunk: FrameChunk) -> None:
        decoded = fast.decode_chunk(chunk)
        base = len(self)
        self._reassemble(chunk, decoded, base)
        ids = fast.intern_addresses(decoded, self._address_ids, self._addresses)
        c = self._cols
        for name, values in (("ts_ns", chunk.ts_ns), ("caplen", chunk.caplen),
                             ("origlen", chunk.origlen), ("offset", chunk.offset),
                             ("linktype", chunk.linktype), ("interface", chunk.interface),
                             ("src", ids[0::2]), ("dst", ids[1::2]),
                             *decoded.columns.items()):
            col = c[name]
            col.frombytes(values.astype(np.dtype(col.typecode)).tobytes())
        for i, note in decoded.notes.items():
            self.notes[base + i] = note
        for i, quoted in decoded.quoted.items():
            self.quoted[base + i] = quoted
        for i, comment in chunk.comments:
            self.comments[base + i] = comment

    def _reassemble(self, chunk: FrameChunk, decoded: fast.DecodedChunk, base: int) -> None:
        """Give the chunk's IP fragments to the reassembler; a packet that
        completes a datagram gets the reassembled transport's columns."""
        cols = decoded.columns
        # (a first fragment may be MALFORMED: its transport header is cut or garbage)
        rows = np.flatnonzero(cols["fragment"] != 0)
        for i in rows.tolist():
            start = int(chunk.offset[i] - chunk.base)
            frame = bytes(chunk.data[start:start + int(chunk.caplen[i])])
            d = dec.decode(int(chunk.linktype[i]), frame, 0, len(frame), int(chunk.origlen[i]))
            done = reassemble(self._reassembler, base + i, frame, d)
            if done is None:
                continue
            datagram, whole, notes = done
            fast.set_row(decoded, i, whole)
            self.reassembled[base + i] = datagram
            for index, note in notes.items():
                if index >= base:
                    decoded.notes[index - base] = note
                else:
                    self.notes[index] = note

    # -- reading -------------------------------------------------------
    def __len__(self) -> int:
        return len(self._cols["ts_ns"])

    def frame(self, index: int) -> bytes:
        """The frame's bytes (fewer, or none, if the file has shrunk since)."""
        c = self._cols
        return self._read(c["offset"][index], c["caplen"][index])

    def decoded(self, index: int) -> dec.Decoded:
        frame = self.frame(index)
        c = self._cols
        return dec.decode(c["linktype"][index], frame, 0, len(frame), c["origlen"][index])

    def datagram_payload(self, index: int) -> bytes | None:
        """The payload of the IP datagram packet ``index`` completed (its transport
        header and data; None when it completed none)."""
        datagram = self.reassembled.get(index)
        return None if datagram is None else assemble(datagram, self.frame)

    def tcp_options(self, index: int) -> bytes:
        c = self._cols
        datagram = self.reassembled.get(index)
        if datagram is not None:
            start = c["l4_offset"][index] + 20
            return datagram.header[start:c["l4_offset"][index] + c["tcp_header_len"][index]]
        start = c["offset"][index] + c["l4_offset"][index] + 20
        return self._read(start, c["tcp_header_len"][index] - 20)

    @property
    def addresses(self) -> list[bytes]:
        """Every packed address by its id (the live list: it grows with the store;
        read it, never change it)."""
        return self._addresses

    def address(self, address_id: int) -> bytes:
        return self._addresses[address_id] if address_id >= 0 else b""

    def address_id(self, raw: bytes) -> int | None:
        """The id of a packed address some packet carries (None: none does)."""
        found = self._address_ids.get(raw)
        return None if found is None or found < 0 else found

    def address_text(self, address_id: int) -> str:
        return format_address(self.address(address_id))

    def warnings(self) -> list[str]:
        """What a user should be told about the file: the reader's warnings
        (damage, a cut-off record), then one line per link type that is not
        decoded (such packets are listed, as tshark lists frames it has no
        dissector for, but not analysed), then one line per tunnel that is
        recognised but not opened (its packets are analysed as the outer
        packet only)."""
        links = self.column("linktype")[self.column("status") == dec.UNSUPPORTED_LINK]
        kinds, counts = np.unique(links, return_counts=True)
        tunnels = self.column("tunnel")
        closed, closed_counts = np.unique(tunnels[tunnels >= 100], return_counts=True)
        return [*self.capture.warnings,
                *(f"link type {linktype_text(int(k))} is not decoded: its {int(n)} "
                  f"packet{'s are' if n != 1 else ' is'} listed but not analysed"
                  for k, n in zip(kinds, counts, strict=True)),
                *(f"{int(n)} packet{'s' if n != 1 else ''} inside an unsupported tunnel: "
                  f"{dec.Tunnel(int(k)).label} (analysed as the outer packet only)"
                  for k, n in zip(closed, closed_counts, strict=True))]

    def close(self) -> None:
        self.forget_copies()
        self.capture.close()


def reassemble(reassembler: Reassembler, index: int, frame: bytes, d: dec.Decoded
               ) -> tuple[Reassembled, dec.Decoded, dict[int, str]] | None:
    """Give packet ``index`` (an IP fragment decoded as ``d``) to ``reassembler``.
    If it completes its datagram: the datagram, what the packet's columns
    become, and the notes of it and of its other fragments (index -> note)."""
    frag = parse(frame, d.ip_offset)
    if frag is None:
        return None
    done = reassembler.add(index, frag)
    if done is None:
        return None
    datagram, whole = done
    whole = whole._replace(tunnel=whole.tunnel or d.tunnel, ethertype=d.ethertype)
    frames = datagram.frames
    notes = {n - 1: f"IP fragment, reassembled in frame {index + 1}"
             for n in frames if n - 1 != index}
    notes[index] = (f"IPv{datagram.ip_version} datagram reassembled from "
                    f"{len(frames)} frames: {datagram.frames_text()}")
    return datagram, whole, notes


_text_cache: dict[bytes, str] = {}


def format_address(raw: bytes) -> str:
    """``b'\\x7f\\0\\0\\1'`` -> ``'127.0.0.1'``; IPv6 compressed; a MAC address
    as ``'00:11:22:33:44:55'``; ``''`` for none."""
    text = _text_cache.get(raw)
    if text is None:
        if len(raw) == 4 or len(raw) == 16:
            text = str(ipaddress.ip_address(raw))
        else:
            text = raw.hex(":") if len(raw) == 6 else raw.hex()
        if len(_text_cache) < 100_000:
            _text_cache[raw] = text
    return text


def format_endpoint(raw: bytes, port: int) -> str:
    """``127.0.0.1:80`` or ``[::1]:80``."""
    text = format_address(raw)
    return f"[{text}]:{port}" if ":" in text else f"{text}:{port}"
