"""Running the capture as a child process, as Wireshark runs dumpcap.

Only the child needs CAP_NET_RAW, and the parent's GIL never starves the
capture loop. The child is ``python -m visualizer capture``; it writes the
pcap stream to ``output`` and its status as JSON lines on stderr (see
``visualizer.core.capture.loop``), which a thread here reads.

    with CaptureProcess(interface="lo", bpf="tcp port 8080", output=path) as cap:
        ...  # traffic; the file grows as packets arrive
    print(cap.stats)

The child never outlives its ``CaptureProcess``: leaving the ``with``
block, an exception, garbage collection and interpreter exit all stop it.

With ``netns`` the child runs inside that named network namespace
(``ip netns exec NAME python -m visualizer capture ...``, which execs, so
the child's pid and signals are the capture's own) and captures that
namespace's interfaces. With ``remote`` the child is ``visualizer capture
--remote USER@HOST`` (``visualizer.core.capture.remote``): the same stream
and status lines, from another host's tcpdump over ssh.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import weakref
from types import TracebackType
from typing import IO

from visualizer.core.capture.loop import CaptureStats
from visualizer.core.capture.privileges import capture_python
from visualizer.core.capture.remote import RemoteTarget
from visualizer.core.errors import BadInput, CaptureFailed, CaptureNotPermitted, VisualizerError

__all__ = ["CaptureProcess"]

_ERRORS_BY_EXIT_CODE: dict[int, type[VisualizerError]] = {
    BadInput.exit_code: BadInput,
    CaptureNotPermitted.exit_code: CaptureNotPermitted,
}


class _StatusReader:
    """The child's stderr, read line by line in a thread; holds no reference
    to the CaptureProcess so that garbage collection can still stop the child."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._cond = threading.Condition()
        self.ready: dict[str, object] | None = None
        self.stopped: dict[str, object] | None = None
        self.error: dict[str, object] | None = None
        self.other_lines: list[str] = []
        self.received = 0
        self.dropped = 0
        self.eof = False
        self.thread = threading.Thread(target=self._run, name="capture-status", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for raw in self._stream:
                self._handle(raw.decode("utf-8", "replace").rstrip("\n"))
        finally:
            self._stream.close()
            with self._cond:
                self.eof = True
                self._cond.notify_all()

    def _handle(self, line: str) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        with self._cond:
            if not isinstance(message, dict) or "event" not in message:
                if line.strip():
                    self.other_lines = [*self.other_lines[-19:], line]
                return
            event = message["event"]
            if event in ("stats", "stopped"):
                self.received = int(message.get("received", self.received))
                self.dropped = int(message.get("dropped", self.dropped))
            if event == "ready":
                self.ready = message
            elif event == "stopped":
                self.stopped = message
            elif event == "error":
                self.error = message
            self._cond.notify_all()

    def wait_ready(self, timeout: float) -> bool:
        """True when the child said ready; False at end of stream or time-out."""
        with self._cond:
            self._cond.wait_for(lambda: self.ready is not None or self.eof, timeout)
            return self.ready is not None

    def message(self) -> str | None:
        """The child's own account of a failure, if it gave one."""
        with self._cond:
            if self.error is not None:
                return str(self.error.get("message"))
            for line in reversed(self.other_lines):
                if "Traceback" not in line:
                    return line.removeprefix("visualizer: ")
            return None


def _reap(proc: subprocess.Popen[bytes], timeout: float = 2.0) -> None:
    """Stops ``proc`` however necessary: SIGTERM first (a complete file), then SIGKILL."""
    if proc.poll() is None:
        try:
            proc.terminate()
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


class CaptureProcess:
    """A ``visualizer capture`` child process writing ``output`` (a pcap file,
    or "-" for a pipe readable from :attr:`stdout`)."""

    def __init__(self, *, interface: str = "lo", bpf: str | None = None, output: str,
                 python: str | None = None, netns: str | None = None,
                 remote: RemoteTarget | None = None) -> None:
        self.interface = interface
        self.bpf = bpf
        self.output = output
        self.netns = netns
        # The dedicated capture interpreter when one is set up (least privilege).
        self.command = [python or capture_python(), "-m", "visualizer", "capture",
                        "-i", interface, *(["-f", bpf] if bpf else []), "-o", output]
        if remote is not None:   # ssh runs the capture there: no privilege needed here
            self.command = [sys.executable, "-m", "visualizer", "capture", *remote.arguments(),
                            *(["-f", bpf] if bpf else []), "-o", output]
        if netns is not None:
            self.command = ["ip", "netns", "exec", netns, *self.command]
        self._proc: subprocess.Popen[bytes] | None = None
        self._status: _StatusReader | None = None
        self._finalizer: weakref.finalize[..., CaptureProcess] | None = None
        self._stats: CaptureStats | None = None

    # -- life cycle ---------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Starts the child and returns once its socket is open and filtered and
        the pcap header is written. Raises what the child reported, with its
        message, if it fails first; CaptureFailed on a time-out."""
        if self._proc is not None:
            raise RuntimeError("a CaptureProcess can be started only once")
        try:
            proc = subprocess.Popen(
                self.command, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if self.output == "-" else subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True)  # the terminal's Ctrl-C is the parent's to handle
        except OSError as err:
            raise CaptureFailed(f"cannot start the capture process {self.command[0]!r}: "
                                f"{err.strerror}") from None
        self._proc = proc
        self._finalizer = weakref.finalize(self, _reap, proc)
        assert proc.stderr is not None
        self._status = _StatusReader(proc.stderr)
        try:
            ready = self._status.wait_ready(timeout)
        except BaseException:
            self.kill()
            raise
        if ready:
            return
        if self._status.eof:
            returncode = proc.wait()
            self._status.thread.join()
            raise self._failure(returncode, before_ready=True)
        self.kill()
        raise CaptureFailed(f"the capture process did not become ready within {timeout:g} s"
                            f"{self._detail()}")

    def stop(self, timeout: float = 5.0) -> CaptureStats:
        """Asks the child to stop (SIGTERM), waits, and returns its final counts.

        Raises CaptureFailed if it died abnormally or had to be killed; the
        file keeps every packet written up to that point.
        """
        if self._stats is not None:
            return self._stats
        proc, status = self._proc, self._status
        if proc is None or status is None:
            raise RuntimeError("the capture process was never started")
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            returncode = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise CaptureFailed(f"the capture process did not stop within {timeout:g} s "
                                "of SIGTERM and was killed") from None
        status.thread.join(timeout)
        if returncode != 0 or status.stopped is None:
            raise self._failure(returncode, before_ready=False)
        stopped = status.stopped
        self._stats = CaptureStats(received=int(str(stopped["received"])),
                                   dropped=int(str(stopped["dropped"])),
                                   reason=str(stopped["reason"]))
        return self._stats

    def kill(self) -> None:
        """Ends the child at once (if it still runs) and waits for it."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        if self._status is not None:
            self._status.thread.join(5.0)

    def __enter__(self) -> CaptureProcess:
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc is None:
                self.stop()
                return
            # An exception is on its way: stop cleanly if possible, but never hide it.
            with contextlib.suppress(VisualizerError, RuntimeError):
                self.stop()
        finally:
            self.kill()
            if self._proc is not None and self._proc.stdout is not None:
                self._proc.stdout.close()

    # -- state --------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def received(self) -> int:
        """Packets written so far (as of the child's last report, about 1/s)."""
        return self._status.received if self._status is not None else 0

    @property
    def dropped(self) -> int:
        """Packets the kernel dropped so far (as of the child's last report)."""
        return self._status.dropped if self._status is not None else 0

    @property
    def ready_info(self) -> dict[str, object] | None:
        """The child's ``ready`` event: interface, linktype, filter..."""
        return self._status.ready if self._status is not None else None

    @property
    def stats(self) -> CaptureStats | None:
        """The final counts, once :meth:`stop` has returned."""
        return self._stats

    @property
    def stdout(self) -> IO[bytes] | None:
        """The pcap stream when ``output`` is "-"; read it, or the child blocks.

        It stays readable after :meth:`stop` (for the last records) and is
        closed on leaving the ``with`` block or when this object is collected.
        """
        return self._proc.stdout if self._proc is not None else None

    # -- helpers ------------------------------------------------------------

    def _detail(self) -> str:
        message = self._status.message() if self._status is not None else None
        return f": {message}" if message else ""

    def _failure(self, returncode: int, *, before_ready: bool) -> VisualizerError:
        message = self._status.message() if self._status is not None else None
        if returncode < 0:
            try:
                how = f"was killed by {signal.Signals(-returncode).name}"
            except ValueError:
                how = f"was killed by signal {-returncode}"
            return CaptureFailed(f"the capture process {how}"
                                 + ("" if before_ready else
                                    "; the file keeps the packets written before")
                                 + (f" ({message})" if message else ""))
        error_class = _ERRORS_BY_EXIT_CODE.get(returncode, CaptureFailed)
        if message:
            return error_class(message)
        return error_class(f"the capture process exited with status {returncode}"
                           + (" before it was ready" if before_ready else ""))
