"""Property tests: any segment sequence is accepted, states stay valid, numbers stay consistent."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visualizer.core.tcp.analysis_flags import ALL, DUPLICATE_ACK
from visualizer.core.tcp.segment import ACK, FIN, SYN, TcpSegment
from visualizer.core.tcp.states import TcpState
from visualizer.core.tcp.streams import TcpStreamTable

M32 = 0xFFFFFFFF
NEAR_WRAP = st.one_of(st.integers(0, M32), st.integers(M32 - 3000, M32), st.integers(0, 3000))
ENDPOINTS = [(bytes([10, 0, 0, 1]), 40000), (bytes([10, 0, 0, 2]), 80),
             (bytes(15) + b"\x01", 443), (bytes([10, 0, 0, 1]), 40001)]


@st.composite
def segments(draw: st.DrawFn) -> list[TcpSegment]:
    n = draw(st.integers(1, 40))
    out = []
    ts = draw(st.integers(0, 2**62))
    for frame in range(1, n + 1):
        a, b = draw(st.sampled_from([(0, 1), (1, 0), (0, 3), (3, 0), (2, 2), (1, 1)]))
        (src, sport), (dst, dport) = ENDPOINTS[a], ENDPOINTS[b]
        if len(src) != len(dst):
            src = dst
        ts += draw(st.integers(-10**6, 10**9))     # time may go backwards
        out.append(TcpSegment(
            frame, ts, src, sport, dst, dport, draw(NEAR_WRAP), draw(NEAR_WRAP),
            draw(st.integers(0, 0x1FF)), draw(st.integers(0, 0xFFFF)),
            draw(st.sampled_from([0, 0, 1, 100, 1460, 65535])),
            draw(st.binary(max_size=40))))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segments())
def test_any_segments_are_tracked(segs: list[TcpSegment]) -> None:
    table = TcpStreamTable()
    for seg in segs:
        r = table.feed(seg)
        conn = table.connections[r.stream]
        fwd = conn._flows[r.direction]
        rev = conn._flows[1 - r.direction]
        assert r.frame == seg.frame
        assert all(isinstance(s, TcpState) for s in r.states)
        assert r.analysis & ~ALL == 0
        # relative numbers are the absolute ones minus each side's base, mod 2**32
        assert (r.seq + fwd.base) & M32 == r.seq_abs == seg.seq
        if seg.flags & ACK:
            assert (r.ack + rev.base) & M32 == r.ack_abs == seg.ack
        else:
            assert r.ack == seg.ack
        extra = 1 if seg.flags & (SYN | FIN) else 0
        assert r.next_seq == (r.seq + seg.payload_len + extra) & M32
        assert r.bytes_in_flight is None or 0 < r.bytes_in_flight < 2_000_000_000
        assert (r.dup_ack_count is None) == (not r.analysis & DUPLICATE_ACK)
        assert 0 <= r.window <= 0xFFFF << 14
    assert sum(sum(c.packets) for c in table.connections) == len(segs)
    for s in table.summaries():
        assert s.first_frame <= s.last_frame


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, M32), st.integers(0, 3000), st.booleans()),
                min_size=1, max_size=60))
def test_one_direction_with_wrapping_sequence_numbers(steps) -> None:
    """Data one way, acks the other, seqs anywhere: unacked bookkeeping never breaks."""
    c, s = ENDPOINTS[0], ENDPOINTS[1]
    table = TcpStreamTable()
    frame = 0
    for seq, length, with_ack in steps:
        frame += 1
        table.feed(TcpSegment(frame, frame * 1000, c[0], c[1], s[0], s[1], seq, 1, ACK, 100,
                              length))
        if with_ack:
            frame += 1
            table.feed(TcpSegment(frame, frame * 1000, s[0], s[1], c[0], c[1], 1,
                                  (seq + length) & M32, ACK, 100, 0))
    flow = table.connections[0]._flows[0]
    assert len(flow.segs) <= 10000


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segments())
def test_tracking_without_results_leaves_the_same_connections(segs: list[TcpSegment]) -> None:
    """``track`` (the summary's feeding) keeps the state ``feed`` keeps."""
    fed, tracked = TcpStreamTable(), TcpStreamTable()
    for seg in segs:
        stream = fed.feed(seg).stream
        assert tracked.track(seg).stream == stream
        assert tracked.connections[stream].waiting_sides() == \
            fed.connections[stream].waiting_sides()
        assert tracked.connections[stream].rtt_pending == fed.connections[stream].rtt_pending
    assert tracked.summaries() == fed.summaries()
    assert [c.events for c in tracked.connections] == [c.events for c in fed.connections]
