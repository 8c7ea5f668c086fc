"""Running a user's command, traced by strace or not, and stopping it for sure.

Each command runs in its own session (a process group of its own), from an
argument list (``shlex.split``), never through a shell unless asked. Its
stdout and stderr go to files in the recording's private work folder, whose
last lines explain a failure. Under strace, the trace is written to a file
there too and read as it grows (``pump``), which is how the recorder learns
that a server listens.

``stop`` ends the command and everything it started: SIGTERM to the
command's processes (not to strace, which then reports their exit), then
SIGKILL to the whole group and every descendant still alive after the
grace period, so that a server ignoring SIGTERM is not left behind.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
from pathlib import Path

from visualizer.core.errors import BadInput
from visualizer.core.program.strace import TraceReader, strace_argv

STOP_GRACE = 2.0   # seconds between SIGTERM and SIGKILL


def split_command(text: str, use_shell: bool) -> list[str]:
    """``text`` as an argument list; with ``use_shell``, run by /bin/sh."""
    if use_shell:
        return ["/bin/sh", "-c", text]
    try:
        argv = shlex.split(text)
    except ValueError as err:
        raise BadInput(f"cannot split the command {text!r}: {err}") from None
    if not argv:
        raise BadInput("a command is empty")
    return argv


class ProgramCommand:
    """One command of a recording: the server, or a client (``side``)."""

    def __init__(self, text: str, side: str, workdir: Path, *, cwd: str | None = None,
                 trace: bool = True, use_shell: bool = False) -> None:
        self.text = text
        self.side = side
        self.argv = split_command(text, use_shell)
        self.cwd = cwd
        self.trace = trace
        name = side.replace(" ", "-")
        self.trace_path = workdir / f"{name}.trace"
        self.out_path = workdir / f"{name}.out"
        self.err_path = workdir / f"{name}.err"
        self.reader = TraceReader(side)
        self.proc: subprocess.Popen[bytes] | None = None
        self._offset = 0
        self._partial = b""

    def start(self) -> None:
        argv = strace_argv(self.argv, str(self.trace_path)) if self.trace else self.argv
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            try:
                self.proc = subprocess.Popen(argv, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                             stdout=out, stderr=err, start_new_session=True)
            except FileNotFoundError:
                raise BadInput(f"the {self.side} command {self.text!r}: {argv[0]}: command "
                               "not found (exit code 127)") from None
            except PermissionError:
                raise BadInput(f"the {self.side} command {self.text!r}: {argv[0]}: "
                               "permission denied (exit code 126)") from None

    @property
    def exit_code(self) -> int | None:
        """The command's exit code once it ended (strace exits with its command's
        code, or is killed by the same signal: then minus the signal number)."""
        return None if self.proc is None else self.proc.poll()

    def pump(self) -> None:
        """Read the trace lines written since the last call."""
        if not self.trace:
            return
        try:
            with open(self.trace_path, "rb") as trace:
                trace.seek(self._offset)
                data = trace.read()
        except FileNotFoundError:
            return
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            self.reader.feed(line.decode("utf-8", "replace"))

    def bound_ports(self) -> set[int]:
        """Ports the command's processes listen on or bound (UDP) now, from /proc."""
        return bound_ports(_processes(self.proc.pid)) if self.proc is not None else set()

    def listening(self) -> bool:
        """True once the command listens (TCP) or bound a UDP socket."""
        if self.trace:
            self.pump()
            return bool(self.reader.listening)
        return bool(self.bound_ports())

    def stderr_tail(self, lines: int = 3) -> str:
        """The last lines the command wrote on stderr, joined with " / "."""
        try:
            text = self.err_path.read_text("utf-8", "replace")
        except OSError:
            return ""
        kept = [line.strip() for line in text.splitlines() if line.strip()]
        return " / ".join(kept[-lines:])

    def failure(self, what: str) -> str:
        """One line: the command, ``what`` happened, its exit code and last stderr lines."""
        code = self.exit_code
        status = ("still running" if code is None
                  else f"killed by {signal.Signals(-code).name}" if code < 0
                  else f"exit code {code}")
        tail = self.stderr_tail()
        return (f"the {self.side} command {self.text!r} {what} ({status})"
                + (f": {tail}" if tail else ": it wrote nothing on stderr"))

    def stop(self, grace: float = STOP_GRACE) -> None:
        """End the command and everything it started; returns when all are gone."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            for pid in _processes(proc.pid):
                if pid != proc.pid or not self.trace:
                    _signal(pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(grace)
        left = _processes(proc.pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in left:
            _signal(pid, signal.SIGKILL)
        proc.wait()
        self.pump()


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def _processes(leader: int) -> list[int]:
    """Processes of ``leader``'s group and their descendants (from /proc)."""
    parents: dict[int, int] = {}
    group: set[int] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        if int(fields[2]) == leader and fields[0] != b"Z":
            group.add(pid)
    found = set(group)
    changed = True
    while changed:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        found |= more
        changed = bool(more)
    return sorted(found)


def bound_ports(pids: list[int]) -> set[int]:
    """Ports on which ``pids`` listen (TCP) or have bound a UDP socket (/proc/net)."""
    inodes: set[str] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.scandir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(fd.path)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    ports: set[int] = set()
    for table, state in (("tcp", "0A"), ("tcp6", "0A"), ("udp", ""), ("udp6", "")):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[9] in inodes and (not state or fields[3] == state):
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports

