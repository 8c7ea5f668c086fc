"""Recording the user's own programs: ``visualizer record --server CMD --run CMD``.

The order makes the recording complete and its calls line up:

1. the capture starts on the interface (lo) and is ready before any command
   runs, so the first SYN is never missed; it takes every TCP and UDP packet
   there (or the user's ``--filter``),
2. the server runs under strace; the recorder reads its trace as it grows and
   goes on once it calls listen() (or binds a UDP socket), never after a
   fixed sleep,
3. each ``--run`` command runs to completion, one after the other,
4. the server is stopped (SIGTERM, then SIGKILL), the capture settles and stops,
5. the recording keeps the packets of the ports the commands bound or
   connected to (unless a ``--filter`` chose them), their socket calls from
   the traces, and the commands with their exit codes.

strace stamps each call with CLOCK_REALTIME (``-ttt``), the clock of the
kernel's packet timestamps, so the calls fall between the packets they
caused. Ctrl-C (or SIGTERM in the command line) stops every command and
keeps the packets captured so far.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from visualizer import __version__
from visualizer.core.capture.child import CaptureProcess
from visualizer.core.decode.headers import decode
from visualizer.core.errors import BadInput, VisualizerError
from visualizer.core.output import OutputFailed, check_output
from visualizer.core.pcap.recording import RecordingInfo
from visualizer.core.program.commands import STOP_GRACE, ProgramCommand
from visualizer.core.record import (
    STAGE_CAPTURE,
    STAGE_RUN,
    STAGE_WRITE,
    RecordingInterrupted,
    _check_cancel,
    _finish,
    _new_spool,
    _settle,
)
from visualizer.core.traffic.calls import SocketCall

POLL_SECONDS = 0.02
STRACE_PACKAGE = "strace"


class ProgramFailed(VisualizerError):
    """A command could not run, exited before it listened, or never listened."""

    exit_code = 1


@dataclass(frozen=True)
class ProgramResult:
    path: str
    packets: int
    calls: list[SocketCall]
    info: RecordingInfo
    problems: list[str]      # one line per command that failed or timed out


def record_program(server: str | None, runs: Sequence[str], output: str, *,
                   bpf: str | None = None, timeout: float = 30.0, trace: bool = True,
                   use_shell: bool = False, cwd: str | None = None, interface: str = "lo",
                   on_stage: Callable[[str], None] | None = None,
                   cancel: threading.Event | None = None) -> ProgramResult:
    """Record ``server`` (may be None) and each of ``runs`` with capture on.

    Raises BadInput for bad arguments or a missing strace, ProgramFailed when
    the server cannot start or never listens within ``timeout`` seconds (no
    file is written), RecordingInterrupted on Ctrl-C (the packets are
    written) and RecordingCancelled when ``cancel`` is set. A client that
    fails or runs longer than ``timeout`` is stopped; the recording is still
    written and ``result.problems`` says what happened.
    """
    if server is None and not runs:
        raise BadInput("give a --server command, one or more --run commands, or both")
    if not timeout > 0:
        raise BadInput(f"--timeout must be a positive number of seconds, not {timeout}")
    if cwd is not None and not os.path.isdir(cwd):
        raise BadInput(f"the working directory {cwd} is not a folder")
    if trace and shutil.which("strace") is None:
        raise BadInput(f"strace is not installed: install the {STRACE_PACKAGE} package "
                       f"(apt-get install {STRACE_PACKAGE}), or record packets only with "
                       "--no-trace")
    check_output(output)
    workdir = Path(tempfile.mkdtemp(prefix="visualizer-program-"))
    spool = ""
    keep_spool = False
    try:
        sides = ([("server", server)] if server is not None else []) + [
            ("client" if len(runs) == 1 else f"client {k}", text)
            for k, text in enumerate(runs, start=1)]
        commands = [ProgramCommand(text, side, workdir, cwd=cwd, trace=trace,
                                   use_shell=use_shell) for side, text in sides]
        spool = _new_spool()
        _stage(on_stage, cancel, STAGE_CAPTURE)
        capture = CaptureProcess(interface=interface, bpf=bpf or None, output=spool)
        interrupted = False
        problems: list[str] = []
        ports: set[int] = set()
        try:
            capture.start()
            _stage(on_stage, cancel, STAGE_RUN)
            try:
                ports |= _run_all(commands, server is not None, timeout, cancel, problems)
                _settle([spool], cancel)
                _check_cancel(cancel)
            except KeyboardInterrupt:
                interrupted = True
            finally:
                _stop_all(commands)
            stats = capture.stop()
        finally:
            capture.kill()
        _stage(on_stage, cancel, STAGE_WRITE)
        calls = sorted((call for command in commands for call in command.reader.calls()),
                       key=lambda c: c.start_ns)
        ports |= _ports_of(calls)
        keep = None if bpf or (not trace and not ports) else _on_ports(ports)
        info = RecordingInfo(
            calls=[call.to_dict() for call in calls],
            capture={"interface": interface, "filter": bpf or "",
                     "ports": sorted(ports) if keep is not None else [],
                     "received": stats.received, "dropped": stats.dropped,
                     "interrupted": interrupted, "traced": trace},
            app_version=__version__,
            programs=[{"side": c.side, "command": c.text, "exit_code": c.exit_code,
                       "cwd": cwd or ""} for c in commands if c.proc is not None])
        try:
            packets = _finish([spool], [interface], output, "pcapng", info, None, [],
                              keep=keep)
        except KeyboardInterrupt:
            keep_spool = True
            raise RecordingInterrupted(f"interrupted while writing {output}: the packets "
                                       f"captured are kept in {spool}") from None
        except OutputFailed as err:
            keep_spool = True
            raise OutputFailed(f"{err}; the packets captured are kept in {spool}") from None
        if interrupted:
            raise RecordingInterrupted(
                f"interrupted: the {packets} packets captured so far are in {output}")
        return ProgramResult(output, packets, calls, info, problems)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if spool and not keep_spool and os.path.exists(spool):
            os.unlink(spool)


def _stop_all(commands: Sequence[ProgramCommand]) -> None:
    """Stop every command, the server last; a Ctrl-C meanwhile skips the grace
    period but still stops them all, then is raised."""
    interrupted = False
    for command in reversed(commands):
        try:
            command.stop(0.0 if interrupted else STOP_GRACE)
        except KeyboardInterrupt:
            interrupted = True
            command.stop(0.0)
    if interrupted:
        raise KeyboardInterrupt


def _stage(on_stage: Callable[[str], None] | None, cancel: threading.Event | None,
           name: str) -> None:
    _check_cancel(cancel)
    if on_stage is not None:
        on_stage(name)


def _run_all(commands: Sequence[ProgramCommand], has_server: bool, timeout: float,
             cancel: threading.Event | None, problems: list[str]) -> set[int]:
    """Start the server and wait until it listens, then run each client to its end.
    Returns the ports the server bound, as /proc showed them (for --no-trace)."""
    server = commands[0] if has_server else None
    ports: set[int] = set()
    if server is not None:
        server.start()
        deadline = time.monotonic() + timeout
        while not server.listening():
            if server.exit_code is not None:
                server.pump()
                raise ProgramFailed(server.failure("exited before it listened"))
            if time.monotonic() > deadline:
                server.stop()
                raise ProgramFailed(server.failure(f"did not listen within {timeout:g} s"))
            _check_cancel(cancel)
            time.sleep(POLL_SECONDS)
        ports |= server.bound_ports()
    for client in commands[1 if server else 0:]:
        client.start()
        deadline = time.monotonic() + timeout
        while client.exit_code is None:
            for command in commands:
                command.pump()
            if time.monotonic() > deadline:
                client.stop()
                problems.append(client.failure(f"ran longer than {timeout:g} s and was "
                                               "stopped"))
                break
            _check_cancel(cancel)
            if server is not None and server.exit_code is not None:
                problems.append(server.failure("ended while a client ran"))
                server = None
            time.sleep(POLL_SECONDS)
        else:
            client.pump()
            if client.exit_code:
                problems.append(client.failure("failed"))
    if server is not None and not server.trace:
        ports |= server.bound_ports()
    return ports


def _ports_of(calls: Iterable[SocketCall]) -> set[int]:
    """The ports of the sockets in ``calls``, local and remote (0 left out)."""
    ports: set[int] = set()
    for call in calls:
        for address in (call.local, call.remote):
            port = address.rpartition(":")[2]
            if port.isdigit() and int(port):
                ports.add(int(port))
    return ports


def _on_ports(ports: set[int]) -> Callable[[int, bytes], bool]:
    """Keeps the TCP and UDP frames from or to one of ``ports``."""
    def keep(linktype: int, frame: bytes) -> bool:
        packet = decode(linktype, frame, 0, len(frame))
        return packet.sport in ports or packet.dport in ports
    return keep

