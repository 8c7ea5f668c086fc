"""Write seed corpora for the fuzz targets from real capture files.

    .venv/bin/python tests/fuzz/make_seeds.py OUT_DIR CAPTURE_OR_DIR...

Creates OUT_DIR/reader (small capture files as they are), OUT_DIR/decode and
OUT_DIR/dissect (single frames in those targets' byte layouts) and
OUT_DIR/tracker (each capture's TCP segments in the tracker's layout), so
the fuzzer starts from real traffic rather than from nothing. Seeds belong
in a temporary directory, not in the repository.
"""

from __future__ import annotations

import hashlib
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for ``fuzz``

from fuzz import targets
from visualizer.core.decode import headers as dec
from visualizer.core.decode.store import PacketStore
from visualizer.core.errors import BadInput
from visualizer.core.tcp.segment import TcpSegment

MAX_FILE = 64 * 1024      # reader seeds: small files keep executions fast
FRAMES_PER_FILE = 4       # decode/dissect seeds per capture
SEGMENTS_PER_FILE = 300   # tracker seeds: one per capture with TCP


def _save(directory: Path, data: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)


def seed_from(path: Path, out: Path) -> None:
    data = path.read_bytes()
    if len(data) <= MAX_FILE:
        _save(out / "reader", data)
    try:
        store = PacketStore.from_file(str(path), limit=5000)
    except BadInput:
        return
    try:
        linktypes, status = store.values("linktype"), store.values("status")
        for i in range(min(FRAMES_PER_FILE, len(store))):
            frame = store.frame(i)
            _save(out / "decode", struct.pack("!HBBH", linktypes[i] & 0xFFFF, 0, 0, 0) + frame)
            if linktypes[i] in targets.LINKTYPES:
                _save(out / "dissect", bytes([targets.LINKTYPES.index(linktypes[i])]) + frame)
        segments: list[TcpSegment] = []
        for i in range(len(store)):
            if len(segments) >= SEGMENTS_PER_FILE:
                break
            if store.values("proto")[i] != dec.PROTO_TCP or status[i] != dec.OK:
                continue
            v = store.values
            segments.append(TcpSegment(
                i + 1, v("ts_ns")[i], store.address(v("src")[i]), v("sport")[i],
                store.address(v("dst")[i]), v("dport")[i], v("seq")[i], v("ack")[i],
                v("tcp_flags")[i], v("window")[i], v("payload_len")[i],
                store.tcp_options(i) if v("tcp_header_len")[i] > 20 else b"",
                v("urgent")[i]))
        if segments:
            _save(out / "tracker", targets.segments_to_bytes(segments[0].ts_ns, segments))
    finally:
        store.close()


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit("usage: make_seeds.py OUT_DIR CAPTURE_OR_DIR...")
    out = Path(sys.argv[1])
    for arg in sys.argv[2:]:
        src = Path(arg)
        for path in sorted(src.iterdir()) if src.is_dir() else [src]:
            if path.is_file():
                seed_from(path, out)
    for target in targets.TARGETS:
        print(f"{target}: {len(list((out / target).glob('*')))} seeds")


if __name__ == "__main__":
    main()
