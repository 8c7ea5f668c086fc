"""Every input the fuzzers ever found, replayed through the checks that found it.

tests/fuzz/regressions/ holds minimised inputs named ``TARGET-what-went-wrong``;
TARGET picks the check in tests/fuzz/targets.py. Add a file there for every
new finding (tests/fuzz/README.md says how) and it is tested from then on.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from fuzz import targets

from visualizer.core.decode.store import PacketStore
from visualizer.core.pcap import format as fmt
from visualizer.core.pcap.reader import CaptureFile

REGRESSIONS = Path(__file__).resolve().parents[1] / "fuzz" / "regressions"
FILES = sorted(p for p in REGRESSIONS.iterdir() if p.is_file())


def test_every_regression_names_a_target() -> None:
    assert FILES, f"no regression inputs in {REGRESSIONS}"
    for path in FILES:
        assert path.name.split("-", 1)[0] in targets.TARGETS, path.name


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_regression_input_passes_its_check(path: Path) -> None:
    check = targets.TARGETS[path.name.split("-", 1)[0]]
    with targets.bounded():
        check(path.read_bytes())


def test_pcapng_timestamp_beyond_int64_is_clamped_with_one_warning() -> None:
    """Found by the reader fuzzer: a 64-bit timestamp in microseconds overflowed the
    store's int64 nanosecond column (OverflowError out of PacketStore.extend)."""
    e = "<"
    shb = struct.pack(e + "IHHq", fmt.PCAPNG_BYTE_ORDER_MAGIC, 1, 0, -1)
    idb = struct.pack(e + "HHI", fmt.LINKTYPE_ETHERNET, 0, 0)
    data = fmt.pcapng_block(fmt.PCAPNG_SHB, shb) + fmt.pcapng_block(fmt.PCAPNG_IDB, idb)
    for ts_us in (0x1800_0000 << 32, 5, 0xFFFF_FFFF_FFFF_FFFF):
        data += fmt.pcapng_block(fmt.PCAPNG_EPB, struct.pack(
            e + "IIIII", 0, ts_us >> 32, ts_us & 0xFFFFFFFF, 4, 4) + b"abcd")
    cap = CaptureFile.from_bytes(data)
    store = PacketStore(cap)
    store.extend(cap.records())
    assert list(store.values("ts_ns")) == [2**63 - 1, 5000, 2**63 - 1]
    assert len(cap.warnings) == 1 and "timestamp out of range" in cap.warnings[0]
