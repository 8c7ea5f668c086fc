"""What an output path may be, above all as root (docs/architecture.md, "Writing output").

A regular file (or a new name) is replaced atomically; a character device,
a FIFO or ``-`` is written in place; a directory, a disk or an empty name is
refused in one line before any work; a symlink planted at the name is
replaced, never followed. The device tests make their own device nodes with
mknod (root only) in the test's folder, never touching /dev.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import can_capture

from visualizer.core.errors import BadInput
from visualizer.core.output import GrowingOutput, Target, check_output, written
from visualizer.core.pcap.reader import CaptureFile

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "samples" / "tcp-handshake.pcapng"
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")


def visualizer(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "visualizer", *args], capture_output=True,
                          text=True, timeout=timeout)


def null_device(path: Path) -> Path:
    """A character device like /dev/null (major 1, minor 3) at ``path``."""
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    return path


def full_device(path: Path) -> Path:
    """A character device like /dev/full (major 1, minor 7): every write gets ENOSPC."""
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    return path


def is_char_device(path: Path) -> bool:
    return stat.S_ISCHR(os.lstat(path).st_mode)


@as_root
@pytest.mark.parametrize("fmt", ["pcap", "pcapng", "svg"])
def test_export_onto_a_character_device_writes_in_place(tmp_path: Path, fmt: str) -> None:
    device = null_device(tmp_path / "null")
    result = visualizer("export", str(SAMPLE), "-o", str(device), "--format", fmt)
    assert result.returncode == 0, result.stderr
    assert is_char_device(device)
    assert sorted(os.listdir(tmp_path)) == ["null"]   # no temporary file left either


@as_root
def test_export_onto_a_full_device_is_one_line(tmp_path: Path) -> None:
    device = full_device(tmp_path / "full")
    result = visualizer("export", str(SAMPLE), "-o", str(device))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"visualizer: cannot write {device}: No space left on device"]
    assert is_char_device(device)


@as_root
def test_block_device_is_refused_before_any_work(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    os.mknod(disk, 0o600 | stat.S_IFBLK, os.makedev(7, 200))  # a loop device number
    result = visualizer("export", str(SAMPLE), "-o", str(disk))
    assert result.returncode == 2
    assert "block device" in result.stderr and result.stderr.count("\n") == 1
    assert stat.S_ISBLK(os.lstat(disk).st_mode)


@pytest.mark.skipif(not can_capture(), reason="recording needs CAP_NET_RAW")
@as_root
def test_record_onto_a_character_device_writes_in_place(tmp_path: Path) -> None:
    device = null_device(tmp_path / "null")
    result = visualizer("record", "tcp-handshake", "-o", str(device), timeout=120)
    assert result.returncode == 0, result.stderr
    assert is_char_device(device)
    assert sorted(os.listdir(tmp_path)) == ["null"]


def test_export_to_a_fifo_and_to_stdout(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    result = visualizer("export", str(SAMPLE), "-o", str(fifo), "--format", "pcap")
    reader.join(30)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    (tmp_path / "from-fifo.pcap").write_bytes(got[0])
    stdout = subprocess.run([sys.executable, "-m", "visualizer", "export", str(SAMPLE), "-o",
                             "-", "--format", "pcap"], capture_output=True, timeout=60)
    assert stdout.returncode == 0
    assert stdout.stdout == got[0]
    with CaptureFile.open(str(tmp_path / "from-fifo.pcap")) as cap:
        assert len(list(cap.frames())) == 14


@pytest.mark.parametrize("name", ["", "{dir}", "{dir}/", "{dir}/missing/x.pcap",
                                  "{file}/x.pcap"])
def test_paths_that_cannot_be_written_are_refused_in_one_line(tmp_path: Path,
                                                              name: str) -> None:
    (tmp_path / "plain").write_text("x")
    output = name.format(dir=tmp_path, file=tmp_path / "plain")
    for command in (["export", str(SAMPLE), "-o", output],
                    ["export", str(SAMPLE), "-o", output, "--format", "svg"],
                    ["record", "tcp-handshake", "-o", output]):
        started = time.monotonic()
        result = visualizer(*command)
        assert result.returncode == 2, (command, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert time.monotonic() - started < 20   # refused before the scenario ran
    assert sorted(os.listdir(tmp_path)) == ["plain"]


def test_a_symlink_at_the_name_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    link = tmp_path / "out.pcap"
    link.symlink_to(victim)
    with written(str(link)) as out:
        out.write(b"new")
    assert victim.read_text() == "keep me"
    assert not link.is_symlink() and link.read_bytes() == b"new"
    grown = tmp_path / "grown.pcap"
    grown.symlink_to(victim)
    stream = GrowingOutput(str(grown))
    stream.file.write(b"header")
    stream.publish()
    stream.close()
    assert victim.read_text() == "keep me" and grown.read_bytes() == b"header"


def test_a_failed_write_leaves_the_earlier_file(tmp_path: Path) -> None:
    path = tmp_path / "out.pcap"
    path.write_bytes(b"earlier")
    with pytest.raises(RuntimeError), written(str(path)) as out:
        out.write(b"half")
        raise RuntimeError("the writer failed")
    assert path.read_bytes() == b"earlier"
    assert sorted(os.listdir(tmp_path)) == ["out.pcap"]


def test_every_output_is_a_document_of_the_same_mode(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        for fmt in ("pcap", "pcapng", "svg"):
            out = tmp_path / f"out.{fmt}"
            assert visualizer("export", str(SAMPLE), "-o", str(out)).returncode == 0
            assert stat.S_IMODE(out.stat().st_mode) == 0o644, fmt
    finally:
        os.umask(old)


def test_a_second_capture_into_a_file_being_written_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "live.pcap"
    first = GrowingOutput(str(path))
    first.file.write(b"header")
    first.publish()
    try:
        with pytest.raises(BadInput, match="another capture is writing"):
            GrowingOutput(str(path))
    finally:
        first.close()
    second = GrowingOutput(str(path))   # the first one has finished: fine
    second.close()


def test_check_output_kinds(tmp_path: Path) -> None:
    assert check_output("-") is Target.STDOUT
    assert check_output(str(tmp_path / "new.pcap")) is Target.REPLACE
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert check_output(str(fifo)) is Target.IN_PLACE
