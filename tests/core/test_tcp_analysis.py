"""tcp.analysis.* flags, one small scripted conversation per case.

Each case states which flags the tracker must raise on which frames (the
other frames of the case must carry none of the flags under test). The
``tshark`` variant then writes the same conversation to a pcap and checks
every field of every packet against tshark 4.0.17, so the expectations
below are Wireshark's, not our guesses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from visualizer.core.tcp.analysis_flags import analysis_names
from visualizer.core.tcp.connection import PacketResult
from visualizer.core.tcp.segment import TcpSegment
from visualizer.core.tcp.testing import (
    Conversation,
    compare_with_tshark,
    feed,
    options_bytes,
    run_tshark,
    write_pcap,
)

MS = 1_000_000
US = 1_000


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], list[TcpSegment]]
    expect: dict[int, frozenset[str]]   # frame -> flags that must be present
    watch: frozenset[str]                # flags that must be absent elsewhere


CASES: list[Case] = []


def case(*flags: str, at: dict[int, set[str]] | None = None):
    def register(fn: Callable[[], list[TcpSegment]]) -> Callable[[], list[TcpSegment]]:
        expect = {frame: frozenset(names) for frame, names in (at or {}).items()}
        watch = frozenset(flags).union(*expect.values()) if expect else frozenset(flags)
        CASES.append(Case(fn.__name__, fn, expect, watch))
        return fn
    return register


def _established(**kw: object) -> Conversation:
    conv = Conversation(**kw)  # type: ignore[arg-type]
    conv.handshake()           # frames 1-3
    return conv


# --- retransmissions ---------------------------------------------------------

@case("retransmission", at={5: {"retransmission"}})
def retransmission_after_timeout() -> list[TcpSegment]:
    conv = _established()
    conv.c2s("PA", data=100, delivered=False)                    # 4
    conv.c2s("PA", data=100, seq=1001, dt=300 * MS)              # 5: RTO later
    conv.s2c("A")                                                # 6
    return conv.segments


@case("fast_retransmission", at={8: {"duplicate_ack"}, 9: {"duplicate_ack"},
                                 10: {"duplicate_ack"},
                                 11: {"fast_retransmission", "retransmission"}})
def fast_retransmission() -> list[TcpSegment]:
    conv = _established(step=10 * US)
    conv.c2s("PA", data=100, delivered=False)                    # 4: lost after the tap
    conv.c2s("PA", data=100)                                     # 5
    conv.c2s("PA", data=100)                                     # 6
    conv.c2s("PA", data=100)                                     # 7
    conv.s2c("A")                                                # 8: ack 1001 again
    conv.s2c("A")                                                # 9
    conv.s2c("A")                                                # 10
    conv.c2s("PA", data=100, seq=1001)                           # 11
    return conv.segments


@case("spurious_retransmission", at={6: {"spurious_retransmission", "retransmission"}})
def spurious_retransmission() -> list[TcpSegment]:
    conv = _established()
    conv.c2s("PA", data=100)                                     # 4
    conv.s2c("A")                                                # 5: acks all of it
    conv.c2s("PA", data=100, seq=1001, dt=200 * MS)              # 6: sent again anyway
    return conv.segments


@case("out_of_order", at={4: {"lost_segment"}, 5: {"out_of_order"}})
def out_of_order() -> list[TcpSegment]:
    conv = _established()
    conv.c2s("PA", data=100, seq=1101, advance=False, dt=10 * MS)  # 4: second half first
    conv.c2s("PA", data=100, seq=1001, dt=100 * US)                # 5: first half, just after
    return conv.segments


@case("out_of_order", "retransmission", at={4: {"lost_segment"}, 5: {"retransmission"}})
def late_segment_is_a_retransmission() -> list[TcpSegment]:
    # The same reordering, but the late segment arrives long after the
    # handshake RTT: Wireshark calls it a retransmission.
    conv = _established()
    conv.c2s("PA", data=100, seq=1101, advance=False)
    conv.c2s("PA", data=100, seq=1001, dt=50 * MS)
    return conv.segments


@case("out_of_order", "retransmission", at={5: {"retransmission"}})
def fin_retransmission_is_not_out_of_order() -> list[TcpSegment]:
    # A FIN sent again quickly: nextseq equals seq + 1 (the FIN), so not OOO.
    conv = _established()
    conv.c2s("FA")                                               # 4
    conv.c2s("FA", seq=1001, dt=500 * US)                        # 5
    return conv.segments


# --- loss seen by the tap ------------------------------------------------------

@case("lost_segment", "ack_lost_segment", at={5: {"lost_segment"}, 6: {"ack_lost_segment"}})
def lost_and_acked_unseen() -> list[TcpSegment]:
    conv = _established()
    conv.c2s("PA", data=100)                                     # 4
    conv.c2s("PA", data=100, captured=False)                     # (not captured)
    conv.c2s("PA", data=100)                                     # 5: hole before it
    conv.s2c("A")                                                # 6: acks the unseen bytes
    return conv.segments


@case("ack_lost_segment", at={5: {"ack_lost_segment"}, 7: {"ack_lost_segment"}})
def acked_unseen_once_per_hole() -> list[TcpSegment]:
    conv = _established()
    conv.c2s("PA", data=100, captured=False)
    conv.c2s("PA", data=100)                                     # 4 (lost_segment)
    conv.s2c("A")                                                # 5
    conv.s2c("A")                                                # 6: dup, not flagged again
    conv.c2s("PA", data=100, captured=False)
    conv.s2c("A")                                                # 7: a new hole
    conv.s2c("A")                                                # 8
    return conv.segments


# --- acks ----------------------------------------------------------------------

@case("duplicate_ack", at={6: {"duplicate_ack"}, 7: {"duplicate_ack"}})
def duplicate_acks() -> list[TcpSegment]:
    conv = _established()
    conv.c2s("PA", data=100)                                     # 4
    conv.s2c("A")                                                # 5
    conv.s2c("A")                                                # 6: #1
    conv.s2c("A")                                                # 7: #2
    return conv.segments


@case("window_update", "duplicate_ack", at={6: {"window_update"}})
def window_update() -> list[TcpSegment]:
    conv = _established()
    conv.c2s("PA", data=100)                                     # 4
    conv.s2c("A", win=1000)                                      # 5
    conv.s2c("A", win=8000)                                      # 6: only the window moved
    return conv.segments


@case("window_update", at={})
def window_change_with_a_new_ack_is_not_an_update() -> list[TcpSegment]:
    conv = _established()
    conv.c2s("PA", data=100)                                     # 4
    conv.s2c("A", win=1000)                                      # 5
    conv.c2s("PA", data=100)                                     # 6
    conv.s2c("A", win=2000)                                      # 7: ack moved too
    return conv.segments


# --- zero window -----------------------------------------------------------------

@case("zero_window", "zero_window_probe", "zero_window_probe_ack",
      at={5: {"zero_window"}, 6: {"zero_window_probe"},
          7: {"zero_window", "zero_window_probe_ack"}})
def zero_window_probe_and_ack() -> list[TcpSegment]:
    conv = _established()
    conv.c2s("PA", data=100)                                     # 4
    conv.s2c("A", win=0)                                         # 5: receiver full
    conv.c2s("PA", data=1, delivered=False, dt=200 * MS)         # 6: probe
    conv.s2c("A", win=0)                                         # 7: still full
    conv.s2c("A", win=4000, dt=100 * MS)                         # 8: window update
    return conv.segments


@case("zero_window_probe_ack", at={5: {"zero_window"}, 7: {"zero_window"}})
def probe_ack_that_takes_the_byte_is_not_a_probe_ack() -> list[TcpSegment]:
    conv = _established()
    conv.c2s("PA", data=100)
    conv.s2c("A", win=0)
    conv.c2s("PA", data=1, dt=200 * MS)                          # 6: probe, delivered
    conv.s2c("A", win=0)                                         # 7: acks the probe byte
    return conv.segments


@case("window_full", at={5: {"window_full"}})
def window_full() -> list[TcpSegment]:
    conv = Conversation()
    conv.c2s("S")
    conv.s2c("SA", win=1000)
    conv.c2s("A")                                                # 3
    conv.s2c("A", win=1000)                                      # 4: window 1000 at ack 1001
    conv.c2s("PA", data=1000)                                    # 5: exactly fills it
    return conv.segments


@case("window_full", at={7: {"window_full"}})
def window_full_with_scaling() -> list[TcpSegment]:
    conv = Conversation()
    conv.c2s("S", options=options_bytes(mss=1460, wscale=2))
    conv.s2c("SA", win=8000, options=options_bytes(mss=1460, wscale=1))
    conv.c2s("A")                                                # 3
    conv.s2c("A", win=1000)                                      # 4: 1000 << 1 = 2000 bytes
    conv.c2s("PA", data=1000)                                    # 5
    conv.c2s("PA", data=500)                                     # 6
    conv.c2s("PA", data=500)                                     # 7: reaches 2000
    return conv.segments


# --- keep-alive ----------------------------------------------------------------------

@case("keep_alive", "keep_alive_ack", at={6: {"keep_alive"}, 7: {"keep_alive_ack"}})
def keep_alive_and_ack() -> list[TcpSegment]:
    conv = _established()
    conv.c2s("PA", data=100)                                     # 4
    conv.s2c("A")                                                # 5
    conv.c2s("A", seq=1100, advance=False, dt=2000 * MS)         # 6: one byte back
    conv.s2c("A")                                                # 7
    return conv.segments


@case("keep_alive", "retransmission", at={6: {"keep_alive"}})
def keep_alive_with_one_garbage_byte() -> list[TcpSegment]:
    conv = _established()
    conv.c2s("PA", data=100)
    conv.s2c("A")
    conv.c2s("A", seq=1100, data=1, advance=False, dt=2000 * MS)  # 6: BSD style
    conv.s2c("A")
    return conv.segments


# --- port reuse ---------------------------------------------------------------------

@case("reused_ports", at={8: {"reused_ports"}})
def reused_ports_after_close() -> list[TcpSegment]:
    first = Conversation(client_isn=1000)
    first.handshake()
    first.close()                                                # frames 1-7
    second = Conversation(client_isn=90000, server_isn=777, capture=first.capture)
    second.handshake()                                           # frame 8 is the new SYN
    return first.segments


@case("reused_ports", "retransmission", at={2: {"retransmission"}})
def syn_retransmission_is_not_reuse() -> list[TcpSegment]:
    conv = Conversation()
    conv.c2s("S")
    conv.c2s("S", seq=1000, dt=1000 * MS)
    conv.s2c("SA")
    conv.c2s("A")
    return conv.segments


@case("reused_ports", at={3: {"reused_ports"}})
def syn_ack_with_another_isn() -> list[TcpSegment]:
    conv = Conversation()
    conv.c2s("S")
    conv.s2c("SA")
    conv.s2c("SA", seq=123456, dt=1000 * MS)
    conv.c2s("A", ack=123457)
    return conv.segments


# --- sequence arithmetic modulo 2**32 (Wireshark's LT_SEQ / GT_SEQ) ------------

@case("retransmission", "lost_segment", at={6: {"retransmission"}, 7: {"lost_segment"}})
def sequence_numbers_wrap_around() -> list[TcpSegment]:
    conv = _established(client_isn=0xFFFFFF00)
    conv.c2s("PA", data=0x80, delivered=False)                   # 4: 0xFFFFFF01...
    conv.c2s("PA", data=0x100)                                   # 5: crosses 2**32
    conv.c2s("PA", data=0x80, seq=0xFFFFFF01, dt=300 * MS)       # 6: before the wrap
    conv.c2s("PA", data=10, seq=0x200)                           # 7: a gap after it
    return conv.segments


@case("retransmission", "lost_segment",
      at={5: {"retransmission", "spurious_retransmission", "lost_segment"}})
def exactly_half_the_sequence_space_is_before_and_after() -> list[TcpSegment]:
    conv = _established()
    conv.c2s("PA", data=100)                                     # 4
    conv.c2s("PA", data=100, seq=1101 + (1 << 31))               # 5: 2**31 ahead
    return conv.segments


def _results(c: Case) -> tuple[list[TcpSegment], list[PacketResult]]:
    segs = c.build()
    return segs, feed(segs)


@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_flags(c: Case) -> None:
    _, results = _results(c)
    named = {r.frame: frozenset(analysis_names(r.analysis)) for r in results}
    got = {frame: names & c.watch for frame, names in named.items() if names & c.watch}
    assert got == c.expect


@pytest.mark.tshark
@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_flags_agree_with_tshark(c: Case, tmp_path: Path) -> None:
    segs, results = _results(c)
    rows = run_tshark(write_pcap(tmp_path / f"{c.name}.pcap", segs))
    assert compare_with_tshark(results, rows) == []
