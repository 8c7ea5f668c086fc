"""The link's decisions (sans-I/O), its parameters, and the bit the forwarder flips."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, TCP, UDP

from visualizer.core.errors import BadInput
from visualizer.core.path.forwarder import corrupted
from visualizer.core.path.link import (
    C2S,
    CORRUPTED,
    DUPLICATED,
    PLANNED,
    QUEUE_FULL,
    RANDOM_LOSS,
    S2C,
    Link,
    PathParams,
    parse_path,
    split_path_pairs,
    with_defaults,
)

MS = 1_000_000


def test_delay_is_half_the_rtt_each_way() -> None:
    link = Link(PathParams(rtt=40), C2S)
    assert link.admit(0, 100).deliveries == (20 * MS,)
    assert link.admit(5 * MS, 100).deliveries == (25 * MS,)


def test_a_rated_link_serialises_and_its_full_queue_drops_the_tail() -> None:
    # 8 Mbit/s: a 1000-byte packet takes 1 ms on the wire; 3 may wait behind it.
    link = Link(PathParams(rtt=0, rate=8, queue=3), C2S)
    fates = [link.admit(0, 1000) for _ in range(6)]
    assert [f.deliveries for f in fates[:4]] == [(1 * MS,), (2 * MS,), (3 * MS,), (4 * MS,)]
    assert [f.queued for f in fates[:4]] == [0, 1, 2, 3]
    assert [f.reason for f in fates[4:]] == [QUEUE_FULL, QUEUE_FULL]
    assert fates[4].queued == 4   # one on the wire, three waiting
    # once the first has left, one more fits
    assert link.admit(1 * MS, 1000).deliveries == (5 * MS,)


def test_the_loss_plan_drops_exactly_the_named_client_packets() -> None:
    params = PathParams(drop=(2, 5))
    c2s, s2c = Link(params, C2S), Link(params, S2C)
    assert [c2s.admit(k, 60).reason for k in range(6)] == ["", PLANNED, "", "", PLANNED, ""]
    assert [s2c.admit(k, 60).reason for k in range(6)] == [""] * 6


def test_same_seed_same_fates_and_percentages_hold() -> None:
    params = PathParams(rtt=10, loss=20, corrupt=10, duplicate=10, reorder=10, seed=7)

    def names(link: Link) -> list[str]:
        return [link.admit(k * MS, 100).name for k in range(5000)]

    first, again = names(Link(params, C2S)), names(Link(params, C2S))
    assert first == again
    assert first != names(Link(PathParams(**{**params.to_dict(), "seed": 8,  # type: ignore[arg-type]
                                              "drop": ()}), C2S))
    share = {name: first.count(name) / len(first) for name in set(first)}
    assert 0.17 < share["lost"] < 0.23
    assert 0.06 < share[CORRUPTED] < 0.11     # corrupt, unless lost first
    assert 0.05 < share[DUPLICATED] < 0.10
    reasons = {Link(params, C2S).admit(0, 1).reason for _ in range(1)}
    assert reasons <= {"", RANDOM_LOSS}


def test_jitter_keeps_order_and_reorder_overtakes() -> None:
    link = Link(PathParams(rtt=20, jitter=5, seed=3), C2S)
    times = [link.admit(k * 100_000, 100).deliveries[0] for k in range(500)]
    assert times == sorted(times)
    assert min(times[k] - k * 100_000 for k in range(500)) >= 5 * MS
    late = Link(PathParams(rtt=20, reorder=30, seed=3), C2S)
    arrivals = [late.admit(k * 100_000, 100).deliveries[0] for k in range(200)]
    assert arrivals != sorted(arrivals)


@pytest.mark.parametrize(("pairs", "message"), [
    (["rtt=-1"], "rtt=-1 is out of range"),
    (["loss=101"], "loss=101 is out of range"),
    (["queue=0"], "queue=0 is out of range"),
    (["rtt=nan"], "out of range"),
    (["rate=1_0"], "rate must be a number"),
    (["drop=a"], "drop must list packet numbers"),
    (["rtt=10", "jitter=6"], "more than the one-way delay"),
    (["rtt=10", "rtt=20"], "given twice"),
])
def test_bad_path_parameters_are_one_line(pairs: list[str], message: str) -> None:
    with pytest.raises(BadInput, match=message) as caught:
        parse_path(pairs)
    assert "\n" not in str(caught.value)


def test_path_pairs_are_split_from_the_scenarios_and_defaults_yield() -> None:
    assert split_path_pairs(["count=3", "rtt=40", "loss=1"]) == (["count=3"],
                                                                 ["rtt=40", "loss=1"])
    assert split_path_pairs(["loss=20", "rtt=5"], own=["loss"]) == (["loss=20"], ["rtt=5"])
    assert parse_path([]) is None
    pairs = with_defaults(["rate=5"], {"rtt": "40", "rate": "10"})
    assert parse_path(pairs) == PathParams(rtt=40, rate=5)


def _checksum_ok(packet: bytes) -> bool:
    ip = IP(packet)
    layer = ip[TCP] if TCP in ip else ip[UDP]
    sent = layer.chksum
    del layer.chksum
    return bool(IP(bytes(ip))[type(layer)].chksum == sent)


@pytest.mark.parametrize("packet", [
    IP(src="192.0.2.1", dst="192.0.2.2") / TCP(sport=1, dport=2, flags="PA") / b"data",
    IP(src="192.0.2.1", dst="192.0.2.2") / TCP(sport=1, dport=2, flags="A"),
    IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=1, dport=2) / b"datagram",
    IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=1, dport=2),
], ids=["tcp-data", "tcp-empty", "udp-data", "udp-empty"])
def test_a_corrupted_packet_keeps_its_ip_header_and_fails_its_checksum(packet: IP) -> None:
    raw = bytes(packet)
    assert _checksum_ok(raw)
    bad = corrupted(raw)
    assert len(bad) == len(raw) and bad[:20] == raw[:20]
    assert sum(bin(a ^ b).count("1") for a, b in zip(raw, bad, strict=True)) == 1
    assert not _checksum_ok(bad)
