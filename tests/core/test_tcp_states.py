"""Endpoint state machines: the table itself, and whole conversations through it."""

from __future__ import annotations

import runpy
from pathlib import Path
from unittest import mock

import pytest

from visualizer.core.tcp.connection import PacketResult
from visualizer.core.tcp.events import (
    ConnectionClosed,
    ConnectionReset,
    HandshakeCompleted,
    StateChanged,
)
from visualizer.core.tcp.states import TRANSITIONS, Observation, TcpState, next_state
from visualizer.core.tcp.testing import Conversation, feed

S = TcpState
O = Observation  # noqa: E741
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("state", "obs", "new"), [
    (S.CLOSED, O.SEND_SYN, S.SYN_SENT),
    (S.CLOSED, O.RECV_SYN, S.LISTEN),
    (S.LISTEN, O.SEND_SYNACK, S.SYN_RECEIVED),
    (S.SYN_SENT, O.RECV_SYNACK, S.ESTABLISHED),
    (S.SYN_SENT, O.RECV_SYN, S.SYN_RECEIVED),
    (S.SYN_RECEIVED, O.SYN_ACKED, S.ESTABLISHED),
    (S.ESTABLISHED, O.SEND_FIN, S.FIN_WAIT_1),
    (S.ESTABLISHED, O.RECV_FIN, S.CLOSE_WAIT),
    (S.FIN_WAIT_1, O.FIN_ACKED, S.FIN_WAIT_2),
    (S.FIN_WAIT_1, O.RECV_FIN, S.CLOSING),
    (S.FIN_WAIT_2, O.RECV_FIN, S.TIME_WAIT),
    (S.CLOSING, O.FIN_ACKED, S.TIME_WAIT),
    (S.CLOSE_WAIT, O.SEND_FIN, S.LAST_ACK),
    (S.LAST_ACK, O.FIN_ACKED, S.CLOSED),
    (S.CLOSE_WAIT, O.SEND_FIN_CROSSED, S.CLOSING),
    (S.JOINED_MID_STREAM, O.SEND_FIN, S.FIN_WAIT_1),
    (S.JOINED_MID_STREAM, O.RECV_FIN, S.CLOSE_WAIT),
    # no entry: unchanged
    (S.ESTABLISHED, O.SEND_SYN, S.ESTABLISHED),
    (S.FIN_WAIT_2, O.FIN_ACKED, S.FIN_WAIT_2),
    (S.TIME_WAIT, O.RECV_FIN, S.TIME_WAIT),
    (S.CLOSED, O.RECV_RST, S.CLOSED),
])
def test_transition(state: TcpState, obs: Observation, new: TcpState) -> None:
    assert next_state(state, obs) is new


@pytest.mark.parametrize("state", [s for s in TcpState if s is not S.CLOSED])
@pytest.mark.parametrize("obs", [O.SEND_RST, O.RECV_RST])
def test_reset_closes_every_state(state: TcpState, obs: Observation) -> None:
    assert next_state(state, obs) is S.CLOSED


def test_table_only_uses_known_states() -> None:
    for (state, obs), new in TRANSITIONS.items():
        assert isinstance(state, TcpState) and isinstance(obs, Observation)
        assert isinstance(new, TcpState)


def test_state_diagram_doc_is_generated_from_the_table() -> None:
    module = runpy.run_path(str(REPO / "docs" / "make_state_diagram.py"), run_name="gen")
    assert module["main"](["--check"]) == 0, "run: python docs/make_state_diagram.py"


def history(results: list[PacketResult], endpoint: int) -> list[TcpState]:
    seen = [TcpState.CLOSED if results[0].flags & 0x002 else TcpState.JOINED_MID_STREAM]
    for r in results:
        if r.states[endpoint] is not seen[-1]:
            seen.append(r.states[endpoint])
    return seen


def test_handshake_and_active_close() -> None:
    conv = Conversation()
    conv.handshake()
    conv.c2s("PA", data=10)
    conv.s2c("A")
    conv.close()
    results = feed(conv.segments)
    assert history(results, 0) == [S.CLOSED, S.SYN_SENT, S.ESTABLISHED, S.FIN_WAIT_1,
                                   S.FIN_WAIT_2, S.TIME_WAIT]
    assert history(results, 1) == [S.CLOSED, S.LISTEN, S.SYN_RECEIVED, S.ESTABLISHED,
                                   S.CLOSE_WAIT, S.LAST_ACK, S.CLOSED]
    events = [e for r in results for e in r.events]
    assert events == [
        StateChanged(1, 0, S.CLOSED, S.SYN_SENT),
        StateChanged(1, 1, S.CLOSED, S.LISTEN),
        StateChanged(2, 1, S.LISTEN, S.SYN_RECEIVED),
        StateChanged(2, 0, S.SYN_SENT, S.ESTABLISHED),
        StateChanged(3, 1, S.SYN_RECEIVED, S.ESTABLISHED),
        HandshakeCompleted(3),
        StateChanged(6, 0, S.ESTABLISHED, S.FIN_WAIT_1),
        StateChanged(6, 1, S.ESTABLISHED, S.CLOSE_WAIT),
        StateChanged(7, 0, S.FIN_WAIT_1, S.FIN_WAIT_2),
        StateChanged(8, 1, S.CLOSE_WAIT, S.LAST_ACK),
        StateChanged(8, 0, S.FIN_WAIT_2, S.TIME_WAIT),
        StateChanged(9, 1, S.LAST_ACK, S.CLOSED),
        ConnectionClosed(9),
    ]


@pytest.mark.parametrize(("script", "side0", "side1"), [
    pytest.param(
        lambda c: (c.handshake(), c.c2s("FA"), c.s2c("FA", ack=1001), c.c2s("A"), c.s2c("A")),
        [S.CLOSED, S.SYN_SENT, S.ESTABLISHED, S.FIN_WAIT_1, S.CLOSING, S.TIME_WAIT],
        [S.CLOSED, S.LISTEN, S.SYN_RECEIVED, S.ESTABLISHED, S.CLOSE_WAIT, S.CLOSING,
         S.TIME_WAIT],
        id="simultaneous-close"),
    pytest.param(
        lambda c: (c.handshake(), c.c2s("FA"), c.s2c("FA"), c.c2s("A")),
        [S.CLOSED, S.SYN_SENT, S.ESTABLISHED, S.FIN_WAIT_1, S.TIME_WAIT],
        [S.CLOSED, S.LISTEN, S.SYN_RECEIVED, S.ESTABLISHED, S.CLOSE_WAIT, S.LAST_ACK,
         S.CLOSED],
        id="fin-ack-acks-the-fin"),   # FIN-WAIT-2 passed within one packet
    pytest.param(
        lambda c: (c.c2s("S"), c.s2c("RA")),
        [S.CLOSED, S.SYN_SENT, S.CLOSED], [S.CLOSED, S.LISTEN, S.CLOSED],
        id="refused"),
    pytest.param(
        lambda c: (c.c2s("S"), c.s2c("S"), c.c2s("SA", seq=1000), c.s2c("SA", seq=5000)),
        [S.CLOSED, S.SYN_SENT, S.SYN_RECEIVED, S.ESTABLISHED],
        [S.CLOSED, S.LISTEN, S.SYN_SENT, S.ESTABLISHED],
        id="simultaneous-open"),
    pytest.param(
        lambda c: (c.handshake(), c.s2c("RA")),
        [S.CLOSED, S.SYN_SENT, S.ESTABLISHED, S.CLOSED],
        [S.CLOSED, S.LISTEN, S.SYN_RECEIVED, S.ESTABLISHED, S.CLOSED],
        id="reset"),
    pytest.param(
        lambda c: (c.c2s("PA", data=5), c.s2c("A"), c.c2s("FA"), c.s2c("FA"), c.c2s("A")),
        [S.JOINED_MID_STREAM, S.FIN_WAIT_1, S.TIME_WAIT],
        [S.JOINED_MID_STREAM, S.CLOSE_WAIT, S.LAST_ACK, S.CLOSED],
        id="joined-mid-stream"),
    pytest.param(
        lambda c: (c.s2c("SA"), c.c2s("A")),
        [S.CLOSED, S.ESTABLISHED], [S.CLOSED, S.SYN_RECEIVED, S.ESTABLISHED],
        id="syn-not-captured"),
])
def test_conversation_states(script, side0: list[TcpState], side1: list[TcpState]) -> None:
    conv = Conversation()
    conv.client.rcv_nxt, conv.server.rcv_nxt = 5000, 1000
    script(conv)
    results = feed(conv.segments)
    assert history(results, 0) == side0
    assert history(results, 1) == side1


def test_reset_event() -> None:
    conv = Conversation()
    conv.handshake()
    conv.s2c("R")
    last = feed(conv.segments)[-1]
    assert last.states == (S.CLOSED, S.CLOSED)
    assert last.events[-1] == ConnectionReset(4, 1)
    assert (last.sender_state, last.receiver_state) == (S.CLOSED, S.CLOSED)


def test_events_equal_only_events_of_their_own_kind() -> None:
    """Events are named tuples (made in C by the tracker), yet an event is not
    equal to another kind's with the same fields, nor to a plain tuple."""
    conv = Conversation()
    conv.handshake()
    conv.close()
    events = [e for r in feed(conv.segments) for e in r.events]
    assert HandshakeCompleted(3) in events
    done = events[-1]
    assert done == ConnectionClosed(done.frame) and hash(done) == hash(ConnectionClosed(done.frame))
    assert done != HandshakeCompleted(done.frame)
    assert (done == HandshakeCompleted(done.frame)) is False
    assert done != (done.frame,) and (done.frame,) != done
    assert hash(done) != hash(HandshakeCompleted(done.frame))
    assert {ConnectionReset(2, 0), StateChanged(2, 0, S.CLOSED, S.LISTEN)} == {
        StateChanged(2, 0, S.CLOSED, S.LISTEN), ConnectionReset(2, 0)}
    with pytest.raises(AttributeError):
        done.frame = 7
    assert [done] == [mock.ANY] and done != 3
