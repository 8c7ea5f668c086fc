"""The emulated link between the client's and the server's namespace: its
parameters and the decision of each packet's fate.

Sans-I/O, like the TCP tracker: :class:`Link` gets a packet's arrival time
and size and returns what happens to it (dropped, and why, or delivered at
which time, possibly corrupted or twice). The forwarder process does the
reading and writing; the decisions can be tested without a device.

The model, per direction (the two directions share nothing but the seed):

- random loss first (``loss`` percent), as a lossy cable before the queue;
- a FIFO queue of ``queue`` packets in front of a bottleneck of ``rate``
  Mbit/s: a packet that finds the queue full is dropped (tail drop);
  otherwise it is transmitted when the packets ahead of it are, taking
  ``size * 8 / rate`` seconds on the wire;
- then the one-way delay, ``rtt / 2`` ms, plus uniform jitter in
  ``±jitter`` ms; packets keep their order unless ``reorder`` holds one back;
- ``corrupt`` percent get one bit flipped (the receiver's checksum fails),
  ``duplicate`` percent arrive twice, ``reorder`` percent are held back by
  a further half of the one-way delay (at least 1 ms), so later ones overtake;
- ``drop`` names packets of the client-to-server direction (1-based, as
  they reach the link) that are lost for certain: a loss plan for lessons.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

from visualizer.core.errors import BadInput

C2S, S2C = 0, 1            # directions: client to server, server to client
DIRECTION_NAMES = ("client → server", "server → client")

# fates, as the forwarder logs them and analyze prints them
DELIVERED, LOST, CORRUPTED, DUPLICATED = "delivered", "lost", "corrupted", "duplicated"
# why a packet was lost
QUEUE_FULL, RANDOM_LOSS, PLANNED = "queue full", "random loss", "loss plan"

REORDER_MIN_NS = 1_000_000


@dataclass(frozen=True)
class PathParams:
    """The link's settings (see the module docstring); the defaults are a clean wire."""

    rtt: float = 0.0        # ms, both directions together
    jitter: float = 0.0     # ms, ± around the one-way delay
    rate: float = 0.0       # Mbit/s; 0 = unlimited
    queue: int = 1000       # packets waiting for the bottleneck, per direction
    loss: float = 0.0       # percent
    corrupt: float = 0.0    # percent
    duplicate: float = 0.0  # percent
    reorder: float = 0.0    # percent
    seed: int = 1
    drop: tuple[int, ...] = field(default=())   # client → server packet numbers

    def to_dict(self) -> dict[str, object]:
        values = asdict(self)
        values["drop"] = list(self.drop)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> PathParams:
        known = {k: v for k, v in values.items() if k in PATH_PARAMS}
        if "drop" in known:
            known["drop"] = tuple(int(n) for n in known["drop"])  # type: ignore[attr-defined]
        return cls(**known)  # type: ignore[arg-type]

    @property
    def one_way_ns(self) -> int:
        return round(self.rtt * 1e6 / 2)

    def summary(self) -> str:
        """``"rtt 40 ms, 10 Mbit/s, queue 20, loss 1 %"``: what differs from a clean wire."""
        parts = [f"rtt {number_text(self.rtt)} ms"]
        if self.jitter:
            parts.append(f"jitter ±{number_text(self.jitter)} ms")
        parts.append(f"{number_text(self.rate)} Mbit/s" if self.rate else "unlimited rate")
        if self.rate:
            parts.append(f"queue {self.queue}")
        for name in ("loss", "corrupt", "duplicate", "reorder"):
            value = getattr(self, name)
            if value:
                parts.append(f"{name} {number_text(value)} %")
        if self.drop:
            parts.append("drop " + ",".join(map(str, self.drop)))
        return ", ".join(parts)


def number_text(value: float) -> str:
    """``40`` for 40.0, ``2.5`` for 2.5: a setting as a user would type it."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"





# name -> (kind, low, high, help); percent and ms values may have decimals
PATH_PARAMS: dict[str, tuple[str, float, float, str]] = {
    "rtt": ("number", 0, 10_000, "round-trip time in ms, split evenly over both directions"),
    "jitter": ("number", 0, 10_000, "± ms of random variation of each packet's delay"),
    "rate": ("number", 0, 10_000, "bottleneck rate in Mbit/s; 0 = unlimited"),
    "queue": ("int", 1, 100_000, "packets that may wait for the bottleneck; more are dropped"),
    "loss": ("number", 0, 100, "percent of packets lost at random"),
    "corrupt": ("number", 0, 100, "percent of packets with one bit flipped (bad checksum)"),
    "duplicate": ("number", 0, 100, "percent of packets delivered twice"),
    "reorder": ("number", 0, 100, "percent of packets held back so that later ones overtake"),
    "seed": ("int", 0, 2**31 - 1, "seed of the link's random choices: same seed, same fates"),
    "drop": ("list", 1, 1_000_000, "client→server packet numbers to lose for certain, e.g. 4,9"),
}


def split_path_pairs(pairs: Iterable[str], own: Iterable[str] = ()
                     ) -> tuple[list[str], list[str]]:
    """(scenario pairs, path pairs) of ``["count=3", "rtt=40"]``; a scenario's
    ``own`` parameter of the same name as a path one (tcp-lossy's ``loss``) wins."""
    own = set(own)
    scenario: list[str] = []
    path: list[str] = []
    for pair in pairs:
        name = pair.partition("=")[0].strip()
        (path if name in PATH_PARAMS and name not in own else scenario).append(pair)
    return scenario, path


def with_defaults(pairs: Iterable[str], defaults: Mapping[str, str]) -> list[str]:
    """``pairs`` with a scenario's path defaults for the parameters they do not set."""
    pairs = list(pairs)
    given = {pair.partition("=")[0].strip() for pair in pairs}
    return [f"{name}={value}" for name, value in defaults.items() if name not in given] + pairs


def parse_path(pairs: Iterable[str]) -> PathParams | None:
    """The path of ``["rtt=40", "rate=10"]``, None for no pair; BadInput in one line."""
    values: dict[str, object] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or name not in PATH_PARAMS:
            raise BadInput(f"path parameter {pair!r}: write NAME=VALUE with NAME one of "
                           f"{', '.join(PATH_PARAMS)}")
        if name in values:
            raise BadInput(f"path parameter {name} is given twice")
        values[name] = _parse_value(name, text)
    if not values:
        return None
    params = PathParams(**values)  # type: ignore[arg-type]
    if params.jitter and params.jitter > params.rtt / 2:
        raise BadInput(f"jitter ±{number_text(params.jitter)} ms is more than the one-way delay "
                       f"({number_text(params.rtt / 2)} ms, half the rtt): a packet cannot arrive "
                       "before it is sent")
    return params


def _parse_value(name: str, text: str) -> object:
    kind, low, high, _help = PATH_PARAMS[name]
    if kind == "list":
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items or not all(t.isascii() and t.isdigit() for t in items):
            raise BadInput(f"{name} must list packet numbers such as 3 or 3,7, not {text!r}")
        numbers = tuple(sorted({int(t) for t in items}))
        if numbers[0] < low or numbers[-1] > high:
            raise BadInput(f"{name}: packet numbers run from {number_text(low)} to "
                           f"{number_text(high)}")
        return numbers
    try:
        if not text.isascii() or "_" in text:
            raise ValueError(text)
        value: float = int(text) if kind == "int" else float(text)
    except ValueError:
        what = "a whole number" if kind == "int" else "a number"
        raise BadInput(f"{name} must be {what}, not {text!r}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise BadInput(f"{name}={text} is out of range: allowed {number_text(low)} to "
                       f"{number_text(high)}")
    return value


@dataclass(frozen=True)
class Fate:
    """What the link does with one packet.

    ``deliveries``: the times (CLOCK_REALTIME ns) at which copies leave the
    link; empty when the packet is lost (``reason`` says why). ``queued``:
    packets ahead of it when it arrived (waiting, or on the wire).
    """

    deliveries: tuple[int, ...]
    corrupt: bool = False
    reason: str = ""
    queued: int = 0

    @property
    def name(self) -> str:
        if not self.deliveries:
            return LOST
        if self.corrupt:
            return CORRUPTED
        return DUPLICATED if len(self.deliveries) > 1 else DELIVERED


class Link:
    """One direction of the emulated link (see the module docstring)."""

    def __init__(self, params: PathParams, direction: int) -> None:
        self.params = params
        self.direction = direction
        self._random = random.Random(params.seed * 2 + direction)
        self._bits_per_ns = params.rate * 1e6 / 1e9
        self._busy_until = 0          # when the bottleneck finishes what it has
        self._waiting: deque[int] = deque()   # transmission ends of packets still queued
        self._last_delivery = 0
        self.count = 0                # packets that reached this direction

    def admit(self, now: int, size: int) -> Fate:
        """The fate of a packet of ``size`` bytes that reaches the link at ``now``."""
        p = self.params
        self.count += 1
        rand = self._random.random
        # Draw every number every time, so one setting's change does not shift the others.
        lost, corrupt, twice, late, jitter = rand(), rand(), rand(), rand(), rand()
        if self.direction == C2S and self.count in p.drop:
            return Fate((), reason=PLANNED)
        if lost * 100 < p.loss:
            return Fate((), reason=RANDOM_LOSS)
        waiting = self._waiting
        while waiting and waiting[0] <= now:
            waiting.popleft()
        queued = len(waiting)
        if self._bits_per_ns:
            # ``queued`` counts the packet on the wire too; ``queue`` are those waiting.
            if queued > p.queue:
                return Fate((), reason=QUEUE_FULL, queued=queued)
            start = max(now, self._busy_until)
            self._busy_until = start + round(size * 8 / self._bits_per_ns)
            waiting.append(self._busy_until)
            sent = self._busy_until
        else:
            sent = now
        delay = p.one_way_ns + round((jitter * 2 - 1) * p.jitter * 1e6)
        arrival = sent + max(0, delay)
        if late * 100 < p.reorder:
            arrival += max(REORDER_MIN_NS, p.one_way_ns // 2)   # overtaken by later packets
        else:
            arrival = max(arrival, self._last_delivery)        # jitter keeps the order
            self._last_delivery = arrival
        copies = (arrival, arrival + 1000) if twice * 100 < p.duplicate else (arrival,)
        return Fate(copies, corrupt=corrupt * 100 < p.corrupt, queued=queued)
