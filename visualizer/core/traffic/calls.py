"""The socket-call log: what each side of a scenario asked the kernel to do.

Times are ``time.time_ns()`` (CLOCK_REALTIME), the clock of kernel packet
timestamps, so a call can be matched with the packets it caused.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields

from visualizer.core.errors import BadInput


@dataclass(frozen=True, slots=True)
class SocketCall:
    """One socket call made by one side, with its outcome.

    ``args`` and ``result`` are short texts for people ("100 bytes",
    "0 (peer closed)", "ECONNREFUSED"); ``local`` and ``remote`` are the
    socket's endpoints as "ip:port" or "[::1]:port" ("" when not known yet).
    """

    side: str          # "client" or "server" (or "client 2"... in many-client scenarios)
    call: str          # "socket", "bind", "listen", "connect", "accept", "send", "recv"...
    args: str
    result: str
    start_ns: int      # time.time_ns() when the call was made
    end_ns: int        # time.time_ns() when it returned
    local: str = ""
    remote: str = ""
    errno: int | None = None  # set when the call failed with an OS error

    @property
    def failed(self) -> bool:
        return self.errno is not None

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready dict, the form stored in a recording."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SocketCall:
        """The inverse of ``to_dict``; a malformed record raises ``BadInput``."""
        if not isinstance(data, Mapping):
            raise BadInput(f"bad socket-call record: expected an object, got {data!r:.60}")
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name not in data:
                if f.name in _OPTIONAL:
                    continue
                raise BadInput(f"bad socket-call record: missing {f.name!r}")
            value = data[f.name]
            wanted = _TYPES[f.name]
            if not _is(value, wanted):
                raise BadInput(f"bad socket-call record: {f.name}={value!r:.60} "
                               f"is not {wanted.__name__ if wanted else 'an int or null'}")
            values[f.name] = value
        return cls(**values)  # type: ignore[arg-type]


_TYPES: dict[str, type | None] = {
    "side": str, "call": str, "args": str, "result": str,
    "start_ns": int, "end_ns": int, "local": str, "remote": str,
    "errno": None,  # int or None
}
_OPTIONAL = frozenset({"local", "remote", "errno"})


def _is(value: object, wanted: type | None) -> bool:
    if wanted is None:
        return value is None or (isinstance(value, int) and not isinstance(value, bool))
    if wanted is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, wanted)


class CallLog:
    """Thread-safe, append-only list of ``SocketCall``; both sides write to it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[SocketCall] = []

    def add(self, call: SocketCall) -> None:
        with self._lock:
            self._calls.append(call)

    def calls(self) -> list[SocketCall]:
        """A copy sorted by start time (calls that started together keep log order)."""
        with self._lock:
            return sorted(self._calls, key=lambda c: c.start_ns)

    def __len__(self) -> int:
        with self._lock:
            return len(self._calls)
