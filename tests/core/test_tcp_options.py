"""Decoding raw option bytes: known options, Wireshark's WS cap, never raising."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from visualizer.core.tcp.options import EMPTY_OPTIONS, TcpOptions, parse_options
from visualizer.core.tcp.testing import options_bytes


def test_empty() -> None:
    assert parse_options(b"") is EMPTY_OPTIONS


def test_linux_syn_options() -> None:
    raw = bytes.fromhex("020405b4 0402 080a 00000001 00000000 01 030307".replace(" ", ""))
    opts = parse_options(raw)
    assert opts == TcpOptions(mss=1460, wscale=7, wscale_raw=7, sack_permitted=True,
                              timestamp=(1, 0))
    assert opts.summary() == "MSS=1460 WS=128 SACK_PERM TS=1/0"  # 2^7, as Wireshark


def test_timestamp_fast_path_equals_slow_path() -> None:
    raw = b"\x01\x01\x08\x0a" + struct.pack("!II", 123, 456)
    assert parse_options(raw) == TcpOptions(timestamp=(123, 456))
    assert parse_options(b"\x08\x0a" + struct.pack("!II", 123, 456) + b"\x00\x00") == \
        TcpOptions(timestamp=(123, 456))


def test_sack_blocks() -> None:
    opts = parse_options(options_bytes(sack=[(100, 200), (300, 350)]))
    assert opts.sack_blocks == ((100, 200), (300, 350))
    assert opts.sack_bytes == 150


def test_sack_bytes_counts_the_first_three_of_four_blocks_as_tshark_4_0_does() -> None:
    # sv_tls_tls-subjectaltname frame 1487 carries four blocks; tshark 4.0.17's
    # bytes in flight subtracts the first three (test_tcp_oracle checks it on tshark)
    opts = parse_options(options_bytes(sack=[(100, 200), (300, 310), (400, 401), (500, 900)]))
    assert len(opts.sack_blocks) == 4
    assert opts.sack_bytes == 100 + 10 + 1
    assert not opts.malformed


@pytest.mark.parametrize(("shift", "used"), [(0, 0), (14, 14), (15, 14), (255, 14)])
def test_window_scale_capped_at_14(shift: int, used: int) -> None:
    # RFC 7323 2.3: log and use 14. Wireshark does the same (expert info
    # "Window scale shift exceeds 14" and a multiplier of 1 << 14).
    opts = parse_options(bytes([3, 3, shift, 0]))
    assert (opts.wscale, opts.wscale_raw) == (used, shift)


@pytest.mark.parametrize(("raw", "why"), [
    (b"\x02", "kind without a length byte"),
    (b"\x02\x01\x05\xb4", "length below 2"),
    (b"\x02\x08\x05\xb4", "length past the end"),
    (b"\x03\x04\x07\x00", "window scale with length 4"),
    (b"\x02\x03\x05\x00", "MSS with length 3"),
    (b"\x05\x07" + b"\x00" * 5, "SACK not a multiple of 8"),
    (b"\x08\x06\x00\x00\x00\x01", "timestamp too short"),
])
def test_malformed_is_marked(raw: bytes, why: str) -> None:
    opts = parse_options(raw)
    assert opts.malformed, why
    assert opts.wscale is None and opts.mss is None and opts.timestamp is None


def test_eol_stops_and_unknown_kinds_are_listed() -> None:
    opts = parse_options(b"\x1e\x04\x00\x00\x01\x00\x02\x04\x05\xb4")
    assert opts.unknown == (30,)
    assert opts.mss is None        # after EOL
    assert not opts.malformed


def test_good_options_before_a_bad_one_are_kept() -> None:
    opts = parse_options(b"\x02\x04\x05\xb4\x03\x03\x07\x08\x20")
    assert (opts.mss, opts.wscale, opts.malformed) == (1460, 7, True)


@given(st.binary(max_size=60))
def test_never_raises(raw: bytes) -> None:
    opts = parse_options(raw)
    assert isinstance(opts, TcpOptions)
    assert opts.wscale is None or 0 <= opts.wscale <= 14
    assert isinstance(opts.summary(), str)
