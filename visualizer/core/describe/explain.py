"""Plain-language explanations of packets, for the explanation panel and pcapng comments.

``explain(analysis, index)`` says what a packet is and *why* its numbers are
what they are ("ack = the client's ISN + 1: the SYN consumes one sequence
number"), the analysis flags it carries, and the endpoint state changes it
causes. Users are students: the wording names the socket calls and errors
they meet in their own code (connect() fails with ECONNREFUSED, ...).

Numbers are relative (counted from each side's initial sequence number, as
Wireshark shows them) unless ``absolute=True``; the ``numbers`` lines give
both. The absolute ISN of a side is its raw sequence number minus the
relative one (mod 2**32); the raw values are the store's ``seq`` and ``ack``
columns. Roles come from who sent the opening SYN (``Analysis.tcp_roles``, which
the ladder uses too); without a captured SYN the endpoints are named by
address and port.

Every explanation is built from the analysis columns plus a short look back
over the same connection (bounded by ``LOOK_BACK``), so explaining every
packet of a big capture for ``export --annotate`` stays linear.
"""

from __future__ import annotations

from dataclasses import dataclass

from visualizer.core.decode import headers as dec
from visualizer.core.decode.store import format_address, format_endpoint
from visualizer.core.describe import names
from visualizer.core.describe.summary import format_duration
from visualizer.core.flows.analysis import CLIENT_SERVER, Analysis
from visualizer.core.pcap.format import linktype_text
from visualizer.core.tcp import analysis_flags as af
from visualizer.core.tcp.options import parse_options
from visualizer.core.tcp.segment import ACK, FIN, PSH, RST, SYN, URG, flag_text
from visualizer.core.tcp.states import TcpState

__all__ = ["LOOK_BACK", "Explanation", "explain"]

LOOK_BACK = 5000  # packets scanned backwards for the previous ACK, FIN or first send
_M = 0xFFFFFFFF


@dataclass(frozen=True)
class Explanation:
    """What one packet is (``title``), why its numbers are so (``text``), and the numbers."""

    title: str
    text: str
    numbers: tuple[str, ...] = ()

    def plain(self) -> str:
        """One paragraph, e.g. for a pcapng packet comment."""
        return f"{self.title}. {self.text}"


def explain(analysis: Analysis, index: int, *, absolute: bool = False) -> Explanation:
    """The explanation of packet ``index`` (0-based) of an analysed store."""
    if not 0 <= index < len(analysis.values("stream")):
        raise IndexError(f"packet {index} has not been analysed")
    if analysis.values("stream")[index] >= 0:
        return _TcpPacket(analysis, index, absolute).explain()
    if analysis.values("udp_flow")[index] >= 0:
        return _udp(analysis, index)
    store = analysis.store
    ok = store.values("status")[index] == dec.OK and not store.values("fragment")[index]
    if ok and store.values("proto")[index] in (dec.PROTO_ICMP, dec.PROTO_ICMPV6):
        return _icmp(analysis, index)
    return _unanalysed(analysis, index)


MIN_RTO_NS = 200_000_000  # Linux's TCP_RTO_MIN


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _bytes(n: int) -> str:
    return _count(n, "byte")


# -- TCP ------------------------------------------------------------------------------

class _TcpPacket:
    """One TCP segment and what is needed to talk about it."""

    def __init__(self, analysis: Analysis, i: int, absolute: bool) -> None:
        self.a, self.i, self.absolute = analysis, i, absolute
        store = analysis.store
        col = analysis.values
        self.stream = col("stream")[i]
        self.d = col("direction")[i]
        self.flags = store.values("tcp_flags")[i]
        self.length = store.values("payload_len")[i]
        self.seq, self.ack = col("rel_seq")[i], col("rel_ack")[i]
        self.next_seq, self.window = col("next_seq")[i], col("window")[i]
        self.raw_seq, self.raw_ack = store.values("seq")[i], store.values("ack")[i]
        self.bits = col("analysis")[i]
        self.dup_count = col("dup_ack_count")[i]
        # the one connection, not tcp_summaries: while a file loads those are built
        # again for every connection at each batch (a scan: 10^6 of them)
        self.connection = analysis.tcp.connections[self.stream]
        self.handshake = analysis.tcp_roles(self.stream) == CLIENT_SERVER
        ends = [format_endpoint(a, p) for a, p in self.connection.endpoints]
        self.ends = ends
        self.names = ("the client", "the server") if self.handshake else tuple(ends)
        self.sender, self.receiver = self.names[self.d], self.names[1 - self.d]
        # what relative numbers count from: the ISN, when the SYN was captured
        self.base_s = (self.raw_seq - self.seq) & _M
        self.base_r = (self.raw_ack - self.ack) & _M if self.flags & ACK else None
        self.changes = analysis.state_changes(i)

    # numbers as shown: relative, or absolute in the sender's / receiver's space
    def s(self, rel: int) -> str:
        return str((self.base_s + rel) & _M if self.absolute else rel)

    def r(self, rel: int) -> str:
        if self.absolute and self.base_r is not None:
            return str((self.base_r + rel) & _M)
        return str(rel)

    def base_word(self, base: int, *, peer: bool = False) -> str:
        if self.handshake:
            return f"{'the peer' if peer else 'its'} ISN {base}"
        return f"relative numbers count from {base}"

    def peer_window_closed(self) -> bool:
        """Whether the receiver's latest packet advertised a zero window."""
        prev = self.look_back(1 - self.d)
        return prev >= 0 and self.a.values("window")[prev] == 0

    def look_back(self, direction: int, want_flags: int = 0) -> int:
        """The latest earlier packet of this stream from ``direction`` (with all of
        ``want_flags``), or -1."""
        dir_c = self.a.values("direction")
        flags_c = self.a.store.values("tcp_flags")
        for j in self._earlier():
            if dir_c[j] == direction and flags_c[j] & want_flags == want_flags:
                return j
        return -1

    def _earlier(self) -> list[int]:
        """This stream's packets before this one, latest first, at most LOOK_BACK
        packets back: found in the stream's own rows, so that thousands of streams
        interleaved (a busy server) cost no scan of the packets between."""
        rows = self.a.rows_of("stream", self.stream)
        k = int(rows.searchsorted(self.i))
        lo = max(self.i - LOOK_BACK, 0)
        start = int(rows.searchsorted(lo))
        return rows[start:k][::-1].tolist()

    def first_sent(self) -> int:
        """The earliest earlier packet from the sender carrying this seq (-1: not seen)."""
        dir_c = self.a.values("direction")
        seq_c, nxt_c = self.a.values("rel_seq"), self.a.values("next_seq")
        found = -1
        for j in self._earlier():
            if dir_c[j] == self.d and seq_c[j] <= self.seq < nxt_c[j]:
                found = j
        return found

    def peer_fin_acked(self) -> int:
        """The receiver's FIN this packet acknowledges (its index), or -1."""
        if not self.flags & ACK:
            return -1
        j = self.look_back(1 - self.d, FIN)
        if j >= 0 and self.a.values("next_seq")[j] == self.ack:
            return j
        return -1

    def changed(self, endpoint: int, old: TcpState, new: TcpState) -> bool:
        return any(c.endpoint == endpoint and c.old is old and c.new is new
                   for c in self.changes)

    # -- the explanation ---------------------------------------------------------------
    def explain(self) -> Explanation:
        flags = self.flags
        if flags & RST:
            title, parts = self.rst()
        elif flags & SYN:
            title, parts = self.synack() if flags & ACK else self.syn()
        elif flags & FIN:
            title, parts = self.fin()
        elif self.length:
            title, parts = self.data()
        elif flags & ACK:
            title, parts = self.pure_ack()
        else:
            title = (f"TCP segment with only {flag_text(flags)}" if flags
                     else "TCP segment with no flags")
            parts = [f"{_cap(self.sender)} sends a segment without even the ACK flag, which "
                     "no TCP stack does on an open connection: port scanners send such "
                     "probes to see how a host answers."]
        headline = self.headline()
        if headline:
            title = headline
        parts += self.flag_sentences()
        if not self.handshake and self.i + 1 == self.connection.first_frame:
            parts.append("The capture starts in the middle of this connection (no SYN seen), "
                         "so relative numbers count from the first sequence numbers seen.")
        states = self.state_sentence()
        if states:
            parts.append(states)
        note = self.a.store.notes.get(self.i)
        if note:
            parts.append(f"The capture is damaged here ({note}); the fields above it are "
                         "still trustworthy.")
        return Explanation(title, " ".join(parts), self.numbers())

    def what(self) -> str:
        """What the segment carries, for titles: 'its SYN', '100 bytes', ..."""
        if self.flags & SYN:
            return "its SYN"
        if self.flags & FIN and not self.length:
            return "its FIN"
        return _bytes(self.length)

    def syn(self) -> tuple[str, list[str]]:
        dport = self.a.store.values("dport")[self.i]
        title = f"SYN: {self.sender} opens a connection"
        if not self.handshake:
            title = f"SYN: {self.sender} opens a connection to port {dport}"
        isn = self.base_s
        text = (f"{_cap(self.sender)} ({self.ends[self.d]}) asks {self.receiver} "
                f"({self.ends[1 - self.d]}) to open a connection: its connect() call sends "
                f"this SYN. It picks its initial sequence number, ISN {isn}"
                f"{'' if self.absolute else ', shown as relative 0'}; the SYN consumes one "
                f"sequence number, so its first byte of data will be number "
                f"{self.s(1)}.")
        return title, [text]

    def synack(self) -> tuple[str, list[str]]:
        title = f"SYN-ACK: {self.sender} answers"
        isn_s = self.base_s
        parts = [f"{_cap(self.sender)} accepts the connection and picks its own initial "
                 f"sequence number, ISN {isn_s}"
                 f"{'' if self.absolute else ', shown as relative 0'}."]
        if self.base_r is not None and self.ack == 1:
            isn_r = self.base_r
            shown = "" if self.absolute else ", shown as relative 1"
            parts.append(f"It acknowledges {self.receiver}'s SYN with ack = {self.receiver}'s "
                         f"ISN {isn_r} + 1 = {(isn_r + 1) & _M}{shown}, because the SYN "
                         "consumes one sequence number.")
        else:
            parts.append(f"Its ack = {self.r(self.ack)} is not {self.receiver}'s ISN + 1: it "
                         "does not acknowledge the SYN the capture saw.")
        return title, parts

    def rst(self) -> tuple[str, list[str]]:
        sport = self.a.store.values("sport")[self.i]
        refused = any(c.endpoint == 1 - self.d and c.old is TcpState.SYN_SENT
                      and c.new is TcpState.CLOSED for c in self.changes)
        if refused:
            title = f"RST: port {sport} is closed"
            parts = [f"Nobody listens on port {sport}, so {self.sender}'s operating system "
                     f"answers the SYN with a reset (ack = the SYN's sequence number + 1 = "
                     f"{self.r(self.ack)}). {_cap(self.receiver)}'s connect() fails with "
                     "ECONNREFUSED (\"Connection refused\")."]
            return title, parts
        title = f"RST: {self.sender} aborts the connection"
        parts = [f"A reset ends the connection at once, without the FIN exchange: data not "
                 f"yet delivered is thrown away, and {self.receiver}'s next recv() or send() "
                 "fails with ECONNRESET (\"Connection reset by peer\").",
                 f"Its seq = {self.s(self.seq)} is {self.sender}'s next sequence number: a "
                 "reset is only accepted inside the receiver's window, so a stranger cannot "
                 "easily forge one. Closing a socket with unread data, or with SO_LINGER set "
                 "to 0, sends it."]
        return title, parts

    def fin(self) -> tuple[str, list[str]]:
        peer_fin = self.peer_fin_acked()
        too = " too" if peer_fin >= 0 or self.look_back(1 - self.d, FIN) >= 0 else ""
        title = f"FIN: {self.sender} closes its side{too}"
        fin_seq = self.seq + self.length
        parts = [f"{_cap(self.sender)} has no more data to send (its application called "
                 f"close() or shutdown()); it can still receive."]
        if self.length:
            parts.append(f"The segment also carries {_bytes(self.length)}, sequence numbers "
                         f"{self.s(self.seq)} to {self.s(fin_seq - 1)}.")
        parts.append(f"The FIN takes sequence number {self.s(fin_seq)} and consumes it like a "
                     f"byte of data, so {self.sender}'s next seq is {self.s(self.next_seq)}.")
        if peer_fin >= 0:
            parts.append(self.fin_ack_sentence(peer_fin))
        return title, parts

    def fin_ack_sentence(self, fin_index: int) -> str:
        fin_seq = self.ack - 1
        return (f"Its ack = {self.receiver}'s FIN ({self.r(fin_seq)}) + 1 = {self.r(self.ack)}"
                f": the FIN (frame {fin_index + 1}) consumed one sequence number.")

    def data(self) -> tuple[str, list[str]]:
        title = f"Data: {self.sender} sends {_bytes(self.length)}"
        last = self.seq + self.length - 1
        numbers = (f"sequence number {self.s(self.seq)}" if self.length == 1 else
                   f"sequence numbers {self.s(self.seq)} to {self.s(last)}")
        parts = [f"{_cap(self.sender)} sends {_bytes(self.length)}: {numbers} of its byte "
                 f"stream. Its next segment will start at seq + len = {self.s(self.seq)} + "
                 f"{self.length} = {self.s(self.next_seq)}."]
        if self.bits:  # the flag sentences say what matters; keep it short
            return title, parts
        if self.flags & ACK:
            parts.append(self.ack_clause())
        if self.flags & PSH:
            parts.append("PSH: the receiver should hand the data to its application at once.")
        if self.flags & URG:
            parts.append("URG: the urgent pointer marks out-of-band data.")
        return title, parts

    def ack_meaning(self) -> str:
        if self.handshake and self.ack == 1:
            return (f"ack = {self.r(1)}: {self.sender} still expects {self.receiver}'s first "
                    f"byte of data, number {self.r(1)}")
        return (f"ack = {self.r(self.ack)}: {self.sender} has received every byte "
                f"{self.receiver} sent before sequence number {self.r(self.ack)} and expects "
                f"{self.r(self.ack)} next")

    def ack_clause(self) -> str:
        """What the ack of a segment that carries something else says."""
        if self.handshake and self.ack == 1:
            return (f"Its ack = {self.r(1)} only confirms {self.receiver}'s SYN: "
                    f"{self.receiver} has sent no data yet.")
        return (f"With ack = {self.r(self.ack)} it also confirms every byte {self.receiver} "
                f"sent before {self.r(self.ack)}.")

    def pure_ack(self) -> tuple[str, list[str]]:
        if self.changed(1 - self.d, TcpState.SYN_RECEIVED, TcpState.ESTABLISHED):
            title = "ACK: the handshake is complete"
            isn = self.base_r if self.base_r is not None else 0
            sum_ = f"{isn} + 1 = {(isn + 1) & _M}"
            ack = (sum_ if self.absolute
                   else f"{self.ack} (in absolute numbers {sum_})")
            parts = [f"{_cap(self.sender)} acknowledges {self.receiver}'s SYN: ack = "
                     f"{self.receiver}'s ISN + 1 = {ack}. Its own seq is "
                     f"{self.s(self.seq)} because its SYN used number {self.s(self.seq - 1)}; "
                     "both sides can now send data (the server's accept() returns)."]
            return title, parts
        peer_fin = self.peer_fin_acked()
        if peer_fin >= 0:
            closed = any(c.new is TcpState.CLOSED for c in self.changes)
            title = (f"ACK of {self.receiver}'s FIN"
                     f"{': the connection is closed' if closed else ''}")
            return title, [self.fin_ack_sentence(peer_fin)]
        parts = [self.ack_meaning() + "."]
        if self.bits:  # the flag sentences say what matters; keep it short
            title = f"ACK: {self.sender} confirms receipt up to {self.r(self.ack)}"
            return title, parts
        parts.append(f"It sends no data, so its seq stays at {self.s(self.seq)}.")
        previous = self.look_back(self.d, ACK)
        newly = self.ack - self.a.values("rel_ack")[previous] if previous >= 0 else 0
        if newly > 0:
            title = f"ACK: {self.sender} acknowledges {_bytes(newly)}"
            parts.append(f"Its previous ACK said {self.r(self.ack - newly)}, so this one "
                         f"confirms {_bytes(newly)} more.")
        else:
            title = f"ACK: {self.sender} confirms receipt up to {self.r(self.ack)}"
        return title, parts

    # -- analysis flags ---------------------------------------------------------------
    def headline(self) -> str | None:
        f, who, what = self.bits, self.sender, self.what()
        if f & af.ZERO_WINDOW_PROBE:
            return f"Zero-window probe: {who} tests the closed window"
        if f & af.KEEP_ALIVE and self.peer_window_closed():
            return f"Zero-window probe: {who} asks whether {self.receiver}'s window has opened"
        if f & af.KEEP_ALIVE:
            return f"Keep-alive: {who} checks that {self.receiver} is still there"
        if f & af.FAST_RETRANSMISSION:
            return f"Fast retransmission: {who} resends {what} after duplicate ACKs"
        if f & af.SPURIOUS_RETRANSMISSION:
            return f"Spurious retransmission: {who} resends {what} already acknowledged"
        if f & af.RETRANSMISSION:
            return f"Retransmission: {who} resends {what}"
        if f & af.OUT_OF_ORDER:
            return f"Out of order: {what} from {who} arrive late"
        if f & af.LOST_SEGMENT:
            return f"Previous segment not captured: a gap before {who}'s seq {self.s(self.seq)}"
        if f & af.DUPLICATE_ACK:
            return f"Duplicate ACK #{self.dup_count}: {who} still asks for {self.r(self.ack)}"
        if f & af.ZERO_WINDOW:
            return f"Zero window: {who}'s receive buffer is full"
        if f & af.WINDOW_FULL:
            return f"Window full: {who} has filled {self.receiver}'s window"
        if f & af.WINDOW_UPDATE:
            return f"Window update: {who} opens its window to {self.window} bytes"
        if f & af.ZERO_WINDOW_PROBE_ACK:
            return f"Zero-window probe ACK: {who} answers the probe"
        if f & af.KEEP_ALIVE_ACK:
            return f"Keep-alive ACK: {who} is still there"
        if f & af.ACK_LOST_SEGMENT:
            return f"ACKed unseen segment: {who} acknowledges data the capture missed"
        return None

    def flag_sentences(self) -> list[str]:
        f, who, peer = self.bits, self.sender, self.receiver
        out = []
        if f & af.FAST_RETRANSMISSION:
            out.append(f"{_cap(peer)} sent duplicate ACKs asking for seq {self.s(self.seq)}, so "
                       f"{who} resends it at once instead of waiting for its retransmission "
                       "timer (fast retransmit).")
        elif f & af.SPURIOUS_RETRANSMISSION:
            out.append(f"{_cap(peer)} had already acknowledged all of it, so the resend was "
                       "unnecessary: the retransmission timer fired too early or the ACK was "
                       "late.")
        elif f & af.RETRANSMISSION and self.flags & SYN:
            first = self.first_sent()
            when = f" (frame {first + 1})" if first >= 0 else ""
            out.append(f"The first {'SYN-ACK' if self.flags & ACK else 'SYN'}{when} got no "
                       f"answer, so {who}'s retransmission timer expired and it sends the same "
                       "one again, with the same ISN; each retry waits twice as long.")
        elif f & af.RETRANSMISSION:
            out.append(self.resend_sentence("These sequence numbers were sent before"))
        if f & af.OUT_OF_ORDER:
            if self.first_sent() >= 0:
                out.append(self.resend_sentence("Its seq is below data "
                                                f"{who} already sent: these bytes were sent before")
                           + " Wireshark calls it out-of-order rather than a retransmission "
                           "because it follows the newer data by less than the handshake's "
                           "round-trip time.")
            else:
                out.append(f"Its seq is below data {who} already sent, and it arrives just "
                           "after it: the segments were reordered on the way.")
        if f & af.LOST_SEGMENT:
            prev = self.look_back(self.d)
            expected = (f" {who} was expected to continue at "
                        f"{self.s(self.a.values('next_seq')[prev])}," if prev >= 0 else "")
            out.append(f"Its seq {self.s(self.seq)} is beyond what came before:{expected} so "
                       "the segment in between was lost before the capture point, or the "
                       "capture missed it.")
        if f & af.ACK_LOST_SEGMENT:
            out.append(f"It acknowledges data the capture never saw: {peer} sent a segment "
                       "the tap missed but the receiver got.")
        if f & af.DUPLICATE_ACK:
            out.append(f"It repeats ack = {self.r(self.ack)} with no data and no window change "
                       f"(duplicate number {self.dup_count}): {who} received a segment beyond a "
                       f"gap and keeps asking for {self.r(self.ack)}. Duplicate ACKs (with "
                       "SACK blocks naming what did arrive) tell the sender a segment is "
                       "missing; the classic rule resends after three, and Linux, using SACK, "
                       "often resends after the first.")
        if f & af.ZERO_WINDOW:
            out.append(f"It advertises window 0: {who}'s receive buffer is full because its "
                       f"application is not reading, so {peer} must stop sending and probe "
                       "until the window opens.")
        if f & af.ZERO_WINDOW_PROBE:
            out.append(f"{_cap(peer)}'s window is 0, so {who} sends one byte at seq "
                       f"{self.s(self.seq)} to ask whether the window has opened.")
        if f & af.ZERO_WINDOW_PROBE_ACK:
            state = ("the window is still closed (win = 0)" if self.window == 0
                     else f"the window has opened to {self.window} bytes")
            out.append(f"It answers a zero-window probe: {state}.")
        if f & af.WINDOW_UPDATE:
            out.append(f"Nothing new is acknowledged and no data is sent; only the window "
                       f"changes, to {self.window} bytes: {who}'s application read data and "
                       "made room.")
        if f & af.WINDOW_FULL:
            out.append(f"This segment fills {peer}'s advertised window to the last byte: "
                       f"{who} must now wait for an ACK before sending more.")
        if f & af.KEEP_ALIVE and self.peer_window_closed():
            out.append(f"{_cap(peer)} last advertised window 0, so {who} may not send data; "
                       f"its persist timer fires and it sends seq = next - 1 "
                       f"({self.s(self.seq)}) with no data, which forces {peer} to answer "
                       "with its current window. This is Linux's zero-window probe; "
                       "Wireshark labels it a keep-alive because of its shape.")
        elif f & af.KEEP_ALIVE:
            out.append(f"After a quiet spell {who} sends seq = next expected - 1 "
                       f"({self.s(self.seq)}) with {_bytes(self.length)} of old data, which "
                       f"forces {peer} to answer with an ACK (SO_KEEPALIVE).")
        if f & af.KEEP_ALIVE_ACK:
            out.append(f"It answers a keep-alive: ack = {self.r(self.ack)} repeats what {who} "
                       "expects next, proving the connection is alive.")
        if f & af.REUSED_PORTS:
            out.append("The same addresses and ports carried an earlier connection; this SYN "
                       "with a new ISN starts a new one.")
        return out

    def resend_sentence(self, opening: str) -> str:
        """Why these bytes are sent again: the timer, or the peer's SACKs / dup ACKs.

        A resend far sooner than Linux's smallest retransmission timeout
        (200 ms) cannot be the timer: the sender learnt of the loss from
        the receiver's duplicate ACKs and their SACK blocks.
        """
        first = self.first_sent()
        if first < 0:
            return (f"{opening} and not acknowledged in time, so {self.sender} sends them "
                    "again.")
        gap_ns = int(self.a.store.values("ts_ns")[self.i]) - int(
            self.a.store.values("ts_ns")[first])
        text = f"{opening} (first in frame {first + 1}, {format_duration(gap_ns)} earlier)"
        if gap_ns < MIN_RTO_NS:
            return (text + f" and were lost; {self.receiver}'s duplicate ACKs and SACK blocks "
                    f"told {self.sender} so, and it resends them long before its "
                    "retransmission timer (at least 200 ms) would have.")
        return (text + f" and not acknowledged in time, so {self.sender}'s retransmission "
                "timer (RTO) expired and it sends them again.")

    # -- states and numbers -----------------------------------------------------------
    def state_sentence(self) -> str:
        paths: dict[int, list[TcpState]] = {}
        for change in self.changes:
            paths.setdefault(change.endpoint, [change.old]).append(change.new)
        clauses = []
        for endpoint, path in paths.items():
            who = self.names[endpoint]
            if path == [TcpState.CLOSED, TcpState.LISTEN]:
                reset = self.a.refused_listen(self.i, endpoint)
                clauses.append(f"{who} is taken to be listening (LISTEN)" if reset < 0 else
                               f"nobody listens on {who}'s port: its answer, packet "
                               f"{reset + 1}, is a reset")
                continue
            if path == [TcpState.LISTEN, TcpState.CLOSED] and self.flags & RST:
                # The tracker took the port to be listening when the SYN came;
                # the RST shows nobody was: say nothing about a listener closing.
                continue
            via = "".join(f" through {s}" for s in path[1:-1])
            clause = f"{who} moves from {path[0]}{via} to {path[-1]}"
            if TcpState.CLOSING in path[1:]:
                clause += (" (the two FINs crossed: each side sent its FIN before the "
                           "other's arrived, so this is a simultaneous close and both sides "
                           "pass through CLOSING to TIME-WAIT)")
            if path[-1] is TcpState.TIME_WAIT:
                clause += (", where it waits twice the maximum segment lifetime so that a "
                           "lost last ACK can still be repeated")
            clauses.append(clause)
        return _cap("; ".join(clauses)) + "." if clauses else ""

    def numbers(self) -> tuple[str, ...]:
        store = self.a.store
        lines = [f"{self.ends[self.d]} → {self.ends[1 - self.d]}"
                 + (f" ({'client' if self.d == 0 else 'server'} to "
                    f"{'server' if self.d == 0 else 'client'})" if self.handshake else ""),
                 f"flags {flag_text(self.flags) or 'none'}, TCP stream {self.stream}",
                 f"seq {self.seq} relative = {self.raw_seq} absolute "
                 f"({self.base_word(self.base_s)})"]
        if self.flags & ACK and self.base_r is not None:
            lines.append(f"ack {self.ack} relative = {self.raw_ack} absolute "
                         f"({self.base_word(self.base_r, peer=True)})")
        else:
            lines.append("ack: not set (no ACK flag)")
        lines.append(f"len {self.length}, next seq {self.next_seq}")
        raw_win = store.values("window")[self.i]
        scaled = f" (field {raw_win}, scaled)" if raw_win != self.window else ""
        lines.append(f"window {self.window} bytes{scaled}: how much more {self.sender} can "
                     "receive")
        if self.flags & SYN and store.values("tcp_header_len")[self.i] > 20:
            opts = parse_options(store.tcp_options(self.i))
            said = []
            if opts.mss is not None:
                said.append(f"MSS {opts.mss} (largest segment it accepts)")
            if opts.wscale is not None:
                said.append(f"window scale {opts.wscale} (its windows × {1 << opts.wscale})")
            if opts.sack_permitted:
                said.append("SACK permitted")
            if opts.timestamp is not None:
                said.append("timestamps")
            if said:
                lines.append("options: " + ", ".join(said))
        return tuple(lines)


# -- UDP and ICMP ----------------------------------------------------------------------

_WELL_KNOWN_UDP = {53: "DNS", 67: "DHCP", 68: "DHCP", 69: "TFTP", 123: "NTP", 161: "SNMP",
                   443: "QUIC (HTTP/3)", 514: "syslog", 1900: "SSDP", 5353: "mDNS"}


def _udp(analysis: Analysis, i: int) -> Explanation:
    store = analysis.store
    flow_id = analysis.values("udp_flow")[i]
    flow = analysis.udp_flows[flow_id]
    src = (store.address(store.values("src")[i]), store.values("sport")[i])
    side = 0 if src == flow.endpoints[0] else 1
    sender, receiver = (format_endpoint(*flow.endpoints[side]),
                        format_endpoint(*flow.endpoints[1 - side]))
    n = store.values("payload_len")[i]
    size = "an empty datagram" if n == 0 else f"a datagram of {_bytes(n)}"
    if i + 1 == flow.first_frame:
        title = f"UDP: {sender} sends the first datagram ({_bytes(n)})"
        parts = [f"{sender} sends {size} to {receiver}. There was no handshake before it: "
                 "UDP needs no connection, so the first datagram is also the flow's first "
                 "packet."]
    elif side == 1:
        title = f"UDP: {sender} answers with a datagram ({_bytes(n)})"
        parts = [f"{sender} sends {size} back to {receiver}. It is the application's own "
                 "reply, not an acknowledgement: UDP never acknowledges, and a lost datagram "
                 "is gone unless the application sends it again."]
    else:
        title = f"UDP: {sender} sends another datagram ({_bytes(n)})"
        parts = [f"{sender} sends {size} to {receiver}. UDP has no sequence numbers: if "
                 "datagrams are lost or reordered, the receiving application has to notice "
                 "by itself."]
    error = next((j for j, link in analysis.icmp_links.items() if link.datagram == i), None)
    if error is not None:
        parts.append(f"Nobody receives it: no socket is bound to the destination port, so "
                     f"the receiving host answers with the ICMP error in frame {error + 1} "
                     "and drops it.")
    else:
        parts.append("One sendto() call is one datagram: the receiver's recvfrom() returns "
                     "it whole, never merged with another.")
    port = min((p for p in (src[1], store.values("dport")[i]) if p in _WELL_KNOWN_UDP),
               default=None)
    if port is not None:
        parts.append(f"Port {port} is {_WELL_KNOWN_UDP[port]}.")
    numbers = (f"{sender} → {receiver}, UDP flow {flow_id}",
               f"length {_bytes(n)} of data + 8 bytes of UDP header = {n + 8}",
               f"whole flow: {_count(flow.packets[0], 'datagram')} from "
               f"{format_endpoint(*flow.endpoints[0])}, {flow.packets[1]} back")
    return Explanation(title, " ".join(parts), numbers)


# The errno a socket sees for each code of destination unreachable (Linux's
# icmp_err_convert and icmpv6_err_convert).
_ERRNO_V4 = {0: "ENETUNREACH", 1: "EHOSTUNREACH", 2: "ENOPROTOOPT", 3: "ECONNREFUSED",
             4: "EMSGSIZE", 5: "EOPNOTSUPP", 6: "ENETUNREACH", 7: "EHOSTDOWN", 9: "ENETUNREACH",
             10: "EHOSTUNREACH", 13: "EHOSTUNREACH"}
_ERRNO_V6 = {0: "ENETUNREACH", 1: "EACCES", 2: "EHOSTUNREACH", 3: "EHOSTUNREACH",
             4: "ECONNREFUSED", 5: "EACCES", 6: "EACCES"}


def _icmp(analysis: Analysis, i: int) -> Explanation:
    store = analysis.store
    v6 = store.values("proto")[i] == dec.PROTO_ICMPV6
    itype, code = store.values("icmp_type")[i], store.values("icmp_code")[i]
    sender = store.address_text(store.values("src")[i])
    receiver = store.address_text(store.values("dst")[i])
    family = "ICMPv6" if v6 else "ICMP"
    numbers = (f"{sender} → {receiver}", f"{family} type {itype}, code {code}")
    unreachable = itype == (1 if v6 else 3)
    quoted = store.quoted.get(i)
    if unreachable:
        codes = names.ICMPV6_UNREACHABLE if v6 else names.ICMP_UNREACHABLE
        meaning = codes[code].words if code in codes else f"destination unreachable (code {code})"
        errno = (_ERRNO_V6 if v6 else _ERRNO_V4).get(code, "an error")
        port_unreachable = code == (4 if v6 else 3)
        carried = quoted.proto if quoted is not None else -1
        proto = names.IP_PROTOCOLS[carried].short if carried in (dec.PROTO_TCP,
                                                                 dec.PROTO_UDP) else ""
        port = f" {proto} port {quoted.dport}" if quoted and proto else ""
        if port_unreachable:
            title = f"{family} port unreachable: nobody listens on{port or ' that port'}"
        else:
            title = f"{family} destination unreachable: {meaning}"
        link = analysis.icmp_links.get(i)
        answered = ""
        if quoted is not None:
            answered = (f" answers the datagram {format_endpoint(quoted.src, quoted.sport)} → "
                        f"{format_endpoint(quoted.dst, quoted.dport)}")
            if link is not None and link.datagram >= 0:
                answered += f" (frame {link.datagram + 1}, UDP flow {link.flow})"
        parts = [f"{sender}{answered or ' reports an error'}: "
                 + (f"no socket is bound to{port}." if port_unreachable else f"{meaning}.")]
        if carried == dec.PROTO_UDP:
            parts.append(f"UDP itself never reports failures: this ICMP message is the only "
                         f"sign. The sender's next recv() on a connected socket fails with "
                         f"{errno}; an unconnected socket never hears of it.")
        else:
            parts.append(f"The sending socket's next call fails with {errno}.")
        return Explanation(title, " ".join(parts), numbers)
    types = names.ICMPV6_TYPES if v6 else names.ICMP_TYPES
    name = types[itype].words if itype in types else f"type {itype}"
    title = f"{family} {name}"
    if itype in ((128, 129) if v6 else (8, 0)):
        text = (f"{sender} {'asks' if itype in (8, 128) else 'answers'} "
                f"{receiver}{' whether it is reachable' if itype in (8, 128) else ''}: "
                "ping uses ICMP echo, with no ports and no TCP or UDP at all.")
    elif itype == (3 if v6 else 11):
        dropped = "a packet"
        if quoted is not None:
            dropped = (f"a packet from {format_address(quoted.src)} to "
                       f"{format_address(quoted.dst)}")
        text = (f"{sender} dropped {dropped} because its hop limit (TTL) ran out on the way, "
                "and tells the sender so; traceroute relies on exactly this.")
    elif v6 and itype == 2:
        text = (f"{sender} cannot forward a packet that large: the sender has to send "
                "smaller packets (path MTU discovery).")
    else:
        text = (f"{sender} sends an {family} {name} message to {receiver}: a control "
                "message of the IP layer, with no ports, not part of any TCP or UDP flow.")
    return Explanation(title, text, numbers)


# -- everything the analysis skips -------------------------------------------------------

def _unanalysed(analysis: Analysis, i: int) -> Explanation:
    store = analysis.store
    status = store.values("status")[i]
    note = store.notes.get(i, "")
    if status == dec.NOT_IP:
        what = note
        etype = store.values("ethertype")[i]
        if store.values("linktype")[i] in dec.ETHERTYPE_LINKS and etype in names.ETHERTYPES:
            what = f"{note} ({names.ETHERTYPES[etype].words})"
        return Explanation(
            "Not an IP packet",
            f"This frame carries {what}, not IPv4 or IPv6, so there is no TCP or UDP inside: "
            "it is listed but not analysed.", (f"frame of {store.values('caplen')[i]} bytes",))
    if status == dec.UNSUPPORTED_LINK:
        link = store.values("linktype")[i]
        return Explanation(
            "Link type not decoded",
            f"The capture's link type {linktype_text(link)} is not one this program decodes, "
            "so the packet is listed but not analysed; Wireshark may know it.",
            (f"link type {linktype_text(link)}",))
    if status == dec.MALFORMED:
        return Explanation(
            f"Malformed packet: {note}",
            f"Its headers cannot be trusted ({note}): the capture cut the frame short "
            "(snaplen) or the packet is corrupt. It is listed but not analysed.",
            (f"{store.values('caplen')[i]} bytes captured of {store.values('origlen')[i]}",))
    proto = store.values("proto")[i]
    known = names.IP_PROTOCOLS.get(proto)
    name = known.words if known is not None else f"protocol {proto}"
    src, dst = store.address_text(store.values("src")[i]), store.address_text(
        store.values("dst")[i])
    numbers = (f"{src} → {dst}", f"IP protocol {proto}")
    if store.values("fragment")[i]:
        return Explanation(
            f"IP fragment ({name})",
            f"A piece of a larger IP datagram from {src} to {dst} ({note or 'fragment'}): it "
            "was too big for the link, so IP cut it up. The fragments are put back together, "
            "as Wireshark does, and the TCP or UDP header is analysed at the fragment that "
            "completes the datagram; a datagram with a fragment missing stays in pieces.",
            numbers)
    return Explanation(
        f"IP packet carrying {name}",
        f"{src} sends {dst} a packet of {name}: neither TCP nor UDP, so it is listed but "
        "not analysed.", numbers)

