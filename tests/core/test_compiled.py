"""The analysis modules compiled with mypyc (core/compiled.py): used when built,
never when their source changed since, and giving the interpreted modules' output
byte for byte.

The tests that need a build skip without one (``pip install -e .`` or
``python setup.py build_ext --inplace`` makes it; .ci/setup does); the guard's
tests run everywhere, with stand-ins for the extension modules that cannot load.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from visualizer.core import compiled

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus" / "real"
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]   # e.g. .cpython-311-x86_64-linux-gnu.so

STATUS = """
import importlib, json
from visualizer.core.compiled import MODULES, status
for name in MODULES:
    importlib.import_module(name)
print(json.dumps(status()))
"""

# Each file's `analyze --json` and `--stats`, in one process per mode.
ANALYZE = """
import contextlib, io, json, sys
from visualizer.cli import main
from visualizer.core.compiled import status
out = {"compiled": status()["compiled"], "files": {}}
for path in sys.argv[1:]:
    for mode in ("--json", "--stats"):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            code = main(["analyze", path, mode])
        out["files"][path + " " + mode] = [code, buffer.getvalue()]
print(json.dumps(out))
"""


def _built(root: Path = ROOT) -> bool:
    return all(compiled.source_path(m, root).with_suffix(SUFFIX).exists()
               for m in compiled.MODULES)


needs_build = pytest.mark.skipif(
    not _built(), reason="the analysis is not compiled in this checkout (pip install -e ., "
    "or python setup.py build_ext --inplace)")


def _python(code: str, root: Path, *args: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != compiled.INTERPRETED_ENV}
    clean.update(env, PYTHONPATH=str(root))
    return subprocess.run([sys.executable, "-c", code, *args], cwd=root, env=clean,
                          capture_output=True, text=True, check=True, timeout=600).stdout


def _status(root: Path, **env: str) -> dict[str, object]:
    result: dict[str, object] = json.loads(_python(STATUS, root, **env))
    return result


@needs_build
def test_the_compiled_modules_are_in_use_when_built() -> None:
    status = _status(ROOT)
    assert status["compiled"] is True, status["reason"]
    files = status["modules"]
    assert isinstance(files, dict)
    assert all(str(files[m]).endswith(SUFFIX) for m in compiled.MODULES), files


@needs_build
def test_pv_interpreted_runs_the_sources() -> None:
    status = _status(ROOT, PV_INTERPRETED="1")
    assert status["compiled"] is False
    assert status["reason"] == "PV_INTERPRETED=1"
    files = status["modules"]
    assert isinstance(files, dict)
    assert all(str(files[m]).endswith(".py") for m in compiled.MODULES), files


def _samples() -> list[str]:
    files = sorted(str(p) for p in (ROOT / "resources" / "samples").glob("*.pcap*"))
    if CORPUS.is_dir():
        files += sorted(str(p) for p in CORPUS.iterdir() if p.suffix in (".pcap", ".pcapng"))
    return files


@needs_build
def test_compiled_and_interpreted_analysis_print_the_same_bytes() -> None:
    """`analyze --json` and `--stats` of the samples and of ../shared/corpus/real
    (when there): the compiled modules' output is the interpreted ones', byte for byte."""
    files = _samples()
    ours = json.loads(_python(ANALYZE, ROOT, *files))
    theirs = json.loads(_python(ANALYZE, ROOT, *files, PV_INTERPRETED="1"))
    assert (ours["compiled"], theirs["compiled"]) == (True, False)
    assert sorted(ours["files"]) == sorted(theirs["files"])
    for name, (code, text) in ours["files"].items():
        assert [code, text] == theirs["files"][name], name
    lines = sum(text.count("\n") for _, text in ours["files"].values())
    if not CORPUS.is_dir():
        assert lines > 1_000
        pytest.skip(f"compared the samples only: {CORPUS} is absent")
    assert lines > 10_000


# -- the guard, on a copy of the package with stand-ins for the extensions ------------


def _copy_with_stand_ins(tmp_path: Path) -> Path:
    """A copy of the package whose compiled modules are files that cannot load
    (importing one fails), with a build record of the sources as they are."""
    root = tmp_path / "tree"
    shutil.copytree(ROOT / "visualizer", root / "visualizer",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", compiled.RECORD))
    for module in compiled.MODULES:
        compiled.source_path(module, root).with_suffix(SUFFIX).write_bytes(b"not a library")
    compiled.write_record(root)
    return root


def test_stand_ins_would_be_imported_without_the_guard(tmp_path: Path) -> None:
    """The control for the tests below: an extension beside its source wins at
    import, so with a matching record the (unloadable) stand-ins are what loads,
    by default (without PV_INTERPRETED)."""
    root = _copy_with_stand_ins(tmp_path)
    with pytest.raises(subprocess.CalledProcessError) as failed:
        _status(root)
    assert "ImportError" in failed.value.stderr


def test_an_edited_compiled_source_runs_interpreted(tmp_path: Path) -> None:
    root = _copy_with_stand_ins(tmp_path)
    edited = compiled.source_path("visualizer.core.tcp.connection", root)
    edited.write_text(edited.read_text() + "\n# a developer's edit\n")
    status = _status(root)
    assert status["compiled"] is False
    assert status["reason"] == "stale: connection.py changed since it was compiled"
    files = status["modules"]
    assert isinstance(files, dict)
    # all of them: a compiled streams.py would call the compiled TcpConnection
    assert files == {m: str(compiled.source_path(m, root)) for m in compiled.MODULES}


def test_compiled_modules_without_a_build_record_run_interpreted(tmp_path: Path) -> None:
    root = _copy_with_stand_ins(tmp_path)
    (root / "visualizer" / "core" / compiled.RECORD).unlink()
    status = _status(root)
    assert status["compiled"] is False
    assert str(status["reason"]).startswith("stale: compiled modules without their build record")


def test_a_stale_build_says_so_on_a_terminal_only(tmp_path: Path) -> None:
    root = _copy_with_stand_ins(tmp_path)
    edited = compiled.source_path("visualizer.core.tcp.streams", root)
    edited.write_text(edited.read_text() + "\n")
    code = ("import sys; sys.stderr.isatty = lambda: True\n"
            "import visualizer.core.tcp.streams\n")
    env = {k: v for k, v in os.environ.items() if k != compiled.INTERPRETED_ENV}
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                            text=True, env=dict(env, PYTHONPATH=str(root)), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("streams.py changed since it was compiled") == 1
    assert compiled.REBUILD in result.stderr
    quiet = subprocess.run([sys.executable, "-c", "import visualizer.core.tcp.streams"],
                           cwd=root, capture_output=True, text=True,
                           env=dict(env, PYTHONPATH=str(root)), timeout=60)
    assert quiet.returncode == 0 and quiet.stderr == ""


# A feeder thread adds a connection per segment while this thread asks for the
# summaries, with the interpreter switching threads as often as it can.
SUMMARIES_WHILE_FEEDING = """
import sys, threading
from visualizer.core.compiled import status
from visualizer.core.tcp.segment import SYN, TcpSegment
from visualizer.core.tcp.streams import TcpStreamTable
sys.setswitchinterval(1e-4)
table = TcpStreamTable()
def feed():
    for i in range(20000):
        src = (0x0A000000 + i).to_bytes(4, "big")   # a new connection each time
        table.feed(TcpSegment(i + 1, i * 1000, src, 40000, bytes(4), 80, i, 0, SYN, 1024, 0))
feeder = threading.Thread(target=feed)
feeder.start()
calls = 0
while feeder.is_alive():
    summaries = table.summaries()
    assert [s.stream for s in summaries] == list(range(len(summaries)))
    calls += 1
print(status()["compiled"], calls, len(table.summaries()))
"""


@needs_build
def test_summaries_while_another_thread_feeds_the_table() -> None:
    """The window asks for the summaries (explaining a packet) while its loader
    thread feeds the table. Compiled, this wrote past the end of the result
    list and the process died of a corrupted heap (streams.py, summaries)."""
    compiled_, calls, count = _python(SUMMARIES_WHILE_FEEDING, ROOT).split()
    assert compiled_ == "True"
    assert int(calls) > 0
    assert int(count) == 20000
