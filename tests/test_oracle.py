"""``analyze --json`` against tshark, packet by packet.

For the project's own recordings and for every TCP file of tcpdump's
corpus, stream, relative seq and ack, len and the set of tcp.analysis flags
must agree with tshark on every frame both call TCP. The frames only one
side analyses are pinned here by name; each is explained in
docs/tshark-differences.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from oracle import Agreement, compare_file

from visualizer.core.decode.store import PacketStore
from visualizer.core.errors import BadInput

# frame analysed by only one side -> why (docs/tshark-differences.md)
ONLY_TSHARK = {
    # First fragments of IPv4 datagrams that were not reassembled: tshark gives
    # them a stream number but no length or analysis; we do not track them.
    ("bgp-bgp_capabilities_print-oobr-1.pcap", 1),
    ("bgp-bgp_capabilities_print-oobr-2.pcap", 1),
    ("bgp_pmsi_tunnel-oobr.pcap", 1),
    ("rpki-rtr-oobr.pcap", 1),
}
ONLY_OURS = {
    # An IPv6 "BIG TCP" jumbogram (payload length 0, RFC 2675): tshark 4.0
    # calls it malformed; it is a valid segment and we analyse it.
    ("bigtcp-ipv6.pcap", 1),
}


def report(label: str, total: Agreement, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(f"\n{label}: {total.agreeing}/{total.compared} TCP packets agree with tshark "
              f"(stream, seq, ack, len, analysis); {total.only_tshark} analysed by tshark "
              f"only, {total.only_ours} by us only")


@pytest.mark.corpus
@pytest.mark.tshark
def test_corpus_tcp_files_agree_with_tshark(corpus_dir: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    total = Agreement()
    one_sided: set[tuple[str, int]] = set()
    for path in sorted(corpus_dir.iterdir()):
        try:
            store = PacketStore.from_file(str(path))
        except BadInput:
            continue
        has_tcp = bool((store.column("proto") == 6).any())
        store.close()
        if not has_tcp:
            continue
        result = compare_file(path)
        total.add(result)
        one_sided |= {(path.name, f) for f in result.only_tshark_frames}
        one_sided |= {(path.name, f) for f in result.only_ours_frames}
    report("corpus", total, capsys)
    assert total.compared > 1500
    assert total.differences == []
    assert one_sided == ONLY_TSHARK | ONLY_OURS


@pytest.mark.capture
@pytest.mark.tshark
@pytest.mark.parametrize("params", [
    ("count=3",), ("count=5", "size=3000"), ("count=2", "family=ipv6"), ("count=0",),
    ("count=20", "size=70000"),
])
def test_scenario_recordings_agree_with_tshark(tmp_path: Path, params: tuple[str, ...],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rec.pcapng"
    args = [sys.executable, "-m", "visualizer", "record", "tcp-handshake", "-o", str(out)]
    for p in params:
        args += ["--param", p]
    subprocess.run(args, check=True, capture_output=True, timeout=120)
    result = compare_file(out)
    report(f"tcp-handshake {' '.join(params)}", result, capsys)
    assert result.compared > 0
    assert result.differences == []
    assert result.only_tshark == result.only_ours == 0
