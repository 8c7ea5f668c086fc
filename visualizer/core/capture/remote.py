"""Remote capture over ssh: another host's tcpdump, read here as a local capture.

``visualizer capture --remote USER@HOST`` runs this in place of the local
capture loop, with the same contract (DESIGN.md: Capture): a pcap stream
to ``output``, whole records only, and status as JSON lines (``ready``,
``stats``, ``stopped``, ``error``) on ``status``. So the GUI starts it as it
starts a local capture process and follows the spool with the same reader.

The system's ``ssh`` client logs in with the user's keys and ssh config, in
batch mode (it never asks for a password or a host key), and runs a short
POSIX shell script there (``remote_script``):

- ``tcpdump -U -w -`` (or ``dumpcap -P -w -``), each packet flushed as it
  arrives; the traffic of this very ssh session is left out (from
  ``$SSH_CONNECTION``, as Wireshark's sshdump does), or each packet sent
  would be captured and sent again;
- a watcher that stops the capturer when ssh's standard input ends, which is
  how a capture is stopped here: closing that pipe ends the remote capture
  cleanly and its last packets still arrive. Killing ssh (or losing the
  connection) ends it too: sshd closes the session's input.

The failures name their cause in one line: host unreachable, host key not
known, authentication failed (exit 2, 3), no tcpdump there (2), not permitted
there (3), no such interface or a bad filter there (2).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shlex
import struct
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import IO, BinaryIO, TextIO

from visualizer.core.capture.loop import (
    POLL_MS,
    STATS_EVERY_S,
    CaptureStats,
    _Status,
    _stop_on_signals,
    _StopRequest,
    _write_all,
)
from visualizer.core.errors import BadInput, CaptureFailed, CaptureNotPermitted, VisualizerError
from visualizer.core.output import GrowingOutput, check_output
from visualizer.core.pcap import format as fmt

__all__ = ["RemoteTarget", "check_destination", "remote_script", "run_remote_capture",
           "ssh_command"]

CONNECT_TIMEOUT_S = 10     # ssh's ConnectTimeout: an unreachable host fails in this time
READY_TIMEOUT_S = 30.0     # login plus the capturer's start
STOP_GRACE_S = 5.0         # after closing ssh's input, before it is terminated
NO_CAPTURER = "visualizer-remote: neither tcpdump nor dumpcap"
_READ_BYTES = 1 << 16

# ssh's own messages (its exit status is 255 for all of them).
_UNREACHABLE = re.compile(r"Could not resolve hostname|connect to host|Connection refused|"
                          r"timed out|No route to host|Network is unreachable|"
                          r"Connection closed by|Connection reset|kex_exchange_identification",
                          re.IGNORECASE)
_HOST_KEY = re.compile(r"Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED",
                       re.IGNORECASE)
_AUTH = re.compile(r"Permission denied \(|Too many authentication failures", re.IGNORECASE)
# The capturer's messages there.
_NOT_PERMITTED = re.compile(r"permission|Operation not permitted", re.IGNORECASE)
_NO_DEVICE = re.compile(r"No such device|doesn't exist|no such interface", re.IGNORECASE)
_BAD_FILTER = re.compile(r"parse filter|syntax error|filter expression", re.IGNORECASE)


@dataclass(frozen=True)
class RemoteTarget:
    """Where a remote capture runs: ssh's destination, the interface there
    (None: tcpdump's default) and an ssh config file (None: the user's own)."""

    destination: str
    interface: str | None = None
    ssh_config: str | None = None

    def arguments(self) -> list[str]:
        """The ``visualizer capture`` options that name this target."""
        return ["--remote", check_destination(self.destination),
                *(["-i", self.interface] if self.interface else []),
                *(["--ssh-config", self.ssh_config] if self.ssh_config else [])]

    def label(self) -> str:
        """``root@lab1: eth0`` for the interface chooser."""
        return f"{self.destination}: {self.interface or 'default interface'}"


def check_destination(destination: str) -> str:
    """``destination`` if ssh can take it as USER@HOST, HOST or ssh://USER@HOST:PORT."""
    if not destination or destination.startswith("-") or any(c.isspace() for c in destination):
        raise BadInput(f"--remote {destination!r}: give USER@HOST (or ssh://USER@HOST:PORT)")
    return destination


def remote_script(interface: str | None, bpf: str | None) -> str:
    """The POSIX shell script run on the remote host (module docstring)."""
    iface = ["-i", interface] if interface else []
    tcpdump = shlex.join(["tcpdump", "-U", "-n", "-s", "0", "-w", "-", *iface])
    dumpcap = shlex.join(["dumpcap", "-q", "-P", "-s", "0", "-w", "-", *iface])
    user = f"({bpf}) and " if bpf else ""
    quiet = "</dev/null 3<&-"   # the capturer neither reads nor holds ssh's input
    return "\n".join([
        'PATH="$PATH:/usr/sbin:/sbin"; export PATH',
        "own=",
        'if [ -n "$SSH_CONNECTION" ]; then set -- $SSH_CONNECTION;'
        ' own="not (tcp and host $1 and port $2 and host $3 and port $4)"; fi',
        f'filter={shlex.quote(user)}"$own"',
        f'if [ -z "$own" ]; then filter={shlex.quote(bpf or "")}; fi',
        "exec 3<&0",
        f'if command -v tcpdump >/dev/null 2>&1; then {tcpdump} -- "$filter" {quiet} &',
        f'elif command -v dumpcap >/dev/null 2>&1; then {dumpcap} -f "$filter" {quiet} &',
        f"else echo {shlex.quote(NO_CAPTURER)} >&2; exit 127; fi",
        "pid=$!",
        "(read -r _ <&3; kill $pid 2>/dev/null) &",
        "watcher=$!",
        "exec 3<&-",
        "wait $pid; status=$?",
        "kill $watcher 2>/dev/null",
        "exit $status",
    ])


def ssh_command(destination: str, script: str, ssh_config: str | None = None) -> list[str]:
    """The ssh client's argument list: batch mode (no prompt), no terminal."""
    options = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}",
               "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
               "-o", "LogLevel=ERROR"]
    config = ["-F", ssh_config] if ssh_config else []
    return ["ssh", "-T", *config, *options, "--", check_destination(destination), script]


class _ErrorLines:
    """ssh's standard error, read in a thread; keeps the last lines."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._run, args=(stream,), name="ssh-stderr",
                                       daemon=True)
        self.thread.start()

    def _run(self, stream: IO[bytes]) -> None:
        with stream:
            for raw in stream:
                line = raw.decode("utf-8", "replace").strip()
                if line:
                    self.lines = [*self.lines[-29:], line]


def classify(destination: str, returncode: int | None, lines: list[str]) -> VisualizerError:
    """The one-line error for a remote capture that failed with ``lines`` on stderr."""
    text = "\n".join(lines)
    last = next((line for line in reversed(lines) if not line.startswith("(")), "")
    host = destination.rpartition("@")[2]
    if NO_CAPTURER in text:
        return BadInput(f"no tcpdump there: {host} has neither tcpdump nor dumpcap in its "
                        "PATH (install tcpdump there)")
    if returncode == 255 and _HOST_KEY.search(text):
        return BadInput(f"the host key of {host} is not known or has changed: log in once "
                        f"with 'ssh {destination}' to check and accept it ({last})")
    if returncode == 255 and _AUTH.search(text):
        return CaptureNotPermitted(f"authentication failed for {destination}: ssh found no "
                                   f"key the host accepts and does not ask for passwords here "
                                   f"(ssh-copy-id {destination} installs yours) ({last})")
    if returncode == 255 and _UNREACHABLE.search(text):
        return BadInput(f"host unreachable: {last.removeprefix('ssh: ')}")
    if _NOT_PERMITTED.search(text):
        return CaptureNotPermitted(f"not permitted there: {last} (capture on {host} needs "
                                   "root or CAP_NET_RAW for tcpdump there)")
    if _NO_DEVICE.search(text) or _BAD_FILTER.search(text):
        return BadInput(f"on {host}: {last}")
    if returncode == 255:
        return BadInput(f"ssh to {destination} failed: {last or 'no message'}")
    detail = f": {last}" if last else ""
    return CaptureFailed(f"the remote capture on {host} ended with status {returncode}{detail}")


class _Stream:
    """A pcap stream from a pipe, cut into whole records."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.header: bytes | None = None
        self.linktype = 0
        self._record: struct.Struct = fmt.PCAP_RECORD_HEADER

    def take_header(self) -> bool:
        """True once the 24-byte file header is in; BadInput if it is no pcap header."""
        if len(self.buffer) < fmt.PCAP_FILE_HEADER_LEN:
            return False
        head = bytes(self.buffer[:fmt.PCAP_FILE_HEADER_LEN])
        for order in "<>":
            (magic,) = struct.unpack(order + "I", head[:4])
            if magic in (fmt.PCAP_MAGIC_USEC, fmt.PCAP_MAGIC_NSEC):
                self._record = struct.Struct(order + "IIII")
                self.linktype = struct.unpack(order + "I", head[20:24])[0] & 0x0FFFFFFF
                break
        else:
            raise CaptureFailed("the remote capturer wrote no pcap stream "
                                f"(it began {head[:8].hex()})")
        self.header = head
        del self.buffer[:fmt.PCAP_FILE_HEADER_LEN]
        return True

    def whole_records(self, limit: int | None) -> tuple[bytes, int]:
        """The complete records at the start of the buffer (at most ``limit``),
        taken out of it: their bytes and how many there are."""
        end = count = 0
        size = self._record.size
        while limit is None or count < limit:
            if len(self.buffer) - end < size:
                break
            caplen = self._record.unpack_from(self.buffer, end)[2]
            if caplen > fmt.PCAP_SNAPLEN * 4:
                raise CaptureFailed(f"the remote pcap stream is damaged (a record of "
                                    f"{caplen} bytes)")
            if len(self.buffer) - end < size + caplen:
                break
            end += size + caplen
            count += 1
        data = bytes(self.buffer[:end])
        del self.buffer[:end]
        return data, count


def run_remote_capture(*, destination: str, interface: str | None, bpf: str | None,
                       output: str, count: int | None, duration: float | None,
                       status: TextIO, ssh_config: str | None = None) -> CaptureStats:
    """Captures on ``destination``'s ``interface`` into ``output`` ("-": stdout).

    Stops on SIGTERM or SIGINT (in the main thread), after ``count`` packets,
    after ``duration`` seconds, or when the remote capture ends; ssh has
    ended when this returns or raises. Raises BadInput, CaptureNotPermitted
    or CaptureFailed, each after an ``error`` event on ``status``.
    """
    reporter = _Status(status)
    try:
        return _run(destination, interface, bpf, output, count, duration, reporter,
                    ssh_config)
    except VisualizerError as err:
        reporter.emit("error", message=str(err), exit_code=err.exit_code)
        raise


def _run(destination: str, interface: str | None, bpf: str | None, output: str,
         count: int | None, duration: float | None, status: _Status,
         ssh_config: str | None) -> CaptureStats:
    command = ssh_command(destination, remote_script(interface, bpf), ssh_config)
    check_output(output)   # a path that cannot be written fails before ssh runs
    stop = _StopRequest()
    with _stop_on_signals(stop):
        try:
            ssh = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, start_new_session=True)
        except FileNotFoundError:
            raise CaptureFailed("remote capture needs the ssh client: apt install "
                                "openssh-client") from None
        assert ssh.stdout is not None and ssh.stderr is not None
        errors = _ErrorLines(ssh.stderr)
        try:
            return _capture(ssh, errors, destination, interface, bpf, output, count,
                            duration, status, stop)
        finally:
            _end(ssh)
            errors.thread.join(2.0)


def _capture(ssh: subprocess.Popen[bytes], errors: _ErrorLines, destination: str,
             interface: str | None, bpf: str | None, output: str, count: int | None,
             duration: float | None, status: _Status, stop: _StopRequest) -> CaptureStats:
    assert ssh.stdout is not None
    fd = ssh.stdout.fileno()
    stream = _Stream()
    started = time.monotonic()
    while stream.header is None:       # the header: logged in, capturer ready
        if stop.signum is not None:
            raise KeyboardInterrupt
        if time.monotonic() - started > READY_TIMEOUT_S:
            raise CaptureFailed(f"the remote capture on {destination} did not start within "
                                f"{READY_TIMEOUT_S:g} s")
        if not _read(fd, stream, POLL_MS / 1000):
            returncode = ssh.wait()
            errors.thread.join(2.0)
            raise classify(destination, returncode, errors.lines)
        stream.take_header()
    output_file = GrowingOutput(output)
    received, reason = 0, "closed"
    try:
        out = output_file.file
        _write_all(out, stream.header)
        output_file.publish()
        status.emit("ready", interface=interface or "(default)", linktype=stream.linktype,
                    filter=bpf, remote=destination)
        deadline = time.monotonic() + duration if duration is not None else None
        next_stats = time.monotonic() + STATS_EVERY_S
        open_ = True
        while True:
            data, n = stream.whole_records(None if count is None else count - received)
            if n:
                _write_all(out, data)
                received += n
            now = time.monotonic()
            if count is not None and received >= count:
                reason = "count"
                break
            if stop.signum is not None:
                reason = "signal"
                break
            if deadline is not None and now >= deadline:
                reason = "duration"
                break
            if not open_:
                reason = "closed"
                break
            if now >= next_stats:
                status.emit("stats", received=received, dropped=0)
                next_stats = now + STATS_EVERY_S
                if status.closed:
                    break
            wait = POLL_MS / 1000 if deadline is None else max(0.0, min(POLL_MS / 1000,
                                                                         deadline - now))
            open_ = _read(fd, stream, wait)
        if reason in ("signal", "duration"):   # the packets already on their way
            received += _finish(ssh, fd, stream, out)
        elif reason == "closed":
            returncode = ssh.wait()
            errors.thread.join(2.0)
            if returncode not in (0, 143, -15):
                raise classify(destination, returncode, errors.lines)
    except BrokenPipeError:
        reason = "closed"
    except OSError as err:
        raise CaptureFailed(f"remote capture from {destination} failed: "
                            f"{err.strerror or err}") from None
    finally:
        output_file.close()
    stats = CaptureStats(received=received, dropped=0, reason=reason)
    status.emit("stopped", received=received, dropped=0, reason=reason)
    return stats


def _read(fd: int, stream: _Stream, timeout: float) -> bool:
    """Append what ssh sent within ``timeout``; False at the end of its output."""
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return True
    try:
        data = os.read(fd, _READ_BYTES)
    except InterruptedError:
        return True
    stream.buffer += data
    return bool(data)


def _finish(ssh: subprocess.Popen[bytes], fd: int, stream: _Stream, out: BinaryIO) -> int:
    """Stop the remote capturer (its input ends) and write what it still sends."""
    if ssh.stdin is not None:
        with contextlib.suppress(OSError):
            ssh.stdin.close()
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline and _read(fd, stream, 0.1):
        pass
    data, n = stream.whole_records(None)
    _write_all(out, data)
    return n


def _end(ssh: subprocess.Popen[bytes]) -> None:
    """ssh is gone when this returns: input closed, then SIGTERM, then SIGKILL."""
    if ssh.stdin is not None:
        with contextlib.suppress(OSError):
            ssh.stdin.close()
    try:
        ssh.wait(STOP_GRACE_S if ssh.poll() is None else 0)
    except subprocess.TimeoutExpired:
        ssh.terminate()
        try:
            ssh.wait(2.0)
        except subprocess.TimeoutExpired:
            ssh.kill()
            ssh.wait()
    if ssh.stdout is not None:
        ssh.stdout.close()
