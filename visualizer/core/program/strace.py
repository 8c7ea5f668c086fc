"""strace's output as the socket-call log the built-in scenarios write.

A command runs under ``strace -f -ttt -T -yy`` (see ``strace_argv``): every
traced system call is one line with the thread id, the wall-clock time it
started (``-ttt``: CLOCK_REALTIME, the clock of the capture's timestamps),
its arguments with each descriptor's socket addresses (``-yy``), its result
and its duration (``-T``). ``TraceReader`` turns those lines into
``SocketCall`` records, as ``LoggedSocket`` logs them:

- calls on descriptors that are not TCP or UDP sockets (files, pipes, Unix
  sockets) are left out, and so are non-blocking calls that found nothing to
  do (EAGAIN) and polls that timed out or did not wait: they caused no packet;
- a socket's address is the one strace shows at each call; a call made
  before the socket had one (socket(), setsockopt(), connect() on a fresh
  socket) takes the address the socket shows next;
- a non-blocking connect() (EINPROGRESS) is one call from its start until
  the program learns the outcome (getsockopt SO_ERROR, or its first send or
  receive), as ``LoggedSocket.connect`` logs its own;
- a call interrupted by another thread's line (``<unfinished ...>`` then
  ``<... resumed>``) is joined back into one.
"""

from __future__ import annotations

import errno as errnos
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from visualizer.core.traffic.calls import SocketCall

# The system calls traced (strace -e trace=...): the socket API and the
# descriptor calls a program may use on a socket instead.
TRACED_CALLS = ("socket", "bind", "listen", "connect", "accept", "accept4",
                "send", "sendto", "sendmsg", "sendmmsg", "recv", "recvfrom", "recvmsg",
                "recvmmsg", "write", "writev", "read", "readv", "shutdown", "close",
                "setsockopt", "getsockopt", "poll", "ppoll", "epoll_wait", "epoll_pwait")


def strace_argv(command: Sequence[str], output: str) -> list[str]:
    """The argument list running ``command`` under strace, writing the trace to ``output``."""
    return ["strace", "-f", "-ttt", "-T", "-yy", "-qq", "-s", "16", "-e", "signal=none",
            "-e", "trace=" + ",".join(TRACED_CALLS), "-o", output, "--", *command]


_LINE = re.compile(r"^(\d+)\s+(\d+)\.(\d+) (.*)$")
_RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")
_CALL = re.compile(r"^(\w+)\((.*)$")
_RESULT = re.compile(r"^(.*?)(?: <(\d+)\.(\d+)>)?$")
_SOCKET_FD = re.compile(r"^(\d+)<(TCP|TCPv6|UDP|UDPv6):\[(.*)\]>$")
_POLL_FD = re.compile(r"fd=(\d+)<(?:TCP|TCPv6|UDP|UDPv6):\[([^\]]*(?:\][^\]]*)*?)\]>, "
                      r"events=(\w[\w|]*)")
_REVENTS = re.compile(r"fd=(\d+), revents=(\w[\w|]*)")
_EPOLL_EVENT = re.compile(r"events=(\w[\w|]*), data=\{u32=(\d+)")
_PORT = re.compile(r"sin6?_port=htons\((\d+)\)")
_ADDR4 = re.compile(r'inet_addr\("([^"]+)"\)')
_ADDR6 = re.compile(r'inet_pton\(AF_INET6, "([^"]+)"')
_NUMBER = re.compile(r"^\[?(-?\d+)\]?$")

_SENDS = {"send", "sendto", "sendmsg", "sendmmsg", "write", "writev"}
_RECEIVES = {"recv", "recvfrom", "recvmsg", "recvmmsg", "read", "readv"}
_SIZED = {"send", "sendto", "write", "recv", "recvfrom", "read"}
_POLLS = {"poll", "ppoll", "epoll_wait", "epoll_pwait"}
_SKIPPED_ERRORS = {"EAGAIN", "EWOULDBLOCK"}


def split_args(text: str) -> list[str]:
    """Top-level comma-separated arguments of strace's ``text`` (brackets and strings kept)."""
    parts: list[str] = []
    depth, start, quoted, k = 0, 0, False, 0
    while k < len(text):
        ch = text[k]
        if quoted:
            if ch == "\\":
                k += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:k].strip())
            start = k + 1
        k += 1
    tail = text[start:].strip()
    if tail:
        parts.append(tail)
    return parts


def sockaddr_text(arg: str) -> str:
    """``"127.0.0.1:80"`` / ``"[::1]:80"`` for strace's sockaddr struct; "" if not IP."""
    port = _PORT.search(arg)
    host = _ADDR4.search(arg) or _ADDR6.search(arg)
    if port is None or host is None:
        return ""
    name = host.group(1)
    return f"[{name}]:{port.group(1)}" if ":" in name else f"{name}:{port.group(1)}"


def _endpoints(inside: str) -> tuple[str, str]:
    """(local, remote) of ``-yy``'s ``[local->remote]`` text; an inode alone gives ("", "")."""
    if inside.isdigit():
        return "", ""
    local, _, remote = inside.partition("->")
    return local, remote


@dataclass
class _Pending:
    """A call whose line strace split (``<unfinished ...>``)."""

    name: str
    start_ns: int
    text: str


@dataclass
class _Record:
    """A call being assembled; ``local``/``remote`` may be filled in later."""

    side: str
    call: str
    args: str
    result: str
    start_ns: int
    end_ns: int
    local: str = ""
    remote: str = ""
    errno: int | None = None
    key: tuple[str, int] = ("", -1)


@dataclass
class TraceReader:
    """Reads one traced command's strace lines; ``calls()`` is its socket-call log.

    ``side`` names the lane's owner in the log ("server", "client", "client 2").
    """

    side: str
    _records: list[_Record] = field(default_factory=list)
    _pending: dict[tuple[int, str], _Pending] = field(default_factory=dict)
    _addressless: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    _connecting: dict[tuple[str, int], int] = field(default_factory=dict)
    _sockets: dict[tuple[str, int], tuple[str, str]] = field(default_factory=dict)
    listening: list[str] = field(default_factory=list)   # addresses listened/bound on (UDP)

    def feed(self, line: str) -> None:
        """One line of strace's output (with or without its newline)."""
        match = _LINE.match(line.rstrip("\n"))
        if match is None:
            return
        tid, sec, frac, body = match.groups()
        start_ns = int(sec) * 1_000_000_000 + int(frac.ljust(9, "0")[:9])
        resumed = _RESUMED.match(body)
        if resumed is not None:
            pending = self._pending.pop((int(tid), resumed.group(1)), None)
            if pending is None:
                return
            body, start_ns = pending.text + resumed.group(2), pending.start_ns
        if body.endswith("<unfinished ...>"):
            call = _CALL.match(body)
            if call is not None:
                text = body[:-len("<unfinished ...>")].rstrip()
                self._pending[(int(tid), call.group(1))] = _Pending(call.group(1), start_ns, text)
            return
        self._complete(body, start_ns)

    def _complete(self, body: str, start_ns: int) -> None:
        call = _CALL.match(body)
        if call is None:
            return
        name = call.group(1)
        args_text, sep, outcome = call.group(2).rpartition(") = ")
        if not sep:
            return
        result_match = _RESULT.match(outcome)
        assert result_match is not None   # the pattern matches any text
        result, dsec, dfrac = result_match.groups()
        duration = (int(dsec) * 1_000_000_000 + int(dfrac.ljust(9, "0")[:9])) if dsec else 0
        args = split_args(args_text)
        if name in _POLLS:
            self._poll(name, args, result, start_ns, start_ns + duration)
            return
        if name == "socket":
            fd = _SOCKET_FD.match(result.strip())
            if fd is None:
                return
            kind = " ".join(args[:2]).replace(" ", ", ")
            self._add(_Record(self.side, "socket", kind, f"fd {fd.group(1)}", start_ns,
                              start_ns + duration, key=(self.side, int(fd.group(1)))))
            return
        fd = _SOCKET_FD.match(args[0]) if args else None
        if fd is None:
            return
        number, proto, inside = int(fd.group(1)), fd.group(2), fd.group(3)
        key = (self.side, number)
        local, remote = _endpoints(inside)
        if local:
            self._sockets[key] = (local, remote)
        failed, errno_value, shown = _outcome(result)
        if shown in _SKIPPED_ERRORS:
            return
        stream = proto.startswith("TCP")
        record = _Record(self.side, name, "", shown, start_ns, start_ns + duration,
                         local, remote, errno_value, key)
        self._describe(record, args, result, stream)
        if key in self._connecting and name in _SENDS | _RECEIVES | {"close", "shutdown"}:
            self._settle_connect(key, start_ns, 0)
        if name == "getsockopt" and "SO_ERROR" in args_text and key in self._connecting:
            value = _NUMBER.match(args[3]) if len(args) > 3 else None
            self._settle_connect(key, start_ns + duration, int(value.group(1)) if value else 0)
        self._add(record)
        if name == "connect" and shown == "EINPROGRESS":
            self._connecting[key] = len(self._records) - 1
        if not failed and (name == "listen" or (name == "bind" and not stream)):
            self.listening.append(local or record.args)
        if name == "close":
            self._addressless.pop(key, None)
            self._connecting.pop(key, None)
            self._sockets.pop(key, None)

    def _describe(self, record: _Record, args: list[str], result: str, stream: bool) -> None:
        """Fill in ``record.args``/``result``/``remote`` as ``LoggedSocket`` words them."""
        name = record.call
        size = args[2] if len(args) > 2 and name in _SIZED else ""
        if name in ("bind", "connect"):
            record.args = sockaddr_text(args[1]) if len(args) > 1 else ""
            if name == "connect" and record.args and not record.remote:
                record.remote = record.args
        elif name == "listen":
            record.args = f"backlog {args[1]}" if len(args) > 1 else ""
        elif name in ("accept", "accept4"):
            new = _SOCKET_FD.match(result.strip())
            if new is not None:
                record.local, record.remote = _endpoints(new.group(3))
                record.result = record.remote or f"fd {new.group(1)}"
        elif name in _SENDS:
            record.args = f"{size} bytes" if size.isdigit() else ""
            target = sockaddr_text(args[4]) if name == "sendto" and len(args) > 4 else ""
            if target:
                record.args += f" to {target}"
                record.remote = target
        elif name in _RECEIVES:
            record.args = f"bufsize {size}" if size.isdigit() else ""
            source = sockaddr_text(args[4] if name == "recvfrom" and len(args) > 4
                                   else args[1] if name == "recvmsg" and len(args) > 1 else "")
            if record.errno is None:
                if source and not stream:
                    record.remote = source
                    record.result = f"{record.result} from {source}"
                elif stream and record.result == "0":
                    record.result = "0 (peer closed)"
        elif name == "shutdown":
            record.args = args[1] if len(args) > 1 else ""
        elif name in ("setsockopt", "getsockopt"):
            value = args[3].strip("[]") if len(args) > 3 else ""
            record.args = ", ".join(args[1:3]) + (f", {value}" if name == "setsockopt" else "")
            if name == "getsockopt" and record.errno is None:
                record.result = value

    def _poll(self, name: str, args: list[str], result: str, start_ns: int, end_ns: int) -> None:
        """One "poll" call per socket that a blocking poll reported ready."""
        epoll = name.startswith("epoll")
        timeout = args[3 if epoll else 2] if len(args) > (3 if epoll else 2) else ""
        if timeout.strip() in ("0", "{tv_sec=0, tv_nsec=0}"):
            return   # did not wait
        if epoll:
            ready = [(int(fd), events) for events, fd in _EPOLL_EVENT.findall(args[1])] \
                if len(args) > 1 else []
        else:
            ready = [(int(fd), events) for fd, events in _REVENTS.findall(result)]
        watched = {int(fd): (inside, events) for fd, inside, events in
                   _POLL_FD.findall(args[0] if args else "")}
        for fd, revents in ready:
            key = (self.side, fd)
            if fd in watched:
                local, remote = _endpoints(watched[fd][0])
                asked = watched[fd][1]
            elif key in self._sockets:
                (local, remote), asked = self._sockets[key], ""
            else:
                continue
            self._add(_Record(self.side, name, asked, revents, start_ns, end_ns, local,
                              remote, key=key))

    def _settle_connect(self, key: tuple[str, int], end_ns: int, error: int) -> None:
        """The program learnt how its non-blocking connect() ended."""
        record = self._records[self._connecting.pop(key)]
        record.end_ns = max(record.end_ns, end_ns)
        if error:
            record.result = errnos.errorcode.get(error, f"errno {error}")
            record.errno = error
        else:
            record.result = "0 (EINPROGRESS, then connected)"

    def _add(self, record: _Record) -> None:
        self._records.append(record)
        index = len(self._records) - 1
        if not record.local:
            self._addressless.setdefault(record.key, []).append(index)
            return
        connected_to = self._sockets.get(record.key, ("", ""))[1]
        for earlier in self._addressless.pop(record.key, []):
            before = self._records[earlier]
            before.local = before.local or record.local
            if connected_to and not before.remote:
                before.remote = connected_to

    def calls(self) -> list[SocketCall]:
        """The log so far, sorted by start time."""
        made = [SocketCall(r.side, r.call, r.args, r.result, r.start_ns, r.end_ns,
                           r.local, r.remote, r.errno) for r in self._records]
        return sorted(made, key=lambda c: c.start_ns)


def _outcome(result: str) -> tuple[bool, int | None, str]:
    """(failed, errno, text) of strace's result: ``"-1 ECONNREFUSED (...)"`` ->
    (True, 111, "ECONNREFUSED"); EINPROGRESS is not a failure; ``"?"`` (the
    process died in the call) is "interrupted"."""
    text = result.strip()
    if text.startswith("-1 "):
        name = text.split()[1]
        if name == "EINPROGRESS":
            return False, None, name
        return True, getattr(errnos, name, None), name
    if text.startswith("?"):
        return True, None, "interrupted"
    return False, None, text.split("<", 1)[0].split(" ", 1)[0]
