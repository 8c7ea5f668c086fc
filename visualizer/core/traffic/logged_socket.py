"""A real socket that logs every call it makes, and never blocks past its run.

Each method is one call of the socket API, logged as a ``SocketCall`` with
its start and end time, except ``sendall``, which is logged as one "send"
of the whole buffer (its time covers every send(2) it took), and
``recv_exactly``, which is a loop of logged ``recv`` calls.

Blocking calls wait in short slices, checking between slices whether the
run was aborted (another side failed) or its deadline passed: a side can
never hang, whatever its peer does.
"""

from __future__ import annotations

import errno as errnos
import os
import select
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TypeVar

from visualizer.core.traffic.calls import CallLog, SocketCall
from visualizer.core.traffic.control import WAIT_SLICE, Expired, RunControl
from visualizer.core.traffic.failures import CallTimedOut, RunAborted, SocketCallFailed

T = TypeVar("T")
Address = tuple[str, int]

_FAMILIES: dict[int, str] = {socket.AF_INET: "AF_INET", socket.AF_INET6: "AF_INET6"}
_KINDS: dict[int, str] = {socket.SOCK_STREAM: "SOCK_STREAM", socket.SOCK_DGRAM: "SOCK_DGRAM"}
_HOWS: dict[int, str] = {socket.SHUT_RD: "SHUT_RD", socket.SHUT_WR: "SHUT_WR",
                         socket.SHUT_RDWR: "SHUT_RDWR"}
_LEVELS = (("SO_", socket.SOL_SOCKET, "SOL_SOCKET"), ("TCP_", socket.IPPROTO_TCP, "IPPROTO_TCP"),
           ("IPV6_", socket.IPPROTO_IPV6, "IPPROTO_IPV6"), ("IP_", socket.IPPROTO_IP, "IPPROTO_IP"))


def format_sockaddr(address: object) -> str:
    """``"127.0.0.1:40123"`` or ``"[::1]:40123"`` for a socket address tuple."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


def errno_name(number: int | None) -> str:
    return errnos.errorcode.get(number, f"errno {number}") if number else "error"


class _Outcome:
    """What a logged call fills in while it runs."""

    __slots__ = ("remote", "result")

    def __init__(self) -> None:
        self.result = "0"
        self.remote: str | None = None  # the call's peer when not the socket's own


TCP_INFO_SIZE = 232   # struct tcp_info up to tcpi_delivery_rate and a little beyond


class LoggedSocket:
    """Wraps a ``socket.socket`` of one side; every call lands in the log."""

    def __init__(self, sock: socket.socket, side: str, log: CallLog, control: RunControl,
                 *, local: str = "", remote: str = "") -> None:
        self._sock = sock
        self.side = side
        self._log = log
        self._control = control
        self.local = local
        self.remote = remote
        self.closed = False
        self.stream = sock.type == socket.SOCK_STREAM
        sock.settimeout(WAIT_SLICE)
        control.register(self)

    @classmethod
    def open(cls, family: int, kind: int, side: str, log: CallLog, control: RunControl
             ) -> LoggedSocket:
        """socket(family, kind), logged; the new socket is closed when its run ends."""
        args = f"{_FAMILIES.get(family, str(family))}, {_KINDS.get(kind, str(kind))}"
        start = time.time_ns()
        try:
            sock = socket.socket(family, kind)
        except OSError as exc:
            log.add(SocketCall(side, "socket", args, errno_name(exc.errno), start,
                               time.time_ns(), errno=exc.errno))
            raise SocketCallFailed(f"the {side} could not create a socket ({args}): "
                                   f"{errno_name(exc.errno)} ({exc.strerror})", exc.errno) from exc
        log.add(SocketCall(side, "socket", args, f"fd {sock.fileno()}", start, time.time_ns()))
        return cls(sock, side, log, control)

    # -- logging -------------------------------------------------------------

    @contextmanager
    def _logged(self, call: str, args: str, limit: float | None = None) -> Iterator[_Outcome]:
        outcome = _Outcome()
        start = time.time_ns()

        def record(result: str, number: int | None = None) -> None:
            remote = self.remote if outcome.remote is None else outcome.remote
            self._log.add(SocketCall(self.side, call, args, result, start, time.time_ns(),
                                     self.local, remote, number))

        try:
            yield outcome
        except RunAborted:
            record("interrupted: another side failed")
            raise
        except Expired as exc:
            record("timed out")
            raise CallTimedOut(self._timeout_message(call, args, limit, exc.by_run)) from None
        except OSError as exc:
            name = errno_name(exc.errno)
            record(name, exc.errno)
            raise SocketCallFailed(f"the {self.side}'s {call}({args}) failed: {name} "
                                   f"({exc.strerror or exc})", exc.errno) from exc
        else:
            record(outcome.result)

    def _timeout_message(self, call: str, args: str, limit: float | None, by_run: bool) -> str:
        where = f"{call}({args})" + (f" on {self.local}" if self.local else "")
        if by_run:
            return (f"the {self.side} was still waiting in {where} when the run's "
                    f"{self._control.timeout:g} s timeout expired")
        return f"the {self.side} waited {limit:g} s in {where} and nothing came"

    def _wait(self, limit: float | None, op: Callable[..., T], *args: object) -> T:
        """``op(*args)`` retried slice by slice until it completes, the run
        stops, or ``limit`` seconds pass."""
        call_deadline = None if limit is None else time.monotonic() + limit
        while True:
            self._control.check(call_deadline)
            try:
                return op(*args)
            except TimeoutError as exc:
                if exc.errno is not None:  # a real ETIMEDOUT from the kernel
                    raise

    def _refresh_local(self) -> None:
        with suppress(OSError):
            self.local = format_sockaddr(self._sock.getsockname())

    # -- the socket API --------------------------------------------------------

    def fileno(self) -> int:
        return self._sock.fileno()

    def tcp_info(self) -> tuple[bytes, str] | None:
        """The kernel's TCP_INFO of this TCP socket now, and its congestion control;
        None once closed. Not logged: a sampler reads it from another thread."""
        if not self.stream or self.closed:
            return None
        try:
            info = self._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_SIZE)
            algorithm = self._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16)
        except OSError:   # closed meanwhile
            return None
        return info, algorithm.rstrip(b"\0").decode("ascii", "replace")

    def bound_address(self) -> Address:
        """(host, port) the socket is bound to (getsockname, not logged)."""
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    def setsockopt(self, name: str, value: int | bytes, shown: str | None = None) -> None:
        """setsockopt by option name (``"SO_REUSEADDR"``, ``"TCP_NODELAY"``...)."""
        level, level_name = next((lv, ln) for prefix, lv, ln in _LEVELS if name.startswith(prefix))
        text = shown if shown is not None else str(value)
        with self._logged("setsockopt", f"{level_name}, {name}, {text}"):
            self._sock.setsockopt(level, getattr(socket, name), value)

    def bind(self, address: Address) -> None:
        with self._logged("bind", format_sockaddr(address)) as out:
            self._sock.bind(address)
            self._refresh_local()
            out.result = self.local

    def listen(self, backlog: int) -> None:
        with self._logged("listen", f"backlog {backlog}"):
            self._sock.listen(backlog)

    def connect(self, address: Address, limit: float | None = None) -> None:
        with self._logged("connect", format_sockaddr(address), limit) as out:
            out.remote = format_sockaddr(address)
            self._sock.setblocking(False)
            try:
                code = self._sock.connect_ex(address)
                poller = select.poll()
                poller.register(self._sock, select.POLLOUT)
                call_deadline = None if limit is None else time.monotonic() + limit
                while code == errnos.EINPROGRESS and not poller.poll(int(WAIT_SLICE * 1000)):
                    self._control.check(call_deadline)
                if code == errnos.EINPROGRESS:
                    code = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            finally:
                self._refresh_local()
                self._sock.settimeout(WAIT_SLICE)
            if code:
                raise OSError(code, os.strerror(code))
            self.remote = format_sockaddr(self._sock.getpeername())

    def accept(self, limit: float | None = None) -> tuple[LoggedSocket, str]:
        """The connected socket and the peer's address text."""
        with self._logged("accept", "", limit) as out:
            conn, address = self._wait(limit, self._sock.accept)
            peer = format_sockaddr(address)
            out.result = out.remote = peer
            accepted = LoggedSocket(conn, self.side, self._log, self._control,
                                    local=format_sockaddr(conn.getsockname()), remote=peer)
        return accepted, peer

    def sendall(self, data: bytes) -> int:
        """Send all of ``data``, logged as one "send" (as ``socket.sendall``)."""
        with self._logged("send", f"{len(data)} bytes") as out:
            view = memoryview(data)
            sent = 0
            try:
                while sent < len(view):
                    count = self._wait(None, self._sock.send, view[sent:])
                    sent += count
                    self._control.count(self.side, sent=count)
            finally:
                out.result = str(sent)
        return sent

    def sendto(self, data: bytes, address: Address) -> int:
        with self._logged("sendto", f"{len(data)} bytes to {format_sockaddr(address)}") as out:
            out.remote = format_sockaddr(address)
            count = self._wait(None, self._sock.sendto, data, address)
            self._control.count(self.side, sent=count)
            out.result = str(count)
            if not self.local:
                self._refresh_local()  # the kernel bound it on first send
        return count

    def recv(self, bufsize: int, limit: float | None = None) -> bytes:
        with self._logged("recv", f"bufsize {bufsize}", limit) as out:
            data = self._wait(limit, self._sock.recv, bufsize)
            self._control.count(self.side, received=len(data))
            out.result = "0 (peer closed)" if self.stream and not data else str(len(data))
        return data

    def recv_exactly(self, size: int, limit: float | None = None) -> bytes:
        """Loop on recv until ``size`` bytes came, or fewer if the peer closed."""
        chunks: list[bytes] = []
        got = 0
        while got < size:
            chunk = self.recv(min(size - got, 65536), limit)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def recvfrom(self, bufsize: int, limit: float | None = None) -> tuple[bytes, Address]:
        """One datagram and its source (host, port)."""
        with self._logged("recvfrom", f"bufsize {bufsize}", limit) as out:
            data, address = self._wait(limit, self._sock.recvfrom, bufsize)
            self._control.count(self.side, received=len(data))
            out.remote = format_sockaddr(address)
            out.result = f"{len(data)} from {out.remote}"
        return data, (str(address[0]), int(address[1]))

    def shutdown(self, how: int) -> None:
        with self._logged("shutdown", _HOWS.get(how, str(how))):
            self._sock.shutdown(how)

    def close(self, note: str = "") -> None:
        """close(); ``note`` says why when it is not the scenario's own close."""
        if self.closed:
            return
        self.closed = True
        with self._logged("close", note):
            self._sock.close()
