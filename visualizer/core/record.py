"""Recording a scenario: capture process + client/server pair + recording file.

The order is what makes a recording complete:

1. parse the parameters and bind the scenario's server (nothing is sent),
2. start the capture process filtered to the server's port and wait until
   its socket is open and filtered (its ready line),
3. run both sides,
4. wait until the capture has been quiet for a moment, so the kernel's last
   ACK of the close is in, then stop the capture,
5. write the recording: the packets plus parameters and socket calls.

The capture writes to a spool file in the user's private spool folder
(never a shared one: the capture process creates it by name); the output
appears only when complete, and a failed scenario still leaves its packets.
When writing the output fails or is interrupted, the spool is kept and the
error says where.

A caller in another thread (the GUI's runner) can follow the stages with
``on_stage`` and stop a recording with ``cancel``: the capture is stopped
cleanly, nothing is written, and ``RecordingCancelled`` is raised.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from visualizer import __version__
from visualizer.core.capture.child import CaptureProcess
from visualizer.core.capture.loop import CaptureStats
from visualizer.core.capture.spool import new_spool_path
from visualizer.core.errors import BadInput, VisualizerError
from visualizer.core.output import OutputFailed, check_output, written
from visualizer.core.pcap.format import PCAP_FILE_HEADER_LEN
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.pcap.recording import RecordingInfo
from visualizer.core.pcap.writer import PcapngWriter
from visualizer.core.traffic import PreparedRun, RunResult, get_scenario, parse_params


class RecordingInterrupted(VisualizerError):
    """Ctrl-C during a recording; the packets captured so far were written."""

    exit_code = 130


class RecordingCancelled(VisualizerError):
    """The caller cancelled the recording; no file was written."""

    exit_code = 130


# The stages ``on_stage`` reports, in order.
STAGE_CAPTURE = "capture"   # starting the capture process, waiting until it is ready
STAGE_RUN = "run"           # the client and the server run, then the capture settles
STAGE_WRITE = "write"       # writing the recording file

QUIET_SECONDS = 0.2   # no new packet for this long: the exchange is over
MAX_SETTLE_SECONDS = 3.0


@dataclass(frozen=True)
class RecordResult:
    path: str
    packets: int
    stats: CaptureStats
    run: RunResult
    info: RecordingInfo


def record(scenario: str, param_pairs: Sequence[str], output: str, *, fmt: str = "pcapng",
           interface: str = "lo", timeout: float = 30.0,
           on_ready: Callable[[], None] | None = None,
           on_stage: Callable[[str], None] | None = None,
           cancel: threading.Event | None = None) -> RecordResult:
    """Run ``scenario`` with capture on and write the recording to ``output``.

    Raises BadInput for a bad scenario, parameter, port or output path,
    CaptureNotPermitted without CAP_NET_RAW. If the scenario itself fails,
    the recording is still written and ``result.run.error`` says why.

    ``on_stage`` is called with each ``STAGE_*`` as it begins. Setting
    ``cancel`` (from any thread) ends the recording at the next check:
    before and after the capture starts, during the run (the sides are
    aborted), during the settle wait and before writing; then the capture
    stops, no output is left and ``RecordingCancelled`` is raised.
    """
    if fmt not in ("pcap", "pcapng"):
        raise BadInput(f"unknown recording format {fmt!r}: choose pcapng or pcap")
    cls = get_scenario(scenario)
    params = parse_params(cls, param_pairs)
    check_output(output)  # a directory, a disk or "" is refused before anything runs
    spool = ""    # made once the scenario is prepared (its privileges checked first)
    keep = False  # keep the spool: the output could not be written

    def stage(name: str) -> None:
        _check_cancel(cancel)
        if on_stage is not None:
            on_stage(name)

    try:
        with cls(params).prepare() as prepared:
            spool = _new_spool()  # the capture process creates the file when ready
            stage(STAGE_CAPTURE)
            # A scenario in a private network namespace is captured on that
            # namespace's interface (tcp-lossy: its lo, where the loss happens).
            with CaptureProcess(interface=interface, bpf=prepared.bpf_filter,
                                output=spool, netns=prepared.netns) as capture:
                # Entering started the capture and waited for its ready signal.
                _check_cancel(cancel)
                if on_ready is not None:
                    on_ready()
                stage(STAGE_RUN)
                run: RunResult | None = None
                try:
                    run = _run(prepared, timeout, cancel)
                    _check_cancel(cancel)
                    _settle(spool, cancel)
                    _check_cancel(cancel)
                except KeyboardInterrupt:
                    interrupted = True  # keep what was captured: finish the file below
                else:
                    interrupted = False
                stats = capture.stop()
        stage(STAGE_WRITE)
        info = RecordingInfo(
            scenario=cls.name, params=dict(run.params if run else params),
            calls=[call.to_dict() for call in run.calls] if run else [],
            capture={"interface": interface, "filter": prepared.bpf_filter,
                     "received": stats.received, "dropped": stats.dropped,
                     "interrupted": interrupted},
            app_version=__version__)
        try:
            packets = _finish(spool, output, fmt, info, interface)
        except KeyboardInterrupt:
            keep = True  # the packets are safe in the spool: say where
            raise RecordingInterrupted(f"interrupted while writing {output}: the packets "
                                       f"captured are kept in {spool}") from None
        except OutputFailed as err:
            keep = True
            raise OutputFailed(f"{err}; the packets captured are kept in {spool}") from None
        if interrupted or run is None:
            raise RecordingInterrupted(
                f"interrupted: the {packets} packets captured so far are in {output}")
    except KeyboardInterrupt:
        # A second Ctrl-C while the first one's capture was being stopped.
        keep = _has_packets(spool)
        if keep:
            raise RecordingInterrupted(
                f"interrupted: the packets captured so far are kept in {spool}") from None
        raise
    finally:
        if not keep and spool and os.path.exists(spool):
            os.unlink(spool)
    return RecordResult(output, packets, stats, run, info)


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise RecordingCancelled("the recording was cancelled; nothing was written")


def _run(prepared: PreparedRun, timeout: float, cancel: threading.Event | None) -> RunResult:
    """``prepared.run(timeout)``, aborted early (as a failing side would abort
    it) when ``cancel`` is set."""
    if cancel is None:
        return prepared.run(timeout=timeout)
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.05):
            if cancel.is_set():
                # PreparedRun has no public abort yet; this is what a failing side does.
                prepared.abort()
                return

    watcher = threading.Thread(target=watch, name="record-cancel", daemon=True)
    watcher.start()
    try:
        return prepared.run(timeout=timeout)
    finally:
        done.set()
        watcher.join()


def _settle(spool: str, cancel: threading.Event | None = None) -> None:
    """Wait until the spool file has not grown for QUIET_SECONDS (or ``cancel``)."""
    deadline = time.monotonic() + MAX_SETTLE_SECONDS
    last_size, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        if cancel is not None and cancel.is_set():
            return
        try:
            size = os.path.getsize(spool)
        except OSError:
            size = -1
        now = time.monotonic()
        if size != last_size:
            last_size, last_change = size, now
        elif now - last_change >= QUIET_SECONDS:
            return
        time.sleep(0.02)


def _new_spool() -> str:
    try:
        return str(new_spool_path("record"))
    except OSError as err:
        raise BadInput(f"cannot make the spool folder {err.filename}: {err.strerror} "
                       "(set XDG_DATA_HOME to a folder of yours)") from None


def _has_packets(spool: str) -> bool:
    try:
        return os.path.getsize(spool) > PCAP_FILE_HEADER_LEN
    except OSError:
        return False


def _finish(spool: str, output: str, fmt: str, info: RecordingInfo, interface: str) -> int:
    """Write the spool's packets to ``output``; returns the packet count."""
    try:
        capture = CaptureFile.open(spool)
    except BadInput as err:
        raise VisualizerError(f"the capture produced no readable file: {err}") from None
    with capture, written(output, prefix=".record-") as out:
        frames = list(capture.frames())
        if fmt == "pcap":
            with open(spool, "rb") as source:
                shutil.copyfileobj(source, out)
            return len(frames)
        linktype = capture.interfaces[0].linktype
        writer = PcapngWriter(out, [(linktype, interface)], comment=info.summary(),
                              custom=info.to_payload())
        for rec in frames:
            writer.write(rec.ts_ns, capture.frame_bytes(rec), rec.origlen)
    return len(frames)
