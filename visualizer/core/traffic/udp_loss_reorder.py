"""udp-loss-reorder: numbered datagrams through a relay that drops, duplicates and reorders.

The relay is the scenario's third side. Its plan (which datagram it drops,
sends twice or holds back) comes from a seeded random generator, so a run
can be repeated exactly and a test can check the capture against the plan.
"""

from __future__ import annotations

import copy
import random
import socket
import time
from dataclasses import dataclass

from visualizer.core.traffic.failures import CallTimedOut
from visualizer.core.traffic.logged_socket import Address, LoggedSocket
from visualizer.core.traffic.params import FAMILY, PORT, Param
from visualizer.core.traffic.scenario import Scenario, SideFunction
from visualizer.core.traffic.side import Side

# The client paces its datagrams so that neither the relay's nor the server's
# receive buffer can overflow (that would be a loss nobody planned).
SEND_GAP = 0.001

# How long the relay waits for each datagram from the client.
RELAY_WAIT = 2.0

# The server cannot know how many datagrams will come: it waits this long for the
# first one, then gives up after this much silence.
FIRST_WAIT = 2.0
QUIET = 0.2


@dataclass(frozen=True)
class Fate:
    """What the relay does with one datagram from the client."""

    number: int
    lost: bool = False
    duplicated: bool = False
    delayed: bool = False   # held back and sent after the next datagram that is sent


def plan(count: int, loss: int, duplicate: int, reorder: int, seed: int) -> list[Fate]:
    """The relay's decision for datagrams 1..count (percentages, seeded)."""
    rng = random.Random(seed)
    fates = []
    for number in range(1, count + 1):
        # Always three draws per datagram, so one percentage does not shift the others.
        lost, duplicated, delayed = (rng.random() * 100 < p for p in (loss, duplicate, reorder))
        fates.append(Fate(number, lost, duplicated and not lost, delayed and not lost))
    return fates


def schedule(fates: list[Fate]) -> list[list[int]]:
    """For each datagram the relay receives, the numbers it sends right after it."""
    sends: list[list[int]] = []
    held: list[int] = []
    for fate in fates:
        now: list[int] = []
        if not fate.lost:
            copies = [fate.number] * (2 if fate.duplicated else 1)
            if fate.delayed and not held:
                held = copies
            else:
                now, held = copies + held, []
        sends.append(now)
    if sends and held:  # the last one was held back: nothing came after it
        sends[-1] += held
    return sends


def forwarded(fates: list[Fate]) -> list[int]:
    """The datagram numbers the server receives, in order, when the relay follows ``fates``."""
    return [number for batch in schedule(fates) for number in batch]


def number_of(datagram: bytes) -> int | None:
    """The number a datagram of this scenario carries (``b"datagram 7"`` -> 7)."""
    words = datagram.split(maxsplit=2)
    if len(words) >= 2 and words[0] == b"datagram" and words[1].isdigit():
        return int(words[1])
    return None


def _other_side(side: Side, name: str) -> Side:
    """A handle like ``side`` (same run, log and family) whose calls are logged as
    ``name``'s: how ``bind`` opens the relay's socket during prepare."""
    other = copy.copy(side)
    other.name = name
    return other


class UdpLossReorder(Scenario):
    name = "udp-loss-reorder"
    summary = "UDP through a relay that drops, duplicates and reorders datagrams"
    description = (
        "The client sends `count` datagrams numbered 1, 2, 3... (the number is the payload) "
        "to a relay, a third side between client and server, which forwards them to the "
        "server's port from its own. The relay plays a bad network: following a plan drawn "
        "from a random generator seeded with `seed` (the same seed gives the same run), it "
        "drops `loss` % of the datagrams, sends `duplicate` % twice, and holds `reorder` % "
        "back until it has forwarded the next one. Compare the two legs: the client's "
        "datagrams reach the relay complete and in order, but the server receives some not "
        "at all, some twice and some late. UDP noticed none of it and repaired none of it: "
        "there are no sequence numbers, no acknowledgements and no retransmissions in UDP, "
        "and every recvfrom() returns whatever datagram is next, whole. Only the numbers the "
        "application put into its own payload reveal what happened, which is exactly what "
        "protocols built on UDP, such as RTP and QUIC, do. The server cannot even know when the "
        "last datagram has come: it stops after 0.2 s of silence (its last recvfrom() times "
        "out)."
    )
    params = (
        Param("count", "int", 20, 1, 1000, help="numbered datagrams the client sends"),
        Param("loss", "int", 15, 0, 100, help="percent of datagrams the relay drops"),
        Param("duplicate", "int", 10, 0, 100, help="percent the relay sends twice"),
        Param("reorder", "int", 15, 0, 100,
              help="percent the relay holds back and sends after the next one"),
        Param("seed", "int", 3, 0, 2**31 - 1,
              help="seed of the relay's random choices: the same seed, the same run"),
        PORT,
        FAMILY,
    )
    transport = "udp"

    def fates(self) -> list[Fate]:
        v = self.values
        return plan(int(v["count"]), int(v["loss"]), int(v["duplicate"]), int(v["reorder"]),
                    int(v["seed"]))

    def bind(self, server: Side) -> LoggedSocket:
        sock = server.bind_loopback(socket.SOCK_DGRAM)
        # The capture filter names the relay's port too: bind it now, as the relay.
        relay = _other_side(server, "relay")
        self._relay_socket = relay.socket(socket.SOCK_DGRAM)
        self._relay_socket.bind((relay.host, 0))
        self._relay_address: Address = self._relay_socket.bound_address()
        return sock

    def capture_filter(self, server_port: int) -> str:
        return f"udp port {server_port} or udp port {self._relay_address[1]}"

    def sides(self) -> dict[str, SideFunction]:
        return {"server": self.server, "relay": self.relay, "client": self.client}

    def server(self, side: Side) -> None:
        sock = side.server_socket
        limit = FIRST_WAIT
        while True:
            try:
                sock.recvfrom(65_536, limit=limit)
            except CallTimedOut:
                break  # silence: the server cannot tell lost from late
            limit = QUIET
        sock.close()

    def relay(self, side: Side) -> None:
        sock = self._relay_socket
        received: dict[int, bytes] = {}
        for expected, sends in enumerate(schedule(self.fates()), 1):
            datagram, _source = sock.recvfrom(65_536, limit=RELAY_WAIT)
            if number_of(datagram) != expected:
                side.fail(f"got {datagram[:20]!r} from the client instead of datagram {expected}")
            received[expected] = datagram
            for number in sends:
                sock.sendto(received[number], side.server_address)
        sock.close()

    def client(self, side: Side) -> None:
        sock = side.socket(socket.SOCK_DGRAM)
        for number in range(1, int(self.values["count"]) + 1):
            sock.sendto(f"datagram {number}".encode(), self._relay_address)
            time.sleep(SEND_GAP)
        sock.close()
