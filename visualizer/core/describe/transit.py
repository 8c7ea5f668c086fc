"""What happened to a packet on the way, for a recording on a path.

The explanation of the packet itself (``explain``) says what it is and why
its numbers are so; on a path this adds when it left, when it arrived and
why it took that long, or, for a packet that never arrived, why it was
lost and what TCP (or, for UDP, nobody) does about it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from visualizer.core.decode import headers as dec
from visualizer.core.decode.store import format_address, format_endpoint
from visualizer.core.describe.explain import Explanation, explain
from visualizer.core.flows.analysis import Analysis
from visualizer.core.path.link import CORRUPTED, DUPLICATED, PLANNED, QUEUE_FULL, RANDOM_LOSS
from visualizer.core.path.tcpinfo import tcp_info_samples
from visualizer.core.path.view import NOT_ARRIVED, PathView

_WHY_LOST = {
    QUEUE_FULL: ("the queue in front of the bottleneck was full",
                 "{queued} packets were ahead of it, as many as the link may hold back, so the "
                 "link dropped it: a router's tail drop, the way a real network loses most "
                 "packets when a sender is faster than the slowest link."),
    RANDOM_LOSS: ("random loss on the link",
                  "The link loses a share of the packets at random (the path's loss "
                  "setting), as a noisy radio or a faulty cable would."),
    PLANNED: ("the loss plan dropped it",
              "The path's loss plan (drop=) names this packet: the lesson loses it on "
              "purpose."),
}


def explain_on_path(analysis: Analysis, view: PathView, index: int, *,
                    absolute: bool = False) -> Explanation:
    """The explanation of packet ``index`` of a path recording (module docstring)."""
    k = int(np.searchsorted(view.rows, index))   # rows are in frame order
    if k == len(view.rows) or view.rows[k] != index:   # the other end's copy
        return explain(analysis, index, absolute=absolute)
    store = analysis.store
    src = format_address(store.address(int(store.values("src")[index])))
    dst = format_address(store.address(int(store.values("dst")[index])))
    udp = int(store.values("proto")[index]) == dec.PROTO_UDP
    sent, arrived = int(view.sent_ns[k]), int(view.arrived_ns[k])
    if arrived == NOT_ARRIVED:
        n = view.record.packet[index]
        queued = view.record.packets[n - 1][3] if 0 < n <= len(view.record.packets) else 0
        short, reason = _WHY_LOST.get(view.why[k], ("lost on the way", ""))
        after = ("UDP will never know: there is no acknowledgement and no retransmission, "
                 "and the receiving application is never told that a datagram is missing."
                 if udp else
                 "TCP will notice: the receiver's ACKs stop at the hole (duplicate ACKs), or "
                 "no ACK comes at all, and the sender sends these bytes again, after three "
                 "duplicate ACKs at once (fast retransmit), otherwise when its timer runs out.")
        text = (f"{src} sent it, and it never reached {dst}: the capture at that end has no "
                f"copy. {reason.format(queued=queued)} {after}")
        return Explanation(f"Lost on the way: {short}", text.strip(),
                           (f"sent {_ms(sent - int(view.sent_ns[0]))}", "arrived never"))
    base = explain(analysis, index, absolute=absolute)
    transit = arrived - sent
    one_way = view.record.params.one_way_ns
    words = (f"It left {src} and reached {dst} {_ms(transit)} later: the path's one-way "
             f"delay is {_ms(one_way)} (half the {view.record.params.rtt:g} ms round trip)")
    extra = transit - one_way
    if extra > 500_000:
        words += (f", and it spent about {_ms(extra)} more waiting behind other packets in "
                  "the bottleneck's queue (queueing delay), or being sent at the link's rate")
    words += "."
    if view.fate[k] == CORRUPTED:
        words += (" On the way one bit of it was flipped: it arrives, but the TCP/UDP "
                  "checksum no longer adds up, and the receiving kernel throws it away "
                  "unseen by the application." + ("" if udp else
                                                   " For TCP it is as good as lost: it "
                                                   "will be sent again."))
    elif view.fate[k] == DUPLICATED:
        words += (" The network delivered it twice." + (
            " UDP hands both copies to the application." if udp else
            " TCP notices the second copy carries bytes it already has, and drops it."))
    kernel = _sender_state(analysis, index, sent)
    if kernel:
        words += " " + kernel
    return replace(base, text=f"{base.text}\n{words}")


def _sender_state(analysis: Analysis, index: int, sent: int) -> str:
    """What the sending socket's TCP_INFO said just before the packet left:
    its congestion window and what phase that puts it in."""
    store = analysis.store
    if analysis.values("stream")[index] < 0 or not store.values("payload_len")[index]:
        return ""   # its sender's window is about the data it sends
    sender = format_endpoint(store.address(int(store.values("src")[index])),
                             int(store.values("sport")[index]))
    before = [s for s in tcp_info_samples(store.capture) if s.get("local") == sender
              and int(str(s["ts_ns"])) <= sent]
    if not before:
        return ""
    last = before[-1]
    cwnd, ssthresh = int(str(last["cwnd"])), int(str(last["ssthresh"]))
    state = str(last["ca_state"])
    if state in ("recovery", "loss"):
        phase = (f"{'fast recovery' if state == 'recovery' else 'loss recovery after a timeout'}"
                 f": after the loss, ssthresh is {ssthresh} segments, about half the window "
                 "it had")
    elif cwnd < ssthresh:
        phase = "slow start: it grows by about one segment per segment acknowledged"
    else:
        phase = (f"congestion avoidance (cwnd ≥ ssthresh {ssthresh}): it grows by about one "
                 "segment per round trip")
    return (f"The sender's kernel (TCP_INFO, {last['algorithm']}) had a congestion window of "
            f"{cwnd} segments then, smoothed RTT {int(str(last['srtt_us'])) / 1000:.1f} ms: "
            f"{phase}.")


def _ms(ns: int) -> str:
    return f"{ns / 1e6:.1f} ms"
