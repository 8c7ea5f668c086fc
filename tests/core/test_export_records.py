"""pcap exports copy the input's records; other inputs are written record by record."""

from pathlib import Path

import pytest

from visualizer.core.decode.store import PacketStore
from visualizer.core.export import export_packets
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.tcp.testing import Conversation, write_pcap

SAMPLE = Path(__file__).parents[2] / "resources" / "samples" / "tcp-handshake.pcapng"


def _frames(path: Path) -> list[tuple[int, bytes, int]]:
    with CaptureFile.open(str(path)) as cap:
        return [(r.ts_ns, cap.frame_bytes(r), r.origlen) for r in cap.frames()]


@pytest.mark.parametrize("picked", [[0, 1, 2, 3, 4, 5, 6, 7], [0, 2, 3, 7], [5], [7, 6]])
def test_subsets_of_a_pcap_come_out_exactly(tmp_path: Path, picked: list[int]) -> None:
    conv = Conversation()
    conv.handshake()
    for _ in range(2):
        conv.c2s("PA", data=30)
        conv.s2c("A")
    conv.close()
    source = write_pcap(tmp_path / "in.pcap", conv.segments)
    store = PacketStore.from_file(str(source))
    out = tmp_path / "out.pcap"
    export_packets(store, picked, str(out), "pcap")
    every = _frames(source)
    assert _frames(out) == [every[i] for i in picked]
    store.close()


def test_pcapng_input_to_pcap_is_written_record_by_record(tmp_path: Path) -> None:
    store = PacketStore.from_file(str(SAMPLE))
    out = tmp_path / "out.pcap"
    export_packets(store, [1, 3, 5], str(out), "pcap")
    every = _frames(SAMPLE)
    assert _frames(out) == [every[i] for i in (1, 3, 5)]
    store.close()
