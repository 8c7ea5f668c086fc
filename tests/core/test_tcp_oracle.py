"""Random conversations, tracker versus tshark, every field of every packet.

Each batch builds many small connections with random loss (before and after
the tap), reordering, retransmissions, duplicate ACKs, keep-alives, zero
windows, SACKs of one to four blocks, window scaling, port reuse, garbage sequence numbers and ISNs
near 2**32, writes them to one pcap and compares field by field. The
per-flag figures go to the report (``pytest -s`` prints them).
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from visualizer.core.tcp.analysis_flags import ANALYSIS_FLAGS, analysis_names
from visualizer.core.tcp.segment import TcpSegment
from visualizer.core.tcp.testing import (
    Capture,
    Conversation,
    compare_with_tshark,
    feed,
    options_bytes,
    run_tshark,
    write_pcap,
)

MS = 1_000_000
M32 = 0xFFFFFFFF


def random_connection(rng: random.Random, cap: Capture, server: str, cport: int) -> None:
    isn_c = rng.choice([1000, 0xFFFFFF00, 2**32 - 50, rng.randrange(2**32)])
    isn_s = rng.choice([5000, 0xFFFFFFF0, rng.randrange(2**32)])
    conv = Conversation(client=("10.0.0.1", cport), server=(server, 80), client_isn=isn_c,
                        server_isn=isn_s, step=rng.choice([10_000, MS, 5 * MS]), capture=cap)
    gaps = [1000, 100_000, MS, 2 * MS, 4 * MS, 30 * MS, 300 * MS]

    def dt() -> int:
        return rng.choice(gaps)

    if rng.random() < 0.85:
        syn = options_bytes(mss=1460, wscale=rng.choice([None, 0, 2, 7, 15]),
                            sack_perm=rng.random() < 0.5,
                            ts=(1, 0) if rng.random() < 0.5 else None)
        synack = options_bytes(mss=1460, wscale=rng.choice([None, 0, 3, 8]), sack_perm=True)
        conv.c2s("S", options=syn, captured=rng.random() < 0.9)
        if rng.random() < 0.1:
            conv.c2s("S", seq=isn_c, dt=dt(), options=syn)
        conv.s2c("SA", options=synack, dt=dt(), captured=rng.random() < 0.95)
        conv.c2s("A", dt=dt())
    else:  # joined mid-stream
        conv.client.rcv_nxt, conv.server.rcv_nxt = isn_s, isn_c
    sent: dict[int, list[tuple[int, int]]] = {0: [], 1: []}
    for _ in range(rng.randrange(5, 40)):
        who = 0 if rng.random() < 0.6 else 1
        side, send = (conv.client, conv.c2s) if who == 0 else (conv.server, conv.s2c)
        r = rng.random()
        if r < 0.45:
            n = rng.choice([1, 10, 100, 1000, 1460])
            sent[who].append((side.snd_nxt, n))
            send("PA", data=n, dt=dt(), captured=rng.random() < 0.93,
                 delivered=rng.random() < 0.9, win=rng.choice([None, None, None, 0, 1000, 65535]))
        elif r < 0.70:
            send("A", dt=dt(), win=rng.choice([None, None, 0, 500, 65535]))
        elif r < 0.80 and sent[who]:
            s0, n = rng.choice(sent[who])
            send("PA", data=n, seq=s0, dt=dt(), advance=False)
        elif r < 0.85:
            send("A", seq=(side.snd_nxt - 1) & M32, dt=dt(), data=rng.choice([0, 1]),
                 advance=False)
        elif r < 0.90:
            send("PA", data=1, dt=dt(), delivered=False)
        elif r < 0.93:
            edge = side.rcv_nxt or 0  # one to four blocks (tshark 4.0 counts three)
            blocks = [(edge + 400 * k + 100, edge + 400 * k + rng.choice([101, 300, 1560]))
                      for k in range(rng.randrange(1, 5))]
            send("A", dt=dt(), options=options_bytes(sack=blocks))
        elif r < 0.95:
            send("A", dt=dt(), ack=rng.randrange(2**32))
        else:
            send("PA", data=rng.choice([0, 5]), dt=dt(), seq=rng.randrange(2**32), advance=False)
    end = rng.random()
    if end < 0.5:
        conv.close(by_client=rng.random() < 0.5)
    elif end < 0.6:
        conv.c2s("RA", dt=dt())
    elif end < 0.7:
        conv.c2s("FA", dt=dt())
        conv.s2c("FA", dt=1000)
        conv.c2s("A")
        conv.s2c("A")


def random_capture(seed: int, seeds: int = 25) -> list[TcpSegment]:
    """``seeds`` independent little captures one after the other, 3 connections each."""
    cap = Capture()
    for i in range(seeds):
        rng = random.Random(seed * 1000 + i)
        server = f"10.1.{i}.2"
        for _ in range(3):
            random_connection(rng, cap, server, rng.choice([40000, 40001, 40000]))
        cap.advance(10**12)
    return cap.segments


def flag_figures(results, rows) -> dict[str, tuple[int, int]]:
    """Per flag: (packets where both agree on it, packets where either has it)."""
    figures = {}
    for name in ANALYSIS_FLAGS:
        either = agree = 0
        for r, t in zip(results, rows, strict=True):
            ours, theirs = name in analysis_names(r.analysis), name in t.analysis
            if ours or theirs:
                either += 1
                agree += ours == theirs
        figures[name] = (agree, either)
    return figures


@pytest.mark.tshark
@pytest.mark.parametrize("batch", range(4))
def test_random_conversations_agree_with_tshark(batch: int, tmp_path: Path) -> None:
    segs = random_capture(batch)
    results = feed(segs)
    rows = run_tshark(write_pcap(tmp_path / "random.pcap", segs))
    problems = compare_with_tshark(results, rows)
    figures = flag_figures(results, rows)
    counts = Counter(problem.split()[2] for problem in problems)
    print(f"\nbatch {batch}: {len(results)} packets, "
          f"{len(problems)} differing fields {dict(counts)}")
    print("  " + ", ".join(f"{k} {a}/{e}" for k, (a, e) in figures.items()))
    assert problems == []
