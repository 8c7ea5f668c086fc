"""Test factory for the TCP tracker, shipped with the package (like mitmproxy's tflow).

Build scripted conversations in a few lines; sequence and acknowledgement
numbers and timestamps advance by themselves::

    conv = Conversation(client=("10.0.0.1", 40000), server=("10.0.0.2", 80))
    conv.handshake()
    conv.c2s("PA", data=100)
    conv.s2c("A")
    conv.close()
    results = feed(conv.segments)

Each side keeps ``snd_nxt`` (the next sequence number it sends) and a small
receive model (``rcv_nxt``: what it acknowledges). A segment can be kept out
of the capture (``captured=False``: the tap missed it, the peer got it) or
lost after the tap (``delivered=False``: it is in the capture, the peer never
got it). Explicit ``seq=``/``ack=``/``win=`` override the automatic values.

:func:`write_pcap` writes segments as Ethernet/IPv4 or IPv6/TCP frames to a
nanosecond pcap, and :func:`run_tshark` reads the same file back through
tshark, so a test can compare the tracker with Wireshark field by field.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import struct
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from visualizer.core.tcp.analysis_flags import ANALYSIS_FLAGS, analysis_names
from visualizer.core.tcp.segment import ACK, AE, CWR, ECE, FIN, PSH, RST, SYN, URG, TcpSegment

__all__ = [
    "Capture",
    "Conversation",
    "Side",
    "TsharkRow",
    "compare_with_tshark",
    "feed",
    "flags_from_text",
    "options_bytes",
    "run_tshark",
    "write_pcap",
]

_FLAG_LETTERS = {"F": FIN, "S": SYN, "R": RST, "P": PSH, "A": ACK, "U": URG,
                 "E": ECE, "C": CWR, "N": AE}
_M32 = 0xFFFFFFFF
START_NS = 1_700_000_000_000_000_000


def flags_from_text(text: str | int) -> int:
    """``"SA"`` -> SYN|ACK. Letters: F S R P A U E C N (N = AE/NS). Ints pass through."""
    if isinstance(text, int):
        return text
    bits = 0
    for letter in text.upper():
        try:
            bits |= _FLAG_LETTERS[letter]
        except KeyError:
            raise ValueError(f"unknown TCP flag letter {letter!r} in {text!r}") from None
    return bits


def options_bytes(*, mss: int | None = None, wscale: int | None = None,
                  sack_perm: bool = False, ts: tuple[int, int] | None = None,
                  sack: Sequence[tuple[int, int]] = ()) -> bytes:
    """Raw option bytes in the usual Linux layout (NOP-padded to 4 bytes)."""
    out = bytearray()
    if mss is not None:
        out += struct.pack("!BBH", 2, 4, mss)
    if sack_perm:
        out += b"\x04\x02" if ts is not None else b"\x01\x01\x04\x02"
    if ts is not None:
        if not sack_perm:
            out += b"\x01\x01"
        out += struct.pack("!BBII", 8, 10, ts[0] & _M32, ts[1] & _M32)
    if wscale is not None:
        out += struct.pack("!BBBB", 1, 3, 3, wscale)
    if sack:
        out += b"\x01\x01" + struct.pack("!BB", 5, 2 + 8 * len(sack))
        for left, right in sack:
            out += struct.pack("!II", left & _M32, right & _M32)
    while len(out) % 4:
        out += b"\x01"
    return bytes(out)


@dataclass
class Side:
    """One endpoint of a scripted conversation."""

    addr: bytes
    port: int
    isn: int
    snd_nxt: int = 0
    window: int = 65535
    # receive model: what this side has got from the peer
    rcv_nxt: int | None = None
    _ooo: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.snd_nxt = self.isn & _M32

    def deliver(self, seq: int, length: int) -> None:
        """Record that ``length`` sequence numbers from ``seq`` arrived here."""
        if length <= 0:
            return
        if self.rcv_nxt is None:
            self.rcv_nxt = (seq + length) & _M32
            return
        self._ooo.append((seq & _M32, length))
        progress = True
        while progress:
            progress = False
            for i, (s, n) in enumerate(self._ooo):
                off = (s - self.rcv_nxt) & _M32
                if off >= 0x80000000 or off == 0:  # at or before rcv_nxt
                    end_off = (s + n - self.rcv_nxt) & _M32
                    if 0 < end_off < 0x80000000:
                        self.rcv_nxt = (s + n) & _M32
                    del self._ooo[i]
                    progress = True
                    break


class Capture:
    """A capture: the frames of one or more conversations, in capture order."""

    def __init__(self, start_ns: int = START_NS) -> None:
        self.segments: list[TcpSegment] = []
        self.now_ns = start_ns

    def add(self, seg: TcpSegment) -> TcpSegment:
        seg = TcpSegment(len(self.segments) + 1, seg.ts_ns, seg.src, seg.sport, seg.dst,
                         seg.dport, seg.seq, seg.ack, seg.flags, seg.window,
                         seg.payload_len, seg.options, seg.urgent)
        self.segments.append(seg)
        return seg

    def advance(self, dt_ns: int) -> int:
        self.now_ns += dt_ns
        return self.now_ns


def _packed(addr: str | bytes) -> bytes:
    if isinstance(addr, bytes):
        return addr
    return ipaddress.ip_address(addr).packed


class Conversation:
    """A scripted TCP conversation between a client and a server.

    ``step`` is the default time between packets (ns); every ``send`` may
    give its own ``dt`` (ns). All segments land in ``capture`` (a new one
    unless given, so several conversations can share one capture).
    """

    def __init__(self, client: tuple[str | bytes, int] = ("10.0.0.1", 40000),
                 server: tuple[str | bytes, int] = ("10.0.0.2", 80), *,
                 client_isn: int = 1000, server_isn: int = 5000,
                 step: int = 1_000_000, capture: Capture | None = None) -> None:
        self.client = Side(_packed(client[0]), client[1], client_isn)
        self.server = Side(_packed(server[0]), server[1], server_isn)
        self.step = step
        self.capture = capture if capture is not None else Capture()

    @property
    def segments(self) -> list[TcpSegment]:
        return self.capture.segments

    def c2s(self, flags: str | int = "A", **kw: object) -> TcpSegment | None:
        """The client sends a segment (see :meth:`send`)."""
        return self.send(self.client, self.server, flags, **kw)  # type: ignore[arg-type]

    def s2c(self, flags: str | int = "A", **kw: object) -> TcpSegment | None:
        """The server sends a segment (see :meth:`send`)."""
        return self.send(self.server, self.client, flags, **kw)  # type: ignore[arg-type]

    def send(self, src: Side, dst: Side, flags: str | int, *, data: int = 0,
             seq: int | None = None, ack: int | None = None, win: int | None = None,
             options: bytes = b"", dt: int | None = None, captured: bool = True,
             delivered: bool = True, advance: bool = True, urgent: int = 0,
             ) -> TcpSegment | None:
        """Send one segment from ``src`` to ``dst``.

        ``seq`` defaults to ``src.snd_nxt``; ``ack`` to what ``src`` has
        received (0 without ACK). ``advance=False`` leaves ``snd_nxt`` alone
        (e.g. a keep-alive). Returns the captured segment, or None when
        ``captured=False``.
        """
        bits = flags_from_text(flags)
        ts = self.capture.advance(self.step if dt is None else dt)
        s = src.snd_nxt if seq is None else seq & _M32
        a = ((src.rcv_nxt or 0) if bits & ACK else 0) if ack is None else ack & _M32
        length = data + (1 if bits & SYN else 0) + (1 if bits & FIN else 0)
        if bits & SYN and dst.rcv_nxt is None and not bits & RST:
            dst.rcv_nxt = s  # the receiver learns the ISN
        if advance and not bits & RST:
            end = (s + length) & _M32
            if seq is None or 0 < ((end - src.snd_nxt) & _M32) < 0x80000000:
                src.snd_nxt = end
        if delivered and not bits & RST:
            dst.deliver(s, length)
        if win is not None:
            src.window = win
        seg = TcpSegment(0, ts, src.addr, src.port, dst.addr, dst.port, s, a, bits,
                         src.window & 0xFFFF, data, options, urgent)
        if not captured:
            return None
        return self.capture.add(seg)

    # conveniences ---------------------------------------------------------
    def handshake(self, *, client_opts: bytes = b"", server_opts: bytes = b"") -> None:
        """SYN, SYN-ACK, ACK."""
        self.c2s("S", options=client_opts)
        self.s2c("SA", options=server_opts)
        self.c2s("A")

    def close(self, *, by_client: bool = True) -> None:
        """FIN-ACK, ACK, FIN-ACK, ACK, started by the client unless told otherwise."""
        first, second = (self.c2s, self.s2c) if by_client else (self.s2c, self.c2s)
        first("FA")
        second("A")
        second("FA")
        first("A")


def feed(segments: Iterable[TcpSegment]) -> list:
    """Feed segments through a fresh :class:`TcpStreamTable`; the PacketResults."""
    from visualizer.core.tcp.streams import TcpStreamTable

    table = TcpStreamTable()
    return [table.feed(seg) for seg in segments]


# --------------------------------------------------------------------------
# pcap writing

_ETH_IPV4 = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
_ETH_IPV6 = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x86\xdd"


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame_bytes(seg: TcpSegment) -> bytes:
    """One Ethernet frame carrying ``seg`` (payload bytes are ``b"x"``)."""
    opts = seg.options[:40]
    if len(opts) % 4:
        opts += b"\x00" * (4 - len(opts) % 4)  # pad with EOL
    hlen = 20 + len(opts)
    tcp = struct.pack("!HHIIBBHHH", seg.sport, seg.dport, seg.seq & _M32, seg.ack & _M32,
                      (hlen // 4) << 4 | (seg.flags >> 8 & 1), seg.flags & 0xFF,
                      seg.window & 0xFFFF, 0, seg.urgent & 0xFFFF) + opts
    payload = b"x" * seg.payload_len
    seg_bytes = tcp + payload
    if len(seg.src) == 4:
        pseudo = seg.src + seg.dst + struct.pack("!BBH", 0, 6, len(seg_bytes))
        csum = _checksum(pseudo + seg_bytes)
        seg_bytes = seg_bytes[:16] + struct.pack("!H", csum) + seg_bytes[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg_bytes), 0, 0x4000, 64, 6, 0,
                         seg.src, seg.dst)
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        return _ETH_IPV4 + ip + seg_bytes
    pseudo = seg.src + seg.dst + struct.pack("!I3xB", len(seg_bytes), 6)
    csum = _checksum(pseudo + seg_bytes)
    seg_bytes = seg_bytes[:16] + struct.pack("!H", csum) + seg_bytes[18:]
    ip6 = struct.pack("!IHBB16s16s", 6 << 28, len(seg_bytes), 6, 64, seg.src, seg.dst)
    return _ETH_IPV6 + ip6 + seg_bytes


def write_pcap(path: str | Path, segments: Iterable[TcpSegment]) -> Path:
    """Write segments as a nanosecond-resolution Ethernet pcap; returns the path."""
    path = Path(path)
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))
        for seg in segments:
            frame = frame_bytes(seg)
            sec, nsec = divmod(seg.ts_ns, 1_000_000_000)
            f.write(struct.pack("<IIII", sec, nsec, len(frame), len(frame)))
            f.write(frame)
    return path


# --------------------------------------------------------------------------
# tshark oracle

_VALUE_FIELDS = ("frame.number", "tcp.stream", "tcp.seq", "tcp.ack", "tcp.seq_raw",
                 "tcp.ack_raw", "tcp.len", "tcp.nxtseq", "tcp.window_size",
                 "tcp.window_size_scalefactor", "tcp.analysis.bytes_in_flight",
                 "tcp.analysis.acks_frame", "tcp.analysis.duplicate_ack_num",
                 "tcp.analysis.duplicate_ack_frame")


@dataclass(frozen=True)
class TsharkRow:
    """What tshark says about one frame (None: the field is absent)."""

    frame: int
    stream: int
    seq: int
    ack: int
    seq_raw: int
    ack_raw: int
    len: int
    nxtseq: int | None
    window: int
    window_scale: int | None
    bytes_in_flight: int | None
    acks_frame: int | None
    dup_ack_count: int | None
    dup_ack_of: int | None
    analysis: frozenset[str]


def tshark_available() -> bool:
    return shutil.which("tshark") is not None


def run_tshark(path: str | Path, *, extra: Sequence[str] = ()) -> list[TsharkRow]:
    """Dissect ``path`` with tshark (default preferences) and return one row per TCP frame."""
    fields = [*_VALUE_FIELDS, *(f"tcp.analysis.{name}" for name in ANALYSIS_FLAGS)]
    cmd = ["tshark", "-n", "-r", str(path), "-Y", "tcp", "-T", "fields", "-E", "separator=/t",
           "-E", "occurrence=f", *extra]
    for name in fields:
        cmd += ["-e", name]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300).stdout
    rows = []
    for line in out.splitlines():
        cells = line.split("\t")
        if len(cells) < len(fields):
            cells += [""] * (len(fields) - len(cells))

        num = [int(c) if c != "" else None for c in cells[:len(_VALUE_FIELDS)]]
        flags = frozenset(name for i, name in enumerate(ANALYSIS_FLAGS)
                          if cells[len(_VALUE_FIELDS) + i] != "")
        rows.append(TsharkRow(
            frame=int(cells[0]), stream=int(cells[1]), seq=int(cells[2]), ack=int(cells[3]),
            seq_raw=int(cells[4]), ack_raw=int(cells[5]), len=int(cells[6]), nxtseq=num[7],
            window=int(cells[8]), window_scale=num[9], bytes_in_flight=num[10],
            acks_frame=num[11], dup_ack_count=num[12], dup_ack_of=num[13], analysis=flags))
    return rows


def compare_with_tshark(results: Sequence, rows: Sequence[TsharkRow]) -> list[str]:
    """Field-by-field differences between PacketResults and tshark rows, as text.

    An empty list means full agreement on: stream, relative and raw seq/ack,
    len, nxtseq, window size and scale factor, bytes in flight, acks_frame,
    duplicate ACK number and frame, and the set of analysis flags.
    """
    problems = []
    if len(results) != len(rows):
        problems.append(f"{len(results)} results but {len(rows)} tshark rows")
    for r, t in zip(results, rows, strict=False):
        mine = {"frame": r.frame, "stream": r.stream, "seq": r.seq, "ack": r.ack,
                "seq_raw": r.seq_abs, "ack_raw": r.ack_abs, "len": r.payload_len,
                "nxtseq": r.next_seq, "window": r.window, "window_scale": r.window_scale,
                "bytes_in_flight": r.bytes_in_flight, "acks_frame": r.acks_frame,
                "dup_ack_count": r.dup_ack_count, "dup_ack_of": r.dup_ack_of,
                "analysis": frozenset(analysis_names(r.analysis))}
        for name, value in mine.items():
            theirs = getattr(t, name)
            if theirs != value:
                problems.append(f"frame {r.frame} {name}: tshark {theirs!r}, ours {value!r}")
    return problems


def tshark_json(path: str | Path) -> list[dict]:
    """The full tshark JSON dissection (for debugging a disagreement)."""
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "json", "-j", "tcp"],
                         check=True, capture_output=True, text=True, timeout=300).stdout
    return json.loads(out)
