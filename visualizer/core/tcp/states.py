"""TCP endpoint states as a passive tap infers them: the whole transition table.

A tap between two endpoints sees packets, not sockets. Each connection has
two endpoint machines; every packet yields *observations* for both: for the
sender what it sent, for the receiver what it received and which of its
own SYN/FIN the packet acknowledges. A state changes when the packet that
causes the change is seen, in the states of RFC 9293 section 3.3.2:

- the client goes SYN-SENT when its SYN is seen, and ESTABLISHED when the
  SYN-ACK is seen (it receives it);
- the server is taken to be LISTEN when a SYN reaches it, goes SYN-RECEIVED
  when it sends the SYN-ACK, and ESTABLISHED when the ACK of its SYN is seen;
- the active closer goes FIN-WAIT-1 when it sends FIN, FIN-WAIT-2 when its FIN
  is acknowledged, TIME-WAIT when it receives the peer's FIN (it then sends the
  final ACK; the tap never sees the 2*MSL timer end, so TIME-WAIT stays);
- the passive closer goes CLOSE-WAIT when the FIN reaches it, LAST-ACK when it
  sends its own FIN, CLOSED when that FIN is acknowledged;
- both FINs crossing (simultaneous close) give CLOSING, then TIME-WAIT when
  the FIN is acknowledged. The tap sees one FIN first and takes its receiver
  to CLOSE-WAIT; when that endpoint's own FIN then does not acknowledge the
  peer's FIN, it had not received it: the FINs crossed, and it goes CLOSING;
- SYNs crossing (simultaneous open) give SYN-RECEIVED;
- a RST, sent or received, closes both endpoints (no window check: a tap
  cannot know what the receiver accepted).

A connection first seen without a SYN or SYN-ACK starts with both endpoints in
JOINED-MID-STREAM: no state is guessed. A FIN or RST seen later is real
knowledge and moves an endpoint on (sending FIN: FIN-WAIT-1, receiving it:
CLOSE-WAIT), data alone does not.

Within one packet the receiver's observations are applied in the order
SYN_ACKED, RECV_SYN / RECV_SYNACK, FIN_ACKED, RECV_FIN (acknowledgement before
the FIN bit, as RFC 9293 processes a segment), so a FIN-ACK that also
acknowledges our FIN takes FIN-WAIT-1 through FIN-WAIT-2 to TIME-WAIT.

A pair (state, observation) missing from :data:`TRANSITIONS` leaves the state
unchanged: retransmissions, duplicate FINs and the like change nothing.
``docs/make_state_diagram.py`` draws ``docs/tcp-states.md`` from this table.
"""

from __future__ import annotations

import enum

__all__ = ["TRANSITIONS", "Observation", "TcpState", "next_state"]


class TcpState(enum.Enum):
    """RFC 9293 endpoint states, plus JOINED_MID_STREAM for a connection seen without its SYN."""

    CLOSED = "CLOSED"
    LISTEN = "LISTEN"
    SYN_SENT = "SYN-SENT"
    SYN_RECEIVED = "SYN-RECEIVED"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN-WAIT-1"
    FIN_WAIT_2 = "FIN-WAIT-2"
    CLOSE_WAIT = "CLOSE-WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST-ACK"
    TIME_WAIT = "TIME-WAIT"
    JOINED_MID_STREAM = "JOINED-MID-STREAM"

    # Members are singletons compared by identity: hash them so too. Enum's own
    # __hash__ is Python code hashing the name, and the analysis looks states up
    # in dicts (TRANSITIONS, the state codes) for every packet: ~10 % of its time.
    __hash__ = object.__hash__

    def __str__(self) -> str:
        return self.value


class Observation(enum.Enum):
    """What the tap saw a packet do, from the point of view of one endpoint."""

    SEND_SYN = "sends SYN"
    SEND_SYNACK = "sends SYN-ACK"
    SEND_FIN = "sends FIN"
    SEND_FIN_CROSSED = "sends FIN not acking the peer's FIN"
    SEND_RST = "sends RST"
    RECV_SYN = "receives SYN"
    RECV_SYNACK = "receives SYN-ACK"
    RECV_FIN = "receives FIN"
    RECV_RST = "receives RST"
    SYN_ACKED = "its SYN is acked"
    FIN_ACKED = "its FIN is acked"

    __hash__ = object.__hash__   # as TcpState's

    def __str__(self) -> str:
        return self.value


S = TcpState
O = Observation  # noqa: E741 - short names keep the table readable

# The one table. Rows are grouped by the phase of the connection.
TRANSITIONS: dict[tuple[TcpState, Observation], TcpState] = {
    # --- opening -------------------------------------------------------------
    (S.CLOSED, O.SEND_SYN): S.SYN_SENT,
    (S.CLOSED, O.RECV_SYN): S.LISTEN,
    (S.CLOSED, O.SEND_SYNACK): S.SYN_RECEIVED,       # its SYN was not captured
    (S.CLOSED, O.RECV_SYNACK): S.ESTABLISHED,        # it must have sent a SYN
    (S.LISTEN, O.SEND_SYNACK): S.SYN_RECEIVED,
    (S.LISTEN, O.SEND_SYN): S.SYN_SENT,
    (S.SYN_SENT, O.RECV_SYNACK): S.ESTABLISHED,
    (S.SYN_SENT, O.RECV_SYN): S.SYN_RECEIVED,        # simultaneous open
    (S.SYN_RECEIVED, O.SYN_ACKED): S.ESTABLISHED,
    (S.TIME_WAIT, O.SEND_SYN): S.SYN_SENT,           # reopened from TIME-WAIT
    (S.TIME_WAIT, O.RECV_SYN): S.LISTEN,
    # --- joined mid-stream: only FIN and RST tell us something ---------------
    (S.JOINED_MID_STREAM, O.SEND_FIN): S.FIN_WAIT_1,
    (S.JOINED_MID_STREAM, O.RECV_FIN): S.CLOSE_WAIT,
    (S.JOINED_MID_STREAM, O.SEND_SYN): S.SYN_SENT,
    (S.JOINED_MID_STREAM, O.RECV_SYN): S.LISTEN,
    (S.JOINED_MID_STREAM, O.SEND_SYNACK): S.SYN_RECEIVED,
    (S.JOINED_MID_STREAM, O.RECV_SYNACK): S.ESTABLISHED,
    # --- closing -------------------------------------------------------------
    (S.SYN_RECEIVED, O.SEND_FIN): S.FIN_WAIT_1,
    (S.SYN_RECEIVED, O.RECV_FIN): S.CLOSE_WAIT,
    (S.ESTABLISHED, O.SEND_FIN): S.FIN_WAIT_1,
    (S.ESTABLISHED, O.RECV_FIN): S.CLOSE_WAIT,
    (S.FIN_WAIT_1, O.FIN_ACKED): S.FIN_WAIT_2,
    (S.FIN_WAIT_1, O.RECV_FIN): S.CLOSING,           # simultaneous close
    (S.FIN_WAIT_2, O.RECV_FIN): S.TIME_WAIT,
    (S.CLOSING, O.FIN_ACKED): S.TIME_WAIT,
    (S.CLOSE_WAIT, O.SEND_FIN): S.LAST_ACK,
    (S.CLOSE_WAIT, O.SEND_FIN_CROSSED): S.CLOSING,   # the FINs crossed after all
    (S.LAST_ACK, O.FIN_ACKED): S.CLOSED,
    # --- reset: from every state but CLOSED ----------------------------------
    **{(state, obs): S.CLOSED
       for state in S if state is not S.CLOSED
       for obs in (O.SEND_RST, O.RECV_RST)},
}


def next_state(state: TcpState, obs: Observation) -> TcpState:
    """The state after ``obs``; unchanged when the table has no entry."""
    return TRANSITIONS.get((state, obs), state)
