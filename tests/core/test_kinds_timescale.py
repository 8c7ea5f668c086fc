"""Packet kinds (colours everywhere) and the three time scales."""

from pathlib import Path

import numpy as np
import pytest

from visualizer.core.decode.store import PacketStore
from visualizer.core.describe.kinds import KINDS, packet_kinds
from visualizer.core.flows.analysis import analyze
from visualizer.core.playback.timescale import SCALES, positions
from visualizer.core.tcp.testing import Conversation, write_pcap

SAMPLES = Path(__file__).parents[2] / "resources" / "samples"


def _kinds(path: Path) -> list[str]:
    analysis = analyze(PacketStore.from_file(str(path)))
    return [KINDS[k].name for k in packet_kinds(analysis)]


def test_kinds_of_a_recorded_handshake() -> None:
    kinds = _kinds(SAMPLES / "tcp-handshake.pcapng")
    assert kinds[:3] == ["syn", "synack", "ack"]
    assert kinds[3] == "data"
    assert kinds[-3:] == ["fin", "fin", "ack"]


def test_udp_sample_is_all_datagrams() -> None:
    assert set(_kinds(SAMPLES / "udp-datagrams.pcapng")) == {"udp"}


def test_problem_beats_plain_kind(tmp_path: Path) -> None:
    conv = Conversation()
    conv.handshake()
    first = conv.c2s("PA", data=100)
    assert first is not None
    conv.c2s("PA", data=100, seq=first.seq)  # the same bytes again: a retransmission
    conv.s2c("R")
    kinds = _kinds(write_pcap(tmp_path / "r.pcap", conv.segments))
    assert kinds == ["syn", "synack", "ack", "data", "problem", "rst"]


def test_slices_match_the_whole() -> None:
    analysis = analyze(PacketStore.from_file(str(SAMPLES / "tcp-handshake.pcapng")))
    whole = packet_kinds(analysis)
    assert np.array_equal(np.concatenate([packet_kinds(analysis, 0, 5),
                                          packet_kinds(analysis, 5)]), whole)


@pytest.mark.parametrize("scale", list(SCALES))
def test_every_scale_spans_zero_to_n_minus_one(scale: str) -> None:
    ts = [0, 10_000, 30_000, 40_000, 200_000_040_000, 200_000_040_000]
    pos = positions(ts, scale)
    assert pos[0] == 0 and pos[-1] == pytest.approx(len(ts) - 1)
    assert np.all(np.diff(pos) >= 0)


def test_log_scale_keeps_microsecond_gaps_visible() -> None:
    # a 40-µs handshake followed by a 200-ms timeout: in real time the
    # handshake is squashed into nothing, in the log scale it is not
    ts = [0, 20_000, 40_000, 200_040_000]
    real, log = positions(ts, "real"), positions(ts, "log")
    assert real[2] < 0.001
    assert log[2] > 0.5
    assert positions(ts, "order").tolist() == [0, 1, 2, 3]


def test_same_instant_packets_are_apart_in_log_scale() -> None:
    assert np.all(np.diff(positions([5, 5, 5], "log")) > 0)


def test_unknown_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown time scale"):
        positions([1, 2], "linear")
