"""The text ladder: rows made once and joined are the rows placed one
character at a time (the renderer as it was, kept here as the reference)."""

from __future__ import annotations

from visualizer.commands.ladder import LANE_GAP, TIME_WIDTH, render
from visualizer.core.ladder.build import Arrow, Ladder, Lane, LaneCall
from visualizer.core.ladder.transit import LOST_ARROW
from visualizer.core.tcp.states import TcpState


def placed(ladder: Ladder) -> list[str]:
    """The renderer before issue 20 item 16: every row a list of characters."""
    n = len(ladder.lanes)
    xs = [TIME_WIDTH + k * LANE_GAP for k in range(n)]
    width = xs[-1] + 30

    def row(texts: dict[int, str], time: str = "") -> str:
        line = [" "] * width
        line[:len(time)] = time
        for k, x in enumerate(xs):
            text = texts.get(k, "|")
            line[x:x + len(text)] = text
        return "".join(line).rstrip()

    lines = [ladder.title, row({k: lane.label for k, lane in enumerate(ladder.lanes)})]
    if ladder.initial_states:
        lines.append(row({k: str(s) for k, s in ladder.initial_states.items()}))
    t0 = ladder.arrows[0].ts_ns if ladder.arrows else 0

    def calls(events: list) -> None:
        for event in events:
            call = ladder.calls[event.call]
            text = {"whole": call.summary, "start": f"{call.opening} …",
                    "end": f"→ {call.returned}"}[event.part]
            if call.lane < n - 1 and len(text) > LANE_GAP - 2:
                text = text[:LANE_GAP - 3] + "…"
            lines.append(row({call.lane: text}))

    gaps = ladder.call_events if ladder.calls else []
    for number, arrow in enumerate(ladder.arrows):
        if gaps:
            calls(gaps[number])
        a, b = xs[arrow.src_lane], xs[arrow.dst_lane]
        left, right = min(a, b), max(a, b)
        label = f" {arrow.label} "
        if arrow.analysis:
            label += "[" + " ".join(arrow.analysis) + "] "
        lost = arrow.arrival_ns == LOST_ARROW
        if lost:
            label += f"LOST: {arrow.why or arrow.fate} "
        elif arrow.arrival_ns:
            label += f"({(arrow.arrival_ns - arrow.ts_ns) / 1e6:.1f} ms) "
        span = right - left - 1
        if len(label) < span - 2:
            body = label.center(span, "-")
            if lost:
                body = (body[:-1] + "X") if a < b else ("X" + body[1:])
            else:
                body = ">".join(body.rsplit("-", 1)) if a < b else "<" + body[1:]
        else:
            cut = label[:max(span - 2, 0)] + "…"
            head = "X" if lost else (">" if a < b else "<")
            body = cut + head if a < b else head + cut
        line = list(row({}, f"{(arrow.ts_ns - t0) / 1e9:>10.6f}").ljust(width))
        line[left + 1:right] = body
        lines.append("".join(line).rstrip())
        if arrow.transitions:
            lines.append(row({k: " → ".join(map(str, states))
                              for k, states in arrow.transitions.items()}))
    if gaps:
        calls(gaps[-1])
    return lines


V6 = bytes.fromhex("20010db8000000000000000000000001")
S = TcpState


def test_joined_rows_are_placed_rows() -> None:
    lanes = [Lane(b"\x0a\x00\x00\x01", 40000, "client"), Lane(V6, 443, "server"),
             Lane(b"\x0a\x00\x00\x03", 53, "a role long enough to run into the next lane")]
    t0 = 1_700_000_000_000_000_000
    arrows = [
        Arrow(0, t0, 0, 1, "SYN seq=0 len=0 win=1024", (), {0: (S.SYN_SENT,)}),
        Arrow(1, t0 + 5, 1, 0, "SYN,ACK seq=0 ack=1 len=0 win=65535",
              ("retransmission", "duplicate_ack"), {1: (S.SYN_RECEIVED,)}),
        Arrow(2, t0 + 7, 0, 2, "ACK " + "x" * 200, ()),              # cut to fit
        Arrow(3, t0 + 9, 2, 0, "UDP len=3", (), arrival_ns=t0 + 2_000_009),
        Arrow(4, t0 + 11, 0, 1, "PSH,ACK", (), arrival_ns=LOST_ARROW, why="queue full"),
        Arrow(5, t0 + 13, 1, 0, "RST", (), arrival_ns=LOST_ARROW, fate="dropped"),
        Arrow(6, t0 + 15, 1, 1, "to itself", ()),                      # no span at all
        Arrow(7, t0 + 123_456 * 10**9, 0, 1, "FIN,ACK", (),           # a time wider
              {0: (S.FIN_WAIT_1, S.FIN_WAIT_2, S.TIME_WAIT), 2: (S.CLOSED,)}),
    ]
    calls = [LaneCall(0, "client", "connect", "[2001:db8::1]:443", "0", t0 - 1, t0 + 6, 0, 2),
             LaneCall(2, "server", "recvfrom", "x" * 90, "3", t0 + 8, t0 + 8, 3, 3),
             LaneCall(1, "server", "close", "", "0", t0 + 20, t0 + 21, 8, 8)]
    ladder = Ladder("three lanes", lanes, {0: S.CLOSED, 1: S.LISTEN}, arrows, calls)
    assert render(ladder) == placed(ladder)
    for count in (1, 2, 3):   # and again, now that repeated rows come from the cache
        part = Ladder("part", lanes[:max(count, 2)], {}, [a for a in arrows[:6]
                                                          if max(a.src_lane, a.dst_lane) < count])
        assert render(part) == placed(part)
    assert render(ladder) == placed(ladder)
