"""Matching the two ends' captures through the forwarder's log of fates.

Each end's capture holds the packets its host sent (as they left) and the
ones that reached it (as they arrived). The forwarder logged, for every
packet that reached the link, a digest of its bytes, its direction and its
fate, and for every copy it delivered, the digest of what it wrote (a
corrupted copy differs by one bit). So a packet's copy leaving one end is
the next frame at that end with the digest it had on arrival at the link,
and its copies arriving at the other end are the next frames there with
the digests of what the forwarder wrote: matching needs no guessing, and
identical packets (a byte-for-byte retransmission) match in order.

The result (:class:`PathRecord`) is what a recording keeps: for each frame,
the link's packet number and whether it is the copy that was sent ("s") or
one that arrived ("r"); for each packet, its direction, fate, and for a
loss its reason and the queue it met; and the end whose view the TCP
analysis takes (see ``view.py``).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from visualizer.core.path.forwarder import digest
from visualizer.core.path.link import C2S, DELIVERED, PathParams

CLIENT_END, SERVER_END = 0, 1
END_NAMES = ("client", "server")
SENT, ARRIVED, UNMATCHED = "s", "r", "?"


@dataclass
class PathRecord:
    """The path's part of a recording's metadata (``RecordingInfo.path``)."""

    params: PathParams
    packet: list[int] = field(default_factory=list)    # per frame: the link's packet number, 0
    role: str = ""                                      # per frame: SENT, ARRIVED or UNMATCHED
    # per packet number - 1: [direction, fate, why, packets queued ahead]
    packets: list[list[Any]] = field(default_factory=list)
    analysed_end: int = SERVER_END

    def to_dict(self) -> dict[str, Any]:
        return {"params": self.params.to_dict(), "packet": self.packet, "role": self.role,
                "packets": self.packets, "analysed_end": self.analysed_end,
                "ends": list(END_NAMES)}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> PathRecord:
        return cls(PathParams.from_dict(doc.get("params") or {}),
                   [int(n) for n in doc.get("packet") or []], str(doc.get("role") or ""),
                   [list(p) for p in doc.get("packets") or []],
                   int(doc.get("analysed_end", SERVER_END)))


def match(frames: Sequence[tuple[int, bytes]], log: Sequence[dict[str, Any]],
          params: PathParams) -> PathRecord:
    """The record of ``frames`` ((end, IP packet bytes) in the file's order) given
    the forwarder's ``log`` (see ``forwarder.py``)."""
    waiting: dict[tuple[int, str], deque[int]] = defaultdict(deque)
    for index, (end, data) in enumerate(frames):
        waiting[(end, digest(data))].append(index)
    packet = [0] * len(frames)
    role = [UNMATCHED] * len(frames)
    packets: list[list[Any]] = []
    direction: dict[int, int] = {}
    arrivals = [0, 0]   # per direction
    for entry in log:
        n = int(entry["n"])
        if "d" in entry:   # the packet reached the link
            d = int(entry["d"])
            direction[n] = d
            while len(packets) < n:
                packets.append([C2S, DELIVERED, "", 0])
            packets[n - 1] = [d, str(entry["fate"]), str(entry.get("why", "")),
                              int(entry.get("q", 0))]
            sender_end = CLIENT_END if d == C2S else SERVER_END
            _take(waiting, (sender_end, str(entry["h"])), packet, role, n, SENT)
        elif "out" in entry and n in direction:   # a copy left the link
            d = direction[n]
            receiver_end = SERVER_END if d == C2S else CLIENT_END
            if _take(waiting, (receiver_end, str(entry["h"])), packet, role, n, ARRIVED):
                arrivals[d] += 1
    # The TCP analysis is a tap at the receiver of the data: the end that more
    # packets arrived at (the server, when the client sends the data).
    analysed = SERVER_END if arrivals[C2S] >= arrivals[1 - C2S] else CLIENT_END
    return PathRecord(params, packet, "".join(role), packets, analysed)


def _take(waiting: dict[tuple[int, str], deque[int]], key: tuple[int, str], packet: list[int],
          role: list[str], n: int, what: str) -> bool:
    frames = waiting.get(key)
    if not frames:
        return False   # the capture missed it (dropped by the kernel) or it is not there yet
    index = frames.popleft()
    packet[index], role[index] = n, what
    return True
