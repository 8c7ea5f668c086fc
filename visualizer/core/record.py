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

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from visualizer import __version__
from visualizer.core.capture.child import CaptureProcess
from visualizer.core.capture.loop import CaptureStats
from visualizer.core.capture.spool import new_spool_path
from visualizer.core.errors import BadInput, CaptureFailed, VisualizerError
from visualizer.core.output import OutputFailed, check_output, written
from visualizer.core.path.fates import END_NAMES, match
from visualizer.core.path.link import PathParams, parse_path, split_path_pairs, with_defaults
from visualizer.core.path.network import PathFailed, PathNetwork
from visualizer.core.path.tcpinfo import TcpInfoSample, TcpInfoSampler
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
    scenario_pairs, path_pairs = split_path_pairs(param_pairs, (p.name for p in cls.params))
    params = parse_params(cls, scenario_pairs)
    path = parse_path(with_defaults(path_pairs, cls.path_defaults))
    if path is not None and fmt == "pcap":
        raise BadInput("a recording on a path has two ends (two interfaces): it needs pcapng")
    check_output(output)  # a directory, a disk or "" is refused before anything runs
    failure: PathFailed | None = None   # the path's forwarder died during the run
    spools: list[str] = []   # made once the scenario is prepared (its privileges checked first)
    keep = False  # keep the spools: the output could not be written

    def stage(name: str) -> None:
        _check_cancel(cancel)
        if on_stage is not None:
            on_stage(name)

    try:
        with contextlib.ExitStack() as stack:
            network = stack.enter_context(PathNetwork(path)) if path is not None else None
            prepared = stack.enter_context(cls(params).prepare(network))
            # Where to capture: both ends of a path, else the one interface.
            ends = ([(network.interface, network.namespace_of(side).name, side)
                     for side in END_NAMES] if network is not None
                    else [(interface, None, interface)])
            spools.extend(_new_spool() for _ in ends)
            stage(STAGE_CAPTURE)
            captures = []
            for (iface, netns, _name), spool in zip(ends, spools, strict=True):
                capture = CaptureProcess(interface=iface, bpf=prepared.bpf_filter,
                                         output=spool, netns=netns)
                stack.callback(capture.kill)   # on every way out; stop() comes first below
                capture.start()                # returns once its socket is ready
                captures.append(capture)
            _check_cancel(cancel)
            if on_ready is not None:
                on_ready()
            stage(STAGE_RUN)
            run: RunResult | None = None
            sampler = TcpInfoSampler(prepared.open_sockets).start() if network else None
            if sampler is not None:
                stack.callback(sampler.stop)   # on every way out (it may stop twice)
            try:
                run = _run(prepared, timeout, cancel, network)
                _check_cancel(cancel)
                _settle(spools, cancel)
                _check_cancel(cancel)
            except KeyboardInterrupt:
                interrupted = True  # keep what was captured: finish the file below
            except PathFailed as err:
                interrupted, failure = True, err  # the same: the packets so far are kept
            else:
                interrupted = False
            if network is not None and failure is None:
                try:   # the sides may have failed first, on the vanished devices
                    network.check()
                except PathFailed as err:
                    failure = err
            samples = sampler.stop() if sampler is not None else []
            stats = _combined([_stop(capture, failure) for capture in captures])
            log = network.stop() if network is not None else []
        stage(STAGE_WRITE)
        info = RecordingInfo(
            scenario=cls.name, params=dict(run.params if run else params),
            calls=[call.to_dict() for call in run.calls] if run else [],
            capture={"interface": ends[0][0],
                     "filter": prepared.bpf_filter,
                     "received": stats.received, "dropped": stats.dropped,
                     "interrupted": interrupted},
            app_version=__version__)
        names = [f"{name} end ({iface})" if network else name for iface, _ns, name in ends]
        try:
            packets = _finish(spools, names, output, fmt, info, path, log, samples)
        except KeyboardInterrupt:
            keep = True  # the packets are safe in the spools: say where
            raise RecordingInterrupted(f"interrupted while writing {output}: the packets "
                                       f"captured are kept in {', '.join(spools)}") from None
        except OutputFailed as err:
            keep = True
            raise OutputFailed(f"{err}; the packets captured are kept in "
                               f"{', '.join(spools)}") from None
        if failure is not None:
            raise PathFailed(f"{failure}: the {packets} packets captured so far are in "
                             f"{output}")
        if interrupted or run is None:
            raise RecordingInterrupted(
                f"interrupted: the {packets} packets captured so far are in {output}")
    except KeyboardInterrupt:
        # A second Ctrl-C while the first one's capture was being stopped.
        keep = any(_has_packets(spool) for spool in spools)
        if keep:
            raise RecordingInterrupted(f"interrupted: the packets captured so far are kept "
                                       f"in {', '.join(spools)}") from None
        raise
    finally:
        for spool in spools:
            if not keep and os.path.exists(spool):
                os.unlink(spool)
    return RecordResult(output, packets, stats, run, info)


def _stop(capture: CaptureProcess, failure: PathFailed | None) -> CaptureStats:
    """``capture.stop()``; when the path's forwarder died, its TUN devices went with
    it and the captures on them ended with an error, but their spools hold every
    packet they saw: keep them."""
    try:
        return capture.stop()
    except CaptureFailed:
        if failure is None:
            raise
        return CaptureStats(received=0, dropped=0, reason="the path went away")


def _combined(stats: Sequence[CaptureStats]) -> CaptureStats:
    """One capture's stats, or the sum of both ends'."""
    if len(stats) == 1:
        return stats[0]
    return CaptureStats(received=sum(s.received for s in stats),
                        dropped=sum(s.dropped for s in stats), reason=stats[0].reason)


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise RecordingCancelled("the recording was cancelled; nothing was written")


def _run(prepared: PreparedRun, timeout: float, cancel: threading.Event | None,
         network: PathNetwork | None = None) -> RunResult:
    """``prepared.run(timeout)``, aborted early (as a failing side would abort
    it) when ``cancel`` is set or the path's forwarder dies; the forwarder's
    death is then raised as PathFailed, after the run has stopped."""
    if cancel is None and network is None:
        return prepared.run(timeout=timeout)
    done = threading.Event()
    died: list[PathFailed] = []

    def watch() -> None:
        while not done.wait(0.05):
            if cancel is not None and cancel.is_set():
                prepared.abort()
                return
            if network is not None:
                try:
                    network.check()
                except PathFailed as err:
                    died.append(err)
                    prepared.abort()
                    return

    watcher = threading.Thread(target=watch, name="record-watch", daemon=True)
    watcher.start()
    try:
        result = prepared.run(timeout=timeout)
    finally:
        done.set()
        watcher.join()
    if died:
        raise died[0]
    return result


def _settle(spools: Sequence[str], cancel: threading.Event | None = None) -> None:
    """Wait until no spool has grown for QUIET_SECONDS (or ``cancel``)."""
    deadline = time.monotonic() + MAX_SETTLE_SECONDS
    last_size, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        if cancel is not None and cancel.is_set():
            return
        size = 0
        for spool in spools:
            try:
                size += os.path.getsize(spool)
            except OSError:
                size -= 1
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


def _finish(spools: Sequence[str], names: Sequence[str], output: str, fmt: str,
            info: RecordingInfo, path: PathParams | None, log: Sequence[dict[str, Any]],
            samples: Sequence[TcpInfoSample] = (),
            keep: Callable[[int, bytes], bool] | None = None) -> int:
    """Write the spools' packets to ``output``, one interface per spool, in time
    order; on a path, with the match of the two ends in ``info.path``; only
    the frames for which ``keep(linktype, frame)`` holds when given. Returns
    the packet count."""
    with contextlib.ExitStack() as stack:
        captures = []
        for spool in spools:
            try:
                captures.append(stack.enter_context(CaptureFile.open(spool)))
            except BadInput as err:
                raise VisualizerError(f"the capture produced no readable file: {err}"
                                      ) from None
        frames = sorted(((rec.ts_ns, end, n, rec) for end, capture in enumerate(captures)
                         for n, rec in enumerate(capture.frames())), key=lambda f: f[:3])
        data = [captures[end].frame_bytes(rec) for _ts, end, _n, rec in frames]  # read once
        if keep is not None:
            kept = [k for k, (_ts, end, _n, _rec) in enumerate(frames)
                    if keep(captures[end].interfaces[0].linktype, data[k])]
            frames, data = [frames[k] for k in kept], [data[k] for k in kept]
        if path is not None:
            info.path = match([(end, frame) for (_ts, end, _n, _rec), frame
                               in zip(frames, data, strict=True)], log, path).to_dict()
            info.path["tcp_info_fields"] = TcpInfoSample.fields()
            info.path["tcp_info"] = [sample.to_list() for sample in samples]
        with written(output, prefix=".record-") as out:
            if fmt == "pcap":
                with open(spools[0], "rb") as source:
                    shutil.copyfileobj(source, out)
                return len(frames)
            interfaces = [(capture.interfaces[0].linktype, name)
                          for capture, name in zip(captures, names, strict=True)]
            writer = PcapngWriter(out, interfaces, comment=info.summary(),
                                  custom=info.to_payload())
            for (ts, end, _n, rec), frame in zip(frames, data, strict=True):
                writer.write(ts, frame, rec.origlen, interface=end)
    return len(frames)
