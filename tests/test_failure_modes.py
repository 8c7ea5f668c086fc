"""Failures are reported, not hidden: a full disk, a cut-off file, an unknown link type.

- Disk full (a 64 KiB tmpfs) or a file-size limit (RLIMIT_FSIZE) while
  writing an export or a recording: one line says what failed and that
  nothing was written, and an earlier file at the output path is unchanged
  (both are written to a temporary name and renamed).
- A capture cut off inside a record opens up to its last whole packet, with
  a warning (``CaptureFile.warnings``, ``analyze``'s stderr, the GUI's
  status message).
- A link type the decoder does not know is named, with its number, where
  the packets are listed.
- Every corpus file through ``visualizer analyze``: output, or one line.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from benchmarks.make_pcap import generate
from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from visualizer.cli import main
from visualizer.core.capture.privileges import check_capture
from visualizer.core.decode.store import PacketStore
from visualizer.core.describe.explain import explain
from visualizer.core.errors import BadInput
from visualizer.core.flows.analysis import analyze
from visualizer.core.pcap import format as fmt
from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.pcap.writer import PcapngWriter, PcapWriter
from visualizer.core.tcp.testing import Conversation, write_pcap
from visualizer.gui.detail import PacketDetail
from visualizer.gui.document import Document
from visualizer.gui.mainwindow import MainWindow
from visualizer.gui.packet_table import PacketTable

SAMPLES = Path(__file__).resolve().parent.parent / "resources" / "samples"
HANDSHAKE = SAMPLES / "tcp-handshake.pcapng"
PREVIOUS = b"an earlier file that must survive a failed write\n"


# -- helpers -------------------------------------------------------------------------------

def visualizer(*args: str, fsize: int | None = None) -> subprocess.CompletedProcess[str]:
    """``visualizer ARGS`` in a child process, optionally under RLIMIT_FSIZE.

    Python ignores SIGXFSZ, so a write past the limit fails with EFBIG as a
    full disk fails with ENOSPC.
    """
    code = "import sys; from visualizer.cli import main; sys.exit(main(sys.argv[1:]))"
    if fsize is not None:
        code = ("import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
                f"resource.setrlimit(resource.RLIMIT_FSIZE, ({fsize}, "
                "resource.getrlimit(resource.RLIMIT_FSIZE)[1])); " + code)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def leftovers(directory: Path) -> list[str]:
    """Temporary files of an export or a recording left in ``directory``."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith((".export-",
                                                                             ".record-")))


def big_capture(path: Path, packets: int = 600) -> Path:
    """A pcap of ``packets`` TCP segments, half with 200 bytes of data (about 100 KB)."""
    conv = Conversation()
    conv.handshake()
    for _ in range(packets // 2):
        conv.c2s("PA", data=200)
        conv.s2c("A")
    conv.close()
    return write_pcap(path, conv.segments)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: a disk that fills up. Skipped where mounting is not permitted."""
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (the file-size-limit tests cover the rest)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs",
                              str(mountpoint)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


# -- disk full and file-size limits --------------------------------------------------------

def test_export_to_a_full_disk_says_so_and_keeps_the_earlier_file(tiny_disk: Path,
                                                                   tmp_path: Path) -> None:
    source = big_capture(tmp_path / "big.pcap")
    assert source.stat().st_size > 64 * 1024
    out = tiny_disk / "export.pcap"
    out.write_bytes(PREVIOUS)
    result = visualizer("export", str(source), "-o", str(out))
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert "No space left on device" in line and "nothing was written" in line, line
    assert f"any earlier {out} is unchanged" in line
    assert out.read_bytes() == PREVIOUS
    assert leftovers(tiny_disk) == []


@pytest.mark.parametrize("fmt_name", ["pcap", "pcapng"])
def test_export_past_the_file_size_limit_says_so_and_keeps_the_earlier_file(
        tmp_path: Path, fmt_name: str) -> None:
    out = tmp_path / f"export.{fmt_name}"
    out.write_bytes(PREVIOUS)
    result = visualizer("export", str(HANDSHAKE), "-o", str(out), "--format", fmt_name,
                        fsize=1024)
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert "File too large" in line and "nothing was written" in line, line
    assert out.read_bytes() == PREVIOUS
    assert leftovers(tmp_path) == []
    # the same export without the limit works: the limit was the only problem
    assert visualizer("export", str(HANDSHAKE), "-o", str(out), "--format",
                      fmt_name).returncode == 0
    assert out.read_bytes() != PREVIOUS


@pytest.mark.capture
@pytest.mark.parametrize(("fsize", "failing"), [
    (2048, "cannot write"),   # the capture's spool fits, the pcapng does not
    (1000, "capture on 'lo' failed"),      # the capture process cannot write its spool
])
def test_recording_past_the_file_size_limit_says_so_and_keeps_the_earlier_file(
        tmp_path: Path, fsize: int, failing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # where a kept spool goes
    out = tmp_path / "recording.pcapng"
    out.write_bytes(PREVIOUS)
    result = visualizer("record", "tcp-handshake", "-o", str(out), fsize=fsize)
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert failing in line and "File too large" in line, line
    assert f"nothing was written, and any earlier {out} is unchanged" in line
    assert out.read_bytes() == PREVIOUS
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "data") == [
        "recording.pcapng"]


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MainWindow]:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings, permission=check_capture())
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    yield win
    win.document.close()


def test_gui_export_to_a_full_disk_says_nothing_was_written(
        qtbot: QtBot, window: MainWindow, tiny_disk: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    warnings: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "warning",
                        lambda _parent, title, text, *_: warnings.append((title, text)))
    source = big_capture(tmp_path / "big.pcap")
    with qtbot.wait_signal(window.document.finished, timeout=20_000):
        assert window.open_path(str(source))
    out = tiny_disk / "export.pcapng"
    out.write_bytes(PREVIOUS)
    window._export(str(out), "pcapng", range(window.document.session.count))
    ((title, text),) = warnings
    assert title == "Export failed"
    assert "No space left on device" in text and "nothing was written" in text, text
    assert "unchanged" in text
    assert out.read_bytes() == PREVIOUS
    assert leftovers(tiny_disk) == []


# -- a capture cut off inside a record -----------------------------------------------------

def pcap_sample(tmp_path: Path) -> Path:
    conv = Conversation()
    conv.handshake()
    for _ in range(3):
        conv.c2s("PA", data=64)
        conv.s2c("PA", data=64)
    conv.close()
    return write_pcap(tmp_path / "sample.pcap", conv.segments)


def record_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each packet record of a pcap or pcapng file (walked here, not
    by the reader under test)."""
    spans = []
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        pos = 0
        while pos < len(data):
            block_type, length = struct.unpack_from("<II", data, pos)
            if block_type in (fmt.PCAPNG_EPB, fmt.PCAPNG_SPB, fmt.PCAPNG_OPB):
                spans.append((pos, pos + length))
            pos += length
        return spans
    pos = fmt.PCAP_FILE_HEADER_LEN
    while pos < len(data):
        end = pos + 16 + struct.unpack_from("<I", data, pos + 8)[0]
        spans.append((pos, end))
        pos = end
    return spans


def cut_points(spans: list[tuple[int, int]]) -> list[int]:
    """Inside the first, a middle and the last record (in its header, its frame, its
    last byte), and at the boundary after the middle one."""
    points = {spans[len(spans) // 2][1]}
    for start, end in (spans[0], spans[len(spans) // 2], spans[-1]):
        points |= {start + 7, (start + end) // 2, end - 1}
    return sorted(points)


@pytest.mark.parametrize("sample", ["pcap", "pcapng"])
def test_a_cut_off_capture_opens_to_its_last_whole_packet_with_a_warning(
        tmp_path: Path, sample: str, capsys: pytest.CaptureFixture[str]) -> None:
    data = (pcap_sample(tmp_path) if sample == "pcap" else HANDSHAKE).read_bytes()
    spans = record_spans(data)
    ends = [end for _, end in spans]
    assert len(spans) in (13, 14) and ends[-1] == len(data)
    for cut in cut_points(spans):
        whole = sum(1 for end in ends if end <= cut)
        path = tmp_path / f"cut-{cut}.{sample}"
        path.write_bytes(data[:cut])
        store = PacketStore.from_file(str(path))
        assert len(store) == whole, cut
        if cut in ends:
            assert store.capture.warnings == [], cut
        else:
            (warning,) = store.capture.warnings
            assert "ends inside" in warning, warning
        analysis = analyze(store)
        assert all(explain(analysis, i).title for i in range(whole))
        store.close()

        assert main(["analyze", "--json", str(path)]) == 0
        out, err = capsys.readouterr()
        assert [json.loads(line)["frame"] for line in out.splitlines()] == list(
            range(1, whole + 1))
        if cut in ends:
            assert err == ""
        else:
            assert one_line(err).startswith(f"visualizer: {path}: ") and "ends inside" in err


def test_a_capture_cut_inside_its_file_header_is_refused_in_one_line(tmp_path: Path) -> None:
    for sample, cut in (("pcap", 10), ("pcap", 23), ("pcapng", 20)):
        data = (pcap_sample(tmp_path) if sample == "pcap" else HANDSHAKE).read_bytes()
        path = tmp_path / f"header-{cut}.{sample}"
        path.write_bytes(data[:cut])
        with pytest.raises(BadInput, match="truncated"):
            CaptureFile.open(str(path))
        result = visualizer("analyze", str(path))
        assert result.returncode == 2 and "truncated" in one_line(result.stderr)


def test_the_gui_says_a_capture_was_cut_off(qtbot: QtBot, tmp_path: Path) -> None:
    data = HANDSHAKE.read_bytes()
    spans = record_spans(data)
    path = tmp_path / "cut.pcapng"
    path.write_bytes(data[:spans[9][1] + 30])
    doc = Document()
    with qtbot.wait_signal(doc.finished, timeout=10_000) as finished:
        doc.open_file(str(path))
    assert doc.session.count == 10
    assert "ends inside" in finished.args[0]
    doc.close()


def test_the_gui_says_a_file_was_truncated_while_it_loaded(qtbot: QtBot, tmp_path: Path) -> None:
    """The window read a mapped file: a truncation while loading (or after) was
    SIGBUS. Its size is taken when it is opened, so cutting it then is cutting
    it under the loader."""
    path = tmp_path / "big.pcap"
    with path.open("wb") as out:
        packets = generate(50_000, out)
    doc = Document()
    with qtbot.wait_signal(doc.finished, timeout=60_000) as finished:
        doc.open_file(str(path))
        os.truncate(path, path.stat().st_size // 2)
    assert "the file was truncated while being read" in finished.args[0]
    session = doc.session
    assert 0 < session.count < packets
    assert session.store is not None and len(session.store.frame(session.count - 1)) > 0
    doc.close()


# -- link types the decoder does not know --------------------------------------------------

def unknown_link_capture(path: Path, linktype: int, *, pcapng: bool = False) -> Path:
    with path.open("wb") as out:
        writer: PcapWriter | PcapngWriter = (
            PcapngWriter(out, [(linktype, "odd0")]) if pcapng else PcapWriter(out, linktype))
        writer.write(1_000_000_000, b"\x01\x02\x03\x04" * 10)
        writer.write(1_500_000_000, b"\x05\x06" * 7)
    return path


@pytest.mark.parametrize(("linktype", "text", "pcapng"), [
    (147, "LINKTYPE_USER0 (147)", False),
    (147, "LINKTYPE_USER0 (147)", True),
    (127, "LINKTYPE_IEEE802_11_RADIOTAP (127)", False),
    (9999, "9999 (unregistered)", False),
])
def test_analyze_names_an_unknown_link_type_with_its_number(tmp_path: Path, linktype: int,
                                                          text: str, pcapng: bool) -> None:
    path = unknown_link_capture(tmp_path / "odd.cap", linktype, pcapng=pcapng)
    result = visualizer("analyze", "--json", str(path))
    assert result.returncode == 0
    assert one_line(result.stderr) == (f"visualizer: {path}: link type {text} is not decoded: "
                                       "its 2 packets are listed but not analysed")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["frame"] for r in rows] == [1, 2]
    assert all(r["status"] == "unsupported link type" and text in r["note"] for r in rows)


def test_linktype_text_names_registered_types() -> None:
    assert fmt.linktype_text(147) == "LINKTYPE_USER0 (147)"
    assert fmt.linktype_text(162) == "LINKTYPE_USER15 (162)"
    assert fmt.linktype_text(1) == "LINKTYPE_ETHERNET (1)"
    assert fmt.linktype_text(276) == "LINKTYPE_LINUX_SLL2 (276)"
    assert fmt.linktype_text(65535) == "65535 (unregistered)"
    assert all(fmt.is_decoded(k) for k in fmt.LINKTYPE_NAMES)
    assert not fmt.is_decoded(147)


def test_the_decoded_link_types_are_the_decoders() -> None:
    """``pcapformat.is_decoded`` must follow ``decode.py``: an empty frame of a decoded
    link type is malformed, of any other one unsupported."""
    from visualizer.core.decode import headers as dec

    for linktype in range(300):
        status = dec.decode(linktype, b"", 0, 0).status
        assert (status != dec.UNSUPPORTED_LINK) == fmt.is_decoded(linktype), linktype


def test_the_gui_lists_unknown_link_packets_with_the_number(qtbot: QtBot,
                                                            tmp_path: Path) -> None:
    path = unknown_link_capture(tmp_path / "odd.pcap", 147)
    doc = Document()
    table = PacketTable(doc)
    qtbot.addWidget(table)
    with qtbot.wait_signal(doc.finished, timeout=10_000) as finished:
        doc.open_file(str(path))
    # loading ends saying what was not decoded (the window shows it in the status bar)
    assert finished.args == ["link type LINKTYPE_USER0 (147) is not decoded: its 2 packets "
                             "are listed but not analysed"]
    assert doc.session.count == 2 and table.model.rowCount() == 2
    row = [table.model.data(table.model.index(0, c)) for c in range(table.model.columnCount())]
    assert any("147" in str(cell) for cell in row), row
    store, analysis = doc.session.store, doc.session.analysis
    assert store is not None and analysis is not None
    detail = PacketDetail()
    qtbot.addWidget(detail)
    detail.show_packet(store.frame(0), 147)
    assert "147" in " ".join(f"{n.label} {n.value}" for n in detail.nodes())
    explanation = explain(analysis, 0)
    assert "147" in explanation.text
    doc.close()


# -- every corpus file through `visualizer analyze` ----------------------------------------

@pytest.mark.corpus
def test_every_corpus_file_through_analyze_prints_packets_or_one_line(
        corpus_dir: Path, capsys: pytest.CaptureFixture[str],
        tell: Callable[[str], None]) -> None:
    """The CLI's whole path (argument parsing, loading, printing, error handling) in
    this process; a child process per file would take minutes."""
    exits: Counter[int] = Counter()
    messages: Counter[str] = Counter()
    for path in sorted(corpus_dir.iterdir()):
        code = main(["analyze", str(path)])
        out, err = capsys.readouterr()
        exits[code] += 1
        assert "internal error" not in err and "Traceback" not in err, f"{path.name}: {err}"
        lines = err.splitlines()
        assert all(line.startswith(f"visualizer: {path}: ") for line in lines), err
        messages.update(line.split(": ", 2)[2].split(" at byte")[0].split(": its ")[0]
                        for line in lines)
        if code == 0:
            store = PacketStore.from_file(str(path))
            assert len(out.splitlines()) == len(store), path.name
            store.close()
        else:
            assert code == 2 and len(lines) == 1 and not out, f"{path.name}: {err}"
    tell("\n".join([f"visualizer analyze over the corpus: exit codes {dict(exits)}",
                    *(f"  {count:4} {message}" for message, count in messages.most_common())]))
    assert exits[0] >= 800 and set(exits) <= {0, 2}


def test_exports_and_recordings_are_documents_not_secrets(tmp_path: Path) -> None:
    """mkstemp makes 0600; the export is renamed into place with the umask's mode."""
    import stat

    from visualizer.core.decode.store import PacketStore
    from visualizer.core.export import export_packets

    old = os.umask(0o022)
    try:
        store = PacketStore.from_file(str(Path(__file__).parents[1] / "resources" / "samples"
                                          / "tcp-handshake.pcapng"))
        out = tmp_path / "shared.pcap"
        export_packets(store, range(len(store)), str(out), "pcap")
        store.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
