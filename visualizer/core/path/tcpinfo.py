"""The kernel's view of the scenario's TCP sockets, sampled during a run.

``TCP_INFO`` says what the sender's kernel believes: its congestion window,
slow-start threshold, smoothed RTT and its variation, the retransmission
timeout, how many segments are unacknowledged, lost, retransmitted or
SACKed, the delivery rate and the congestion-avoidance state. Sampled on
the capture's clock (CLOCK_REALTIME) a few hundred times a second, and kept
only when something changed, it lets the time-sequence graph draw the
window TCP chose next to the packets it sent, and the explanations say why
("cwnd is 10 segments: slow start").

The offsets are those of ``struct tcp_info`` (linux/tcp.h), which only ever
grows at its end, so they hold on every kernel since 4.x.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.pcap.recording import RecordingInfo

SAMPLE_EVERY_S = 0.004
CA_STATES = ("open", "disorder", "cwr", "recovery", "loss")   # tcpi_ca_state

_HEAD = struct.Struct("=BBBBBBBB")                 # state, ca_state, retransmits, ...
_WORDS = struct.Struct("=24I")                     # tcpi_rto (8) ... tcpi_total_retrans (100)
_DELIVERY_RATE = struct.Struct("=Q")               # at 160


class Sampled(Protocol):
    """A socket whose TCP_INFO can be read (a LoggedSocket)."""

    side: str
    local: str
    remote: str

    def tcp_info(self) -> tuple[bytes, str] | None: ...


@dataclass(frozen=True)
class TcpInfoSample:
    """One socket's TCP_INFO at ``ts_ns`` (times in µs, as the kernel gives them)."""

    ts_ns: int
    side: str
    local: str
    remote: str
    algorithm: str
    ca_state: str
    cwnd: int           # segments
    ssthresh: int       # segments; huge (2^31-1) until the first loss
    mss: int            # bytes of a full segment (snd_mss)
    srtt_us: int
    rttvar_us: int
    rto_us: int
    unacked: int
    lost: int
    retrans: int
    sacked: int
    total_retrans: int
    delivery_rate: int  # bytes per second

    def key(self) -> tuple[Any, ...]:
        """What must change for a new sample to be kept."""
        return (self.side, self.local, self.remote, self.ca_state, self.cwnd, self.ssthresh,
                self.srtt_us // 1000, self.rto_us, self.unacked, self.lost, self.retrans,
                self.total_retrans)

    def to_list(self) -> list[Any]:
        return list(asdict(self).values())

    @classmethod
    def fields(cls) -> list[str]:
        return list(cls.__dataclass_fields__)

    @classmethod
    def from_list(cls, values: Iterable[Any]) -> TcpInfoSample:
        return cls(*values)


def parse(raw: bytes, ts_ns: int, side: str, local: str, remote: str,
          algorithm: str) -> TcpInfoSample | None:
    """The sample of a ``TCP_INFO`` buffer; None when it is too short to hold one."""
    if len(raw) < 168:
        return None
    _state, ca_state, *_rest = _HEAD.unpack_from(raw, 0)
    w = _WORDS.unpack_from(raw, 8)
    # w[k] is the word at 8 + 4k: rto 8, snd_mss 16, unacked 24, sacked 28, lost 32,
    # retrans 36, rtt 68, rttvar 72, snd_ssthresh 76, snd_cwnd 80, total_retrans 100
    (rate,) = _DELIVERY_RATE.unpack_from(raw, 160)
    return TcpInfoSample(
        ts_ns, side, local, remote, algorithm,
        CA_STATES[ca_state] if ca_state < len(CA_STATES) else str(ca_state),
        cwnd=w[18], ssthresh=w[17], mss=w[2], srtt_us=w[15], rttvar_us=w[16], rto_us=w[0],
        unacked=w[4], lost=w[6], retrans=w[7], sacked=w[5], total_retrans=w[23],
        delivery_rate=rate)


class TcpInfoSampler:
    """A thread sampling the sockets ``sockets()`` returns until ``stop()``."""

    def __init__(self, sockets: Callable[[], Sequence[Sampled]]) -> None:
        self._sockets = sockets
        self._stop = threading.Event()
        self._last: dict[tuple[str, str, str], tuple[Any, ...]] = {}
        self.samples: list[TcpInfoSample] = []
        self._thread = threading.Thread(target=self._loop, name="tcp-info", daemon=True)

    def start(self) -> TcpInfoSampler:
        self._thread.start()
        return self

    def stop(self) -> list[TcpInfoSample]:
        self._stop.set()
        self._thread.join()
        return self.samples

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self.sample_once()
        self.sample_once()

    def sample_once(self) -> None:
        for sock in self._sockets():
            got = sock.tcp_info()
            if got is None or not sock.remote:
                continue
            raw, algorithm = got
            sample = parse(raw, time.time_ns(), sock.side, sock.local, sock.remote, algorithm)
            if sample is None:
                continue
            ident = (sample.side, sample.local, sample.remote)
            if self._last.get(ident) != sample.key():
                self._last[ident] = sample.key()
                self.samples.append(sample)


_by_capture: dict[int, list[dict[str, Any]]] = {}   # id(capture) -> its samples


def tcp_info_samples(capture: CaptureFile) -> list[dict[str, Any]]:
    """The TCP_INFO samples a path recording keeps, as dicts of
    :class:`TcpInfoSample`'s fields, oldest first (read once per capture)."""
    found = _by_capture.get(id(capture))
    if found is None:
        info = RecordingInfo.from_capture(capture)
        path = info.path if info is not None else {}
        fields = path.get("tcp_info_fields") or []
        found = [dict(zip(fields, row, strict=False)) for row in path.get("tcp_info") or []]
        if len(_by_capture) > 16:
            _by_capture.clear()
        _by_capture[id(capture)] = found
    return found
