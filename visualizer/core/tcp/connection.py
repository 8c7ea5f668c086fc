"""Sans-I/O tracking of one TCP connection, in the style of h11.

:meth:`TcpConnection.receive` takes one :class:`TcpSegment` (either
direction) and returns a :class:`PacketResult`: Wireshark's relative
numbers, the scaled window, bytes in flight, the ``tcp.analysis.*`` flags,
both endpoint states and the events the packet caused. It does no I/O and
never raises on traffic, however broken; anything else that escapes is a bug.

The analysis follows Wireshark 4.0's ``tcp_analyze_sequence_number`` (in
``epan/dissectors/packet-tcp.c``) fact for fact, checked packet by packet
against tshark 4.0.17 by the oracle tests, so that the two agree field by
field. The order of the checks matters and is the same:

1. zero window probe (1 byte at the next expected sequence number while the
   peer's last window was 0; skips the checks up to 6);
2. zero window (window 0, no SYN/FIN/RST);
3. lost segment (sequence number beyond the highest seen, no RST);
4. keep-alive (0 or 1 byte starting one before the next expected sequence number);
5. window update (no data, same seq/ack, window changed and not 0);
6. window full (data reaching the right edge of the peer's advertised window);
7. keep-alive ACK, zero window probe ACK, duplicate ACK (exclusive, in that order);
8. ACKed unseen segment (acknowledges beyond what the peer was seen to send);
9. for data/SYN/FIN not advancing the sequence number, unless a keep-alive:
   spurious retransmission (all of it already acknowledged), else fast
   retransmission (>= 2 duplicate ACKs asking for it, within 20 ms), else
   out-of-order (within the handshake RTT, or 3 ms when unknown, of the
   highest segment), else retransmission. tshark also marks fast and spurious
   retransmissions with ``tcp.analysis.retransmission``, and so do we.

Per direction only bounded state is kept (as Wireshark does: at most 10000
unacknowledged segments); acknowledgement processing and bytes in flight are
O(1) amortised while a direction's segments arrive in sequence order, and fall
back to a scan of the unacknowledged segments only while some are out of order.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Final, NamedTuple

from visualizer.core.tcp.analysis_flags import (
    ACK_LOST_SEGMENT,
    DUPLICATE_ACK,
    FAST_RETRANSMISSION,
    KEEP_ALIVE,
    KEEP_ALIVE_ACK,
    LOST_SEGMENT,
    OUT_OF_ORDER,
    RETRANSMISSION,
    REUSED_PORTS,
    SPURIOUS_RETRANSMISSION,
    WINDOW_FULL,
    WINDOW_UPDATE,
    ZERO_WINDOW,
    ZERO_WINDOW_PROBE,
    ZERO_WINDOW_PROBE_ACK,
)
from visualizer.core.tcp.events import (
    ConnectionClosed,
    ConnectionReset,
    Event,
    HandshakeCompleted,
    PortsReused,
    StateChanged,
)
from visualizer.core.tcp.options import TIMESTAMPS_ONLY_PREFIX, parse_options
from visualizer.core.tcp.segment import ACK, FIN, RST, SYN, TcpSegment
from visualizer.core.tcp.states import TRANSITIONS, Observation, TcpState

__all__ = ["PacketResult", "TcpConnection"]

# Sequence arithmetic, in one place: numbers are modulo 2**32 (RFC 9293 section
# 3.4), sums are masked with ``_M``, and ``a`` comes before ``b`` when
# ``(a - b) & _HALF``, i.e. when ``a - b`` read as a signed 32-bit number is
# negative: Wireshark's LT_SEQ. At a distance of exactly 2**31 each number is
# before the other; Wireshark (and the RFC) have the same ambiguity, kept so that
# results agree with tshark (tests/core/test_tcp_analysis.py has both cases).
# The comparisons are written out rather than called: a call costs ~25 ns more
# per comparison, ~3 % of the whole analysis of a capture.
_M: Final = 0xFFFFFFFF
_HALF: Final = 0x80000000
_TIMESTAMPS_ONLY: Final = TIMESTAMPS_ONLY_PREFIX   # a C constant when compiled
_M64: Final = (1 << 64) - 1
MAX_UNACKED_SEGMENTS: Final = 10000       # Wireshark's TCP_MAX_UNACKED_SEGMENTS
FAST_RETRANSMISSION_NS: Final = 20_000_000
DEFAULT_OOO_THRESHOLD_NS: Final = 3_000_000
_BIF_LIMIT: Final = 2_000_000_000
# Enum members read once here: reading one from its class costs ~0.3 µs in
# Python 3.11 (a SYN scan reads several per packet). Final: compiled, a constant.
_SEND_RST: Final = Observation.SEND_RST
_RECV_RST: Final = Observation.RECV_RST
_SYN_ACKED: Final = Observation.SYN_ACKED
_SEND_SYNACK: Final = Observation.SEND_SYNACK
_RECV_SYNACK: Final = Observation.RECV_SYNACK
_SEND_SYN: Final = Observation.SEND_SYN
_RECV_SYN: Final = Observation.RECV_SYN
_FIN_ACKED: Final = Observation.FIN_ACKED
_SEND_FIN_CROSSED: Final = Observation.SEND_FIN_CROSSED
_SEND_FIN: Final = Observation.SEND_FIN
_RECV_FIN: Final = Observation.RECV_FIN
_CLOSED: Final = TcpState.CLOSED
_JOINED_MID_STREAM: Final = TcpState.JOINED_MID_STREAM
_ESTABLISHED: Final = TcpState.ESTABLISHED
_TIME_WAIT: Final = TcpState.TIME_WAIT

_new_tuple: Final = tuple.__new__
# The transition table by state, then observation: two lookups keyed by one
# object each, rather than one keyed by a (state, observation) tuple made for it
# (about 7 % of the summary's feeding of short connections).
_NEXT: Final[dict[TcpState, dict[Observation, TcpState]]] = {
    state: {obs: new for (old, obs), new in TRANSITIONS.items() if old is state}
    for state in TcpState}
# Imported names read through Final ones: compiled, a Final is a C variable, an
# imported name a lookup in the module's dict at every use.
_STATE_CHANGED: Final = StateChanged
_PORTS_REUSED: Final = PortsReused
_CONNECTION_RESET: Final = ConnectionReset
_HANDSHAKE_COMPLETED: Final = HandshakeCompleted
_CONNECTION_CLOSED: Final = ConnectionClosed


class PacketResult(NamedTuple):
    """The tracker's view of one segment; field names follow tshark's ``tcp.*`` fields.

    Immutable. A named tuple rather than a frozen dataclass: one is made per
    packet, and a frozen dataclass's ``__init__`` (a ``setattr`` call for each of
    the 21 fields) was a fifth of the analysis."""

    frame: int
    stream: int                 # tcp.stream
    direction: int              # 0: from side 0 (the opener / first seen), 1: from side 1
    flags: int                  # the segment's flag bits (segment.FIN...AE)
    seq: int                    # tcp.seq (relative)
    ack: int                    # tcp.ack (relative with ACK; the raw field without)
    seq_abs: int                # tcp.seq_raw
    ack_abs: int                # tcp.ack_raw
    next_seq: int               # tcp.nxtseq (relative)
    payload_len: int            # tcp.len
    window: int                 # tcp.window_size: the window with the scale applied
    window_raw: int             # tcp.window_size_value
    window_scale: int | None    # tcp.window_size_scalefactor: multiplier, -1 unknown,
    #                             -2 no scaling; None on SYNs (never scaled)
    bytes_in_flight: int | None     # tcp.analysis.bytes_in_flight
    analysis: int                   # tcp.analysis.<name> flags present (analysis_flags bits)
    dup_ack_count: int | None       # tcp.analysis.duplicate_ack_num
    dup_ack_of: int | None          # tcp.analysis.duplicate_ack_frame
    acks_frame: int | None          # tcp.analysis.acks_frame
    states: tuple[TcpState, TcpState]   # side 0, side 1, after this packet
    events: tuple[Event, ...] = ()

    @property
    def sender_state(self) -> TcpState:
        return self.states[self.direction]

    @property
    def receiver_state(self) -> TcpState:
        return self.states[1 - self.direction]


class _Flow:
    """Per-direction analysis state (Wireshark's ``tcp_flow_t`` and its seq info).

    Values mirror Wireshark's, including 0 meaning "not seen yet" for
    ``nextseq``, ``maxseqtobeacked`` and ``lastack``.
    """

    __slots__ = ("base", "dupacknum", "fin_end", "is_first_ack", "lastack", "lastacktime",
                 "lastflags", "lastnondupack", "maxseqtobeacked", "nextseq", "nextseqframe",
                 "nextseqtime", "ordered", "sack_bytes", "segs", "state", "syn_end",
                 "valid_bif", "win_scale", "window")

    def __init__(self, state: TcpState) -> None:
        self.base: int | None = None     # base seq (ISN, or first seq - 1)
        self.win_scale = -1              # -1 unknown, -2 no scaling, else the shift
        self.window = 0xFFFFFFFF         # last raw window (G_MAXUINT32 until seen)
        self.is_first_ack = False        # last packet was our SYN (window not scaled yet)
        self.valid_bif = True
        self.nextseq = 0
        self.nextseqframe = 0
        self.nextseqtime = 0
        self.maxseqtobeacked = 0
        self.lastack = 0
        self.lastacktime = 0
        self.lastnondupack = 0
        self.dupacknum = 0
        self.lastflags = 0
        self.sack_bytes = 0              # SACKed bytes in our last packet (0: no SACK)
        # unacknowledged segments, oldest first: [seq, nextseq, frame]. A list, not a
        # deque: an empty deque costs 600 bytes, and a SYN scan has a connection a packet.
        self.segs: list[list[int]] = []
        self.ordered = True              # segs sorted by seq and by nextseq
        self.state = state
        self.syn_end: int | None = None  # sequence number just after our SYN
        self.fin_end: int | None = None  # sequence number just after our FIN


class TcpConnection:
    """Both directions of one TCP connection, fed one segment at a time.

    ``stream`` is the tcp.stream index the table assigned. Side 0 is the
    endpoint that opened the connection (the SYN sender; the SYN-ACK
    receiver when the SYN was not captured) or, without a captured opening,
    the sender of the first packet seen. ``syn_first`` says the first packet
    was the opening SYN, so side 0 is known to be the client.
    """

    # A capture can hold hundreds of thousands of connections (a SYN scan): slots
    # keep each one small.
    __slots__ = ("_closed", "_first_rtt", "_flows", "_handshake_done", "_pending_reuse",
                 "_states", "_ts_mru_syn", "bytes", "endpoints", "events", "first_frame",
                 "first_ts_ns", "last_frame", "last_ts_ns", "packets", "stream", "syn_first")

    def __init__(self, stream: int, first: TcpSegment, *, previous_stream: int | None = None
                 ) -> None:
        self.stream = stream
        if first.flags & (SYN | ACK) == SYN | ACK:
            opener = (first.dst, first.dport)
            other = (first.src, first.sport)
        else:
            opener = (first.src, first.sport)
            other = (first.dst, first.dport)
        self.endpoints: tuple[tuple[bytes, int], tuple[bytes, int]] = (opener, other)
        self.syn_first = first.flags & (SYN | ACK) == SYN
        start = _CLOSED if first.flags & SYN else _JOINED_MID_STREAM
        self._flows = (_Flow(start), _Flow(start))
        self.packets = [0, 0]
        self.bytes = [0, 0]
        self.first_ts_ns = first.ts_ns
        self.last_ts_ns = first.ts_ns
        self.first_frame = first.frame
        self.last_frame = first.frame
        self.events: list[Event] = []
        self._ts_mru_syn = 0
        self._first_rtt = 0
        self._handshake_done = False
        self._closed = False
        self._pending_reuse = previous_stream
        self._states = (start, start)

    # -- public helpers -------------------------------------------------------
    @property
    def states(self) -> tuple[TcpState, TcpState]:
        return self._states

    @property
    def initial_rtt_ns(self) -> int | None:
        """tcp.analysis.initial_rtt: SYN to first ACK, None until known."""
        return self._first_rtt or None

    def waiting_sides(self) -> tuple[int, ...]:
        """Sides whose SYN or FIN still waits for an acknowledgement."""
        f0, f1 = self._flows   # (a generator here was a tenth of a summary's feeding)
        wait0 = f0.syn_end is not None or f0.fin_end is not None
        wait1 = f1.syn_end is not None or f1.fin_end is not None
        if wait0:
            return (0, 1) if wait1 else (0,)
        return (1,) if wait1 else ()

    @property
    def rtt_pending(self) -> bool:
        """A SYN was seen and the initial RTT is not known yet."""
        return bool(self._ts_mru_syn) and not self._first_rtt

    def side_of(self, seg: TcpSegment) -> int:
        """0 or 1: which side sent ``seg``."""
        return 0 if (seg.src, seg.sport) == self.endpoints[0] else 1

    def starts_new_connection(self, seg: TcpSegment) -> bool:
        """Would tshark start a new stream here? A SYN (no ACK) whose sequence
        number differs from its sender's base sequence number on this connection."""
        if seg.flags & (SYN | ACK) != SYN:
            return False
        base = self._flows[self.side_of(seg)].base
        return base is not None and base != seg.seq & _M

    # -- the work ---------------------------------------------------------------
    def receive(self, seg: TcpSegment) -> PacketResult:
        """Account for one segment; return its analysis. Never raises on traffic."""
        result = self._receive(seg, True)
        assert result is not None
        return result

    def track(self, seg: TcpSegment) -> None:
        """Account for one segment as :meth:`receive` does, without making its
        result: for a caller that wants only the connection's state after it
        (the conversation summary), the result was a fifth of the work."""
        self._receive(seg, False)

    def _receive(self, seg: TcpSegment, keep: bool) -> PacketResult | None:
        flags = seg.flags
        seq = seg.seq & _M
        ack = seg.ack & _M
        seglen = seg.payload_len
        if seglen < 0:
            seglen = 0
        elif seglen > _M:
            seglen = _M
        win = seg.window & 0xFFFF
        now = seg.ts_ns
        frame = seg.frame
        first = self.endpoints[0]   # (compiled, a tuple made to compare would cost more)
        side = 0 if seg.sport == first[1] and seg.src == first[0] else 1
        flows = self._flows
        fwd = flows[side]
        rev = flows[1 - side]

        ta = 0
        reused_from = self._pending_reuse
        if reused_from is not None:
            ta = REUSED_PORTS
            self._pending_reuse = None
        elif fwd.base is not None and flags & SYN:
            if flags & ACK:
                if seq != fwd.base:
                    # A SYN-ACK with another ISN than this side's earlier one:
                    # tshark flags it and rebases this side on it.
                    ta = REUSED_PORTS
                    fwd.base = seq
            elif seq == fwd.base:
                # The same SYN again (a retransmission, or a new connection
                # that reuses the ISN): tshark rewinds nextseq to the highest
                # contiguous sequence number seen (Wireshark issue 17616).
                fwd.nextseq = fwd.maxseqtobeacked

        # ---- tcp_analyze_sequence_number --------------------------------------
        if fwd.base is None:
            fwd.base = seq if flags & SYN else (seq - 1) & _M
        if rev.base is None and flags & ACK:
            rev.base = (ack - 1) & _M
        if flags & ACK:
            rev.valid_bif = True

        dup_num = 0
        dup_frame = 0
        fwd_nextseq = fwd.nextseq
        if seglen == 1 and seq == fwd_nextseq and rev.window == 0:
            ta |= ZERO_WINDOW_PROBE
        else:
            ctl = flags & (SYN | FIN | RST)
            if win == 0 and not ctl:
                ta |= ZERO_WINDOW
            if fwd_nextseq and (fwd_nextseq - seq) & _HALF and not flags & RST:
                ta |= LOST_SEGMENT
                fwd.valid_bif = False
            if seglen <= 1 and seq == (fwd_nextseq - 1) & _M and not ctl:
                ta |= KEEP_ALIVE
            pure = seglen == 0 and not ctl and seq == fwd_nextseq and ack == fwd.lastack
            if pure and win and win != fwd.window:
                ta |= WINDOW_UPDATE
            if seglen > 0 and rev.win_scale != -1 and not ctl:
                shift = 0 if rev.is_first_ack or rev.win_scale == -2 else rev.win_scale
                if (seq + seglen) & _M == (rev.lastack + (rev.window << shift)) & _M:
                    ta |= WINDOW_FULL
            if pure and win == fwd.window:
                if win and rev.lastflags & KEEP_ALIVE:
                    ta |= KEEP_ALIVE_ACK
                elif not win and rev.lastflags & ZERO_WINDOW_PROBE:
                    ta |= ZERO_WINDOW_PROBE_ACK
                elif win:
                    fwd.dupacknum = 1 if fwd.dupacknum == -1 else fwd.dupacknum + 1
                    ta |= DUPLICATE_ACK
                    dup_num = fwd.dupacknum
                    dup_frame = fwd.lastnondupack
        # finished_fwd:
        if ack != fwd.lastack:
            fwd.lastnondupack = frame
            fwd.dupacknum = 0

        rmax = rev.maxseqtobeacked
        if rmax and flags & ACK and (rmax - ack) & _HALF:
            if (rmax - rev.nextseq) & _HALF:
                rev.maxseqtobeacked = rev.nextseq
                ta |= ACK_LOST_SEGMENT
            else:
                if rev.dupacknum == 0:
                    ta |= ACK_LOST_SEGMENT
                rev.dupacknum = -1

        if (seglen or flags & (SYN | FIN)) and not ta & KEEP_ALIVE:
            not_advanced = fwd_nextseq != 0 and bool((seq - fwd_nextseq) & _HALF)
            if seglen > 1 and (fwd_nextseq - 1) & _M == seq:
                not_advanced = False
            end = (seq + seglen) & _M
            rlastack = rev.lastack
            if seglen and rlastack and (end == rlastack or (end - rlastack) & _HALF):
                ta |= SPURIOUS_RETRANSMISSION | RETRANSMISSION  # tshark adds both
            elif not_advanced:
                # dupacknum is unsigned in Wireshark: its -1 marker counts as many.
                if ((rev.dupacknum >= 2 or rev.dupacknum == -1) and rlastack == seq
                        and (now - rev.lastacktime) & _M64 < FAST_RETRANSMISSION_NS):
                    ta |= FAST_RETRANSMISSION | RETRANSMISSION  # tshark adds both
                else:
                    thres = (self._first_rtt & _M64) if self._first_rtt else \
                        DEFAULT_OOO_THRESHOLD_NS
                    if flags & (SYN | FIN):
                        end = (end + 1) & _M
                    if (now - fwd.nextseqtime) & _M64 < thres and fwd_nextseq != end:
                        ta |= OUT_OF_ORDER
                    else:
                        ta |= RETRANSMISSION

        nextseq = (seq + seglen) & _M
        segs = fwd.segs
        if (seglen or flags & (SYN | FIN)) and len(segs) < MAX_UNACKED_SEGMENTS:
            if flags & (SYN | FIN):
                nextseq = (nextseq + 1) & _M
            if segs and fwd.ordered:
                # Ordered: each segment starts and ends no earlier than the one
                # before, and all lie within half the sequence space (where
                # sequence comparisons are transitive).
                last = segs[-1]
                if ((seq - last[0]) & _HALF or (nextseq - last[1]) & _HALF
                        or (nextseq - segs[0][0]) & _HALF):
                    fwd.ordered = False
            segs.append([seq, nextseq, frame])

        if not ta & ZERO_WINDOW_PROBE:
            if not fwd.nextseq or (fwd.nextseq - nextseq) & _HALF:
                fwd.nextseq = nextseq
                fwd.nextseqframe = frame
                fwd.nextseqtime = now
            if not fwd.maxseqtobeacked or seq == fwd.maxseqtobeacked:
                fwd.maxseqtobeacked = fwd.nextseq

        fwd.window = win
        fwd.lastack = ack
        fwd.lastacktime = now
        fwd.lastflags = ta

        acks_frame = self._process_ack(rev, ack) if rev.segs else 0

        bif = 0
        if seglen and segs and fwd.valid_bif:
            in_flight = self._in_flight(fwd)
            if rev.sack_bytes:
                in_flight = (in_flight - rev.sack_bytes) & _M
            if 0 < in_flight < _BIF_LIMIT:
                bif = in_flight - 1 if flags & (SYN | FIN) else in_flight

        # ---- presentation (dissect_tcp) ---------------------------------------
        rel_seq = (seq - fwd.base) & _M
        rel_ack = (ack - (rev.base or 0)) & _M if flags & ACK else ack
        nxt = (rel_seq + seglen + (1 if flags & (SYN | FIN) else 0)) & _M
        window_scale: int | None
        if flags & SYN:
            window = win
            window_scale = None
        else:
            ws = fwd.win_scale
            if ws >= 0:
                window = win << ws
                window_scale = 1 << ws
            else:
                window = win
                window_scale = ws

        raw_opts = seg.options
        fwd.sack_bytes = 0
        # Only a window scale and SACK blocks matter here. NOP NOP TS, the options
        # of nearly every Linux data segment, has neither: not worth parsing.
        if raw_opts and not (len(raw_opts) == 12 and raw_opts.startswith(_TIMESTAMPS_ONLY)):
            opts = parse_options(raw_opts)
            if opts.wscale is not None:
                fwd.win_scale = opts.wscale
            if opts.sack_blocks:
                fwd.sack_bytes = opts.sack_bytes
        if flags & SYN:
            if fwd.win_scale == -1:
                fwd.win_scale = -2
                rev.win_scale = -2
            elif flags & ACK and rev.win_scale == -2:
                fwd.win_scale = -2
            fwd.is_first_ack = True
            if not flags & ACK:
                self._ts_mru_syn = now
        elif flags & ACK:
            if self._ts_mru_syn and not self._first_rtt:
                self._first_rtt = now - self._ts_mru_syn
            fwd.is_first_ack = False

        # ---- endpoint states ---------------------------------------------------
        events: tuple[Event, ...] = ()
        if (flags & (SYN | FIN | RST) or reused_from is not None
                or (flags & ACK and (rev.syn_end is not None or rev.fin_end is not None))):
            events = self._update_states(side, fwd, rev, flags, seq, ack, seglen, frame,
                                         reused_from)

        self.packets[side] += 1
        self.bytes[side] += seglen
        self.last_ts_ns = now
        self.last_frame = frame

        if not keep:
            return None
        # made from a plain tuple, in C: calling the class would go through its
        # Python-level __new__ (and compiled, back into the interpreter)
        return _new_tuple(PacketResult, (
            frame, self.stream, side, flags, rel_seq, rel_ack, seq, ack, nxt, seglen,
            window, win, window_scale, bif or None, ta, dup_num or None,
            dup_frame or None if dup_num else None, acks_frame or None,
            self._states, events))

    # -- helpers ----------------------------------------------------------------
    @staticmethod
    def _process_ack(rev: _Flow, ack: int) -> int:
        """Drop the peer's segments ``ack`` covers; trim a partly covered one.

        Returns the frame of the oldest segment ending exactly at ``ack``
        (tcp.analysis.acks_frame), or 0.
        """
        segs = rev.segs
        matched = 0
        # The ordered fast path needs ``ack`` to compare consistently with all
        # segments: not in the "dead zone" more than 2**31 past the first one
        # yet less than 2**31 before the last one.
        dead = (ack - segs[0][0]) & _M
        if rev.ordered and not _HALF <= dead < _HALF + ((segs[-1][1] - segs[0][0]) & _M):
            done = 0   # the segments ``ack`` covers: the oldest ones
            for e in segs:
                n = e[1]
                if ack == n:
                    if not matched:
                        matched = e[2]
                elif (n - ack) & _HALF == 0:   # nextseq is not before ack
                    break
                done += 1
            del segs[:done]
            for e in segs:
                if (e[0] - ack) & _HALF:       # seq before ack: partly acknowledged
                    e[0] = ack
                else:
                    break
            return matched
        kept: list[list[int]] = []
        for e in reversed(segs):               # newest first, as Wireshark walks its list
            s, n = e[0], e[1]
            if ack == n:
                matched = e[2]
                continue
            if (s - ack) & _HALF and ((ack - n) & _HALF or ack == n):
                e[0] = ack
                kept.append(e)
            elif (ack - n) & _HALF:
                kept.append(e)
            # else: wholly acknowledged, drop
        kept.reverse()
        rev.segs = kept
        rev.ordered = not kept or (
            not (kept[-1][1] - kept[0][0]) & _HALF
            and all(not ((b[0] - a[0]) & _HALF or (b[1] - a[1]) & _HALF)
                    for a, b in pairwise(kept)))
        return matched

    @staticmethod
    def _in_flight(fwd: _Flow) -> int:
        """Highest nextseq minus lowest seq of the unacked segments, relative (u32)."""
        base = fwd.base or 0
        segs = fwd.segs
        if fwd.ordered:
            first = (segs[0][0] - base) & _M
            last = (segs[-1][1] - base) & _M
            if first <= last:
                return last - first
        first = last = -1
        for e in segs:
            s = (e[0] - base) & _M
            n = (e[1] - base) & _M
            if first < 0 or s < first:
                first = s
            if n > last:
                last = n
        return (last - first) & _M

    def _update_states(self, side: int, fwd: _Flow, rev: _Flow, flags: int, seq: int, ack: int,
                       seglen: int, frame: int, reused_from: int | None) -> tuple[Event, ...]:
        send: list[Observation] = []
        recv: list[Observation] = []
        if flags & RST:
            send.append(_SEND_RST)
            recv.append(_RECV_RST)
        else:
            if flags & ACK and rev.syn_end is not None and (
                    ack == rev.syn_end or (rev.syn_end - ack) & _HALF):
                recv.append(_SYN_ACKED)
                rev.syn_end = None     # acknowledged: nothing more to watch for
            if flags & SYN:
                if flags & ACK:
                    send.append(_SEND_SYNACK)
                    recv.append(_RECV_SYNACK)
                else:
                    send.append(_SEND_SYN)
                    recv.append(_RECV_SYN)
                fwd.syn_end = (seq + 1) & _M
            if flags & ACK and rev.fin_end is not None and (
                    ack == rev.fin_end or (rev.fin_end - ack) & _HALF):
                recv.append(_FIN_ACKED)
                rev.fin_end = None
            if flags & FIN:
                crossed = rev.fin_end is not None and not (flags & ACK and (
                    ack == rev.fin_end or (rev.fin_end - ack) & _HALF))
                send.append(_SEND_FIN_CROSSED if crossed else _SEND_FIN)
                recv.append(_RECV_FIN)
                fwd.fin_end = (seq + seglen + (1 if flags & SYN else 0) + 1) & _M
        events: list[Event] = []
        if reused_from is not None:
            events.append(_new_tuple(_PORTS_REUSED, (frame, reused_from)))
        if send:
            _observe(fwd, send, side, frame, events)
        if recv:
            _observe(rev, recv, 1 - side, frame, events)
        self._states = (self._flows[0].state, self._flows[1].state)
        if flags & RST:
            events.append(_new_tuple(_CONNECTION_RESET, (frame, side)))
            self._closed = True
        else:
            s0, s1 = self._flows[0].state, self._flows[1].state
            established = _ESTABLISHED
            if not self._handshake_done and s0 is established and s1 is established:
                self._handshake_done = True
                events.append(_new_tuple(_HANDSHAKE_COMPLETED, (frame,)))
            if not self._closed and (s0 is _TIME_WAIT or s0 is _CLOSED) and (
                    s1 is _TIME_WAIT or s1 is _CLOSED):
                self._closed = True
                events.append(_new_tuple(_CONNECTION_CLOSED, (frame,)))
        if not events:
            return ()
        self.events.extend(events)
        return tuple(events)


def _observe(flow: _Flow, observations: list[Observation], endpoint: int, frame: int,
             events: list[Event]) -> None:
    """Move ``flow``'s endpoint through ``observations``, noting each change in ``events``."""
    for obs in observations:
        new = _NEXT[flow.state].get(obs)
        if new is not None and new is not flow.state:
            events.append(_new_tuple(_STATE_CHANGED, (frame, endpoint, flow.state, new)))
            flow.state = new
