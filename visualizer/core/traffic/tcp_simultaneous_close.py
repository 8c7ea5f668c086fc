"""tcp-simultaneous-close: both sides shut down at the same instant; the FINs may cross."""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from functools import partial

from visualizer.core.traffic.failures import RunAborted
from visualizer.core.traffic.logged_socket import LoggedSocket
from visualizer.core.traffic.params import FAMILY, PORT, Param
from visualizer.core.traffic.scenario import Scenario, SideFunction, answer, ask
from visualizer.core.traffic.side import Side

# How long after both sides are ready the gate opens: long enough for both
# threads to be asleep at the gate, so neither is still on its way to it.
_GATE_DELAY = 0.005
# A side gives up waiting for its peer after this long; the peer's own calls
# are bounded by the run's timeout, so this is only a safety net.
_MEET_LIMIT = 30.0


class _Meeting:
    """Lets the two sides call shutdown() as nearly at the same instant as threads can.

    Both sides first meet at a barrier; then both sleep in select() on one
    pipe, and a helper thread writes a byte to it a moment later. The kernel
    wakes both sleepers with that one write, which starts their shutdown()
    calls closer together than separate timers would (each timer may fire up
    to 50 µs late, its "slack"); on loopback a FIN reaches the peer faster
    than that. Meet once per connection.

    A side that ends (or fails) leaves the meeting, so a peer still waiting
    at the barrier stops at once; the last to leave closes the pipe.
    """

    def __init__(self) -> None:
        self._left = 0
        self._lock = threading.Lock()
        self._gate: tuple[int, int] | None = None  # the pipe, made at the first meeting
        self._opener: threading.Thread | None = None
        self._barrier = threading.Barrier(2, action=self._both_arrived)

    def _both_arrived(self) -> None:
        """Runs in the second side to arrive, before either goes on."""
        if self._gate is None:
            self._gate = os.pipe()
        elif self._opener is not None:  # both passed the last gate: close it again
            self._opener.join()
            os.read(self._gate[0], 1)
        self._opener = threading.Thread(target=self._open_gate, args=(self._gate[1],),
                                        name="close gate", daemon=True)
        self._opener.start()

    @staticmethod
    def _open_gate(write_end: int) -> None:
        time.sleep(_GATE_DELAY)
        os.write(write_end, b"!")

    def wait(self, side: Side) -> None:
        """Return when the gate opens, both sides having arrived."""
        try:
            self._barrier.wait(_MEET_LIMIT)
        except threading.BrokenBarrierError:
            if self._left:
                raise RunAborted from None  # the peer failed before it came
            side.fail(f"waited {_MEET_LIMIT:g} s for the other side to be ready to close")
        assert self._gate is not None
        poller = select.poll()  # not select(): it fails for descriptors past 1023
        poller.register(self._gate[0], select.POLLIN)
        poller.poll(_MEET_LIMIT * 1000)

    def leave(self) -> None:
        """Called by each side as it ends, however it ends."""
        with self._lock:
            self._left += 1
            last = self._left == 2
        self._barrier.abort()
        if last:
            if self._opener is not None:
                self._opener.join()
            if self._gate is not None:
                os.close(self._gate[0])
                os.close(self._gate[1])


class TcpSimultaneousClose(Scenario):
    name = "tcp-simultaneous-close"
    summary = "both sides call shutdown() at the same instant; if the FINs cross: CLOSING"
    description = (
        "In a simultaneous close each end sends its FIN before the other's FIN has "
        "arrived. Each goes ESTABLISHED → FIN-WAIT-1 when it sends its FIN, then receives a "
        "FIN that does not acknowledge its own (both FINs carry the same ack as the "
        "segments before them), so each goes to CLOSING, acknowledges the peer's FIN, and "
        "moves to TIME-WAIT when the ACK of its own FIN arrives: the close takes four "
        "segments, FIN, FIN, ACK, ACK, and both sides are active closers that end in "
        "TIME-WAIT. Here, after `count` requests and replies of `size` bytes, both threads "
        "are woken by the same event and both call shutdown(SHUT_WR) at once, then recv() "
        "until it returns 0, then close(). On loopback, though, a FIN reaches the peer "
        "within microseconds, inside the sender's own shutdown() call, so the two calls "
        "must overlap almost exactly, which two Python threads manage only now and then. "
        "Often the kernel serializes them and the capture shows an ordinary close: the "
        "second FIN already acknowledges the first (its ack is one higher), the first "
        "closer goes FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT and the other CLOSE-WAIT → "
        "LAST-ACK → CLOSED. The ack of the second FIN and the endpoint states tell which "
        "happened. With `connections` above 1 the whole exchange is repeated on new "
        "connections (new client ports, one TCP stream each), each a new chance for the "
        "FINs to cross; the busier the machine, the rarer they do."
    )
    params = (
        Param("connections", "int", 1, 1, 100,
              help="connections, one after another, each closed by both sides at once"),
        Param("count", "int", 1, 0, 10_000, help="request/response exchanges before the close"),
        Param("size", "int", 64, 1, 1_000_000, help="bytes in each request and each reply"),
        PORT,
        FAMILY,
    )
    transport = "tcp"

    def bind(self, server: Side) -> LoggedSocket:
        return server.listen_loopback(backlog=1)

    def sides(self) -> dict[str, SideFunction]:
        meeting = _Meeting()
        return {"server": partial(self._server, meeting=meeting),
                "client": partial(self._client, meeting=meeting)}

    def _server(self, side: Side, meeting: _Meeting) -> None:
        size, connections = int(self.values["size"]), int(self.values["connections"])
        listener = side.server_socket
        try:
            for connection in range(1, connections + 1):
                conn, _peer = listener.accept()
                if connection == connections:
                    listener.close()
                for number in range(1, int(self.values["count"]) + 1):
                    if not answer(side, conn, number, size):
                        side.fail(f"the client closed before request {number}")
                self._close_together(side, conn, meeting)
        finally:
            meeting.leave()

    def _client(self, side: Side, meeting: _Meeting) -> None:
        size = int(self.values["size"])
        try:
            for _connection in range(int(self.values["connections"])):
                sock = side.socket(socket.SOCK_STREAM)
                sock.connect(side.server_address)
                for number in range(1, int(self.values["count"]) + 1):
                    ask(side, sock, number, size)
                self._close_together(side, sock, meeting)
        finally:
            meeting.leave()

    @staticmethod
    def _close_together(side: Side, sock: LoggedSocket, meeting: _Meeting) -> None:
        meeting.wait(side)
        sock.shutdown(socket.SHUT_WR)  # our FIN, at the same instant as the peer's
        if extra := sock.recv(65_536):  # returns 0 once the peer's FIN is in
            side.fail(f"got {len(extra)} unexpected bytes before the peer's FIN")
        sock.close()
